"""One search entry point for the CLI, apps, eval and parity: SPLADE, BM25 or hybrid, on an engine or locally.

:class:`Searcher` holds a connected backend (an engine index or a local index) and the query encoder, checks
once that the index was built by the encoder's model, and runs searches. Request bodies come from
:mod:`spladekit.query` (the one builder), fusion from :mod:`spladekit.fusion`, hits are :class:`spladekit.hits.Hit`.

Modes
-----
- ``splade``: the dot product of the score contract, exact unless ``prune`` is given.
- ``two_phase``: an approximation of ``splade`` (:class:`spladekit.query.TwoPhase`); on an engine the first
  pass and a ``rescore``, on the local index a pruned search for the window followed by a full search
  restricted to those ids. Recall against exact is measured in ``benchmarks/query.py``.
- ``bm25``: ``match`` on the ``text`` field (engines; the local index holds vectors, not text).
- ``hybrid``: a SPLADE and a BM25 ranking of ``max(k, window)`` hits each, fused on the client
  (:func:`spladekit.fusion.fuse`: ``rrf`` or ``weighted``).

``explain=True`` adds, per hit, the query tokens that contributed most to its SPLADE score with their
contributions ``float32(q_t * d_t)``; ``d_t`` is the stored value as the backend scores it (on an engine the
quantized ``_source`` weight as Lucene decodes it), so the contributions add up to the backend's score.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spladekit import dialects, lucene
from spladekit.dialects import EngineSpec
from spladekit.encoder.runtime import SpladeEncoder
from spladekit.engines import EngineIndex, connect
from spladekit.engines.base import safe_url
from spladekit.errors import EngineError, InputError, SpladekitError
from spladekit.features import FeatureNames
from spladekit.fusion import FUSIONS, HYBRID_WINDOW, fuse
from spladekit.hits import Contribution, Hit, explain
from spladekit.local.index import LocalIndex, read_params
from spladekit.models import DEFAULT_MODEL
from spladekit.query import (
    BM25_SEARCH_TYPE,
    DEFAULT_MAX_CLAUSES,
    HIT_FIELDS,
    Filter,
    QueryPrunedWarning,
    TwoPhase,
    bm25_query,
    build_query,
    parse_hits,
    prepare,
)
from spladekit.schema import SCHEMA, ModelIdentity, identity_mismatch
from spladekit.vectors import SparseVector

MODES: tuple[str, ...] = ("splade", "bm25", "hybrid")
#: Query tokens listed per hit by ``explain``.
EXPLAIN_TOP = 5


class Searcher:
    """A connected backend plus the query encoder, checked once and reused across searches.

    Give either ``engine_url`` and ``index`` (or an already connected ``engine_index``) or ``local_dir``.
    ``model`` defaults to the model recorded in the index's metadata, else ``splade-tiny``; ``encoder`` is any
    object with ``encode_queries`` and ``names`` (default ``SpladeEncoder.load(model, max_length=...)``);
    ``names`` alone is enough to search with vectors. An index built with other model weights than the
    encoder's is refused: its vectors would not match the queries.
    """

    def __init__(
        self,
        *,
        engine_url: str | None = None,
        index: str | None = None,
        local_dir: str | Path | None = None,
        model: str | None = None,
        encoder: Any = None,
        engine_index: EngineIndex | None = None,
        names: FeatureNames | None = None,
        max_length: int | None = None,
        **connect_options: Any,
    ) -> None:
        if engine_index is None and local_dir is None and not (engine_url and index):
            raise InputError("give an engine (engine_url and index, e.g. --engine URL --index NAME) or local_dir")
        if local_dir is not None and (engine_url or engine_index is not None):
            raise InputError("give either an engine or a local index (local_dir), not both")
        self.local: LocalIndex | None = None
        self.engine_index: EngineIndex | None = None
        self._text_type: str | None = None
        if local_dir is not None:
            directory = Path(local_dir)
            if not directory.exists():
                raise InputError(
                    f"no local index at {directory}; build one with: spladekit ingest CORPUS --local {directory}"
                )
            self.local = LocalIndex.load(directory)
            self.meta: dict[str, Any] = dict(self.local.meta)
        else:
            if engine_index is None:
                engine_index = connect(engine_url, index, **connect_options)  # type: ignore[arg-type]
            self.engine_index = engine_index
            self.meta = self._check_engine_index()
        self._encoder = encoder
        self._names = names
        self._max_length = max_length
        self._model = model or self.meta.get("model") or DEFAULT_MODEL

    # -- setup ---------------------------------------------------------------------------------------------

    @property
    def model(self) -> str:
        """The model the queries are encoded with."""
        return self._model

    @property
    def engine(self) -> str | None:
        return None if self.engine_index is None else self.engine_index.engine

    def _check_engine_index(self) -> dict[str, Any]:
        """Index exists, its sparse field has this engine's type; returns its ``_meta``."""
        idx = self.engine_index
        assert idx is not None  # for type checkers: only called with an engine index
        if not idx.exists():
            raise EngineError(
                f"index {idx.index!r} does not exist on {safe_url(idx.url)}; build it with: "
                f"spladekit ingest CORPUS --engine URL --index {idx.index}"
            )
        got = idx.field_type(SCHEMA.sparse)
        want = idx.spec.sparse_type
        if got != want:
            found = "has no such field" if got is None else f"is mapped as {got!r}"
            raise EngineError(
                f"field {SCHEMA.sparse!r} of index {idx.index!r} {found}, not {want!r} as a SPLADE search on "
                f"{idx.engine} needs: this index was not built by spladekit; build one with: "
                f"spladekit ingest CORPUS --engine URL --index NEW_NAME"
            )
        self._text_type = idx.field_type(SCHEMA.text)
        return idx.meta() or {}

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            options = {} if self._max_length is None else {"max_length": self._max_length}
            self._encoder = SpladeEncoder.load(self._model, **options)
            check_query_encoder(self.meta, self._encoder, self.where)
        return self._encoder

    @property
    def where(self) -> str:
        if self.local is not None:
            return "the local index"
        idx = self.engine_index
        return f"index {idx.index!r} on {safe_url(idx.url)}" if idx is not None else "the index"

    @property
    def names(self) -> FeatureNames:
        return self._names if self._names is not None else self.encoder.names

    def encode(self, text: str) -> SparseVector:
        if not text or not text.strip():
            raise InputError("the query is empty; give some words to search for")
        return self.encoder.encode_queries([text])[0]

    # -- searches ------------------------------------------------------------------------------------------

    def search(
        self,
        query_text: str,
        *,
        vector: SparseVector | None = None,
        k: int = 10,
        mode: str = "splade",
        two_phase: bool | TwoPhase = False,
        prune: Mapping[str, Any] | None = None,
        filter: Filter = None,  # noqa: A002 (the DSL's word)
        explain: bool = False,
        fusion: str = "rrf",
        alpha: float = 0.5,
        window: int = HYBRID_WINDOW,
        explain_top: int | None = EXPLAIN_TOP,
    ) -> list[Hit]:
        """Search with text; see the module docstring for the modes. ``vector``: the query already encoded
        (eval times the search apart from encoding). ``explain_top``: query tokens listed per hit (None: all
        shared tokens, which then add up to the SPLADE score)."""
        _check_search(query_text, mode=mode, k=k, fusion=fusion)
        if mode != "splade":
            self._require_text()
        if mode == "bm25":
            return self.search_bm25(query_text, k=k, filter=filter)
        vec = vector if vector is not None else self.encode(query_text)
        options = {"two_phase": two_phase, "prune": prune, "filter": filter, "explain": explain,
                   "explain_top": explain_top}
        if mode == "splade":
            return self.search_vector(vec, k=k, **options)
        n = max(k, window)
        return fuse(self.search_vector(vec, k=n, **options), self.search_bm25(query_text, k=n, filter=filter),
                    k=k, fusion=fusion, alpha=alpha)

    def search_vector(
        self,
        vec: SparseVector,
        *,
        k: int = 10,
        two_phase: bool | TwoPhase = False,
        prune: Mapping[str, Any] | None = None,
        filter: Filter = None,  # noqa: A002
        explain: bool = False,
        explain_top: int | None = EXPLAIN_TOP,
        max_clauses: int | None = DEFAULT_MAX_CLAUSES,
    ) -> list[Hit]:
        """SPLADE search with a query vector (exact, pruned or two-phase)."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        plan = _plan(two_phase, k)
        query, notes = prepare(vec, prune, max_clauses)
        for note in notes:
            warnings.warn(note, QueryPrunedWarning, stacklevel=2)
        top = explain_top if explain else 0
        if self.local is not None:
            return self._local_splade(query, k=k, plan=plan, filter=filter, explain_top=top)
        return self._engine_splade(query, k=k, plan=plan, filter=filter, explain_top=top)

    def search_bm25(self, text: str, *, k: int = 10, filter: Filter = None) -> list[Hit]:  # noqa: A002
        """BM25 ``match`` on the engine index's ``text`` field."""
        self._require_text()
        return parse_hits(self._send(bm25_body(text, k=k, filter=filter), BM25_SEARCH_TYPE))

    def modes(self) -> dict[str, str | None]:
        """Each search mode: None when this backend runs it, else why not (what such a search would raise)."""
        out: dict[str, str | None] = {}
        for mode in MODES:
            try:
                if mode != "splade":
                    self._require_text()
                out[mode] = None
            except SpladekitError as exc:
                out[mode] = str(exc)
        return out

    def requests(
        self,
        query_text: str,
        *,
        vector: SparseVector | None = None,
        engine: str | EngineSpec | None = None,
        k: int = 10,
        mode: str = "splade",
        two_phase: bool | TwoPhase = False,
        prune: Mapping[str, Any] | None = None,
        filter: Filter = None,  # noqa: A002
        explain: bool = False,
        window: int = HYBRID_WINDOW,
    ) -> Requests:
        """The engine search bodies :meth:`search` sends for the same arguments, without sending them (for apps
        that call the engine themselves). ``engine``: the dialect to spell them in; default this searcher's
        engine (a local index has none: name one). A hybrid search sends both bodies and fuses the hits on the
        client (:func:`spladekit.fusion.fuse`)."""
        _check_search(query_text, mode=mode, k=k)
        if engine is None:
            if self.engine_index is None:
                raise InputError("the local index sends no engine request; name the engine the body is for "
                                 f"({' or '.join(dialects.names())})")
            if mode != "splade":
                self._require_text()
        spec = dialects.get(engine) if engine is not None else self.engine_index.spec  # type: ignore[union-attr]
        n = max(k, window) if mode == "hybrid" else k
        bodies: dict[str, dict[str, Any]] = {}
        notes: list[str] = []
        if mode != "bm25":
            vec = vector if vector is not None else self.encode(query_text)
            query, notes = prepare(vec, prune, DEFAULT_MAX_CLAUSES)
            bodies["splade"] = splade_body(query, self.names, spec, k=n, plan=_plan(two_phase, n), filter=filter,
                                           explain=explain)
        search_types: dict[str, str] = {}
        if mode != "splade":
            bodies["bm25"] = bm25_body(query_text, k=n, filter=filter)
            search_types["bm25"] = BM25_SEARCH_TYPE
        return Requests(spec.name, mode, bodies, notes, search_types)

    def _require_text(self) -> None:
        if self.local is not None:
            raise InputError(
                "BM25 and hybrid search need an engine index (the local index stores vectors, not text); "
                "use --engine URL --index NAME"
            )
        if self._text_type != "text":
            raise EngineError(
                f"index {self.engine_index.index!r} has no BM25 text field {SCHEMA.text!r} (found "  # type: ignore[union-attr]
                f"{self._text_type!r}); rebuild it with spladekit ingest"
            )

    # -- engine --------------------------------------------------------------------------------------------

    def _send(self, body: dict[str, Any], search_type: str | None = None) -> dict[str, Any]:
        idx = self.engine_index
        assert idx is not None
        try:
            return idx.search_body(body, search_type)
        except EngineError as exc:
            if "index_not_found" in str(exc):
                raise EngineError(
                    f"index {idx.index!r} does not exist on {safe_url(idx.url)}; build it with: "
                    f"spladekit ingest CORPUS --engine URL --index {idx.index}"
                ) from None
            raise

    def _engine_splade(self, query: SparseVector, *, k: int, plan: TwoPhase | None, filter: Filter,  # noqa: A002
                       explain_top: int | None) -> list[Hit]:
        idx = self.engine_index
        assert idx is not None
        explaining = explain_top != 0
        resp = self._send(splade_body(query, self.names, idx.spec, k=k, plan=plan, filter=filter, explain=explaining))
        hits = parse_hits(resp)
        if explaining:
            for hit, raw in zip(hits, resp["hits"]["hits"], strict=True):
                stored = (raw.get("_source") or {}).get(SCHEMA.sparse) or {}
                doc = self.names.from_features(stored).positive()
                # Lucene scores the stored value as FeatureField decodes it, not the float sent at ingest.
                doc = SparseVector(doc.ids, lucene.quantize(doc.weights))
                hit.explanation = explain(query, doc, self.names, top_k=explain_top)
        return hits

    # -- local ---------------------------------------------------------------------------------------------

    def _local_splade(self, query: SparseVector, *, k: int, plan: TwoPhase | None, filter: Filter,  # noqa: A002
                      explain_top: int | None) -> list[Hit]:
        local = self.local
        assert local is not None
        allowed = filter_ids(filter)
        if plan is not None:
            first_ids, _ = local.search(plan.first_pass(query), k=plan.window, filter_ids=allowed)
            allowed = list(first_ids)
            if not allowed:
                return []
        ids, scores = local.search(query, k=k, filter_ids=allowed)
        hits = [Hit(str(i), float(s), r) for r, (i, s) in enumerate(zip(ids, scores, strict=True), start=1)]
        if explain_top != 0:
            for hit in hits:
                # The part of the document's vector the query touches, exactly as the index scores it.
                hit.explanation = explain(query, local.doc_vector(hit.id, query.ids), self.names, top_k=explain_top)
        return hits


@dataclass
class Requests:
    """What a search sends to an engine (:meth:`Searcher.requests`): one body per ranking (``splade``, ``bm25``;
    a hybrid sends both, ``max(k, window)`` hits each, and fuses them on the client), and notes on what pruning
    to the bool clause limit cut."""

    engine: str
    mode: str
    bodies: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    #: The ``search_type`` URL parameter a body is sent with, where it is not the engine's default: BM25 gathers
    #: every shard's term statistics first (``dfs_query_then_fetch``, see :mod:`spladekit.query`).
    search_types: dict[str, str] = field(default_factory=dict)


def _check_search(query_text: str, *, mode: str, k: int, fusion: str = "rrf") -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not query_text or not query_text.strip():
        raise InputError("the query is empty; give some words to search for")


def _plan(two_phase: bool | TwoPhase, k: int) -> TwoPhase | None:
    plan = TwoPhase() if two_phase is True else (two_phase or None)
    if plan is not None:
        plan.check_k(k)
    return plan


def splade_body(query: SparseVector, names: FeatureNames, spec: EngineSpec, *, k: int, plan: TwoPhase | None,
                filter: Filter, explain: bool) -> dict[str, Any]:  # noqa: A002
    """The SPLADE search body for a prepared (pruned) query vector; ``explain`` also fetches the stored vectors."""
    source = [*HIT_FIELDS, *([SCHEMA.sparse] if explain else [])]
    return build_query(query, names, spec, SCHEMA.sparse, size=k, two_phase=plan, filter=filter, source=source,
                       max_clauses=None).body


def bm25_body(text: str, *, k: int, filter: Filter) -> dict[str, Any]:  # noqa: A002
    """The BM25 search body."""
    return bm25_query(text, size=k, filter=filter, source=HIT_FIELDS).body


def check_query_encoder(meta: Mapping[str, Any], encoder: Any, where: str) -> None:
    """Refuse a query encoder whose model weights are not the ones the index's vectors were made with."""
    if not meta or not hasattr(encoder, "identity"):
        return
    ident: ModelIdentity = encoder.identity()
    differ = [k for k in identity_mismatch(meta, ident) if k in ("weights_sha256", "model", "pooling")]
    if differ:
        theirs = ModelIdentity.from_meta(meta)
        raise InputError(
            f"{where} was built with model {theirs.model!r} (weights {str(theirs.weights_sha256)[:12]}...), the "
            f"query encoder {ident.model!r} has {str(ident.weights_sha256)[:12]}...; search with the index's "
            f"model: --model {theirs.model}"
        )


def filter_ids(filter: Filter) -> list[str] | None:  # noqa: A002
    """The document ids an engine-style ``{"ids": {"values": [...]}}`` filter allows (the one filter the local
    index understands); None for no filter.

    >>> filter_ids({"ids": {"values": ["3", "7"]}})
    ['3', '7']
    """
    if not filter:
        return None
    filters = list(filter) if isinstance(filter, Sequence) else [filter]
    allowed: set[str] | None = None
    for f in filters:
        values = f.get("ids", {}).get("values") if isinstance(f, Mapping) and len(f) == 1 else None
        if not isinstance(values, list):
            raise InputError(
                f"the local index can only filter by document ids ({{'ids': {{'values': [...]}}}}), got {f!r}; "
                "use an engine index for other filters"
            )
        allowed = set(map(str, values)) if allowed is None else allowed & set(map(str, values))
    return sorted(allowed or ())


@functools.lru_cache(maxsize=8)
def _cached_searcher(engine_url: str | None, index: str | None, local_dir: str | None, generation: str | None,
                     model: str | None, max_length: int | None, connect: tuple[tuple[str, Any], ...]) -> Searcher:
    return Searcher(engine_url=engine_url, index=index, local_dir=local_dir, model=model, max_length=max_length,
                    **dict(connect))


def search(
    query_text: str,
    *,
    engine_url: str | None = None,
    index: str | None = None,
    local_dir: str | Path | None = None,
    model: str | None = None,
    max_length: int | None = None,
    **options: Any,
) -> list[Hit]:
    """Search an engine index (``engine_url`` + ``index``) or a local index (``local_dir``) with text.

    ``options`` are :meth:`Searcher.search`'s (``k``, ``mode``, ``two_phase``, ``prune``, ``filter``, ``explain``,
    ``fusion``, ``alpha``, ``window``) and the connection's (``user``, ``password``, ``api_key``, ``ca_certs``,
    ``verify_certs``, ``timeout``). The connection and the encoder are cached per backend and model, so repeated
    calls are cheap; a local index is reopened when it changed on disk (a re-ingest), so no stale hit is served.
    """
    connect_keys = ("user", "password", "api_key", "ca_certs", "verify_certs", "timeout", "engine")
    connect_options = {key: options.pop(key) for key in connect_keys if key in options}
    generation = None
    if local_dir is not None and Path(local_dir).exists():
        generation = str(read_params(local_dir).get("arrays_dir"))
    searcher = _cached_searcher(engine_url, index, None if local_dir is None else str(local_dir), generation, model,
                                max_length, tuple(sorted(connect_options.items())))
    return searcher.search(query_text, **options)


def score_sum(explanation: Sequence[Contribution]) -> float:
    """The SPLADE score that a full explanation adds up to (float64 sum cast to float32, as Lucene does)."""
    return float(np.float32(math.fsum(c.contribution for c in explanation)))
