"""The one reader of input files: JSONL (default), a BEIR folder, CSV/TSV, Parquet, ``-`` for stdin, and
query files; one row at a time. Ingest, eval (:mod:`spladekit.datasets`), parity and the demo all read
through here.

Readers only parse; :mod:`spladekit.ingest.policy` decides what a row means. Memory per reader is one line
(or one Parquet batch of :data:`PARQUET_BATCH` rows), whatever the input size.

JSONL is read as bytes and decoded line by line, so one line of invalid UTF-8 rejects that line, not the
file. Blank lines are not records (they are neither counted nor dead-lettered).

>>> import io
>>> rows = list(read_jsonl(io.BytesIO(b'{"_id": "a", "text": "x"}\\n\\n{oops\\n')))
>>> [(r.position, r.row, r.reject and r.reject.reason) for r in rows]
[(1, {'_id': 'a', 'text': 'x'}, None), (3, None, 'malformed_json')]
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from spladekit.errors import InputError

Format = Literal["jsonl", "beir", "csv", "tsv", "parquet"]
FORMATS: tuple[str, ...] = ("jsonl", "beir", "csv", "tsv", "parquet")
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
    #: With ``vector``: what encoding it cost (an ``EncodeStats`` of this one text), for the job's report.
    encoding: Any = None


_SUFFIXES = {
    ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".parquet": "parquet", ".pq": "parquet",
}


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
    if suffixes and suffixes[-1] == ".gz":
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


def _open_binary(source: str | Path) -> IO[bytes]:
    if str(source) == "-":
        return sys.stdin.buffer
    path = Path(source)
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")  # noqa: SIM115


def read_jsonl(stream: IO[bytes], first_position: int = 1) -> Iterator[Raw]:
    """One :class:`Raw` per non-blank line; position = 1-based line number (``first_position``: the number of the
    stream's first line, when it starts inside a file, as a block of distributed ingestion does)."""
    for position, line in enumerate(stream, start=first_position):
        if position == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]  # a UTF-8 byte-order mark is not part of the JSON
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            shown = excerpt(line.rstrip(b"\r\n").decode("utf-8", "backslashreplace"))
            yield Raw(position, None, Reject(position, None, "invalid_utf8", shown, f"byte {exc.start}"))
            continue
        try:
            row = json.loads(text)
        except ValueError as exc:
            yield Raw(position, None, Reject(position, None, "malformed_json", excerpt(text.rstrip("\r\n")),
                                             str(exc)))
            continue
        if not isinstance(row, dict):
            yield Raw(position, None, Reject(position, None, "not_an_object", excerpt(text.rstrip("\r\n")),
                                             f"got a JSON {type(row).__name__}"))
            continue
        yield Raw(position, row)


def read_delimited(stream: IO[bytes], delimiter: str) -> Iterator[Raw]:
    """CSV/TSV with a header row; position = 1-based data row. Invalid UTF-8 rejects the row it is in."""
    # surrogateescape keeps undecodable bytes as lone surrogates, found per field by the policy's UTF-8 check.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
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
        if len(values) != len(header):
            shown = excerpt(delimiter.join(values).encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
            yield Raw(position, None, Reject(position, None, "malformed_csv", shown,
                                             f"{len(values)} fields, the header has {len(header)}"))
            continue
        yield Raw(position, dict(zip(header, values, strict=True)))


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


def read(source: str | Path, fmt: Format, columns: list[str] | None = None, start_after: int = 0) -> Iterator[Raw]:
    """Rows of ``source`` (already resolved by :func:`resolve_input`)."""
    if fmt == "parquet":
        yield from read_parquet(source, columns, start_after)
        return
    stream = _open_binary(source)
    try:
        if fmt in ("jsonl", "beir"):
            yield from read_jsonl(stream)
        else:
            yield from read_delimited(stream, "," if fmt == "csv" else "\t")
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def count_records(source: str | Path, fmt: Format) -> int | None:
    """The number of rows, cheaply (for the progress bar's ETA); None when unknown (stdin, gzip)."""
    if str(source) == "-" or str(source).endswith(".gz"):
        return None
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(source).metadata.num_rows
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
