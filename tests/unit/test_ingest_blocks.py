"""Distributed ingestion without Ray: blocks cover the input exactly and give the single-process reader's rows,
a worker's block encoder gives the single-process vectors and counts, the pipeline takes vectors that came with
the rows, and what --ray refuses it refuses before anything starts, naming the fix.
(The real Ray cluster, model and engine: tests/integration/test_ingest_ray.py.)"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import zstandard

from _support import BAD_INPUT, FakeEncoder, need
from spladekit import readers
from spladekit.encoder.runtime import EncodeStats
from spladekit.errors import InputError
from spladekit.ingest import blocks as blocks_module
from spladekit.ingest import ingest
from spladekit.ingest.blocks import Block, plan_blocks, read_block
from spladekit.ingest.deadletter import DeadLetter
from spladekit.ingest.pipeline import Pipeline
from spladekit.ingest.policy import RecordPolicy
from spladekit.ingest.records import Raw
from spladekit.ingest.sinks import CountingSink

#: Every way a line can look: a BOM on line 1, blank lines (also at block edges), CRLF, invalid UTF-8, bad
#: JSON, a BOM in the middle (bad JSON there: only line 1 may carry one), and no newline at the very end.
TRICKY = (b'\xef\xbb\xbf{"_id": "a", "text": "one"}\n\n\n{"_id": "b", "text": "two"}\r\n{oops\n'
          b'\xff\xfe{"_id": "c"}\n\xef\xbb\xbf{"_id": "d", "text": "bom"}\n\n[1, 2]\n'
          b'{"_id": "e", "text": "caf\xc3\xa9"}\n{"_id": "f", "text": "last"}')


def _rows(raws: list[Raw]) -> list[tuple]:
    return [(r.position, r.row, r.reject and (r.reject.reason, r.reject.record, r.reject.detail)) for r in raws]


@pytest.mark.parametrize("lines", [1, 2, 3, 5, 1000])
@pytest.mark.parametrize("scan", [7, 1 << 20])  # a newline scan in 7-byte chunks crosses every chunk edge
def test_blocks_cover_the_file_and_give_the_readers_rows(tmp_path, monkeypatch, lines, scan):
    monkeypatch.setattr(blocks_module, "_SCAN_BYTES", scan)
    path = tmp_path / "c.jsonl"
    path.write_bytes(TRICKY)
    planned = plan_blocks(path, lines=lines)
    assert planned[0].start == 0 and planned[-1].end == len(TRICKY)
    for before, after in zip(planned, planned[1:], strict=False):
        assert before.end == after.start and before.last_line + 1 == after.first_line
        assert before.last_line - before.first_line + 1 == lines
    assert planned[-1].last_line == TRICKY.count(b"\n") + 1  # the last line has no newline
    got = [raw for block in planned for raw in read_block(block)]
    assert _rows(got) == _rows(list(readers.read(path, "jsonl")))


def test_the_bad_input_file_reads_the_same_in_blocks_of_any_size(tmp_path):
    expected = _rows(list(readers.read(BAD_INPUT, "jsonl")))
    for lines in (1, 4, 7, 24):
        assert _rows([raw for b in plan_blocks(BAD_INPUT, lines) for raw in read_block(b)]) == expected


def test_an_empty_file_has_no_blocks_and_a_final_newline_no_extra_line(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert plan_blocks(tmp_path / "empty.jsonl") == []
    (tmp_path / "two.jsonl").write_bytes(b'{"a": 1}\n{"a": 2}\n')
    assert [(b.first_line, b.last_line) for b in plan_blocks(tmp_path / "two.jsonl", 5)] == [(1, 2)]
    with pytest.raises(ValueError, match=">= 1"):
        plan_blocks(tmp_path / "two.jsonl", 0)


def test_a_worker_that_sees_another_file_names_the_shared_file_system(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"_id": "a", "text": "x"}\n')
    (block,) = plan_blocks(path)
    path.write_bytes(b'{"_id": "a", "text": "changed"}\n')
    with pytest.raises(InputError, match=r"same path \(a shared file system\)"):
        read_block(block)
    with pytest.raises(InputError, match="no such file"):
        read_block(Block(str(tmp_path / "gone.jsonl"), 10, 0, 10, 1, 1))


def test_stdin_csv_and_gzip_are_refused_before_anything_starts(tmp_path):
    need("ray", "ingest --ray needs the ray extra")
    (tmp_path / "c.tsv").write_text("_id\ttext\na\tx\n")
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(b'{"_id": "a", "text": "x"}\n'))
    (tmp_path / "c.jsonl").write_bytes(zstandard.ZstdCompressor().compress(b'{"_id": "a", "text": "x"}\n'))
    fake = FakeEncoder()
    for source, needle in ((tmp_path / "c.tsv", "convert .* to JSON lines"),
                           (tmp_path / "c.jsonl.gz", "a gzip file cannot give"),
                           (tmp_path / "c.jsonl", "a zstd file cannot give")):  # told by the bytes, not the name
        with pytest.raises(InputError, match=needle):
            ingest(source, local_dir=tmp_path / "ix", encoder=fake, ray=True)
    with pytest.raises(InputError, match="not stdin"):
        ingest("-", local_dir=tmp_path / "ix", encoder=fake, ray=True)
    assert not (tmp_path / "ix").exists()


def test_without_the_ray_extra_the_error_names_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.delitem(sys.modules, "spladekit.ingest.distributed", raising=False)
    with pytest.raises(ImportError, match=r"spladekit\[ray\]"):
        ingest(BAD_INPUT, local_dir=tmp_path / "ix", encoder=FakeEncoder(), ray=True)


def test_the_pipeline_takes_vectors_that_came_with_the_rows_and_counts_their_encoding(tmp_path):
    fake = FakeEncoder()
    texts = ["wing stall", "shock wave", "lift"]
    rows = [Raw(i + 1, {"_id": str(i), "text": t}, None, fake.vector(t),
                encoding=EncodeStats(texts=1, windows=2, split=1, truncated=i % 2, tokens_dropped=3 * (i % 2)))
            for i, t in enumerate(texts)]
    seen: list[list] = []
    sink = CountingSink()

    def encode(job):
        raise AssertionError("the vectors came with the rows: nothing to encode")

    def encoded(records):
        seen.append([(r.id, r.encoding.windows) for r in records])
        return [r.vector for r in records]

    pipeline = Pipeline(rows, RecordPolicy(), encode, sink, DeadLetter(tmp_path / "dead.jsonl"), encoded=encoded)
    assert pipeline.run().indexed == 3
    assert sorted(x for batch in seen for x in batch) == [("0", 2), ("1", 2), ("2", 2)]


# --------------------------------------------------------------------------------------- the worker's encoder


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    need("torch", "building the tiny test encoder needs the 'export' extra (torch, transformers)")
    from _tiny_models import make_tiny_model

    from spladekit.encoder.export import export

    model = make_tiny_model(tmp_path_factory.mktemp("tiny"), kind="bert")
    return export(model, tmp_path_factory.mktemp("onnx") / "enc", max_length=16, vocab_blocks=3)


def test_text_stats_add_up_to_the_calls_stats(onnx_dir):
    from _tiny_models import WORDS

    from spladekit.encoder.runtime import SpladeEncoder

    texts = [" ".join(WORDS[: n]) for n in (3, 20, 40, 1, 14)] + ["  "]
    for policy, windows in (("truncate", None), ("split", None), ("split", 2)):
        enc = SpladeEncoder.load(onnx_dir, long_text=policy, max_windows=windows)
        prepared = enc.tokenize(texts)
        total = EncodeStats()
        for i in range(len(texts)):
            total.add(prepared.text_stats(i))
        whole = prepared.stats
        assert (total.texts, total.empty, total.windows, total.split, total.truncated, total.tokens_dropped) == \
            (whole.texts, whole.empty, whole.windows, whole.split, whole.truncated, whole.tokens_dropped), policy
        assert (whole.truncated > 0) == (policy == "truncate" or windows is not None)
        assert (whole.split > 0) == (policy == "split")


def test_a_block_encoder_gives_the_readers_rows_and_the_encoders_vectors_and_counts(onnx_dir, tmp_path):
    from _tiny_models import WORDS

    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.ingest.blocks import BlockEncoder

    path = tmp_path / "c.jsonl"
    docs = [{"_id": f"d{i}", "title": WORDS[i], "text": " ".join(WORDS[i: i + 3 + 4 * i])} for i in range(9)]
    docs += [{"_id": "d1", "text": "a duplicate: the driver's call"}, {"_id": "x", "text": "  "}]
    path.write_text("".join(json.dumps(d) + "\n" for d in docs) + "{broken\n")
    options = {"max_length": 16, "long_text": "split", "max_windows": 2, "backend": "onnx", "device": "cpu",
               "dtype": "float32", "threads": 1}
    worker = BlockEncoder(str(onnx_dir), options, {"id_fields": ["_id", "id"], "text_field": "text",
                                                   "title_field": "title", "require_id": False,
                                                   "max_doc_bytes": 1 << 20})
    single = SpladeEncoder.load(onnx_dir, long_text="split", max_windows=2, max_length=16)
    policy = RecordPolicy(seen=blocks_module._NoDuplicateCheck())  # type: ignore[arg-type]
    got: list[Raw] = []
    for block in plan_blocks(path, lines=4):
        rows = worker(block).rows
        got += rows
        records = [(raw, policy.check(raw.position, raw.row)) for raw in rows if raw.row is not None]
        records = [(raw, rec) for raw, rec in records if not hasattr(rec, "reason")]
        assert [raw.position for raw, _ in records] == [raw.position for raw in rows if raw.vector is not None]
        # The same texts in one call of the single-process encoder: the same vectors, bit for bit, and counts.
        expected = single.encode_prepared(single.tokenize([rec.encoder_text for _, rec in records]))
        total = EncodeStats()
        for (raw, _), want in zip(records, expected, strict=True):
            assert np.array_equal(raw.vector.ids, want.ids)
            assert np.array_equal(raw.vector.weights.view(np.uint32), want.weights.view(np.uint32))
            total.add(raw.encoding)
        stats = single.last_stats
        assert (total.texts, total.windows, total.split, total.truncated, total.tokens_dropped) == \
            (stats.texts, stats.windows, stats.split, stats.truncated, stats.tokens_dropped)
    assert _rows(got) == _rows(list(readers.read(path, "jsonl")))
    assert sum(raw.vector is not None for raw in got) == 10  # nine documents and the duplicate: not the blank one
    assert sum(raw.encoding.truncated for raw in got if raw.encoding) > 0  # max_windows=2 cut something
    assert worker(plan_blocks(path)[0]).identity == single.identity()


def test_relative_model_folders_mean_the_drivers(onnx_dir, tmp_path, monkeypatch):
    from spladekit.ingest.blocks import BlockEncoder

    monkeypatch.chdir(tmp_path)  # the worker starts elsewhere (restored after the test: the worker moves)
    options = {"max_length": 16, "threads": 1}
    worker = BlockEncoder(Path(onnx_dir).name, options, {}, cwd=str(Path(onnx_dir).parent))
    assert worker.encoder.directory.resolve() == Path(onnx_dir).resolve()


def test_a_workers_error_reaches_the_user_as_its_own_line():
    need("ray", "ingest --ray needs the ray extra")
    from spladekit.errors import ModelError
    from spladekit.ingest.distributed import _one_line, _root

    # The shapes Ray 2.60 gives: an actor that raised in __init__ is an ActorDiedError whose argument is the
    # RayTaskError whose `cause` is the original, chained from an empty Ray Data SystemException.
    class TaskError(Exception):
        def __init__(self, cause: BaseException) -> None:
            super().__init__(f"ray::MapWorker.__init__() (pid=1)\n  File ...\n{cause}")
            self.cause = cause

    class ActorDied(Exception):
        pass

    class SystemException(Exception):
        pass

    own = ModelError("no model splade-tiny in /cache on node-3; run `spladekit model fetch splade-tiny` there")
    try:
        try:
            raise SystemException()
        except SystemException as empty:
            raise ActorDied(TaskError(own)) from empty
    except ActorDied as exc:
        assert _root(exc) is own and _one_line(_root(exc)) == str(own)
    other = TaskError(MemoryError("out of memory\nwhile allocating 3 GiB"))
    assert _one_line(_root(other)) == "TaskError: while allocating 3 GiB"  # not ours: the outermost, last line
    assert _one_line(_root(SystemException())) == "SystemException: "


def test_a_ray_client_address_is_refused_with_the_way_that_works(tmp_path, monkeypatch):
    need("ray", "ingest --ray needs the ray extra")
    from spladekit.errors import ClusterError

    for how in ({"ray": "ray://head:10001"}, {"ray": True}):
        monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
        with pytest.raises(ClusterError, match="Ray Data cannot run through Ray Client.*ray job submit"):
            ingest(BAD_INPUT, local_dir=tmp_path / "ix", encoder=FakeEncoder(), **how)
    assert not (tmp_path / "ix").exists()


@pytest.mark.parametrize("errors", ["strict", "replace", "skip"])
def test_blocks_decode_as_the_single_process_reader_does(tmp_path, errors):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"_id": "a", "text": "caf\xe9"}\n{"_id": "b", "text": "ok"}\n'
                     b'{"_id": "c", "text": "\xff\xfe"}\n{"_id": "d", "text": "na\xefve"}\n')
    decoding = readers.Decoding("utf-8", errors)
    whole = list(readers.read(path, "jsonl", decode_errors=errors))
    parts = [raw for block in plan_blocks(path, lines=3) for raw in read_block(block, decoding)]
    assert [(r.position, r.row, r.repaired, r.reject and r.reject.reason) for r in parts] == \
        [(r.position, r.row, r.repaired, r.reject and r.reject.reason) for r in whole]
    assert sum(r.repaired for r in parts) == (0 if errors == "strict" else 3)
