from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from _support import BAD_INPUT, FakeEncoder, FakeEngine, bad_input_expected, need
from spladekit.errors import IndexFormatError
from spladekit.ingest import IngestStopped, PipelineConfig, ingest
from spladekit.ingest.deadletter import read_dead_letter
from spladekit.ingest.sinks import Backoff, CountingSink, EngineSink
from spladekit.local.index import LocalIndex

REPO = Path(__file__).resolve().parents[2]


def _corpus(path: Path, n: int, *, start: int = 0) -> Path:
    with open(path, "w") as f:
        for i in range(start, start + n):
            f.write(json.dumps({"_id": f"d{i}", "title": f"t{i % 7}", "text": "wing lift " * (1 + i % 13) + str(i)})
                    + "\n")
    return path


def _job(tmp_path: Path) -> dict:
    return {"checkpoint": tmp_path / "job" / "checkpoint.json", "encoder": FakeEncoder()}


def test_local_ingest_indexes_everything_with_length_sorted_batches(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", 300)
    enc = FakeEncoder()
    report = ingest(corpus, local_dir=tmp_path / "idx", encoder=enc, checkpoint=tmp_path / "cp.json",
                    batch_size=16, progress=None)
    assert (report.read, report.indexed, report.failed, report.skipped) == (300, 300, {}, 0)
    assert report.complete and report.docs_per_s > 0
    index = LocalIndex.load(tmp_path / "idx")
    assert len(index) == 300 and index.meta["model_sha256"] == "f" * 64
    # the stored vectors are the encoder's vectors of title + text: same scores as an index built directly
    rows = [json.loads(line) for line in open(corpus)]
    ref = LocalIndex(meta=index.meta)
    ref.add([r["_id"] for r in rows], FakeEncoder().encode_documents([f"{r['title']} {r['text']}" for r in rows]))
    for q in FakeEncoder().encode_documents(["wing 10", "t3 lift", "250"]):
        got, ref_got = index.search(q, k=300), ref.search(q, k=300)
        assert dict(zip(*got, strict=True)) == dict(zip(*ref_got, strict=True))
    assert max(enc.calls) == 16
    cp = json.loads((tmp_path / "cp.json").read_text())
    assert cp["complete"] and cp["position"] == 300


def test_local_ingest_with_reorder_saves_a_bp_ordered_index_with_the_same_results(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", 300)
    plain = ingest(corpus, local_dir=tmp_path / "plain", **_job(tmp_path / "a"))
    ordered = ingest(corpus, local_dir=tmp_path / "bp", reorder=True, **_job(tmp_path / "b"))
    assert plain.indexed == ordered.indexed == 300
    a, b = LocalIndex.load(tmp_path / "plain"), LocalIndex.load(tmp_path / "bp")
    assert (a.row_order, b.row_order) == ("insertion", "bp")
    for q in FakeEncoder().encode_documents(["wing 10", "t3 lift", "250"]):
        assert dict(zip(*a.search(q, k=300), strict=True)) == dict(zip(*b.search(q, k=300), strict=True))


def test_reorder_is_refused_for_an_engine(tmp_path):
    with pytest.raises(Exception, match="--reorder applies to the local index only"):
        ingest(_corpus(tmp_path / "c.jsonl", 3), engine_url="http://127.0.0.1:1", index="x", reorder=True,
               **_job(tmp_path))


def test_bad_input_every_reject_in_the_dead_letter_and_counts_add_up(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_bytes(BAD_INPUT.read_bytes() + json.dumps({"_id": "huge", "text": "w " * 600_000}).encode() + b"\n")
    report = ingest(src, local_dir=tmp_path / "idx", **_job(tmp_path))
    indexed, failed = bad_input_expected()
    assert report.indexed == indexed
    assert report.failed == dict(sorted({**failed, "too_large": 1}.items()))
    assert report.read == report.indexed + sum(report.failed.values()) + report.skipped
    assert report.read == indexed + sum(failed.values()) + 1
    assert report.complete and report.exit_code == 3  # done, with records in the dead letter
    dead = read_dead_letter(report.dead_letter)
    assert len(dead) == sum(report.failed.values())
    assert all(e["reason"] and e["position"] >= 1 for e in dead)
    assert len({e["position"] for e in dead}) == len(dead)
    huge = next(e for e in dead if e["reason"] == "too_large")
    assert huge["id"] == "huge" and len(json.dumps(huge)) < 5000
    assert len(LocalIndex.load(tmp_path / "idx")) == indexed


def test_require_id_sends_id_less_records_to_the_dead_letter(tmp_path):
    report = ingest(BAD_INPUT, local_dir=tmp_path / "idx", require_id=True, **_job(tmp_path))
    assert report.failed["missing_id"] == 3 and report.indexed == 4


class _Crash(RuntimeError):
    pass


class _CrashingSink(CountingSink):
    """Writes into a LocalIndex-like list and dies after ``after`` documents."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.ids: list[str] = []

    def write(self, docs):
        if self.count + len(docs) > self.after:
            raise _Crash("node died")
        self.ids.extend(d.record.id for d in docs)
        return super().write(docs)


def test_resume_after_a_crash_completes_without_duplicates_or_losses(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", 1000)
    with open(corpus, "a") as f:
        f.write('{"_id": "d5", "text": "a duplicate after the crash point"}\n{broken\n')
    job = _job(tmp_path)
    sink = _CrashingSink(after=600)
    cfg = PipelineConfig(batch_size=20, window=100, bulk_docs=50, checkpoint_every_s=0.0)
    with pytest.raises(_Crash):
        ingest(corpus, sink=sink, config=cfg, **job)
    cp = json.loads(job["checkpoint"].read_text())
    assert 0 < cp["position"] <= 600 and not cp["complete"]
    sink2 = _CrashingSink(after=10**9)
    report = ingest(corpus, sink=sink2, resume=True, config=PipelineConfig(batch_size=20, window=100), **job)
    assert report.resumed_from == cp["position"] and report.skipped == cp["position"]
    # line i + 1 holds d{i}: everything at or before the checkpoint was written by the first run, the rest
    # by the second, each once in the second run
    assert {f"d{i}" for i in range(cp["position"])} <= set(sink.ids)
    assert sorted(sink2.ids, key=lambda d: int(d[1:])) == [f"d{i}" for i in range(cp["position"], 1000)]
    # the duplicate of d5 (read after the crash) is still caught: the id set was rebuilt on resume
    dead = read_dead_letter(report.dead_letter)
    assert sorted(e["reason"] for e in dead) == ["duplicate_id", "malformed_json"]


def test_resume_of_a_completed_job_changes_nothing(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", 120)
    job = _job(tmp_path)
    ingest(corpus, local_dir=tmp_path / "idx", **job)
    before = LocalIndex.load(tmp_path / "idx", mmap=False)
    report = ingest(corpus, local_dir=tmp_path / "idx", resume=True, **job)
    assert (report.skipped, report.indexed) == (120, 0)
    again = ingest(corpus, local_dir=tmp_path / "idx", **job)  # no --resume: re-encode, overwrite by id
    assert again.indexed == 120
    after = LocalIndex.load(tmp_path / "idx", mmap=False)
    assert len(after) == len(before) == 120
    q = FakeEncoder().encode_documents(["wing lift 7"])[0]
    b_ids, b_scores = before.search(q, k=120)
    a_ids, a_scores = after.search(q, k=120)
    assert dict(zip(b_ids, b_scores.tolist(), strict=True)) == dict(zip(a_ids, a_scores.tolist(), strict=True))


def test_resume_refuses_a_checkpoint_of_another_job(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", 20)
    job = _job(tmp_path)
    ingest(corpus, local_dir=tmp_path / "idx", **job)
    _corpus(corpus, 25)
    with pytest.raises(Exception, match="another job"):
        ingest(corpus, local_dir=tmp_path / "idx", resume=True, **job)


def test_local_index_of_another_model_is_refused_unless_forced(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", 10)
    other = LocalIndex(meta={"model": "other", "model_sha256": "0" * 64})
    other.add(["x"], FakeEncoder().encode_documents(["x"]))
    other.save(tmp_path / "idx")
    with pytest.raises(IndexFormatError, match="--force"):
        ingest(corpus, local_dir=tmp_path / "idx", **_job(tmp_path))
    with pytest.warns(UserWarning, match="FORCED"):
        report = ingest(corpus, local_dir=tmp_path / "idx", force=True, **_job(tmp_path))
    assert report.forced and report.indexed == 10


def test_memory_bound_in_flight_records_stay_under_the_stated_bound(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", 3000)
    cfg = PipelineConfig(batch_size=8, window=32, q_encode=2, q_write=2, bulk_docs=16)
    from spladekit.ingest import pipeline as pl

    seen = []
    real_write = pl.Pipeline._write

    def spy(self, docs):
        seen.append(self.tracker.in_flight)
        return real_write(self, docs)

    pl.Pipeline._write = spy
    try:
        report = ingest(corpus, sink=CountingSink(), config=cfg, **_job(tmp_path))
    finally:
        pl.Pipeline._write = real_write
    assert report.indexed == 3000
    assert max(seen) <= cfg.max_records_in_flight


def test_byte_budget_bounds_text_in_flight(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", 400)
    cfg = PipelineConfig(batch_size=4, window=64, max_inflight_bytes=2000)
    from spladekit.ingest import pipeline as pl

    peaks = []
    real_release = pl.ByteBudget.release

    def spy(self, n):
        peaks.append(self.used)
        real_release(self, n)

    pl.ByteBudget.release = spy
    try:
        report = ingest(corpus, sink=CountingSink(), config=cfg, **_job(tmp_path))
    finally:
        pl.ByteBudget.release = real_release
    biggest = max(len(f"t{i % 7}") + len("wing lift " * 13) + 4 for i in range(400))
    assert report.indexed == 400 and max(peaks) <= 2000 + biggest


def test_ctrl_c_keeps_a_consistent_checkpoint(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", 500)
    job = _job(tmp_path)

    class Interrupting(FakeEncoder):
        def encode_documents(self, texts):
            if len(self.calls) == 5:
                raise KeyboardInterrupt
            return super().encode_documents(texts)

    job["encoder"] = Interrupting()
    sink = _CrashingSink(after=10**9)
    with pytest.raises(IngestStopped, match="interrupted") as stopped:
        ingest(corpus, sink=sink, config=PipelineConfig(batch_size=10, window=10, checkpoint_every_s=0), **job)
    assert not stopped.value.report.complete and stopped.value.report.exit_code == 4
    cp = json.loads(job["checkpoint"].read_text())
    assert cp["position"] == len(sink.ids) == 50 and sorted(sink.ids) == sorted(f"d{i}" for i in range(50))


# --------------------------------------------------------------------------------------------- engine sink


class FakeIndex(FakeEngine):
    """The shared fake engine, checking that the sink does its own retries (streaming_bulk's are off)."""

    def __init__(self, script=(), reject_ids=()):
        super().__init__(script=script, reject_ids=reject_ids)

    def bulk_index(self, pairs, *, chunk_size, max_chunk_bytes, max_retries):
        assert max_retries == 0
        return super().bulk_index(pairs)


def _engine_sink(index, **kw):
    return EngineSink(index, FakeEncoder().names, backoff=Backoff(0.001, 0.002, kw.pop("max_retries", 5)), **kw)


def test_engine_sink_retries_429_5xx_and_connection_errors_and_counts_them(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", 200)
    index = FakeIndex(script=[429, 503, "down", 201, 429, 502, 504])
    sink = _engine_sink(index, writers=3, chunk_docs=20)
    report = ingest(corpus, sink=sink, config=PipelineConfig(batch_size=10, bulk_docs=20, writers=3),
                    **_job(tmp_path))
    assert report.indexed == 200 and len(index.docs) == 200 and report.failed == {}
    assert report.retries > 0 and report.retries == sink.retries
    assert index.refreshed == 1
    src = index.docs["d3"]
    assert src["title"] == "t3" and src["text"].startswith("wing lift") and all(v > 0 for v in src["splade"].values())


def test_engine_rejections_go_to_the_dead_letter_and_an_outage_stops_the_job(tmp_path):
    corpus = _corpus(tmp_path / "c.jsonl", 50)
    index = FakeIndex(reject_ids={"d7", "d9"})
    report = ingest(corpus, sink=_engine_sink(index), **_job(tmp_path))
    assert report.indexed == 48 and report.failed == {"engine_rejected": 2}
    dead = read_dead_letter(report.dead_letter)
    assert {e["id"] for e in dead} == {"d7", "d9"} and "mapper_parsing_exception" in dead[0]["detail"]

    job = _job(tmp_path)
    down = FakeIndex(script=["down"] * 100)
    with pytest.raises(IngestStopped, match="--resume") as stopped:
        ingest(corpus, sink=_engine_sink(down, max_retries=2), **job)
    assert stopped.value.report.exit_code == 4 and stopped.value.report.read > 0
    assert read_dead_letter(job["checkpoint"].parent / "dead_letter.jsonl") == []  # an outage loses nothing
    assert json.loads(job["checkpoint"].read_text())["position"] == 0


@pytest.mark.parametrize("status", [401, 403])
def test_credentials_refused_mid_job_stop_it_and_resume_finishes(tmp_path, status):
    """An expired key or a changed password part-way: the job stops (exit 4), nothing goes to the dead letter,
    and --resume with good credentials finishes with every document once."""
    corpus = _corpus(tmp_path / "c.jsonl", 120)
    index = FakeIndex(script=[201, 201, status])
    job = _job(tmp_path)
    cfg = PipelineConfig(batch_size=10, bulk_docs=20)
    with pytest.raises(IngestStopped, match=f"refused the credentials mid-job \\(HTTP {status}.*--resume") as stop:
        ingest(corpus, sink=_engine_sink(index), config=cfg, **job)
    assert stop.value.report.exit_code == 4 and stop.value.report.failed == {}
    assert read_dead_letter(job["checkpoint"].parent / "dead_letter.jsonl") == []
    report = ingest(corpus, sink=_engine_sink(index), config=PipelineConfig(batch_size=10, bulk_docs=20),
                    resume=True, **job)
    assert report.complete and report.failed == {} and len(index.docs) == 120


def test_credentials_never_reach_reports_errors_logs_or_the_dead_letter(tmp_path, caplog, capsys):
    corpus = _corpus(tmp_path / "c.jsonl", 5)
    secret, key = "pw-Zq8#secret", "a2V5LXNlY3JldC12YWx1ZQ=="
    caplog.set_level(logging.DEBUG)
    job = _job(tmp_path)
    with pytest.raises(Exception) as err:
        ingest(corpus, engine_url=f"http://elastic:{secret}@127.0.0.1:9", index="docs", password=secret,
               api_key=key, **job)
    text = str(err.value) + repr(err.value) + caplog.text + "".join(capsys.readouterr())
    assert "127.0.0.1" in str(err.value)
    assert secret not in text and key not in text

    class Leaky(FakeIndex):
        def bulk_index(self, pairs, **kw):
            raise ConnectionResetError(f"reset by peer (auth {secret})")

    with pytest.raises(IngestStopped) as err2:
        ingest(corpus, sink=EngineSink(Leaky(), FakeEncoder().names, backoff=Backoff(0.001, 0.001, 1),
                                       scrub=lambda s: s.replace(secret, "***")), **_job(tmp_path))
    assert secret not in str(err2.value) and "***" in str(err2.value)
    assert secret not in err2.value.report.to_json()


def test_report_json_has_the_documented_fields(tmp_path):
    report = ingest(_corpus(tmp_path / "c.jsonl", 3), sink=CountingSink(), **_job(tmp_path))
    data = json.loads(report.to_json())
    for key in ("read", "indexed", "failed", "skipped", "retries", "seconds", "docs_per_s", "encoding",
                "max_length", "long_text", "complete", "stopped"):
        assert key in data
    assert np.isfinite(data["docs_per_s"])


def test_parquet_and_tsv_inputs_with_custom_fields(tmp_path):
    pa = need("pyarrow", "pyarrow is in the dev extra")
    import pyarrow.parquet as pq

    n = 2500
    pq.write_table(pa.table({"doc_id": [f"p{i}" for i in range(n)], "body": [f"wing {i}" for i in range(n)]}),
                   tmp_path / "c.parquet", row_group_size=1000)
    report = ingest(tmp_path / "c.parquet", sink=CountingSink(), id_field="doc_id", text_field="body",
                    title_field=None, **_job(tmp_path))
    assert (report.read, report.indexed) == (n, n)
    (tmp_path / "c.tsv").write_text("id\ttext\n1\twing\n2\t\n3\tlift\n")
    report = ingest(tmp_path / "c.tsv", sink=CountingSink(), **_job(tmp_path))
    assert report.indexed == 2 and report.failed == {"empty_text": 1}
