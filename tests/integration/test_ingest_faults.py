"""Ingest fault tests against real OpenSearch / Elasticsearch nodes and the real default model.

The kill and tiny-queue tests start their own nodes (they kill or starve them), on free ports, in their own
folders; the others use the session nodes from conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from _support import skip_or_fail
from spladekit import readers
from spladekit.errors import EngineError
from spladekit.ingest import IngestStopped, PipelineConfig, ingest
from spladekit.ingest.deadletter import read_dead_letter
from spladekit.ingest.policy import RecordPolicy
from spladekit.ingest.records import Record

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BAD_INPUT = REPO / "ingest" / "bad_input.jsonl"
SAMPLE = REPO / "ingest" / "sample_corpus.jsonl"


@pytest.fixture(scope="module")
def encoder(default_encoder):
    return default_encoder


@contextlib.contextmanager
def _own_node(engine: str, ci: bool, settings: dict | None = None) -> Iterator[dict]:
    from spladekit.engines import node as nodes

    data_dir = Path(tempfile.mkdtemp(prefix=f"spladekit-ingest-{engine}-"))
    try:
        n = nodes.start(engine, settings=settings, data_dir=data_dir)
    except EngineError as exc:
        shutil.rmtree(data_dir, ignore_errors=True)
        skip_or_fail(f"{engine} node could not start: {exc}")
    holder = {"node": n}
    try:
        yield holder
    finally:
        try:
            holder["node"].stop()
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


def _valid_ids(path: Path) -> set[str]:
    policy = RecordPolicy()
    out = set()
    for raw in readers.read(path, readers.resolve_input(path)[1]):
        rec = raw.reject or policy.check(raw.position, raw.row)
        if isinstance(rec, Record):
            out.add(rec.id)
    return out


def _all_ids(idx, expected: int) -> set[str]:
    resp = idx.search_body({"query": {"match_all": {}}, "_source": False, "size": expected + 10})
    return {h["_id"] for h in resp["hits"]["hits"]}


# --------------------------------------------------------------------------------------------- (1) kill


def test_sigkill_mid_ingest_then_resume_completes_without_duplicates(tmp_path, encoder, datasets_dir, ci):
    from spladekit.engines import connect
    from spladekit.engines import node as nodes

    corpus = datasets_dir / "cranfield"
    valid = _valid_ids(corpus / "corpus.jsonl")
    with _own_node("opensearch", ci) as holder:
        n = holder["node"]
        cp = tmp_path / "checkpoint.json"
        kwargs = dict(
            engine_url=n.url,
            index="kill-test",
            encoder=encoder,
            checkpoint=cp,
            max_retries=2,
            initial_backoff=0.2,
            max_backoff=0.5,
        )
        failure: list[BaseException] = []

        def first_run(kwargs: dict = kwargs, failure: list = failure) -> None:
            try:
                ingest(corpus, **kwargs)
            except BaseException as exc:  # noqa: BLE001
                failure.append(exc)

        t = threading.Thread(target=first_run)
        t.start()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and t.is_alive():
            if cp.is_file() and json.loads(cp.read_text()).get("position", 0) >= 300:
                break
            time.sleep(0.2)
        assert t.is_alive(), f"the ingest ended before the kill: {failure}"
        n.kill()
        t.join(300)
        assert not t.is_alive() and failure and isinstance(failure[0], IngestStopped), failure
        assert "--resume" in str(failure[0]) and failure[0].report.exit_code == 4  # stopped, resumable
        killed_at = json.loads(cp.read_text())["position"]
        assert 300 <= killed_at < 1400

        holder["node"] = nodes.start("opensearch", port=n.port, data_dir=n.data_dir)
        report = ingest(corpus, resume=True, **kwargs)
        assert report.resumed_from == killed_at and report.skipped == killed_at
        idx = connect(holder["node"].url, "kill-test")
        idx.refresh()
        assert idx.count() == len(valid)  # every valid record once: no loss, no duplicate
        assert _all_ids(idx, len(valid)) == valid
        dead = read_dead_letter(report.dead_letter)
        assert sorted(e["reason"] for e in dead) == ["empty_text"] * (1400 - len(valid))


# --------------------------------------------------------------------------------------------- (2) queue


class _Precomputed:
    """The real model's vectors, computed once, served instantly: bulk requests then pile up on the node."""

    def __init__(self, encoder, texts: list[str]) -> None:
        self.names, self.identity = encoder.names, encoder.identity
        self._vectors = dict(zip(texts, encoder.encode_documents(texts), strict=True))

    def encode_documents(self, texts):
        return [self._vectors[t] for t in texts]


def test_tiny_write_queue_every_document_indexed_and_retries_counted(tmp_path, encoder, datasets_dir, ci):
    from spladekit.engines import connect

    corpus = datasets_dir / "cranfield"
    rows = [json.loads(line) for line in open(corpus / "corpus.jsonl", encoding="utf-8")]
    fast = _Precomputed(encoder, [f"{r['title']} {r['text']}".strip() for r in rows])
    valid = _valid_ids(corpus / "corpus.jsonl")
    with _own_node("opensearch", ci, {"thread_pool.write.queue_size": 1, "thread_pool.write.size": 1}) as holder:
        url = holder["node"].url
        report = ingest(
            corpus,
            engine_url=url,
            index="queue-test",
            encoder=fast,
            checkpoint=tmp_path / "cp.json",
            writers=8,
            max_retries=30,
            initial_backoff=0.05,
            max_backoff=1.0,
            config=PipelineConfig(batch_size=8, bulk_docs=8, writers=8, q_write=64),
        )
        idx = connect(url, "queue-test")
        assert idx.count() == len(valid) == report.indexed
        assert report.retries > 0, "8 concurrent writers on a write queue of 1 must have been refused (429)"
        assert set(report.failed) == {"empty_text"}


# --------------------------------------------------------------------------------------------- (3) bad input


def test_bad_input_each_case_per_policy_rest_indexed(engine, index_name, encoder, tmp_path):
    from spladekit.engines import connect

    src = tmp_path / "bad.jsonl"
    src.write_bytes(BAD_INPUT.read_bytes() + json.dumps({"_id": "huge", "text": "wing " * 1_000_000}).encode() + b"\n")
    report = ingest(src, engine_url=engine.url, index=index_name, encoder=encoder, checkpoint=tmp_path / "cp.json")
    assert report.failed == {
        "duplicate_id": 2,
        "empty_text": 2,
        "invalid_id": 4,
        "invalid_utf8": 2,
        "malformed_json": 1,
        "missing_text": 2,
        "non_string_text": 3,
        "not_an_object": 1,
        "too_large": 1,
    }
    assert report.indexed == 6 and report.read == 24
    idx = connect(engine.url, index_name)
    assert idx.count() == 6
    assert _all_ids(idx, 6) == _valid_ids(src)
    assert idx.meta()["model_sha256"] == encoder.info["weights_sha256"]
    dead = read_dead_letter(tmp_path / "dead_letter.jsonl")
    assert len(dead) == 18 and all(e["reason"] and e["position"] for e in dead)


# --------------------------------------------------------------------------------------------- (4) re-run


def test_rerun_of_a_completed_job_changes_nothing(engine, index_name, encoder, tmp_path):
    from spladekit.engines import connect

    job = dict(engine_url=engine.url, index=index_name, encoder=encoder, checkpoint=tmp_path / "cp.json")
    first = ingest(SAMPLE, **job)
    idx = connect(engine.url, index_name)
    ids = sorted(_valid_ids(SAMPLE))
    before = (idx.count(), idx.get_features(ids))
    resumed = ingest(SAMPLE, resume=True, **job)  # a completed job: nothing left to do
    again = ingest(SAMPLE, **job)  # the whole job again: same ids, same vectors, overwritten
    idx.refresh()
    after = (idx.count(), idx.get_features(ids))
    assert first.indexed == again.indexed == 30 and resumed.indexed == 0 and resumed.skipped == 30
    assert before == after and before[0] == 30 and all(before[1][i] for i in ids)


def test_an_index_of_another_model_is_refused_unless_forced(engine, index_name, encoder, tmp_path):
    from spladekit.engines import connect
    from spladekit.errors import IndexFormatError
    from spladekit.schema import SCHEMA, ModelIdentity

    connect(engine.url, index_name).create(SCHEMA.meta(ModelIdentity("another-model", "0" * 64)))
    job = dict(engine_url=engine.url, index=index_name, encoder=encoder, checkpoint=tmp_path / "cp.json")
    with pytest.raises(IndexFormatError, match="--force"):
        ingest(SAMPLE, **job)
    with pytest.warns(UserWarning, match="FORCED"):
        report = ingest(SAMPLE, force=True, **job)
    assert report.forced and report.indexed == 30


def test_demo_query_finds_the_sample_corpus(opensearch, index_name, encoder, tmp_path):
    from spladekit.search import Searcher

    ingest(SAMPLE, engine_url=opensearch.url, index=index_name, encoder=encoder, checkpoint=tmp_path / "cp.json")
    hits = Searcher(engine_url=opensearch.url, index=index_name, encoder=encoder).search("how do wings stall", k=5)
    assert hits and "stall" in " ".join(h.text or "" for h in hits[:3]).lower()


def test_credentials_stay_out_of_report_checkpoint_and_dead_letter(opensearch, index_name, encoder, tmp_path):
    # A node without security ignores the Authorization header, so the job runs with credentials in the URL.
    secret = "S3cret-pw#with/odd?chars"
    host = opensearch.url.split("://", 1)[1]
    report = ingest(BAD_INPUT, engine_url=f"http://bob:{secret}@{host}", index=index_name, encoder=encoder,
                    checkpoint=tmp_path / "cp.json")
    assert report.indexed == 6
    written = report.to_json() + (tmp_path / "cp.json").read_text() + (tmp_path / "dead_letter.jsonl").read_text()
    assert secret not in written and "bob" not in report.target and host in report.target
