from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from _support import BAD_INPUT, FakeEncoder, bad_input_expected
from spladekit.cli import main
from spladekit.local.index import LocalIndex

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def fake_model(monkeypatch):
    from spladekit.encoder import runtime

    monkeypatch.setattr(runtime.SpladeEncoder, "load", classmethod(lambda cls, *a, **k: FakeEncoder()))


def test_ingest_into_the_default_local_index_prints_a_summary_and_writes_the_report(tmp_path, fake_model,
                                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["ingest", str(REPO / "ingest" / "sample_corpus.jsonl"), "--silent",
                                       "--report", "out/report.json"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("done: read 30, indexed 30, failed 0 into .spladekit/index")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["indexed"] == 30 and report["failed"] == {} and report["target"] == ".spladekit/index"
    assert report["complete"] and report["stopped"] is None
    assert len(LocalIndex.load(tmp_path / ".spladekit" / "index")) == 30
    assert Path(report["checkpoint"]).parent.parent == Path(".spladekit/jobs")
    as_json = CliRunner().invoke(main, ["ingest", str(REPO / "ingest" / "sample_corpus.jsonl"), "--silent", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output)["indexed"] == 30


def test_progress_bar_goes_to_stderr_and_stdout_stays_json(tmp_path, fake_model):
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    result = runner.invoke(main, ["ingest", str(BAD_INPUT), "--local", str(tmp_path / "idx"), "--dead-letter",
                                  str(tmp_path / "dl.jsonl"), "--json"])
    indexed, failed = bad_input_expected()
    assert result.exit_code == 3, result.output  # done, but records went to the dead letter
    report = json.loads(result.stdout)
    assert report["indexed"] == indexed and report["failed"] == failed
    assert "doc" in result.stderr  # tqdm's bar: "23/23 [..., x doc/s]"
    assert len((tmp_path / "dl.jsonl").read_text().splitlines()) == sum(failed.values())


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
    assert r.exit_code == 1 and "cannot reach" in r.output
    assert secret not in r.output


def test_a_file_of_the_wrong_format_stops_with_the_likely_cause(tmp_path, fake_model):
    wrong = tmp_path / "passwd.jsonl"
    wrong.write_text("".join(f"user{i}:x:{i}:{i}::/home/user{i}:/bin/sh\n" for i in range(25)))
    r = CliRunner().invoke(main, ["ingest", str(wrong), "--local", str(tmp_path / "idx"), "--silent",
                                  "--report", str(tmp_path / "r.json")])
    assert r.exit_code == 4, r.output  # stopped, resumable
    assert "25 of the 25 records read failed (25 malformed_json)" in r.output
    assert "does not look like JSON lines" in r.output and "--format" in r.output
    assert "Traceback" not in r.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert not report["complete"] and "max-errors" in report["stopped"]
    big = tmp_path / "big.jsonl"  # a long input stops after the first hundred records, not at its end
    big.write_text("".join(json.dumps({"_id": i, "body": "wing"}) + "\n" for i in range(5000)))
    r = CliRunner().invoke(main, ["ingest", str(big), "--local", str(tmp_path / "idx2"), "--silent", "--json"])
    assert r.exit_code == 4 and "--text-field" in r.output and "body" in r.output
    report = json.loads(r.stdout)
    assert report["read"] < 1000 and report["indexed"] == 0
    ok = CliRunner().invoke(main, ["ingest", str(big), "--local", str(tmp_path / "idx3"), "--silent",
                                   "--text-field", "body", "--max-errors", "0"])
    assert ok.exit_code == 0, ok.output
