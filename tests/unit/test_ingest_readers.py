from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from _support import need
from spladekit import readers
from spladekit.errors import InputError
from spladekit.ingest.policy import RecordPolicy
from spladekit.ingest.records import Record, Reject

REPO = Path(__file__).resolve().parents[2]


def _rows(source, fmt=None):
    src, kind = readers.resolve_input(source, fmt)
    return list(readers.read(src, kind))


def test_jsonl_positions_are_line_numbers_and_blank_lines_are_not_records(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"_id": "a", "text": "x"}\n\n   \n{"_id": "b", "text": "y"}\n{"_id": "c", "text": "z"}')
    rows = _rows(p)
    assert [r.position for r in rows] == [1, 4, 5]
    assert [r.row["_id"] for r in rows] == ["a", "b", "c"]
    assert readers.count_records(p, "jsonl") == 5


def test_jsonl_bad_lines_become_rejects_with_excerpts(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_bytes(b'{"_id": "a", "text": "caf\xe9"}\n{nope\n[1, 2]\n' + b'{"t": "' + b"w" * 5000 + b'\n')
    rows = _rows(p)
    assert [r.reject.reason for r in rows] == ["invalid_utf8", "malformed_json", "not_an_object", "malformed_json"]
    assert "\\xe9" in rows[0].reject.record
    assert "truncated" in rows[3].reject.record and len(rows[3].reject.record) < 1100


def test_beir_folder_reads_corpus_and_joins_title_like_beir(tmp_path):
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"_id": "1", "title": "Wings", "text": "stall"}) + "\n"
                                           + json.dumps({"_id": "2", "title": "", "text": "lift"}) + "\n")
    src, kind = readers.resolve_input(tmp_path)
    assert kind == "beir" and src == tmp_path / "corpus.jsonl"
    policy = RecordPolicy()
    recs = [policy.check(r.position, r.row) for r in readers.read(src, kind)]
    assert [r.encoder_text for r in recs] == ["Wings stall", "lift"]


def test_beir_folder_without_corpus_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="corpus.jsonl"):
        readers.resolve_input(tmp_path)


@pytest.mark.parametrize("fmt, sep", [("csv", ","), ("tsv", "\t")])
def test_delimited_rows_positions_and_bad_rows(tmp_path, fmt, sep):
    p = tmp_path / f"c.{fmt}"
    lines = [sep.join(["id", "title", "text"]), sep.join(["1", "T", "lift"]), sep.join(["2", "only two"]),
             sep.join(["3", "", "drag"])]
    p.write_bytes(("\n".join(lines) + "\n").encode() + sep.join(["4", "x", "caf"]).encode() + b"\xe9\n")
    rows = _rows(p)
    assert [r.position for r in rows] == [1, 2, 3, 4]
    assert rows[0].row == {"id": "1", "title": "T", "text": "lift"}
    assert rows[1].reject.reason == "malformed_csv"
    assert rows[3].reject.reason == "invalid_utf8" and "--decode-errors replace" in rows[3].reject.detail
    assert rows[3].reject.record == "4" + sep + "x" + sep + "caf\\xe9"
    assert readers.count_records(p, fmt) == 4


def test_csv_multiline_and_large_fields(tmp_path):
    p = tmp_path / "c.csv"
    big = "w " * 100_000  # over csv's default 128 KiB field limit
    p.write_text(f'id,text\n1,"two\nlines"\n2,{big}\n', encoding="utf-8")
    rows = _rows(p)
    assert rows[0].row["text"] == "two\nlines" and len(rows[1].row["text"]) == len(big)


def test_parquet_in_batches(tmp_path, monkeypatch):
    pa = need("pyarrow", "pyarrow is in the dev extra")
    import pyarrow.parquet as pq

    monkeypatch.setattr(readers, "PARQUET_BATCH", 7)
    n = 30
    table = pa.table({"id": [str(i) for i in range(n)], "text": [f"doc {i}" for i in range(n)],
                      "other": list(range(n))})
    p = tmp_path / "c.parquet"
    pq.write_table(table, p, row_group_size=10)
    rows = list(readers.read(p, "parquet", ["id", "text", "title"]))
    assert [r.position for r in rows] == list(range(1, n + 1))
    assert rows[12].row == {"id": "12", "text": "doc 12"}  # only the wanted columns are read
    assert readers.count_records(p, "parquet") == n
    assert [r.position for r in readers.read(p, "parquet", None, start_after=14)][0] == 15


def test_stdin_is_jsonl(monkeypatch):
    fake = io.TextIOWrapper(io.BytesIO(b'{"_id": "s", "text": "from a pipe"}\n'))
    monkeypatch.setattr("sys.stdin", fake)
    rows = _rows("-")
    assert rows[0].row["_id"] == "s"
    assert readers.count_records("-", "jsonl") is None


def test_format_detection_and_errors(tmp_path):
    assert readers.detect_format("a.tsv") == "tsv" and readers.detect_format("a.jsonl.gz") == "jsonl"
    assert readers.detect_format("a.parquet") == "parquet" and readers.detect_format("whatever") == "jsonl"
    with pytest.raises(InputError, match="does not exist"):
        readers.resolve_input(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="valid formats"):
        readers.resolve_input(tmp_path, "xml")


def test_gzip_jsonl(tmp_path):
    import gzip

    p = tmp_path / "c.jsonl.gz"
    with gzip.open(p, "wb") as f:
        f.write(b'{"_id": "g", "text": "zipped"}\n')
    assert _rows(p)[0].row["_id"] == "g"


def test_bad_input_file_every_case_per_policy():
    rows = _rows(REPO / "ingest" / "bad_input.jsonl")
    policy = RecordPolicy()
    out = [r.reject or policy.check(r.position, r.row) for r in rows]
    by_reason: dict[str, int] = {}
    for o in out:
        if isinstance(o, Reject):
            by_reason[o.reason] = by_reason.get(o.reason, 0) + 1
    assert by_reason == {"malformed_json": 1, "not_an_object": 1, "invalid_id": 4, "missing_text": 2,
                         "empty_text": 2, "non_string_text": 3, "duplicate_id": 2, "invalid_utf8": 2}
    kept = [o for o in out if isinstance(o, Record)]
    assert [o.id for o in kept if not o.id.startswith("auto-")] == ["ok-1", "42", "ok-2", "ok-3"]
    assert sum(o.id.startswith("auto-") for o in kept) == 2


def test_policy_require_id_and_size_and_field_names():
    p = RecordPolicy(id_fields=("doc",), text_field="body", title_field=None, require_id=True, max_doc_bytes=10)
    assert p.check(1, {"body": "x"}).reason == "missing_id"
    assert p.check(2, {"doc": "a", "body": "é" * 6}).reason == "too_large"  # 12 UTF-8 bytes
    rec = p.check(3, {"doc": "a", "body": "wing", "title": "ignored"})
    assert isinstance(rec, Record) and rec.encoder_text == "wing"
    assert p.check(4, {"doc": "a", "body": "again"}).reason == "duplicate_id"
    with pytest.raises(ValueError, match="max_doc_bytes"):
        RecordPolicy(max_doc_bytes=0)
