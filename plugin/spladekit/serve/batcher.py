"""Micro-batching: the texts of concurrent requests go to the encoder in one call, each caller gets its own vectors.

One worker thread owns the encoder. A request puts its texts on a queue and awaits a future; the worker takes
the oldest job, then more jobs until the batch holds ``max_batch`` texts, the queue is empty and no request is
about to submit (see :meth:`MicroBatcher.expect`), or ``max_wait_ms`` has passed since the first job: a lone
client never waits, a crowd shares encoder calls. The worker splits the batch by kind (queries, documents),
makes one ``encode_queries`` / ``encode_documents`` call per kind, and hands each job its slice of the result
in input order. Nothing else ever runs the encoder, so concurrent requests never oversubscribe the CPU with
overlapping encoder calls.

If a batched call fails, each of its jobs is retried alone, so a request that breaks the encoder fails by
itself. :meth:`close` lets the worker finish every job already queued (graceful shutdown), then stops it.

Without batching (``enabled=False``) each request calls the encoder itself, on the event loop's thread pool,
overlapping the others: what a plain service does, kept for comparison (``benchmarks/serve.py``).

>>> import asyncio
>>> class Upper:
...     def encode_queries(self, texts): return [t.upper() for t in texts]
...     def encode_documents(self, texts): return [t.lower() for t in texts]
>>> async def main():
...     with MicroBatcher(Upper()) as batcher:
...         return await asyncio.gather(batcher.encode(["a", "b"]), batcher.encode(["C"], kind="document"))
>>> asyncio.run(main())
[['A', 'B'], ['c']]
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: What a text is encoded as.
KINDS: tuple[str, ...] = ("query", "document")

log = logging.getLogger(__name__)


class BatcherClosed(RuntimeError):
    """The service is shutting down: no new encoder work is taken."""


@dataclass
class Ticket:
    """A request that said it will submit texts (:meth:`MicroBatcher.expect`); released once, when it submits
    or ends without submitting."""

    batcher: MicroBatcher
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.batcher._expected_add(-1)


@dataclass
class _Job:
    kind: str
    texts: list[str]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Any]]
    queued: float = field(default_factory=time.perf_counter)


def _deliver(future: asyncio.Future[list[Any]], result: list[Any] | None, error: BaseException | None) -> None:
    if future.done():  # the caller went away (cancelled)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


#: ``on_batch(kind, texts, jobs, seconds)``: called by the worker after each encoder call.
BatchHook = Callable[[str, int, int, float], None]


class MicroBatcher:
    """Batches concurrent ``encode`` calls into encoder calls (see the module docstring).

    ``encoder``: anything with ``encode_queries(texts)`` and ``encode_documents(texts)`` returning one result
    per text. ``max_batch``: texts per encoder call (a single request with more runs alone, unsplit).
    ``max_wait_ms``: the longest the first job of a batch waits for company. ``enabled=False``: no batching.
    """

    def __init__(self, encoder: Any, *, max_batch: int = 32, max_wait_ms: float = 2.0, enabled: bool = True,
                 on_batch: BatchHook | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.encoder = encoder
        self.max_batch = int(max_batch)
        self.max_wait = float(max_wait_ms) / 1000.0
        self.enabled = enabled
        self.on_batch = on_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._expected = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------------------

    def start(self) -> MicroBatcher:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._work, name="spladekit-encoder", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float | None = 60.0) -> None:
        """Take no new work, finish what is queued, stop the worker."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> MicroBatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- requests -----------------------------------------------------------------------------------------

    def expect(self) -> Ticket:
        """Say that a request will submit texts soon (it is still reading its body): a batch that has room waits
        for it, up to ``max_wait_ms``. Release the ticket if it never submits; :meth:`encode` releases it."""
        self._expected_add(1)
        return Ticket(self)

    def _expected_add(self, n: int) -> None:
        with self._lock:
            self._expected += n

    @property
    def expected(self) -> int:
        return self._expected

    async def encode(self, texts: Sequence[str], kind: str = "query", *, ticket: Ticket | None = None) -> list[Any]:
        """The encoder's results for ``texts`` (one per text, in order), encoded together with the texts of
        other concurrent calls."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        texts = list(texts)
        loop = asyncio.get_running_loop()
        if ticket is not None:
            ticket.release()  # before the job is queued: the worker must not wait for this request itself
        if self._closed:
            raise BatcherClosed("the service is shutting down; retry on another instance")
        if not self.enabled:
            return await loop.run_in_executor(None, self._call, kind, texts)
        if self._thread is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._queue.put(_Job(kind, texts, loop, future))
        return await future

    # -- the worker ---------------------------------------------------------------------------------------

    def _call(self, kind: str, texts: list[str]) -> list[Any]:
        fn = self.encoder.encode_queries if kind == "query" else self.encoder.encode_documents
        started = time.perf_counter()
        out = list(fn(texts))
        if len(out) != len(texts):
            raise RuntimeError(f"the encoder returned {len(out)} results for {len(texts)} texts")
        if self.on_batch is not None:
            try:
                self.on_batch(kind, len(texts), 1, time.perf_counter() - started)
            except Exception:  # noqa: BLE001 (a metrics hook must not fail a request)
                log.exception("the on_batch hook failed")
        return out

    def _collect(self, first: _Job, carry: list[_Job]) -> tuple[list[_Job], bool]:
        """The batch that starts with ``first``; a job that does not fit goes to ``carry``. True: stop after it."""
        batch, n = [first], len(first.texts)
        deadline = first.queued + self.max_wait
        while n < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.perf_counter()
                if self._expected <= 0 or remaining <= 0:
                    break
                try:  # an expected request queues its job when it submits, which ends this wait
                    job = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if job is None:
                return batch, True
            if n + len(job.texts) > self.max_batch:
                carry.append(job)
                break
            batch.append(job)
            n += len(job.texts)
        return batch, False

    def _work(self) -> None:
        carry: list[_Job] = []
        stop = False
        while True:
            if carry:
                first = carry.pop()
            elif stop:
                return
            else:
                got = self._queue.get()
                if got is None:
                    return
                first = got
            if stop:
                batch = [first]
            else:
                batch, stop = self._collect(first, carry)
            # A caller that went away (a cancelled request, or one cut off by a shutdown) needs no vectors.
            batch = [job for job in batch if not job.future.cancelled()]
            for kind in KINDS:
                jobs = [j for j in batch if j.kind == kind]
                if jobs:
                    self._run(kind, jobs)

    def _run(self, kind: str, jobs: list[_Job]) -> None:
        texts = [t for job in jobs for t in job.texts]
        fn = self.encoder.encode_queries if kind == "query" else self.encoder.encode_documents
        started = time.perf_counter()
        try:
            results = list(fn(texts))
            if len(results) != len(texts):
                raise RuntimeError(f"the encoder returned {len(results)} results for {len(texts)} texts")
        except Exception as exc:  # noqa: BLE001 (handed to the callers, never lost)
            if len(jobs) > 1:
                for job in jobs:  # alone, so that only the request that breaks the encoder fails
                    self._run(kind, [job])
                return
            _send(jobs[0], None, exc)
            return
        if self.on_batch is not None:
            try:
                self.on_batch(kind, len(texts), len(jobs), time.perf_counter() - started)
            except Exception:  # noqa: BLE001 (a metrics hook must not take the worker down)
                log.exception("the on_batch hook failed")
        start = 0
        for job in jobs:
            _send(job, results[start:start + len(job.texts)], None)
            start += len(job.texts)


def _send(job: _Job, result: list[Any] | None, error: BaseException | None) -> None:
    try:
        job.loop.call_soon_threadsafe(_deliver, job.future, result, error)
    except RuntimeError:  # the caller's event loop is closed: nobody is waiting any more
        log.debug("dropped the result of a job whose event loop is closed")
