"""No traceback, ever, for a user's mistake: every verb with bad values exits non-zero with one line on stderr
that says what is wrong (and, for usage errors, points at the verb's --help)."""

from __future__ import annotations

import gzip
import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from _support import REPO, FakeEncoder, old_format_index
from spladekit.cli import main
from spladekit.engines.node import free_port

SAMPLE = str(REPO / "ingest" / "sample_corpus.jsonl")
QUERIES = str(REPO / "ingest" / "sample_queries.jsonl")
CRANFIELD = str(REPO / "datasets" / "cranfield")


@pytest.fixture(scope="module")
def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused at once


@pytest.fixture()
def fake_model(monkeypatch):
    from spladekit.encoder import runtime
    from spladekit.search import _cached_searcher

    monkeypatch.setattr(runtime.SpladeEncoder, "load", classmethod(lambda cls, *a, **k: FakeEncoder()))
    _cached_searcher.cache_clear()
    yield
    _cached_searcher.cache_clear()


@pytest.fixture()
def local_index(tmp_path, fake_model) -> str:
    out = CliRunner().invoke(main, ["ingest", SAMPLE, "--local", str(tmp_path / "ix"), "--silent",
                                    "--checkpoint", str(tmp_path / "j" / "cp.json")])
    assert out.exit_code == 0, out.output
    return str(tmp_path / "ix")


def _cases(tmp: str, dead: str, local: str, taken: str = "1") -> list[tuple[list[str], int, str]]:
    bad_json = f"{tmp}/bad.jsonl"
    port = str(free_port())
    old = str(old_format_index(Path(tmp) / "old-ix", Path(local)))
    not_beir = f"{tmp}/not-beir"
    return [
        # ingest
        (["ingest", "/nonexistent.jsonl"], 2, "does not exist"),
        (["ingest", SAMPLE, "--batch-size", "0"], 2, "--batch-size"),
        (["ingest", SAMPLE, "--writers", "-1"], 2, "--writers"),
        (["ingest", SAMPLE, "--max-errors", "lots"], 2, "--max-errors"),
        (["ingest", SAMPLE, "--max-errors", "150%"], 2, "--max-errors"),
        (["ingest", SAMPLE, "--format", "xml"], 2, "--format"),
        (["ingest", SAMPLE, "--decode-errors", "lenient"], 2, "--decode-errors"),
        (["ingest", SAMPLE, "--encoding", "klingon"], 2, "--encoding"),
        (["ingest", SAMPLE, "--encoding", "utf-16"], 2, "iconv -f utf-16 -t utf-8"),
        (["ingest", SAMPLE, "--format", "parquet", "--encoding", "latin-1"], 2, "does not apply to Parquet"),
        (["ingest", SAMPLE, "--long-text", "drop"], 2, "--long-text"),
        (["ingest", SAMPLE, "--max-length", "4"], 2, "--max-length"),
        (["ingest", SAMPLE, "--max-windows", "3"], 2, "--long-text split"),
        (["ingest", SAMPLE, "--engine", dead], 2, "--index"),
        (["ingest", SAMPLE, "--engine", dead, "--index", "x", "--local", f"{tmp}/ix"], 2, "not both"),
        (["ingest", SAMPLE, "--engine", dead, "--index", "docs"], 1, "cannot reach an engine"),
        (["ingest", SAMPLE, "--engine", "ftp://127.0.0.1:9", "--index", "docs"], 1, "http or https"),
        (["ingest", SAMPLE, "--engine", dead, "--index", "Bad_Name"], 1, "index name 'Bad_Name' is not valid"),
        (["ingest", SAMPLE, "--local", SAMPLE], 2, "--local"),
        (["ingest", SAMPLE, "--doc-prune", "top_k"], 2, "--doc-prune"),
        (["ingest", SAMPLE, "--doc-prune", "mass:2"], 2, "mass must be in (0, 1]"),
        (["ingest", SAMPLE, "--doc-prune", "topk:3"], 2, "top_k:N, min_weight:W, ratio:R or mass:M"),
        (["ingest", SAMPLE, "--ca-certs", f"{tmp}/none.pem", "--engine", dead, "--index", "x"], 2, "--ca-certs"),
        (["ingest", SAMPLE, "--engine", dead, "--index", "x", "--shards", "0"], 2, "--shards"),
        (["ingest", SAMPLE, "--engine", dead, "--index", "x", "--replicas", "-1"], 2, "--replicas"),
        (["ingest", SAMPLE, "--local", f"{tmp}/ix", "--shards", "3"], 2, "--shards and --replicas apply to an engine"),
        (["ingest", SAMPLE, "--replicas", "1"], 2, "--shards and --replicas apply to an engine"),
        (["ingest", SAMPLE, "--engine", f"{dead},{dead}", "--index", "docs"], 1, "cannot reach an engine"),
        (["ingest", SAMPLE, "--workers", "2"], 2, "apply to --ray only"),
        (["ingest", SAMPLE, "--ray-block", "64"], 2, "apply to --ray only"),
        (["ingest", SAMPLE, "--gpus-per-worker", "1"], 2, "apply to --ray only"),
        (["ingest", SAMPLE, "--ray", "--workers", "0"], 2, "--workers"),
        (["ingest", SAMPLE, "--ray", "--ray-block", "0"], 2, "--ray-block"),
        (["ingest", SAMPLE, "--ray", "--gpus-per-worker", "0"], 2, "--gpus-per-worker"),
        (["ingest", SAMPLE, "--ray", "--gpus-per-worker", "1"], 2, "--device cuda"),
        (["ingest", f"{tmp}/c.tsv", "--ray", "--local", f"{tmp}/ix"], 1, "convert"),
        (["ingest", f"{tmp}/c.jsonl.gz", "--ray", "--local", f"{tmp}/ix"], 1, "a gzip file cannot give"),
        (["ingest", "-", "--ray", "--local", f"{tmp}/ix"], 1, "not stdin"),
        # search
        (["search", "wing", "--local", local, "-k", "0"], 2, "-k"),
        (["search", "wing", "--local", local, "-k", "200", "--two-phase"], 2, "two-phase window"),
        (["search", "wing", "--local", local, "--filter", "{bad"], 2, "not JSON"),
        (["search", "wing", "--local", local, "--alpha", "2"], 2, "--alpha"),
        (["search", "wing", "--local", local, "--prune-ratio", "5"], 2, "--prune-ratio"),
        (["search", "", "--local", local], 1, "query is empty"),
        (["search", "wing", "--local", f"{tmp}/no-index"], 1, "no local index"),
        (["search", "wing", "--index", "docs"], 2, "--engine"),
        (["search", "wing", "--engine", dead, "--index", "docs"], 1, "cannot reach an engine"),
        (["search", "wing", "--local", old, "--bm25"], 1, "keeps no text for BM25"),
        # parity
        (["parity", "--engine", dead, "--index", "docs", "--local", local], 2, "--queries"),
        (["parity", "--engine", dead, "--index", "docs", "--local", f"{tmp}/no-index", "--queries", QUERIES], 2,
         "--local"),
        (["parity", "--engine", dead, "--index", "docs", "--local", local, "--queries", QUERIES, "-k", "0"], 2, "-k"),
        (["parity", "--engine", dead, "--index", "docs", "--local", local, "--queries", QUERIES], 1,
         "cannot reach an engine"),
        (["parity", "--engine", dead, "--index", "docs", "--local", local, "--queries", bad_json], 1, "bad.jsonl:1"),
        # eval
        (["eval", f"{tmp}/no-dataset"], 2, "does not exist"),
        (["eval", not_beir], 1, "not a BEIR folder"),
        (["eval", CRANFIELD, "--metrics", "nDCG@@10"], 1, "unknown measure"),
        (["eval", CRANFIELD, "-k", "0"], 2, "--depth"),
        (["eval", CRANFIELD, "--decode-errors", "ignore"], 2, "--decode-errors"),
        (["eval", CRANFIELD, "--encoding", "utf-32"], 2, "--encoding"),
        (["eval", CRANFIELD, "--bm25", "--no-local"], 1, "BM25 and hybrid runs need an index"),
        (["eval", CRANFIELD, "--engine", dead, "--no-local"], 1, "cannot reach an engine"),
        (["eval", CRANFIELD, "--doc-prune", "ratio:x"], 2, "--doc-prune"),
        # encode, export, model
        (["encode", "--top-k", "-1", "wing"], 2, "--top-k"),
        (["encode", "wing", "--doc-prune", "top_k:0"], 2, "--doc-prune"),
        (["encode", "wing", "--query", "--doc-prune", "top_k:3"], 2, "prune queries at search time"),
        (["encode", "--max-length", "4", "wing"], 2, "--max-length"),
        (["encode"], 2, "TEXTS"),
        (["export", "no-such-model", "-o", f"{tmp}/out"], 1, "Known models: 'splade-tiny'"),
        (["export", "splade-tiny"], 2, "--output"),
        (["export", "splade-tiny", "-o", f"{tmp}/out", "--top-k", "0"], 2, "--top-k"),
        (["model", "fetch", "splade-huge"], 2, "splade-tiny"),
        (["model", "path", f"{tmp}/nowhere"], 1, "not a model directory"),
        # engine, mappings
        (["engine", "start", "--engine", "solr"], 2, "--engine"),
        (["engine", "start", "--engine", "opensearch", "--port", "99999"], 2, "--port"),
        (["engine", "stop", "--engine", "opensearch", "--port", "abc"], 2, "--port"),
        (["engine", "start", "--engine", "opensearch", "--nodes", "0"], 2, "--nodes"),
        (["engine", "start", "--engine", "opensearch", "--nodes", "12"], 2, "--nodes"),
        (["engine", "start", "--engine", "opensearch", "--nodes", "3", "--port", "65534"], 2, "beyond 65535"),
        (["engine", "start", "--engine", "opensearch", "--nodes", "3", "--secure"], 2, "a secured cluster"),
        (["engine", "start", "--engine", "opensearch", "--cert-host", "db.local"], 2, "--secure"),
        (["engine", "status", "--engine", "opensearch", "--ca-certs", f"{tmp}/none.pem"], 2, "--ca-certs"),
        (["engine", "status", "--engine", "opensearch", "--timeout", "0"], 2, "--timeout"),
        (["engine", "fetch", "--engine", "solr", "--secure"], 2, "--engine"),
        (["mappings", "--engine", "solr"], 2, "--engine"),
        (["mappings", "--engine", "opensearch", "--shards", "0"], 2, "--shards"),
        (["mappings", "--engine", "opensearch", "--replicas", "-2"], 2, "--replicas"),
        # serve (each fails before it would listen)
        (["serve", "--engine", dead], 2, "--index"),
        (["serve", "--index", "docs"], 2, "--engine"),
        (["serve", "--engine", dead, "--index", "docs", "--local", local], 2, "not both"),
        (["serve", "--local", f"{tmp}/no-index", "--port", port], 1, "no local index"),
        (["serve", "--engine", dead, "--index", "docs", "--port", port], 1, "cannot reach an engine"),
        (["serve", "--engine", dead, "--index", "Bad_Name", "--port", port], 1, "index name 'Bad_Name' is not valid"),
        (["serve", "--port", "99999"], 2, "--port"),
        (["serve", "--max-batch", "0"], 2, "--max-batch"),
        (["serve", "--batch-wait-ms", "-1"], 2, "--batch-wait-ms"),
        (["serve", "--max-k", "0"], 2, "--max-k"),
        (["serve", "--max-texts", "x"], 2, "--max-texts"),
        (["serve", "--max-text-chars", "0"], 2, "--max-text-chars"),
        (["serve", "--max-body-bytes", "0"], 2, "--max-body-bytes"),
        (["serve", "--shutdown-timeout", "-5"], 2, "--shutdown-timeout"),
        (["serve", "--keep-alive-timeout", "0"], 2, "--keep-alive-timeout"),
        (["serve", "--token-file", f"{tmp}/no-token"], 2, "--token-file"),
        (["serve", "--token-file", f"{tmp}/empty-token", "--local", local, "--port", port], 2, "one token"),
        (["serve", "--local", local, "--port", taken], 1, f"port {taken} on 127.0.0.1 is taken"),
        (["serve", "--local", local, "--bm25"], 2, "--bm25"),
        # demo, train, doctor
        (["demo", "--corpus", f"{tmp}/none.jsonl"], 1, "not found"),
        (["demo", "-k", "0"], 2, "-k"),
        (["train", f"{tmp}/none.jsonl", "-o", f"{tmp}/m"], 2, "does not exist"),
        (["train", SAMPLE, "-o", f"{tmp}/m", "--epochs", "-1"], 2, "epochs"),
        (["train", SAMPLE, "-o", f"{tmp}/m", "--separate-query-encoder", "--inference-free"], 2, "not both"),
        (["train", SAMPLE, "-o", f"{tmp}/m", "--query-lr", "0"], 2, "--query-lr"),
        # index-prune, export-vectors
        (["index-prune", local, "-o", f"{tmp}/p"], 2, "--top-postings"),
        (["index-prune", local, "--top-postings", "0", "-o", f"{tmp}/p"], 2, "--top-postings"),
        (["index-prune", local, "--top-postings", "5", "-o", local], 1, "is the index being pruned"),
        (["index-prune", f"{tmp}/no-index", "--top-postings", "5", "-o", f"{tmp}/p"], 2, "does not exist"),
        (["index-prune", not_beir, "--top-postings", "5", "-o", f"{tmp}/p"], 1, "no local index"),
        (["export-vectors", local, "-o", f"{tmp}/x", "--format", "ciff"], 2, "--format"),
        (["export-vectors", local], 2, "--output"),
        (["export-vectors", local, "-o", f"{tmp}/x", "--scale", "0"], 2, "--scale"),
        (["export-vectors", local, "-o", f"{tmp}/x", "--queries", f"{tmp}/none.jsonl"], 2, "--queries"),
        (["export-vectors", local, "-o", not_beir + "-busy"], 1, "holds something else"),
        (["export-vectors", local, "-o", f"{tmp}/x2", "--queries", bad_json], 1, "bad.jsonl:1"),
        (["doctor", "--engine", dead], 1, "cannot reach an engine"),
        (["doctor", "--engine", dead, "--timeout", "0"], 2, "--timeout"),
        (["doctor", "--engine", dead, "--ca-certs", f"{tmp}/none.pem"], 2, "--ca-certs"),
    ]


def _check(cases: list[tuple[list[str], int, str]]) -> None:
    failures = []
    for args, code, needle in cases:
        result = CliRunner().invoke(main, args)
        stderr = result.stderr.strip()
        problems = []
        if result.exit_code != code:
            problems.append(f"exit {result.exit_code}, expected {code}")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problems.append(f"raised {type(result.exception).__name__}: {result.exception}")
        if "Traceback" in result.output:
            problems.append("printed a traceback")
        error_lines = [ln for ln in stderr.splitlines() if ln.startswith("Error:")]
        if len(error_lines) != 1:
            problems.append(f"{len(error_lines)} 'Error:' lines on stderr: {stderr[-300:]!r}")
        elif needle not in error_lines[0]:
            problems.append(f"{needle!r} not in {error_lines[0]!r}")
        if problems:
            failures.append(f"spladekit {' '.join(args)}: {'; '.join(problems)}")
    assert failures == [], "\n".join(failures)


def test_every_bad_invocation_is_one_line_and_a_nonzero_exit(tmp_path, local_index, dead_url, monkeypatch):
    monkeypatch.delenv("RAY_BACKEND_LOG_LEVEL", raising=False)  # ingest --ray sets it for its process: restored
    (tmp_path / "bad.jsonl").write_text('{"_id": "1", "text": ""}\n')
    (tmp_path / "c.tsv").write_text("_id\ttext\na\twing\n")
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(b'{"_id": "a", "text": "wing"}\n'))
    (tmp_path / "not-beir").mkdir()
    (tmp_path / "not-beir-busy").mkdir()
    (tmp_path / "not-beir-busy" / "keep.txt").write_text("not an export")
    (tmp_path / "empty-token").write_text("\n")
    with socket.socket() as listener:  # a port something listens on
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        _check(_cases(str(tmp_path), dead_url, local_index, taken=str(listener.getsockname()[1])))


def test_serve_never_shows_the_engines_credentials(dead_url, monkeypatch):
    monkeypatch.setenv("SPLADEKIT_ENGINE_PASSWORD", "pw-in-env-123")
    url = dead_url.replace("http://", "http://bob:url-secret-456@")
    for args in (["serve", "--engine", url, "--index", "docs", "--port", str(free_port())],
                 ["serve", "--engine", dead_url, "--index", "docs", "--user", "bob", "--api-key", "key-789",
                  "--port", str(free_port())]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and "cannot reach an engine" in result.stderr
        for secret in ("url-secret-456", "pw-in-env-123", "key-789"):
            assert secret not in result.output


def test_a_model_that_is_not_there_is_one_line(tmp_path):
    _check([(["ingest", SAMPLE, "--model", f"{tmp_path}/no-model", "--local", f"{tmp_path}/ix"], 1,
             "not a model directory"),
            (["encode", "wing", "--model", f"{tmp_path}/no-model"], 1, "not a model directory"),
            (["search", "wing", "--local", f"{tmp_path}/ix", "--model", f"{tmp_path}/m"], 1, "no local index")])


def test_ingest_report_file_and_summary_for_scripts(tmp_path, fake_model):
    report = tmp_path / "r" / "report.json"
    out = CliRunner().invoke(main, ["ingest", str(REPO / "ingest" / "bad_input.jsonl"), "--local", str(tmp_path / "ix"),
                                    "--silent", "--report", str(report)])
    assert out.exit_code == 3
    assert out.stdout.startswith("done: read 23, indexed 6, failed 17") and "dead letter (" in out.stdout
    data = json.loads(report.read_text())
    assert data["complete"] and sum(data["failed"].values()) == 17 and data["dead_letter"] in out.stdout


def test_the_demo_fits_one_screen(tmp_path, fake_model, monkeypatch):
    monkeypatch.chdir(REPO)
    out = CliRunner().invoke(main, ["demo", "--local", str(tmp_path / "demo")])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert len(lines) <= 40 and lines[0].startswith("ingested ingest/sample_corpus.jsonl")
    assert sum(1 for ln in lines if ln.strip().startswith("why:")) == 9  # three queries, three hits each
    assert "warning" not in out.stderr.lower()
