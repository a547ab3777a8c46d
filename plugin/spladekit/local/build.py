"""Build a local index from a corpus file: read, encode with a SPLADE encoder, upsert, save.

The small library call behind ``spladekit index-local``. It stops at the first unusable record; ``spladekit
ingest`` is the resumable pipeline with a dead letter for large or messy corpora.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from spladekit.errors import InputError


def _records(corpus: str | Path, fmt: str | None) -> Iterator[tuple[str, str]]:
    from spladekit.ingest import readers

    source, kind = readers.resolve_input(corpus, fmt)
    for raw in readers.read(source, kind):
        if raw.reject is not None or raw.row is None:
            reason = raw.reject.reason if raw.reject is not None else "empty"
            raise InputError(f"record {raw.position} of {corpus} is unusable ({reason}); fix it, or run "
                             "`spladekit ingest`, which dead-letters bad records and goes on")
        row = raw.row
        doc_id = row.get("_id", row.get("id"))
        if doc_id is None or str(doc_id) == "":
            raise InputError(f"record {raw.position} of {corpus} has no _id or id field; give every record an id "
                             "(or run `spladekit ingest`, which can derive ids)")
        text = " ".join(str(row[f]) for f in ("title", "text") if row.get(f))
        yield str(doc_id), text


def build_local_index(
    corpus: str | Path,
    output: str | Path,
    *,
    model: str = "splade-tiny",
    mode: str = "lucene",
    format: str | None = None,  # noqa: A002 - the CLI option's name
    batch_size: int = 64,
    threads: int | None = None,
    encoder: Any = None,
    progress: Callable[[int], None] | None = None,
    reorder: bool = False,
) -> dict[str, Any]:
    """Encode ``corpus`` (JSONL or a BEIR folder; title and text joined) into the local index at ``output``.

    An existing index there is updated (upsert by id) if it was built with the same model. ``encoder`` is
    anything with ``encode_documents`` and ``info`` (default ``SpladeEncoder.load(model, threads=threads)``);
    ``progress`` is called with the number of documents done after each batch. ``reorder`` renumbers the rows
    by recursive graph bisection before saving (:meth:`LocalIndex.reorder`). Returns a summary dict.
    """
    from spladekit.local.index import LocalIndex, read_params
    from spladekit.mappings import index_meta

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    started = time.perf_counter()
    if encoder is None:
        from spladekit.encoder.runtime import SpladeEncoder

        encoder = SpladeEncoder.load(model, threads=threads)
    info = dict(encoder.info)
    name = str(info.get("source_model") or info.get("model") or model)
    sha = info.get("weights_sha256") or info.get("model_sha256")
    output = Path(output)
    if (output / "params.json").is_file():
        index = LocalIndex.load(output, mmap=False, model=sha or name)
        if read_params(output)["mode"] != mode:
            raise InputError(f"the local index at {output} is in {read_params(output)['mode']} mode, not {mode}; "
                             "pass that --mode or write to another --output")
    else:
        index = LocalIndex(mode=mode, meta=index_meta(name, sha or ""))
    n = 0
    batch: list[tuple[str, str]] = []

    def flush() -> None:
        nonlocal n
        vectors = encoder.encode_documents([text for _, text in batch])
        index.add([doc_id for doc_id, _ in batch], vectors)
        n += len(batch)
        batch.clear()
        if progress is not None:
            progress(n)

    for record in _records(corpus, format):
        batch.append(record)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    if reorder:
        index.reorder()
    index.save(output)
    return {"output": str(output), "documents": len(index), "added": n, "postings": index.n_postings,
            "mode": mode, "row_order": index.row_order, "model": name, "model_sha256": sha, "bytes": index.nbytes(),
            "seconds": round(time.perf_counter() - started, 3)}
