"""The ingest pipeline: read -> encode -> write, overlapped in threads, with bounded memory.

Three stages run at once (onnxruntime and the HTTP client release the GIL, so encoding batch N+1 overlaps
bulk request N)::

    reader thread   rows -> policy -> window of ``window`` records, sorted by length -> batches
                    (-> ``prepare``: tokenized here, when the encoder can, so that it overlaps the model) -> Q1
    encoder (caller's thread)   Q1 -> encode (the model) -> Q2
    writer threads (``sink.max_writers``)   Q2 -> groups of up to ``bulk_docs`` -> sink.write -> acks

Memory bound: the reader takes a share of a byte budget (``max_inflight_bytes``, default 64 MiB of title +
text) for every record before it enters the window and a writer gives it back once the record is written,
so text in flight never exceeds the budget (plus one record), and the record count in flight is at most
``window + batch_size * (q_encode + 1 + q_write) + writers * (bulk_docs + batch_size)`` (default
512 + 32 * 17 + 1 * 288 = 1,344). Add the duplicate-id set: 16 to 32 bytes per distinct id (at most
32 MiB at 1M ids), see :class:`ids.SeenIds`.
Nothing else grows with the input.

The checkpoint (a watermark over positions, :class:`checkpoint.AckTracker`) is written at most every
``checkpoint_every_s`` seconds and at the end, always after syncing the dead letter.

Rows may come with their vectors (``Raw.vector``: distributed ingestion encodes on Ray workers,
:mod:`spladekit.ingest.distributed`); their batches skip ``encode`` and go to ``encoded``, which counts what the
encoding cost and returns the vectors to write (pruned, when the job prunes). Everything else (policy,
duplicates, budget, sink, dead letter, checkpoint) is the same.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spladekit.errors import InputError
from spladekit.ingest.checkpoint import AckTracker, Checkpoint
from spladekit.ingest.deadletter import DeadLetter
from spladekit.ingest.limits import ErrorLimit, TooManyErrors
from spladekit.ingest.policy import RecordPolicy
from spladekit.ingest.records import Raw, Record, Reject
from spladekit.ingest.sinks import Doc, Sink

_END = object()


@dataclass
class PipelineConfig:
    batch_size: int = 32
    #: records gathered and sorted by length before they are cut into batches (cuts padding)
    window: int = 512
    q_encode: int = 8
    q_write: int = 8
    bulk_docs: int = 256
    writers: int = 1
    max_inflight_bytes: int = 64 << 20
    checkpoint_every_s: float = 2.0
    #: non-durable sinks (the local index) are committed every this many written documents
    commit_every: int = 50_000
    #: when the job stops because too many records fail (:class:`spladekit.ingest.limits.ErrorLimit`)
    max_errors: ErrorLimit = field(default_factory=ErrorLimit)

    def __post_init__(self) -> None:
        for name in ("batch_size", "window", "q_encode", "q_write", "bulk_docs", "writers",
                     "max_inflight_bytes", "commit_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.window < self.batch_size:
            self.window = self.batch_size

    @property
    def max_records_in_flight(self) -> int:
        return (self.window + self.batch_size * (self.q_encode + 1 + self.q_write)
                + self.writers * (self.bulk_docs + self.batch_size))


class ByteBudget:
    """A counting semaphore over bytes; one oversized request is let through when nothing else holds any."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._cond = threading.Condition()

    def try_acquire(self, n: int) -> bool:
        with self._cond:
            if self.used == 0 or self.used + n <= self.capacity:
                self.used += n
                return True
            return False

    def acquire(self, n: int, stop: threading.Event) -> bool:
        with self._cond:
            while not (self.used == 0 or self.used + n <= self.capacity):
                if stop.is_set():
                    return False
                self._cond.wait(0.2)
            self.used += n
            return True

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


@dataclass
class Counts:
    read: int = 0
    skipped: int = 0
    indexed: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    #: records past the checkpoint whose undecodable bytes the reader replaced or dropped (``decode_errors``)
    repaired: int = 0


class Pipeline:
    """One ingest run. Build it, then :meth:`run` it once; the caller's thread does the encoding."""

    def __init__(self, rows: Iterable[Raw], policy: RecordPolicy, encode: Callable[[Any], list],
                 sink: Sink, dead_letter: DeadLetter, *, prepare: Callable[[list[str]], Any] | None = None,
                 encoded: Callable[[list[Record]], list] | None = None, checkpoint: Checkpoint | None = None,
                 checkpoint_path: str | Path | None = None, start_after: int = 0,
                 config: PipelineConfig | None = None, progress: Callable[[int], None] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.rows = rows
        self.policy = policy
        self.encode = encode
        #: Called on the reader thread with each batch's texts; ``encode`` then gets what it returned.
        self.prepare = prepare
        #: Called on the encoder thread with each batch whose vectors came with the rows (``Raw.vector``), in
        #: place of ``encode``: the caller counts what their encoding cost (``Record.encoding``).
        self.encoded = encoded
        self.sink = sink
        self.dead = dead_letter
        self.config = config or PipelineConfig()
        self.config.writers = min(self.config.writers, sink.max_writers)
        self.checkpoint = checkpoint or Checkpoint()
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.start_after = start_after
        self._progress = progress
        self._progress_lock = threading.Lock()
        self.stop = stop or threading.Event()
        self.tracker = AckTracker(start_after)
        self.budget = ByteBudget(self.config.max_inflight_bytes)
        self.counts = Counts()
        self.q_encode: queue.Queue = queue.Queue(self.config.q_encode)
        self.q_write: queue.Queue = queue.Queue(self.config.q_write)
        self._lock = threading.Lock()
        self._ckpt_lock = threading.Lock()
        self._last_ckpt = time.monotonic()
        self._not_durable: list[int] = []
        self._errors: list[BaseException] = []
        self._first_reject: dict[str, Reject] = {}
        self.peak_in_flight = 0

    # ----------------------------------------------------------------------------------------- plumbing
    def progress(self, n: int) -> None:
        if self._progress is not None:
            with self._progress_lock:  # tqdm.update is not thread-safe
                self._progress(n)

    def _put(self, q: queue.Queue, item: object) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue) -> object:
        while True:
            try:
                return q.get(timeout=0.2)
            except queue.Empty:
                if self.stop.is_set():
                    return _END

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)
        self.stop.set()

    def _reject(self, rej: Reject) -> None:
        self.dead.write(rej)
        with self._lock:
            self.counts.failed[rej.reason] = self.counts.failed.get(rej.reason, 0) + 1
            if self._first_reject.setdefault(rej.reason, rej) is rej and len(self._first_reject) > 32:
                self._first_reject.pop(rej.reason)
            failed, read = sum(self.counts.failed.values()), self.counts.read
        if self.config.max_errors.exceeded(failed, read, final=False):
            self._fail(self._too_many(failed, read))

    def _too_many(self, failed: int, read: int) -> TooManyErrors:
        with self._lock:
            counts, first = dict(self.counts.failed), dict(self._first_reject)
        return self.config.max_errors.error(failed, read, counts, first, self.policy)

    # ----------------------------------------------------------------------------------------- reader
    def _read(self) -> None:
        try:
            window: list[Record] = []
            for raw in self.rows:
                if self.stop.is_set():
                    return
                item = raw.reject or self.policy.check(raw.position, raw.row)  # type: ignore[arg-type]
                if raw.vector is not None and isinstance(item, Record):
                    item.vector, item.encoding = raw.vector, raw.encoding
                self.counts.read += 1
                if raw.position <= self.start_after:
                    self.counts.skipped += 1  # done by an earlier run; checked only to rebuild the id set
                    self.progress(1)
                    continue
                self.tracker.register(raw.position)
                self.counts.repaired += raw.repaired
                if isinstance(item, Reject):
                    self._reject(item)
                    self.tracker.ack(raw.position)
                    self.progress(1)
                    continue
                if not self.budget.try_acquire(item.nbytes):
                    if window and not self._flush(window):
                        return
                    window = []
                    if not self.budget.acquire(item.nbytes, self.stop):
                        return
                window.append(item)
                if len(window) >= self.config.window:
                    if not self._flush(window):
                        return
                    window = []
            if window and not self._flush(window):
                return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._fail(exc)
        finally:
            self._put(self.q_encode, _END)

    def _flush(self, window: list[Record]) -> bool:
        window.sort(key=lambda r: r.nbytes)
        size = self.config.batch_size
        for i in range(0, len(window), size):
            batch = window[i : i + size]
            texts = [r.encoder_text for r in batch]
            prepared = self.prepare(texts) if self.prepare and any(r.vector is None for r in batch) else texts
            if not self._put(self.q_encode, (batch, prepared)):
                return False
        return True

    # ----------------------------------------------------------------------------------------- writers
    def _write_loop(self) -> None:
        try:
            done = False
            while not done:
                item = self._get(self.q_write)
                if item is _END:
                    done = not self.stop.is_set()
                    break
                docs: list[Doc] = list(item)  # type: ignore[arg-type]
                while len(docs) < self.config.bulk_docs:
                    try:
                        more = self.q_write.get_nowait()
                    except queue.Empty:
                        break
                    if more is _END:
                        done = True
                        break
                    docs.extend(more)  # type: ignore[arg-type]
                self._write(docs)
            if done:
                self._put(self.q_write, _END)  # let the other writers see the end too
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)

    def _write(self, docs: list[Doc]) -> None:
        outcomes = self.sink.write(docs)
        ok = 0
        for doc, outcome in zip(docs, outcomes, strict=True):
            if outcome is None:
                ok += 1
            else:
                reason, detail = outcome
                self._reject(Reject(doc.record.position, doc.record.id, reason,
                                    {"id": doc.record.id, "title": doc.record.title[:200],
                                     "text": doc.record.text[:1000]}, detail))
        self.budget.release(sum(d.record.nbytes for d in docs))
        positions = [d.record.position for d in docs]
        with self._lock:
            self.counts.indexed += ok
            self.peak_in_flight = max(self.peak_in_flight, self.tracker.in_flight)
        if self.sink.durable:
            self.tracker.ack_many(positions)
        else:
            with self._lock:
                self._not_durable.extend(positions)
                commit = len(self._not_durable) >= self.config.commit_every
            if commit:
                self._commit()
        self.progress(len(docs))
        self._maybe_checkpoint()

    def _commit(self) -> None:
        self.sink.commit()
        with self._lock:
            positions, self._not_durable = self._not_durable, []
        self.tracker.ack_many(positions)
        self._maybe_checkpoint(force=True)

    # ----------------------------------------------------------------------------------------- checkpoint
    def _maybe_checkpoint(self, force: bool = False, complete: bool = False) -> None:
        if self.checkpoint_path is None:
            return
        with self._ckpt_lock:
            now = time.monotonic()
            if not force and now - self._last_ckpt < self.config.checkpoint_every_s:
                return
            self._last_ckpt = now
            position = self.tracker.watermark
            self.dead.sync()  # the dead letter must hold every reject at or before the position first
            self.checkpoint.position = position
            self.checkpoint.complete = complete
            with self._lock:
                self.checkpoint.counts = {"indexed_this_run": self.counts.indexed,
                                          "failed_this_run": dict(self.counts.failed)}
            self.checkpoint.save(self.checkpoint_path)

    # ----------------------------------------------------------------------------------------- run
    def run(self) -> Counts:
        reader = threading.Thread(target=self._read, name="spladekit-ingest-reader", daemon=True)
        writers = [threading.Thread(target=self._write_loop, name=f"spladekit-ingest-writer-{i}", daemon=True)
                   for i in range(self.config.writers)]
        reader.start()
        for w in writers:
            w.start()
        interrupted: BaseException | None = None
        try:
            self._encode_loop()
        except BaseException as exc:  # KeyboardInterrupt included: stop cleanly, keep the checkpoint
            interrupted = exc
            self.stop.set()
        for w in writers:
            w.join()
        reader.join()
        if interrupted is None and not self._errors:
            # A small input may end before the ratio had enough records to be judged: judge it now.
            failed = sum(self.counts.failed.values())
            if self.config.max_errors.exceeded(failed, self.counts.read, final=True):
                self._errors.append(self._too_many(failed, self.counts.read))
        if interrupted is None and not self._errors:
            try:
                self.sink.finish()
                with self._lock:
                    positions, self._not_durable = self._not_durable, []
                self.tracker.ack_many(positions)
            except BaseException as exc:  # noqa: BLE001
                self._errors.append(exc)
        complete = interrupted is None and not self._errors
        self._maybe_checkpoint(force=True, complete=complete)
        if interrupted is not None:
            raise interrupted
        if self._errors:
            raise self._errors[0]
        if self.tracker.in_flight:
            raise InputError(f"internal error: {self.tracker.in_flight} records never acknowledged")
        return self.counts

    def _encode_loop(self) -> None:
        while True:
            batch = self._get(self.q_encode)
            if batch is _END:
                break
            records, job = batch  # type: ignore[misc]
            if all(r.vector is not None for r in records):  # encoded before the pipeline (on Ray workers)
                vectors = self.encoded(records) if self.encoded is not None else [r.vector for r in records]
            else:
                vectors = self.encode(job)
            if len(vectors) != len(records):
                raise InputError(f"the encoder returned {len(vectors)} vectors for {len(records)} texts")
            if not self._put(self.q_write, [Doc(r, v) for r, v in zip(records, vectors, strict=True)]):
                break
        self._put(self.q_write, _END)
