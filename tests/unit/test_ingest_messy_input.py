"""Messy real input: undecodable bytes (``--encoding``, ``--decode-errors strict|replace|skip``), compressed
files and stdin, and ``--resume`` on compressed input. Hand-made byte files, the fake encoder."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner

from _support import FakeEncoder
from spladekit import readers
from spladekit.ingest import IngestStopped, PipelineConfig, ingest
from spladekit.ingest.deadletter import read_dead_letter
from spladekit.ingest.policy import RecordPolicy
from spladekit.ingest.records import REASONS, Record
from spladekit.ingest.sinks import CountingSink

# One record per line, each with its undecodable bytes (or lone-surrogate escape) in another place. The expected
# outcome per mode: ("ok", text after decoding) / ("repaired", text) / (reason of the reject, None).
CASES: list[tuple[str, bytes, dict[str, tuple[str, str | None]]]] = [
    ("clean", b'{"_id": "clean", "text": "caf\xc3\xa9 wing"}',
     {"strict": ("ok", "café wing"), "replace": ("ok", "café wing"), "skip": ("ok", "café wing")}),
    ("start of the record, in the structure", b'\xff{"_id": "start", "text": "lift"}',
     {"strict": ("invalid_utf8", None), "replace": ("malformed_json", None), "skip": ("repaired", "lift")}),
    ("middle, in a JSON string", b'{"_id": "middle", "text": "caf\xe9 au lait"}',
     {"strict": ("invalid_utf8", None), "replace": ("repaired", "caf\ufffd au lait"),
      "skip": ("repaired", "caf au lait")}),
    ("end of a string, a cut multi-byte sequence", b'{"_id": "cut", "text": "drag\xe2\x82"}',
     {"strict": ("invalid_utf8", None), "replace": ("repaired", "drag\ufffd"), "skip": ("repaired", "drag")}),
    ("middle of the structure", b'{"_id": "struct",\x80 "text": "stall"}',
     {"strict": ("invalid_utf8", None), "replace": ("malformed_json", None), "skip": ("repaired", "stall")}),
    ("end of the record, after the object", b'{"_id": "end", "text": "flap"}\xfe',
     {"strict": ("invalid_utf8", None), "replace": ("malformed_json", None), "skip": ("repaired", "flap")}),
    ("in the id", b'{"_id": "id\xe9", "text": "spar"}',
     {"strict": ("invalid_utf8", None), "replace": ("repaired", "spar"), "skip": ("repaired", "spar")}),
    ("a JSON-escaped lone surrogate (valid bytes)", b'{"_id": "lone", "text": "rib \\ud800 x"}',
     {"strict": ("invalid_utf8", None), "replace": ("repaired", "rib \ufffd x"), "skip": ("repaired", "rib  x")}),
    ("an escaped surrogate pair is not repaired", b'{"_id": "pair", "text": "\\ud83d\\ude00 ok"}',
     {"strict": ("ok", "\U0001f600 ok"), "replace": ("ok", "\U0001f600 ok"), "skip": ("ok", "\U0001f600 ok")}),
]
MODES = ("strict", "replace", "skip")


def _messy(path: Path) -> Path:
    path.write_bytes(b"\n".join(line for _, line, _ in CASES) + b"\n")
    return path


def _outcomes(rows: list[readers.Raw]) -> list[tuple[str, str | None]]:
    policy = RecordPolicy()
    out: list[tuple[str, str | None]] = []
    for raw in rows:
        item = raw.reject or policy.check(raw.position, raw.row)  # type: ignore[arg-type]
        if isinstance(item, Record):
            out.append(("repaired" if raw.repaired else "ok", item.text))
        else:
            out.append((item.reason, None))
    return out


@pytest.mark.parametrize("mode", MODES)
def test_each_decode_mode_on_bytes_at_the_start_middle_and_end_of_a_record(tmp_path, mode):
    rows = list(readers.read(_messy(tmp_path / "m.jsonl"), "jsonl", decode_errors=mode))
    assert [r.position for r in rows] == list(range(1, len(CASES) + 1))
    got = _outcomes(rows)
    for (what, _, expected), outcome in zip(CASES, got, strict=True):
        assert outcome == expected[mode], what
    # a line repaired but still not JSON is counted as repaired and dead-lettered for the other reason
    assert all(r.repaired for r in rows if r.reject is not None and r.reject.reason == "malformed_json")


def test_strict_rejects_name_the_byte_and_the_options_that_fix_them(tmp_path):
    rows = list(readers.read(_messy(tmp_path / "m.jsonl"), "jsonl"))
    middle = rows[2].reject
    assert middle.reason == "invalid_utf8" and "caf\\xe9 au lait" in middle.record
    offset = CASES[2][1].index(b"\xe9")  # 0-based, in the line
    assert middle.detail.startswith(f"byte {offset} (0xe9) is not valid utf-8")
    assert "--decode-errors replace" in middle.detail and "--encoding" in middle.detail
    lone = RecordPolicy().check(8, rows[7].row)
    assert lone.reason == "invalid_utf8" and "--decode-errors replace" in lone.detail
    assert "--decode-errors replace" in REASONS["invalid_utf8"]


def test_another_codec_decodes_what_utf8_cannot_and_names_its_own_reason(tmp_path):
    p = tmp_path / "latin.jsonl"
    p.write_bytes('{"_id": "l", "text": "crème brûlée"}\n'.encode("latin-1") + b'{"_id": "m", "text": "\x81"}\n')
    assert _outcomes(list(readers.read(p, "jsonl")))[0] == ("invalid_utf8", None)
    assert _outcomes(list(readers.read(p, "jsonl", encoding="latin-1"))) == [("ok", "crème brûlée"), ("ok", "\x81")]
    cp1252 = list(readers.read(p, "jsonl", encoding="cp1252"))  # 0x81 has no character in cp1252
    assert _outcomes(cp1252) == [("ok", "crème brûlée"), ("invalid_encoding", None)]
    assert "is not valid cp1252" in cp1252[1].reject.detail and "invalid_encoding" in REASONS
    assert _outcomes(list(readers.read(p, "jsonl", encoding="cp1252", decode_errors="replace")))[1] == (
        "repaired", "\ufffd")


@pytest.mark.parametrize("fmt, sep", [("csv", ","), ("tsv", "\t")])
def test_delimited_rows_are_decoded_and_repaired_like_jsonl_lines(tmp_path, fmt, sep):
    p = tmp_path / f"m.{fmt}"
    rows = [["id", "text"], [b"1", b"clean"], [b"2", b"caf\xe9 au lait"], [b"3\xff", b"drag\xe2\x82"]]
    p.write_bytes(b"\n".join(sep.encode().join(r if isinstance(r[0], bytes) else [c.encode() for c in r])
                             for r in rows) + b"\n")
    strict = _outcomes(list(readers.read(p, fmt)))
    assert strict == [("ok", "clean"), ("invalid_utf8", None), ("invalid_utf8", None)]
    assert _outcomes(list(readers.read(p, fmt, decode_errors="replace"))) == [
        ("ok", "clean"), ("repaired", "caf\ufffd au lait"), ("repaired", "drag\ufffd")]
    skip = list(readers.read(p, fmt, decode_errors="skip"))
    assert _outcomes(skip) == [("ok", "clean"), ("repaired", "caf au lait"), ("repaired", "drag")]
    assert skip[2].row["id"] == "3"
    assert _outcomes(list(readers.read(p, fmt, encoding="latin-1")))[1] == ("ok", "café au lait")


def test_bad_options_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="unknown --encoding 'klingon'"):
        readers.Decoding("klingon")
    with pytest.raises(ValueError, match="ASCII-compatible.*iconv -f utf-16 -t utf-8"):
        readers.Decoding("utf-16")
    with pytest.raises(ValueError, match="strict, replace, skip"):
        readers.Decoding(errors="lenient")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not apply to Parquet"):
        readers.read("x.parquet", "parquet", encoding="latin-1")


# ------------------------------------------------------------------------------------------ compression

_COMPRESS = {".gz": gzip.compress, ".zst": zstandard.ZstdCompressor().compress, ".bz2": bz2.compress,
             ".xz": lzma.compress}


@pytest.mark.parametrize("suffix", list(_COMPRESS))
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_compressed_input_reads_as_the_plain_file(tmp_path, suffix, fmt):
    if fmt == "jsonl":
        plain = _messy(tmp_path / "m.jsonl")
    else:
        plain = tmp_path / "m.csv"
        plain.write_bytes(b'id,text\n1,"two\nlines"\n2,caf\xe9\n\n3,end\n')
    packed = tmp_path / f"m.{fmt}{suffix}"
    packed.write_bytes(_COMPRESS[suffix](plain.read_bytes()))
    src, kind = readers.resolve_input(packed)
    assert kind == fmt and readers.count_records(src, kind) is None
    for mode in MODES:
        expected = list(readers.read(plain, fmt, decode_errors=mode))
        assert list(readers.read(src, kind, decode_errors=mode)) == expected and expected
    # compression is told by the bytes, not the name
    renamed = tmp_path / f"no-suffix.{fmt}"
    renamed.write_bytes(packed.read_bytes())
    assert list(readers.read(renamed, fmt)) == list(readers.read(plain, fmt))


def test_zstd_multi_frame_and_stdin(tmp_path, monkeypatch):
    c = zstandard.ZstdCompressor()
    data = c.compress(b'{"_id": "a", "text": "one"}\n') + c.compress(b'{"_id": "b", "text": "tw\xf6"}\n')
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    rows = list(readers.read(*readers.resolve_input("-"), decode_errors="replace"))
    assert [(r.position, r.row["_id"], r.repaired) for r in rows] == [(1, "a", False), (2, "b", True)]


def test_a_compressed_file_with_a_plain_name_and_a_plain_file_with_a_compressed_name(tmp_path):
    p = tmp_path / "plain.jsonl.gz"  # not gzip at all: read as what it is
    p.write_bytes(b'{"_id": "p", "text": "plain"}\n')
    assert [r.row["_id"] for r in readers.read(*readers.resolve_input(p))] == ["p"]
    assert readers.detect_format("x.csv.zst") == "csv" and readers.detect_format("x.tsv.xz") == "tsv"


# ------------------------------------------------------------------------------------------ ingest


class _Recording(CountingSink):
    def __init__(self) -> None:
        super().__init__()
        self.docs: dict[str, str] = {}

    def write(self, docs):
        self.docs.update((d.record.id, d.record.text) for d in docs)
        return super().write(docs)


def test_ingest_counts_repaired_documents_and_dead_letters_the_rest(tmp_path):
    corpus = _messy(tmp_path / "m.jsonl")
    n_bad = sum(1 for _, _, e in CASES if e["strict"][0] == "invalid_utf8")
    job = {"checkpoint": tmp_path / "job" / "cp.json", "encoder": FakeEncoder()}
    strict = ingest(corpus, sink=_Recording(), **job)
    assert strict.failed == {"invalid_utf8": n_bad} and strict.repaired == 0 and strict.exit_code == 3
    dead = read_dead_letter(strict.dead_letter)
    assert len(dead) == n_bad and all("--decode-errors replace" in e["detail"] for e in dead)
    assert "--decode-errors replace repairs undecodable bytes" in strict.summary()

    sink = _Recording()
    replace = ingest(corpus, sink=sink, decode_errors="replace", **job)
    n_struct = sum(1 for _, _, e in CASES if e["replace"][0] == "malformed_json")
    assert replace.failed == {"malformed_json": n_struct}
    assert replace.repaired == n_bad  # the structurally broken ones were repaired too, then failed as JSON
    assert replace.indexed == len(CASES) - n_struct and sink.docs["middle"] == "caf\ufffd au lait"
    assert sink.docs["id\ufffd"] == "spar"
    assert (replace.input_encoding, replace.decode_errors) == ("utf-8", "replace")
    assert f"repaired {n_bad} (--decode-errors replace)" in replace.summary()

    skip = ingest(corpus, sink=_Recording(), decode_errors="skip", **job)
    assert (skip.indexed, skip.repaired, skip.failed) == (len(CASES), n_bad, {})


def test_resume_on_compressed_input_finishes_exactly(tmp_path):
    lines = []
    for i in range(300):
        text = b"wing lift " * (1 + i % 5) + (b"caf\xe9" if i % 10 == 3 else b"ok")
        lines.append(b'{"_id": "d%d", "text": "%s"}' % (i, text))
    corpus = tmp_path / "c.jsonl.zst"
    corpus.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines) + b"\n"))

    class Interrupting(FakeEncoder):
        def encode_documents(self, texts):
            if len(self.calls) == 6:
                raise KeyboardInterrupt
            return super().encode_documents(texts)

    job = {"checkpoint": tmp_path / "job" / "cp.json", "decode_errors": "replace"}
    cfg = {"batch_size": 10, "window": 10, "checkpoint_every_s": 0}
    first = _Recording()
    with pytest.raises(IngestStopped, match="interrupted") as stopped:
        ingest(corpus, sink=first, encoder=Interrupting(), config=PipelineConfig(**cfg), **job)
    cp = json.loads(job["checkpoint"].read_text())
    # like ``read``, ``repaired`` counts what the reader got to, a little ahead of what was written
    assert cp["position"] == len(first.docs) == 60 and stopped.value.report.repaired >= 6
    assert cp["decoding"] == "utf-8/replace"
    with pytest.raises(Exception, match="another job .*decoding"):
        ingest(corpus, sink=_Recording(), encoder=FakeEncoder(), resume=True, checkpoint=job["checkpoint"])
    second = _Recording()
    report = ingest(corpus, sink=second, encoder=FakeEncoder(), resume=True, config=PipelineConfig(**cfg), **job)
    assert (report.skipped, report.indexed, report.repaired, report.failed) == (60, 240, 24, {})
    assert set(first.docs) | set(second.docs) == {f"d{i}" for i in range(300)}
    assert not set(first.docs) & set(second.docs)
    assert second.docs["d293"].endswith("caf\ufffd")


def test_cli_ingest_decode_errors_and_compressed_stdin(tmp_path, monkeypatch):
    from spladekit.cli import main
    from spladekit.encoder import runtime

    monkeypatch.setattr(runtime.SpladeEncoder, "load", classmethod(lambda cls, *a, **k: FakeEncoder()))
    monkeypatch.chdir(tmp_path)
    corpus = _messy(tmp_path / "m.jsonl")
    n_bad = sum(1 for _, _, e in CASES if e["strict"][0] == "invalid_utf8")
    strict = CliRunner().invoke(main, ["ingest", str(corpus), "--local", "ix", "--silent"])
    assert strict.exit_code == 3, strict.output
    assert f"invalid_utf8 {n_bad}" in strict.output and "--decode-errors replace" in strict.output
    out = CliRunner().invoke(main, ["ingest", str(corpus), "--local", "ix2", "--silent", "--decode-errors", "skip",
                                    "--json"])
    report = json.loads(out.output)
    assert out.exit_code == 0 and report["repaired"] == n_bad and report["indexed"] == len(CASES)
    packed = gzip.compress(corpus.read_bytes())
    piped = CliRunner().invoke(main, ["ingest", "-", "--local", "ix3", "--silent", "--decode-errors", "replace",
                                      "--json"], input=packed)
    assert json.loads(piped.output)["repaired"] == n_bad, piped.output
