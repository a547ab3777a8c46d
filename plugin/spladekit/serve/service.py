"""What the endpoints do, as calls of the library the CLI uses: one :class:`spladekit.search.Searcher` (the
backend and the query encoder, checked once against the index's model), the :class:`MicroBatcher` in front of
its encoder, and the operator's limits.

- ``encode``: the encoder's vectors, shown as :meth:`spladekit.features.FeatureNames.decode` shows them
  (``spladekit encode``);
- ``search``: :meth:`Searcher.search` with the query vector from the batcher (the vector ``spladekit search``
  computes for the same text: :meth:`spladekit.encoder.SpladeEncoder.encode_queries` encodes each query as
  alone), so the hits are those of ``spladekit search`` for the same arguments;
- ``query``: :meth:`Searcher.requests`, the bodies that search would send.

A request that the library refuses raises the library's own error (:class:`spladekit.errors.InputError`,
``ValueError``); one over a limit raises :class:`RequestRefused`. :mod:`spladekit.serve.app` turns each into a
status and one line.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from spladekit import __version__, dialects
from spladekit.engines.base import safe_url
from spladekit.errors import InputError, SpladekitError
from spladekit.fusion import RRF_K
from spladekit.local.index import read_params
from spladekit.query import TwoPhase
from spladekit.search import Searcher, check_query_encoder, text_body
from spladekit.serve.batcher import MicroBatcher, Ticket
from spladekit.serve.metrics import Metrics
from spladekit.serve.schemas import EncodeRequest, QueryRequest, SearchRequest, TwoPhaseOptions

#: The API's endpoints (metrics are labelled with these; any other path counts as "other").
ENDPOINTS: tuple[str, ...] = ("/v1/encode", "/v1/search", "/v1/query", "/v1/info", "/healthz", "/metrics")
#: The endpoints that encode, and so announce themselves to the batcher (:meth:`MicroBatcher.expect`).
ENCODING: frozenset[str] = frozenset({"/v1/encode", "/v1/search", "/v1/query"})
#: The query a starting service runs once, so that no user's query pays for the first call's compilation.
WARM_UP = "how do wings stall at a high angle of attack"
#: Searches in flight at once (each holds a thread while it waits for the engine).
SEARCH_THREADS = 32
#: How often a service on a local index looks whether the index was rewritten (a re-ingest), in seconds.
RELOAD_CHECK_S = 1.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; over a limit, the request gets a 4xx naming the limit and its option."""

    max_text_chars: int = 10_000  # characters of one text (a query, or a document to encode)
    max_texts: int = 64  # texts of one /v1/encode request
    max_k: int = 1000  # hits of one search (and the two-phase window)
    max_body_bytes: int = 1 << 20  # bytes of one request body

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")


class RequestRefused(SpladekitError):
    """A request over a limit, or otherwise refused before any library call: ``status`` is its HTTP status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _plan(two_phase: bool | TwoPhaseOptions) -> bool | TwoPhase:
    if isinstance(two_phase, TwoPhaseOptions):
        return TwoPhase.of(two_phase.first_pass_terms, two_phase.first_pass_mass, two_phase.window)
    return two_phase


def _prune(req: SearchRequest) -> dict[str, Any] | None:
    return None if req.prune is None else req.prune.model_dump()


class Service:
    """The service behind the app. Build it with :meth:`open` (the same arguments as :func:`spladekit.search.search`)
    or from a :class:`Searcher`; :meth:`start` before the first request, :meth:`close` after the last."""

    def __init__(self, searcher: Searcher, *, local_dir: str | Path | None = None, limits: Limits | None = None,
                 batching: bool = True, max_batch: int = 32, max_wait_ms: float = 2.0,
                 token: str | None = None) -> None:
        self.searcher = searcher
        # A local index rewritten on disk (a re-ingest) is reopened, so that no stale hit is served.
        self._local_dir = Path(local_dir) if local_dir is not None and searcher.local is not None else None
        self._generation = self._read_generation()
        self._checked = time.monotonic()
        self._reload_lock = threading.Lock()
        self.encoder = searcher.encoder  # loaded and checked against the index's model now, not at the first query
        self.limits = limits or Limits()
        self.token = token
        self.metrics = Metrics(ENDPOINTS)
        self.batcher = MicroBatcher(self.encoder, max_batch=max_batch, max_wait_ms=max_wait_ms, enabled=batching,
                                    on_batch=self.metrics.on_batch)
        self.modes = searcher.modes()
        self.started = time.time()
        # Searches wait on the engine (I/O) or on the local index's lock: their own threads, so that a slow
        # engine never holds up the event loop's pool.
        self._searches = ThreadPoolExecutor(max_workers=SEARCH_THREADS, thread_name_prefix="spladekit-search")

    @classmethod
    def open(cls, *, engine_url: str | None = None, index: str | None = None, local_dir: str | None = None,
             model: str | None = None, max_length: int | None = None, connect: Mapping[str, Any] | None = None,
             **options: Any) -> Service:
        """Connect to an engine index (``engine_url``, ``index``, ``connect``: the connection's keyword arguments,
        as for :func:`spladekit.engines.connect`) or open a local index (``local_dir``), load the query encoder
        (``model``: default the index's), and build the service; ``options`` are :class:`Service`'s."""
        searcher = Searcher(engine_url=engine_url, index=index, local_dir=local_dir, model=model,
                            max_length=max_length, **dict(connect or {}))
        return cls(searcher, local_dir=local_dir, **options)

    def _read_generation(self) -> str | None:
        if self._local_dir is None:
            return None
        try:
            return str(read_params(self._local_dir).get("arrays_dir"))
        except SpladekitError:  # being rewritten, or gone: keep serving what is open
            return self._generation if hasattr(self, "_generation") else None

    def current(self) -> Searcher:
        """The searcher to use now: on a local index rewritten since it was opened, a new one on the new files
        (checked against the query encoder's model, like the first)."""
        if self._local_dir is None or time.monotonic() - self._checked < RELOAD_CHECK_S:
            return self.searcher
        with self._reload_lock:
            if time.monotonic() - self._checked < RELOAD_CHECK_S:
                return self.searcher
            self._checked = time.monotonic()
            generation = self._read_generation()
            if generation == self._generation:
                return self.searcher
            try:
                fresh = Searcher(local_dir=self._local_dir, encoder=self.encoder, model=self.searcher.model)
                check_query_encoder(fresh.meta, self.encoder, fresh.where)
            except SpladekitError as exc:
                log.error("the local index was rewritten but cannot be served; still serving the old one: %s", exc)
                self._generation = generation
                return self.searcher
            log.info("the local index was rewritten; serving the new one (%d documents)", len(fresh.local or ()))
            self.searcher, self._generation, self.modes = fresh, generation, fresh.modes()
            return fresh

    def start(self) -> None:
        """Start the encoder's worker and warm up: the first query compiles the local index's kernels and loads
        the encoder's query path, which must not be a user's request's latency."""
        self.batcher.start()
        started = time.perf_counter()
        self.encoder.encode_queries([WARM_UP, WARM_UP])  # a list (a batch) loads its sessions now, not under load
        vec = self.encoder.encode_queries([WARM_UP])[0]
        try:
            self.searcher.search(WARM_UP, vector=vec, k=1)
        except SpladekitError as exc:  # the index may be empty, or hold none of these words: serve anyway
            log.debug("warm-up search: %s", exc)
        log.debug("warmed up in %.2f s", time.perf_counter() - started)

    def close(self) -> None:
        """Finish the encoder work already queued, then stop taking any."""
        self.batcher.close()
        self._searches.shutdown(wait=True)

    # -- what the service is ------------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        return self.searcher.engine or "local"

    def index_info(self) -> dict[str, Any]:
        idx = self.searcher.engine_index
        if idx is None:
            return {"backend": "local", "name": None, "url": None}
        return {"backend": idx.engine, "name": idx.index, "url": safe_url(idx.url)}

    def model_info(self) -> dict[str, Any]:
        ident = self.encoder.identity() if hasattr(self.encoder, "identity") else None
        return {"name": self.searcher.model, **({} if ident is None else {
            "weights_sha256": ident.weights_sha256, "max_length": ident.max_length, "backend": ident.backend,
            "dtype": ident.dtype})}

    def info(self) -> dict[str, Any]:
        """What the playground (and a client) needs to know: model, index, which modes run here and why not."""
        return {
            "version": __version__,
            "model": self.model_info(),
            "index": self.index_info(),
            "modes": self.modes,
            "engines": list(dialects.names()),
            "limits": asdict(self.limits),
            "batching": {"enabled": self.batcher.enabled, "max_batch": self.batcher.max_batch,
                         "max_wait_ms": self.batcher.max_wait * 1000.0},
        }

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, report): the model is loaded, the batcher takes work, the index answers."""
        report: dict[str, Any] = {"model": self.model_info(), "index": self.index_info(),
                                  "uptime_s": round(time.time() - self.started, 1)}
        healthy = not self.batcher.closed
        if self.batcher.closed:
            report["shutting_down"] = True
        searcher = self.current()
        idx = searcher.engine_index
        if idx is None:
            report["index"]["documents"] = len(searcher.local)  # type: ignore[arg-type]
        else:
            try:
                report["index"]["documents"] = await asyncio.get_running_loop().run_in_executor(None, idx.count)
                report["engine_reachable"] = True
            except SpladekitError as exc:
                healthy = False
                report["engine_reachable"] = False
                report["error"] = " ".join(str(exc).split())
        report["status"] = "ok" if healthy else "unavailable"
        return healthy, report

    # -- limits -------------------------------------------------------------------------------------------

    def _check_text(self, text: str, what: str = "text") -> None:
        limit = self.limits.max_text_chars
        if len(text) > limit:
            raise RequestRefused(413, f"{what} has {len(text)} characters, above this service's limit of {limit} "
                                      "(spladekit serve --max-text-chars)")

    def _check_search(self, req: SearchRequest, searcher: Searcher) -> None:
        self._check_text(req.text)
        limit = self.limits.max_k
        if req.k > limit:
            raise RequestRefused(422, f"k is {req.k}, above this service's limit of {limit} (spladekit serve "
                                      "--max-k)")
        if isinstance(req.two_phase, TwoPhaseOptions) and (req.two_phase.window or 0) > limit:
            raise RequestRefused(422, f"two_phase.window is {req.two_phase.window}, above this service's limit of "
                                      f"{limit} (spladekit serve --max-k)")
        reason = self.modes.get(req.mode) if searcher is self.searcher else searcher.modes().get(req.mode)
        if reason is not None and not isinstance(req, QueryRequest):
            raise InputError(reason)

    # -- the endpoints ------------------------------------------------------------------------------------

    async def encode(self, req: EncodeRequest, ticket: Ticket | None = None) -> dict[str, Any]:
        if len(req.texts) > self.limits.max_texts:
            raise RequestRefused(413, f"{len(req.texts)} texts, above this service's limit of "
                                      f"{self.limits.max_texts} per request (spladekit serve --max-texts)")
        for i, text in enumerate(req.texts):
            self._check_text(text, f"texts[{i}]")
        vectors = await self.batcher.encode(req.texts, req.kind, ticket=ticket)
        names = self.encoder.names
        return {"model": self.searcher.model, "kind": req.kind,
                "vectors": [{"terms": len(v), "top": [list(p) for p in names.decode(v, req.top_k)]} for v in vectors]}

    async def _vector(self, req: SearchRequest, ticket: Ticket | None) -> Any:
        if req.mode == "bm25" or not req.text.strip():
            if ticket is not None:
                ticket.release()
            return None  # BM25 needs no vector; an empty query is refused by the library, as for the CLI
        return (await self.batcher.encode([req.text], "query", ticket=ticket))[0]

    async def search(self, req: SearchRequest, ticket: Ticket | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        searcher = self.current()
        self._check_search(req, searcher)
        vector = await self._vector(req, ticket)
        hits = await asyncio.get_running_loop().run_in_executor(self._searches, lambda: searcher.search(
            req.text, vector=vector, k=req.k, mode=req.mode, two_phase=_plan(req.two_phase), prune=_prune(req),
            filter=req.filter, explain=req.explain, fusion=req.fusion, alpha=req.alpha))
        return {"mode": req.mode, "backend": self.backend, "took_ms": round((time.perf_counter() - started) * 1e3, 3),
                "hits": [h.to_dict() for h in hits]}

    async def query(self, req: QueryRequest, ticket: Ticket | None = None) -> dict[str, Any]:
        searcher = self.current()
        self._check_search(req, searcher)
        vector = await self._vector(req, ticket)
        out = searcher.requests(req.text, vector=vector, engine=req.engine, k=req.k, mode=req.mode,
                                     two_phase=_plan(req.two_phase), prune=_prune(req), filter=req.filter,
                                     explain=req.explain)
        idx = searcher.engine_index
        fusion = None
        if req.mode == "hybrid":
            fusion = {"method": "rrf", "rrf_k": RRF_K} if req.fusion == "rrf" else {"method": "weighted",
                                                                                   "alpha": req.alpha}
            fusion |= {"k": req.k, "ties": "by document id", "see": "spladekit.fusion.fuse",
                       # the two rankings carry ids and scores only; this body fetches the fused hits' text
                       "text": text_body(["<fused id 1>", "..."]) | {"size": req.k}}
        return {"engine": out.engine, "mode": out.mode,
                "index": idx.index if idx is not None and out.engine == idx.engine else None,
                "searches": out.bodies, "search_types": out.search_types, "fusion": fusion, "notes": out.notes}
