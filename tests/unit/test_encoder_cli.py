"""``spladekit export`` and ``spladekit encode`` through click's CliRunner, on a random tiny BERT."""

from __future__ import annotations

import json

from click.testing import CliRunner

from _support import need

need("torch", "the export command needs the 'export' extra (torch, transformers)")

from _tiny_models import make_tiny_model  # noqa: E402

from spladekit.cli import main  # noqa: E402
from spladekit.encoder import CONFIG_NAME  # noqa: E402
from spladekit.encoder.runtime import SpladeEncoder  # noqa: E402


def test_export_then_encode(tmp_path):
    model = make_tiny_model(tmp_path / "tiny")
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(model), "-o", str(tmp_path / "enc"), "--max-length", "32",
                                  "--top-k", "50"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "enc" / CONFIG_NAME).read_text())
    assert config["max_length"] == 32 and config["top_k"] == 50

    result = runner.invoke(main, ["encode", "the wing stall", "--model", str(tmp_path / "enc"), "--top-k", "3",
                                  "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output.strip().splitlines()[0])
    expected = SpladeEncoder.load(tmp_path / "enc").encode_documents(["the wing stall"])[0]
    assert row["terms"] == len(expected)
    assert [t for t, _ in row["top"]] == [t for t, _ in SpladeEncoder.load(tmp_path / "enc").decode(expected, 3)]

    result = runner.invoke(main, ["encode", "the wing stall", "--model", str(tmp_path / "enc"), "--top-k", "2"])
    assert result.exit_code == 0 and result.output.count("\n") == 3  # header + 2 tokens


def test_encode_with_a_non_export_dir_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["encode", "x", "--model", str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "not a model directory" in result.output
