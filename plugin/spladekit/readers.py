"""The one reader of input files: JSONL (default), a BEIR folder, CSV/TSV, Parquet, ``-`` for stdin, and
query files; one row at a time. Ingest, eval (:mod:`spladekit.datasets`), parity and the demo all read
through here.

Readers only parse; :mod:`spladekit.ingest.policy` decides what a row means. Memory per reader is one line
(or one Parquet batch of :data:`PARQUET_BATCH` rows), whatever the input size.

Compressed input (gzip, zstd, bzip2, xz) is recognised by its first bytes, a file or stdin alike, and read as a
stream: positions are record numbers of the decompressed text, so a checkpoint means the same on every run.

JSONL is read as bytes and decoded line by line (CSV/TSV row by row), so bytes that the input's codec cannot
decode reject that record, not the file: ``decode_errors="strict"`` (the default) rejects it as
``invalid_utf8`` (``invalid_encoding`` under another ``encoding``); ``"replace"`` puts U+FFFD in place of each
undecodable sequence and ``"skip"`` drops it, and the row comes out with ``repaired=True`` (see
:class:`Decoding`). Blank lines are not records (they are neither counted nor dead-lettered).

>>> import io
>>> rows = list(read_jsonl(io.BytesIO(b'{"_id": "a", "text": "x"}\\n\\n{oops\\n')))
>>> [(r.position, r.row, r.reject and r.reject.reason) for r in rows]
[(1, {'_id': 'a', 'text': 'x'}, None), (3, None, 'malformed_json')]
>>> [(r.row, r.repaired) for r in read_jsonl(io.BytesIO(b'{"text": "caf\\xe9"}\\n'), decode_errors="replace")]
[({'text': 'caf\ufffd'}, True)]
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import gzip
import io
import json
import lzma
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import zstandard

from spladekit.errors import InputError

Format = Literal["jsonl", "beir", "csv", "tsv", "parquet"]
FORMATS: tuple[str, ...] = ("jsonl", "beir", "csv", "tsv", "parquet")
DecodeErrors = Literal["strict", "replace", "skip"]
DECODE_ERRORS: tuple[str, ...] = ("strict", "replace", "skip")
PARQUET_BATCH = 1024
#: How much of a bad line the dead letter keeps.
EXCERPT_CHARS = 1000

@dataclass(slots=True)
class Reject:
    """An input unit that cannot be used, bound for the dead letter (or an exclusion count)."""

    position: int
    id: str | None
    reason: str
    #: the parsed record, or a (possibly truncated) text excerpt of the raw input
    record: Any = None
    detail: str | None = None


@dataclass(slots=True)
class Raw:
    """One input unit before a policy runs: a parsed row (dict) or a reject from parsing.

    ``position`` is the 1-based line number for JSONL (blank lines count, so the number matches
    ``sed -n Np``), the 1-based data row for CSV/TSV (header excluded) and Parquet. Positions strictly increase
    through an input; a checkpoint stores one of them.
    """

    position: int
    row: dict | None
    reject: Reject | None = None
    #: The document's vector when it was encoded elsewhere (distributed ingestion); None: encode it here.
    vector: Any = None
    #: Undecodable bytes (or JSON-escaped lone surrogates) were replaced or dropped (``decode_errors``).
    repaired: bool = False
    #: With ``vector``: what encoding it cost (an ``EncodeStats`` of this one text), for the job's report.
    encoding: Any = None


_HANDLERS = {"replace": "replace", "skip": "ignore"}
#: JSON escapes of a surrogate (``\ud800``): json.loads pairs the valid ones, so a match may be a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATES = re.compile("[\ud800-\udfff]")
#: What ``surrogateescape`` makes of undecodable bytes (CSV/TSV are decoded as a stream with it).
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True, slots=True)
class Decoding:
    """How input bytes become text: a codec (``encoding``, any ASCII-compatible Python codec, default utf-8) and
    what to do with bytes it cannot decode (``errors``): ``strict`` rejects the record (dead letter
    ``invalid_utf8``, or ``invalid_encoding`` under another codec), ``replace`` puts U+FFFD in place of each
    undecodable sequence, ``skip`` drops it. A repaired record is indexed and counted (``Raw.repaired``); JSON
    escapes of lone surrogates (``"\\ud800"``) are repaired the same way.

    >>> Decoding("latin1").encoding, Decoding(errors="skip").fix("caf\\ud800"), Decoding().fix_bytes("caf\\udce9")
    ('iso8859-1', 'caf', 'caf\ufffd')
    >>> Decoding("utf-16")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --encoding utf-16 is not supported: ... convert the file first (iconv -f utf-16 -t utf-8)
    """

    encoding: str = "utf-8"
    errors: DecodeErrors = "strict"

    def __post_init__(self) -> None:
        try:
            info = codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"unknown --encoding {self.encoding!r}: give a Python codec name such as utf-8, "
                             "latin-1, cp1252, shift_jis") from None
        if "\n{},:\"_id".encode(info.name, "replace") != b"\n{},:\"_id":
            raise ValueError(f"--encoding {self.encoding} is not supported: JSONL/CSV/TSV are read line by line, "
                             "which needs an ASCII-compatible codec (utf-8, latin-1, cp1252, shift_jis, gb18030, "
                             f"...); convert the file first (iconv -f {self.encoding} -t utf-8)")
        if self.errors not in DECODE_ERRORS:
            raise ValueError(f"--decode-errors must be one of {', '.join(DECODE_ERRORS)}, got {self.errors!r}")
        object.__setattr__(self, "encoding", info.name)

    @property
    def utf8(self) -> bool:
        return self.encoding in ("utf-8", "utf-8-sig")

    @property
    def reason(self) -> str:
        """The dead-letter reason of an undecodable record under ``strict``."""
        return "invalid_utf8" if self.utf8 else "invalid_encoding"

    def hint(self) -> str:
        """The options that fix an undecodable record (for a dead-letter detail)."""
        return "--decode-errors replace (U+FFFD) or skip indexes it; --encoding names the input's codec"

    def decode(self, data: bytes) -> tuple[str, bool]:
        """``data`` as text, and whether it had to be repaired; under ``strict`` a UnicodeDecodeError."""
        try:
            return data.decode(self.encoding), False
        except UnicodeDecodeError:
            if self.errors == "strict":
                raise
            return data.decode(self.encoding, _HANDLERS[self.errors]), True

    def fix(self, text: str) -> str:
        """``text`` (from JSON) with its lone surrogates (JSON escapes such as ``\\ud800``) replaced or dropped."""
        return _SURROGATES.sub("\ufffd" if self.errors == "replace" else "", text)

    def fix_bytes(self, text: str) -> str:
        """``text`` decoded with ``surrogateescape`` (CSV/TSV) with the undecodable bytes it kept replaced or
        dropped: they are decoded again as bytes, so a CSV field is repaired exactly as a JSONL line with the
        same bytes would be."""
        codec = "utf-8" if self.utf8 else self.encoding
        return text.encode(codec, "surrogateescape").decode(codec, _HANDLERS.get(self.errors, "replace"))


def _undecodable(decoding: Decoding, exc: UnicodeDecodeError, data: bytes) -> str:
    bad = data[exc.start:exc.end][:4].hex(" ")
    return f"byte {exc.start} (0x{bad}) is not valid {decoding.encoding}: {decoding.hint()}"


_SUFFIXES = {
    ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".parquet": "parquet", ".pq": "parquet",
}
#: Compression is recognised by the stream's first bytes; these suffixes are only dropped to find the format.
COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd", ".bz2", ".xz")
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [truncated, {len(text)} chars]"


def detect_format(source: str | Path) -> Format:
    """The format of ``source`` from its name: a folder is BEIR, ``-`` is JSONL, else by suffix."""
    if str(source) == "-":
        return "jsonl"
    path = Path(source)
    if path.is_dir():
        return "beir"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]  # type: ignore[return-value]
    return "jsonl"


def resolve_input(source: str | Path, fmt: str | None = None) -> tuple[str | Path, Format]:
    """Check ``source`` and settle its format; a BEIR folder resolves to its ``corpus.jsonl``."""
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    if str(source) == "-":
        if fmt not in (None, "jsonl", "csv", "tsv"):
            raise InputError(f"stdin can be read as jsonl, csv or tsv, not {fmt}")
        return "-", (fmt or "jsonl")  # type: ignore[return-value]
    path = Path(source)
    if not path.exists():
        raise InputError(f"input {path} does not exist; give a JSONL/CSV/TSV/Parquet file, a BEIR folder or -")
    kind = fmt or detect_format(path)
    if kind == "beir" or path.is_dir():
        corpus = path / "corpus.jsonl" if path.is_dir() else path
        if not corpus.is_file():
            raise InputError(f"{path} is a folder without corpus.jsonl; a BEIR folder holds corpus.jsonl")
        return corpus, "beir"
    return path, kind  # type: ignore[return-value]


def compression(head: bytes) -> str | None:
    """The compression of a stream that starts with ``head`` (its first 6 bytes), or None.

    >>> compression(gzip.compress(b"{}")), compression(b'{"_id": 1}')
    ('gzip', None)
    """
    for magic, kind in _MAGIC:
        if head.startswith(magic) and (kind != "bzip2" or head[3:4].isdigit()):
            return kind
    return None


def _decompressed(raw: IO[bytes], kind: str) -> IO[bytes]:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "zstd":
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)
        return io.BufferedReader(reader, 1 << 16)  # type: ignore[arg-type]
    if kind == "bzip2":
        return bz2.BZ2File(raw, "rb")
    return lzma.LZMAFile(raw, "rb")


@contextlib.contextmanager
def open_input(source: str | Path) -> Iterator[IO[bytes]]:
    """The bytes of ``source`` (a file, or ``-`` for stdin), decompressed when its first bytes say gzip, zstd,
    bzip2 or xz. Stdin is not closed."""
    stdin = str(source) == "-"
    raw: Any = sys.stdin.buffer if stdin else open(source, "rb")  # noqa: SIM115 - closed below
    try:
        if not hasattr(raw, "peek"):
            raw = io.BufferedReader(raw)
        kind = compression(raw.peek(6)[:6])
        stream = _decompressed(raw, kind) if kind else raw
        try:
            yield stream
        finally:
            if stream is not raw:
                stream.close()
    finally:
        if not stdin:
            raw.close()


def read_jsonl(stream: IO[bytes], first_position: int = 1, *, encoding: str = "utf-8",
               decode_errors: DecodeErrors = "strict", decoding: Decoding | None = None) -> Iterator[Raw]:
    """One :class:`Raw` per non-blank line; position = 1-based line number (``first_position``: the number of the
    stream's first line, when it starts inside a file, as a block of distributed ingestion does). Bytes are
    decoded per line as :class:`Decoding` (``encoding``, ``decode_errors``; or a ready ``decoding``) says."""
    dec = decoding or Decoding(encoding, decode_errors)
    for position, line in enumerate(stream, start=first_position):
        if position == 1 and dec.utf8 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]  # a UTF-8 byte-order mark is not part of the JSON
        if not line.strip():
            continue
        try:
            text, repaired = dec.decode(line)
        except UnicodeDecodeError as exc:
            shown = excerpt(line.rstrip(b"\r\n").decode(dec.encoding, "backslashreplace"))
            yield Raw(position, None, Reject(position, None, dec.reason, shown, _undecodable(dec, exc, line)))
            continue
        try:
            row = json.loads(text)
        except ValueError as exc:
            yield Raw(position, None, Reject(position, None, "malformed_json", excerpt(text.rstrip("\r\n")),
                                             str(exc)), repaired=repaired)
            continue
        if not isinstance(row, dict):
            yield Raw(position, None, Reject(position, None, "not_an_object", excerpt(text.rstrip("\r\n")),
                                             f"got a JSON {type(row).__name__}"), repaired=repaired)
            continue
        if dec.errors != "strict" and _SURROGATE_ESCAPE.search(line):
            fixed = {k: dec.fix(v) if isinstance(v, str) else v for k, v in row.items()}
            repaired = repaired or fixed != row
            row = fixed
        yield Raw(position, row, repaired=repaired)


def read_delimited(stream: IO[bytes], delimiter: str, *, encoding: str = "utf-8",
                   decode_errors: DecodeErrors = "strict", decoding: Decoding | None = None) -> Iterator[Raw]:
    """CSV/TSV with a header row; position = 1-based data row. Undecodable bytes reject the row they are in
    (``strict``) or are repaired in it, as :class:`Decoding` says."""
    dec = decoding or Decoding(encoding, decode_errors)
    # surrogateescape keeps undecodable bytes as lone surrogates (U+DC80..U+DCFF), found and handled per row.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig" if dec.utf8 else dec.encoding, errors="surrogateescape",
                            newline="")
    csv.field_size_limit(2**31 - 1)  # the policy's max_doc_bytes decides what is too large, not csv
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"cannot read the header row: {exc}") from None
    position = 0
    while True:
        position += 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Raw(position, None, Reject(position, None, "malformed_csv", None, str(exc)))
            continue
        if not values or all(not v.strip() for v in values):
            continue
        joined = delimiter.join(values)
        repaired = False
        if _ESCAPED_BYTES.search(joined):
            if dec.errors == "strict":
                raw = joined.encode("utf-8" if dec.utf8 else dec.encoding, "surrogateescape")
                try:
                    raw.decode(dec.encoding)
                except UnicodeDecodeError as exc:
                    shown = excerpt(raw.decode(dec.encoding, "backslashreplace"))
                    yield Raw(position, None, Reject(position, None, dec.reason, shown,
                                                     _undecodable(dec, exc, raw)))
                    continue
            values = [dec.fix_bytes(v) if _ESCAPED_BYTES.search(v) else v for v in values]
            repaired = True
        if len(values) != len(header):
            shown = excerpt(delimiter.join(values))
            yield Raw(position, None, Reject(position, None, "malformed_csv", shown,
                                             f"{len(values)} fields, the header has {len(header)}"),
                      repaired=repaired)
            continue
        yield Raw(position, dict(zip(header, values, strict=True)), repaired=repaired)


def read_parquet(path: str | Path, columns: list[str] | None = None, start_after: int = 0) -> Iterator[Raw]:
    """Parquet in batches of :data:`PARQUET_BATCH` rows (bounded memory); position = 1-based row.

    Whole batches at or before ``start_after`` are skipped without converting them to Python objects.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(
            "pyarrow is not installed; Parquet input needs it: pip install pyarrow (or 'spladekit[dev]')"
        ) from None
    pf = pq.ParquetFile(path)
    present = set(pf.schema_arrow.names)
    wanted = [c for c in columns if c in present] if columns else None
    position = 0
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH, columns=wanted):
        if position + batch.num_rows <= start_after:
            position += batch.num_rows
            continue
        for row in batch.to_pylist():
            position += 1
            yield Raw(position, row)


def read(source: str | Path, fmt: Format, columns: list[str] | None = None, start_after: int = 0, *,
         encoding: str = "utf-8", decode_errors: DecodeErrors = "strict") -> Iterator[Raw]:
    """Rows of ``source`` (already resolved by :func:`resolve_input`), decompressed and decoded as
    :func:`open_input` and :class:`Decoding` say (Parquet's strings are UTF-8 by definition: no ``encoding``).
    Bad options raise here, before the first row is read."""
    dec = Decoding(encoding, decode_errors)
    if fmt == "parquet":
        if not dec.utf8:
            raise ValueError(f"--encoding {encoding} does not apply to Parquet (its strings are UTF-8); drop it")
        return read_parquet(source, columns, start_after)
    return _read_text(source, fmt, dec)


def _read_text(source: str | Path, fmt: Format, dec: Decoding) -> Iterator[Raw]:
    with open_input(source) as stream:
        if fmt in ("jsonl", "beir"):
            yield from read_jsonl(stream, decoding=dec)
        else:
            yield from read_delimited(stream, "," if fmt == "csv" else "\t", decoding=dec)


def count_records(source: str | Path, fmt: Format) -> int | None:
    """The number of rows, cheaply (for the progress bar's ETA); None when unknown (stdin, compressed)."""
    if str(source) == "-":
        return None
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(source).metadata.num_rows
    with open(source, "rb") as f:
        if compression(f.read(6)):
            return None
    n = 0
    last = b"\n"
    with open(source, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        n += 1
    return n - 1 if fmt in ("csv", "tsv") else n


def read_queries(path: str | Path) -> dict[str, str]:
    """Queries from a JSONL file (``{"_id"|"id"|"qid", "text"|"query"}``, BEIR's queries.jsonl) or a TSV file
    (``qid<TAB>text``, told apart per line). A line that is neither is an :class:`InputError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no queries file at {path}; give a JSONL ({{'_id', 'text'}}) or TSV (qid, text) file")
    out: dict[str, str] = {}
    with path.open("rb") as stream:
        for position, line in enumerate(stream, start=1):
            text_line = line.decode("utf-8", "replace")
            if not text_line.strip():
                continue
            if text_line.lstrip().startswith("{"):
                (raw,) = read_jsonl(io.BytesIO(line))
                if raw.reject is not None or raw.row is None:
                    reason = raw.reject.reason if raw.reject is not None else "empty"
                    raise InputError(f"{path}:{position} is not a JSON object ({reason})")
                qid = raw.row.get("_id", raw.row.get("id", raw.row.get("qid")))
                text = raw.row.get("text", raw.row.get("query"))
            else:
                qid, _, text = text_line.rstrip("\r\n").partition("\t")
            if qid is None or not isinstance(text, str) or not text.strip():
                raise InputError(f"{path}:{position} needs a query id and a non-empty text")
            out[str(qid)] = text
    if not out:
        raise InputError(f"{path} holds no queries")
    return out
