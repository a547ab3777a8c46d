from __future__ import annotations

import json
from pathlib import Path

import pytest
from _ingest_fakes import FakeEncoder
from click.testing import CliRunner

from spladekit.cli import main
from spladekit.local.index import LocalIndex

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def fake_model(monkeypatch):
    from spladekit.encoder import runtime

    monkeypatch.setattr(runtime.SpladeEncoder, "load", classmethod(lambda cls, *a, **k: FakeEncoder()))


def test_ingest_into_the_default_local_index_prints_a_json_report(tmp_path, fake_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["ingest", str(REPO / "ingest" / "sample_corpus.jsonl"), "--silent"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["indexed"] == 30 and report["failed"] == {} and report["target"] == ".spladekit/index"
    assert len(LocalIndex.load(tmp_path / ".spladekit" / "index")) == 30
    assert Path(report["checkpoint"]).parent.parent == Path(".spladekit/jobs")


def test_progress_bar_goes_to_stderr_and_stdout_stays_json(tmp_path, fake_model):
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    result = runner.invoke(main, ["ingest", str(REPO / "ingest" / "bad_input.jsonl"), "--local",
                                  str(tmp_path / "idx"), "--dead-letter", str(tmp_path / "dl.jsonl")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["indexed"] == 6 and sum(report["failed"].values()) == 17
    assert "doc" in result.stderr  # tqdm's bar: "24/24 [..., x doc/s]"
    assert len((tmp_path / "dl.jsonl").read_text().splitlines()) == 17


def test_engine_and_local_are_exclusive_and_errors_are_one_paragraph(tmp_path, fake_model):
    r = CliRunner().invoke(main, ["ingest", str(REPO / "ingest" / "sample_corpus.jsonl"), "--engine",
                                  "http://127.0.0.1:9", "--silent"])
    assert r.exit_code != 0 and "--index" in r.output
    r = CliRunner().invoke(main, ["ingest", str(tmp_path / "nope.jsonl"), "--silent"])
    assert r.exit_code != 0 and "does not exist" in r.output


def test_password_comes_from_the_environment_and_is_never_printed(tmp_path, fake_model):
    secret = "Sup3r-secret-pw"
    r = CliRunner().invoke(main, ["ingest", str(REPO / "ingest" / "sample_corpus.jsonl"), "--engine",
                                  "http://127.0.0.1:9", "--index", "docs", "--user", "elastic", "--silent",
                                  "--checkpoint", str(tmp_path / "cp.json")],
                           env={"SPLADEKIT_ENGINE_PASSWORD": secret})
    assert r.exit_code != 0 and "cannot reach" in r.output
    assert secret not in r.output
