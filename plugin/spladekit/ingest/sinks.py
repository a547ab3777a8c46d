"""Where encoded documents go: an engine index (bulk with retries), the local index, or a counter.

A sink's :meth:`write` takes a list of :class:`Doc` and returns one outcome per document: ``None`` when it
is written, else ``(reason, detail)`` for the dead letter. Retryable trouble never becomes an outcome: it is
retried and, past the retry budget, raises :class:`~spladekit.errors.EngineError` so the job stops and
``--resume`` picks it up later (an outage must not empty the input into the dead letter).

``durable`` says whether a written document survives a crash as soon as :meth:`write` returns (an engine
acknowledges a bulk item after its translog write) or only after :meth:`commit` (the local index is saved
to disk as a whole).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from spladekit.errors import EngineError, IndexFormatError
from spladekit.ingest.records import Record
from spladekit.local.index import LocalIndex
from spladekit.schema import SCHEMA, ModelIdentity, check_identity
from spladekit.vectors import SparseVector

#: HTTP statuses worth another try: too many requests (write queue full), bad gateway, unavailable, timeout.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
#: HTTP statuses that stop the job (resumable): the credentials were refused (a changed password, an expired key)
#: or lost their privilege; every document after them would fail the same way, and none is at fault.
REFUSED_STATUSES = frozenset({401, 403})

Outcome = tuple[str, str] | None


@dataclass(slots=True)
class Doc:
    record: Record
    vector: SparseVector


class Sink(Protocol):
    durable: bool
    retries: int
    #: how many writer threads may call :meth:`write` at once
    max_writers: int

    def write(self, docs: Sequence[Doc]) -> list[Outcome]: ...

    def commit(self) -> None: ...

    def finish(self) -> None: ...


class Backoff:
    """Capped exponential backoff with jitter: ``min(cap, base * 2**attempt) * uniform(0.5, 1)``."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, max_retries: int = 8) -> None:
        if base <= 0 or cap <= 0 or max_retries < 0:
            raise ValueError("backoff base and cap must be > 0 and max_retries >= 0")
        self.base, self.cap, self.max_retries = base, cap, max_retries

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * 2**attempt) * random.uniform(0.5, 1.0)


def _status(info: dict[str, Any]) -> int | str | None:
    item = next(iter(info.values())) if len(info) == 1 and isinstance(next(iter(info.values())), dict) else info
    return item.get("status")


def _error_detail(info: dict[str, Any]) -> str:
    item = next(iter(info.values())) if len(info) == 1 and isinstance(next(iter(info.values())), dict) else info
    err = item.get("error")
    if isinstance(err, dict):
        text = f"{err.get('type')}: {err.get('reason')}"
        cause = err.get("caused_by")
        if isinstance(cause, dict):
            text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
    else:
        text = str(err)
    return text[:500]


def _is_transport_error(exc: BaseException) -> bool:
    module = type(exc).__module__.split(".")[0]
    return isinstance(exc, OSError) or module in ("opensearchpy", "elasticsearch", "elastic_transport", "urllib3")


def is_retryable(info: dict[str, Any]) -> bool:
    status = _status(info)
    if isinstance(status, int):
        return status in RETRYABLE_STATUSES
    return True  # "N/A": the request itself failed (connection refused/reset, timeout)


class EngineSink:
    """Bulk writes through ``EngineIndex.bulk_index`` (``helpers.streaming_bulk`` underneath).

    Chunks by count (``chunk_docs``) and bytes (``chunk_bytes``); retries the documents that failed with a
    retryable status itself (so they are counted), with :class:`Backoff`; refreshes once in :meth:`finish`.
    ``scrub`` removes secrets from any text that reaches an error or the dead letter.
    """

    durable = True

    def __init__(self, index: Any, feature_names: Any, *, writers: int = 1, chunk_docs: int = 500,
                 chunk_bytes: int = 10 << 20, backoff: Backoff | None = None,
                 stop: threading.Event | None = None, scrub: Callable[[str], str] = str,
                 sparse_field: str = SCHEMA.sparse) -> None:
        if writers < 1 or chunk_docs < 1 or chunk_bytes < 1024:
            raise ValueError("writers and chunk_docs must be >= 1 and chunk_bytes >= 1024")
        self.index = index
        self.names = feature_names
        self.max_writers = writers
        self.chunk_docs, self.chunk_bytes = chunk_docs, chunk_bytes
        self.backoff = backoff or Backoff()
        self.stop = stop or threading.Event()
        self.scrub = scrub
        self.field = sparse_field
        self.retries = 0
        self._lock = threading.Lock()

    def _source(self, doc: Doc) -> dict[str, Any]:
        rec = doc.record
        src: dict[str, Any] = {SCHEMA.text: rec.text, self.field: self.names.to_features(doc.vector)}
        if rec.title:
            src[SCHEMA.title] = rec.title
        return src

    def _send(self, docs: Sequence[Doc]) -> list[tuple[bool, dict]]:
        """One pass of streaming_bulk over ``docs``: (ok, info) per document, in the order sent."""
        pairs = ((d.record.id, self._source(d)) for d in docs)
        # max_retries=0: retries happen in write(), where they are counted and cover 5xx/connection errors too
        return [(r.ok, r.info) for r in self.index.bulk_index(
            pairs, chunk_size=self.chunk_docs, max_chunk_bytes=self.chunk_bytes, max_retries=0)]

    def write(self, docs: Sequence[Doc]) -> list[Outcome]:
        outcomes: list[Outcome] = [None] * len(docs)
        todo = list(range(len(docs)))
        attempt = 0
        while todo:
            try:
                results = self._send([docs[i] for i in todo])
            except Exception as exc:  # the whole request failed: connection refused, timeout...
                if not _is_transport_error(exc):
                    raise
                results = [(False, {"index": {"status": "N/A", "error": f"{type(exc).__name__}: {exc}"}})] * len(todo)
            if len(results) != len(todo):
                raise EngineError(f"the engine answered {len(results)} outcomes for {len(todo)} documents")
            again = []
            last_error = ""
            for i, (ok, info) in zip(todo, results, strict=True):
                if ok:
                    continue
                if _status(info) in REFUSED_STATUSES:
                    raise EngineError(self.scrub(
                        f"the engine refused the credentials mid-job (HTTP {_status(info)}: {_error_detail(info)}): "
                        "a changed password, an expired or invalidated API key, or a revoked privilege. Nothing "
                        "is lost: fix the credentials (--user with $SPLADEKIT_ENGINE_PASSWORD, or --api-key) and "
                        "run the same command with --resume"))
                if is_retryable(info):
                    again.append(i)
                    last_error = f"status {_status(info)}: {_error_detail(info)}"
                else:
                    outcomes[i] = ("engine_rejected", self.scrub(_error_detail(info)))
            if not again:
                break
            if attempt >= self.backoff.max_retries:
                raise EngineError(self.scrub(
                    f"{len(again)} documents still fail after {attempt} retries ({last_error}). Nothing is "
                    "lost: fix the engine (is it up? is its write queue saturated?) and run the same command "
                    "with --resume"))
            with self._lock:
                self.retries += len(again)
            if self.stop.wait(self.backoff.delay(attempt)):
                raise EngineError("stopped while waiting to retry")
            attempt += 1
            todo = again
        return outcomes

    def commit(self) -> None:
        return None

    def finish(self) -> None:
        # An ingest-only role may lack the refresh privilege: the engine then refreshes by itself within
        # index.refresh_interval (1 s by default).
        self.index.refresh(required=False)


class LocalSink:
    """The embedded :class:`~spladekit.local.index.LocalIndex`: add (upsert) in memory, save to ``directory``.

    Writes become durable only when the index is saved, so the pipeline calls :meth:`commit` every
    ``commit_every`` documents and at the end; the checkpoint moves only then. Each document's text (the
    record's ``text``, as an engine's ``text`` field holds it) goes into the index's BM25 postings. ``reorder``: at
    the end, reorder the rows by recursive graph bisection (:meth:`~spladekit.local.index.LocalIndex.reorder`)
    before the last save.
    """

    durable = False
    max_writers = 1

    def __init__(self, directory: str | Path, meta: dict[str, Any], identity: ModelIdentity, *,
                 force: bool = False, mode: str = "lucene", reorder: bool = False) -> None:
        self.directory = Path(directory)
        self.reorder = reorder
        self.retries = 0
        self.forced = False
        if _looks_like_index(self.directory):
            self.index = LocalIndex.load(self.directory, mmap=False)
            pruned = self.index.meta.get("index_prune")
            if pruned:
                raise IndexFormatError(
                    f"the local index at {self.directory} was pruned per term by `spladekit index-prune` (top "
                    f"{pruned.get('top_postings')} postings per term): new documents would not obey that bound. "
                    "Ingest into the full index and prune it again, or give another --local folder")
            if not self.index.has_text:
                raise IndexFormatError(f"the local index at {self.directory} keeps no text for BM25 (built by a "
                                       "spladekit older than local index format 2), so documents added now could "
                                       "not be searched alike: ingest the whole corpus into a new folder (--local "
                                       "NEW_DIR), or delete this one first")
            if self.index.mode != mode:
                raise IndexFormatError(f"the local index at {self.directory} is in {self.index.mode!r} mode, not "
                                       f"{mode!r}; pass --local-mode {self.index.mode} or give another --local folder")
            self.forced = check_identity(dict(self.index.meta), identity, f"the local index at {self.directory}",
                                         force)
        elif self.directory.is_dir() and any(self.directory.iterdir()):
            raise IndexFormatError(f"{self.directory} exists and is not a local index; give an empty or new "
                                   "folder to --local")
        else:
            self.index = LocalIndex(mode=mode, meta=meta)
        self._dirty = False

    def write(self, docs: Sequence[Doc]) -> list[Outcome]:
        self.index.add([d.record.id for d in docs], [d.vector for d in docs], [d.record.text for d in docs])
        self._dirty = True
        return [None] * len(docs)

    def commit(self) -> None:
        if self._dirty:
            self.index.save(self.directory)
            self._dirty = False

    def finish(self) -> None:
        if self.reorder:  # once, at the end: renumber rows by BP so that block-max search skips most blocks
            self.index.reorder()
            self._dirty = True
        self.commit()


def _looks_like_index(directory: Path) -> bool:
    return (directory / "params.json").is_file()


class CountingSink:
    """Writes nothing, counts documents: measures the pipeline without a backend (benchmarks, tests)."""

    durable = True
    max_writers = 1

    def __init__(self) -> None:
        self.retries = 0
        self.count = 0
        self.nnz = 0

    def write(self, docs: Sequence[Doc]) -> list[Outcome]:
        self.count += len(docs)
        self.nnz += sum(len(d.vector) for d in docs)
        return [None] * len(docs)

    def commit(self) -> None:
        return None

    def finish(self) -> None:
        return None


