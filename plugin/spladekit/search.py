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
- ``bm25``: ``match`` on the ``text`` field (engines), or the same BM25 over the local index's text postings
  (:meth:`spladekit.local.index.LocalIndex.search_bm25`: Lucene's BM25 and the engines' standard analyzer).
- ``hybrid``: a SPLADE and a BM25 ranking of ``max(k, window)`` hits each, fused on the client
  (:func:`spladekit.fusion.fuse`: ``rrf`` or ``weighted``). On an engine the two rankings carry ids and scores
  only, and one more request (:func:`text_body`) fetches the title and text of the fused top ``k``: 2 x 100
  texts over the wire cost most of a hybrid search's time (``benchmarks/scale.py``).

Inference-free queries (``inference_free=True``, ``search --inference-free``): no transformer on the query path.
The query vector is the tokenizer's ids weighted by the model card's learned table when the index's model ships
one, else by IDF over the index's own document frequencies (:mod:`spladekit.encoder.static`): on the local
index its postings per term, on an engine one ``filters`` aggregation per query for the tokens not seen yet
(:func:`spladekit.query.df_query`), cached for the searcher's life.

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
from spladekit.encoder.card import is_card, read_card
from spladekit.encoder.runtime import SpladeEncoder
from spladekit.encoder.static import StaticQueryEncoder, idf_weights
from spladekit.engines import EngineIndex, connect
from spladekit.engines.base import safe_url
from spladekit.errors import EngineError, IndexFormatError, InputError, SpladekitError
from spladekit.features import FeatureNames
from spladekit.fusion import FUSIONS, HYBRID_WINDOW, fuse
from spladekit.hits import Contribution, Hit, explain
from spladekit.local.index import LocalIndex, read_params
from spladekit.models import DEFAULT_MODEL, resolve_model
from spladekit.query import (
    BM25_SEARCH_TYPE,
    DEFAULT_MAX_CLAUSES,
    HIT_FIELDS,
    Filter,
    QueryPrunedWarning,
    TwoPhase,
    bm25_query,
    build_query,
    df_query,
    parse_df,
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
    encoder's is refused: its vectors would not match the queries; so is another query encoder than the one an
    index records (a model card's). ``inference_free``: queries are weighted tokens, no transformer runs (see the
    module docstring); ``encoder`` then only lends its tokenizer, unless it is inference-free itself.
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
        inference_free: bool = False,
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
            self._local_dir = directory
            self.meta: dict[str, Any] = dict(self.local.meta)
        else:
            if engine_index is None:
                engine_index = connect(engine_url, index, **connect_options)  # type: ignore[arg-type]
            self.engine_index = engine_index
            self.meta = self._check_engine_index()
        self._names = names
        self._max_length = max_length
        self._model = model or self.meta.get("model") or DEFAULT_MODEL
        self.inference_free = bool(inference_free)
        self._encoder = encoder
        if inference_free and encoder is not None and not is_inference_free(encoder):
            self._encoder = self._static_encoder(getattr(encoder, "tokenizer_file", None))

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
            if self.inference_free:
                self._encoder = self._static_encoder()
            else:
                options = {} if self._max_length is None else {"max_length": self._max_length}
                self._encoder = SpladeEncoder.load(self._model, **options)
                check_query_encoder(self.meta, self._encoder, self.where)
        return self._encoder

    def _static_encoder(self, tokenizer_file: Any = None) -> StaticQueryEncoder:
        """The inference-free query encoder: the model card's table, else IDF from this index's statistics."""
        doc_identity = ModelIdentity.from_meta(self.meta) if self.meta else None
        if tokenizer_file is None and is_card(self._model):
            card = read_card(self._model)
            if card.table_path is not None:
                static = StaticQueryEncoder.from_idf_json(
                    card.table_path, model_tokenizer(card.document_model), doc_identity=doc_identity)
                check_query_encoder(self.meta, static, self.where)
                return static
        tokenizer = Path(tokenizer_file) if tokenizer_file is not None else model_tokenizer(self._model)
        if self.local is not None:
            df, n_docs = self.local.document_frequencies(), len(self.local)
            return StaticQueryEncoder.from_document_frequencies(df, n_docs, tokenizer, doc_identity=doc_identity,
                                                               source="idf:local-index")
        idx = self.engine_index
        assert idx is not None
        n_docs = idx.count()
        names = FeatureNames.from_tokenizer_file(tokenizer)
        unknown = np.full(len(names), np.nan, np.float32)

        def engine_idf(ids: np.ndarray) -> np.ndarray:
            df = parse_df(self._send(df_query(ids, names, idx.spec)), ids)
            return idf_weights(df, n_docs)

        return StaticQueryEncoder(tokenizer, unknown, doc_identity=doc_identity, fill=engine_idf,
                                  source=f"idf:{idx.engine}:{idx.index}")

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
        approx: float = 1.0,
    ) -> list[Hit]:
        """Search with text; see the module docstring for the modes. ``vector``: the query already encoded
        (eval times the search apart from encoding). ``explain_top``: query tokens listed per hit (None: all
        shared tokens, which then add up to the SPLADE score). ``approx`` below 1: the local index's approximate
        block-max SPLADE search (:attr:`spladekit.local.index.LocalIndex.alpha`)."""
        _check_search(query_text, mode=mode, k=k, fusion=fusion)
        if mode != "splade":
            self._require_text()
        if mode == "bm25":
            return self.search_bm25(query_text, k=k, filter=filter)
        vec = vector if vector is not None else self.encode(query_text)
        options = {"two_phase": two_phase, "prune": prune, "filter": filter, "explain": explain,
                   "explain_top": explain_top, "approx": approx}
        if mode == "splade":
            return self.search_vector(vec, k=k, **options)
        n = max(k, window)
        fused = fuse(self.search_vector(vec, k=n, with_text=False, **options),
                     self.search_bm25(query_text, k=n, filter=filter, with_text=False), k=k, fusion=fusion, alpha=alpha)
        return self._with_text(fused)

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
        with_text: bool = True,
        approx: float = 1.0,
    ) -> list[Hit]:
        """SPLADE search with a query vector (exact, pruned or two-phase). ``with_text=False``: an engine's hits come
        without title and text (ids and scores only). ``approx`` in (0, 1): the local index's approximate block-max
        search, which skips a block when ``approx`` times its bound is below the k-th score so far (hits keep their
        exact scores; recall below 1); 1 is exact."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if not 0.0 < approx <= 1.0:
            raise ValueError(f"approx must be in (0, 1] (1: exact), got {approx}")
        if approx < 1.0 and self.local is None:
            raise InputError("approximate block-max search (approx below 1, --approx) runs on the local index; on "
                             "an engine, search approximately with two-phase (--two-phase)")
        plan = _plan(two_phase, k)
        query, notes = prepare(vec, prune, max_clauses)
        for note in notes:
            warnings.warn(note, QueryPrunedWarning, stacklevel=2)
        top = explain_top if explain else 0
        if self.local is not None:
            return self._local_splade(query, k=k, plan=plan, filter=filter, explain_top=top, approx=approx)
        return self._engine_splade(query, k=k, plan=plan, filter=filter, explain_top=top, with_text=with_text)

    def search_bm25(self, text: str, *, k: int = 10, filter: Filter = None,  # noqa: A002
                    with_text: bool = True) -> list[Hit]:
        """BM25 ``match`` on the engine index's ``text`` field, or the local index's BM25 (the same scores).
        ``with_text=False``: an engine's hits come without title and text."""
        self._require_text()
        if self.local is not None:
            ids, scores = self.local.search_bm25(text, k=k, filter_ids=filter_ids(filter))
            return [Hit(str(i), float(s), r) for r, (i, s) in enumerate(zip(ids, scores, strict=True), start=1)]
        return parse_hits(self._send(bm25_body(text, k=k, filter=filter, with_text=with_text), BM25_SEARCH_TYPE))

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
                                           explain=explain, with_text=mode != "hybrid")
        search_types: dict[str, str] = {}
        if mode != "splade":
            bodies["bm25"] = bm25_body(query_text, k=n, filter=filter, with_text=mode != "hybrid")
            search_types["bm25"] = BM25_SEARCH_TYPE
        return Requests(spec.name, mode, bodies, notes, search_types)

    def _require_text(self) -> None:
        if self.local is not None:
            if not self.local.has_text:
                raise IndexFormatError(
                    f"the local index at {self._local_dir} keeps no text for BM25 and hybrid (built by a spladekit "
                    f"older than local index format 2): rebuild it with `spladekit ingest CORPUS --local NEW_DIR`, "
                    "or search it with SPLADE only"
                )
            return
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

    def _with_text(self, hits: list[Hit]) -> list[Hit]:
        """Fill the title and text of an engine's ``hits`` with one request (:func:`text_body`)."""
        if self.engine_index is None or not hits:
            return hits
        found = {h.id: h for h in parse_hits(self._send(text_body([h.id for h in hits])))}
        for hit in hits:
            if hit.id in found:
                hit.title, hit.text = found[hit.id].title, found[hit.id].text
        return hits

    def _engine_splade(self, query: SparseVector, *, k: int, plan: TwoPhase | None, filter: Filter,  # noqa: A002
                       explain_top: int | None, with_text: bool = True) -> list[Hit]:
        idx = self.engine_index
        assert idx is not None
        explaining = explain_top != 0
        resp = self._send(splade_body(query, self.names, idx.spec, k=k, plan=plan, filter=filter, explain=explaining,
                                      with_text=with_text))
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
                      explain_top: int | None, approx: float = 1.0) -> list[Hit]:
        local = self.local
        assert local is not None
        allowed = filter_ids(filter)
        if plan is not None:
            first_ids, _ = local.search(plan.first_pass(query), k=plan.window, filter_ids=allowed)
            allowed = list(first_ids)
            if not allowed:
                return []
        ids, scores = local.search(query, k=k, filter_ids=allowed, alpha=approx)
        hits = [Hit(str(i), float(s), r) for r, (i, s) in enumerate(zip(ids, scores, strict=True), start=1)]
        if explain_top != 0:
            for hit in hits:
                # The part of the document's vector the query touches, exactly as the index scores it.
                hit.explanation = explain(query, local.doc_vector(hit.id, query.ids), self.names, top_k=explain_top)
        return hits


@dataclass
class Requests:
    """What a search sends to an engine (:meth:`Searcher.requests`): one body per ranking (``splade``, ``bm25``;
    a hybrid sends both, ``max(k, window)`` hits each with ids and scores only, fuses them on the client and then
    fetches the fused top k's title and text with :func:`text_body`), and notes on what pruning to the bool
    clause limit cut."""

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
                filter: Filter, explain: bool, with_text: bool = True) -> dict[str, Any]:  # noqa: A002
    """The SPLADE search body for a prepared (pruned) query vector; ``explain`` also fetches the stored vectors,
    ``with_text=False`` leaves out the title and text."""
    source = [*(HIT_FIELDS if with_text else ()), *([SCHEMA.sparse] if explain else [])]
    return build_query(query, names, spec, SCHEMA.sparse, size=k, two_phase=plan, filter=filter,
                       source=source or False, max_clauses=None).body


def bm25_body(text: str, *, k: int, filter: Filter, with_text: bool = True) -> dict[str, Any]:  # noqa: A002
    """The BM25 search body (``with_text=False``: ids and scores only)."""
    return bm25_query(text, size=k, filter=filter, source=HIT_FIELDS if with_text else False).body


def text_body(ids: Sequence[str]) -> dict[str, Any]:
    """The body that fetches the title and text of ``ids`` (a hybrid search's fused top k), in any order.

    >>> text_body(["d1", "d7"])["query"]
    {'bool': {'filter': [{'ids': {'values': ['d1', 'd7']}}]}}
    """
    return {"query": {"bool": {"filter": [{"ids": {"values": list(ids)}}]}}, "size": len(ids),
            "_source": list(HIT_FIELDS), "track_total_hits": False}


def check_query_encoder(meta: Mapping[str, Any], encoder: Any, where: str) -> None:
    """Refuse a query encoder whose model weights are not the ones the index's vectors were made with, and,
    when the index records its own query encoder (a model card's), another query encoder."""
    if not meta or not hasattr(encoder, "identity"):
        return
    ident: ModelIdentity = encoder.identity()
    theirs = ModelIdentity.from_meta(meta)
    differ = [k for k in identity_mismatch(meta, ident) if k in ("weights_sha256", "model", "pooling")]
    if differ:
        raise InputError(
            f"{where} was built with model {theirs.model!r} (weights {str(theirs.weights_sha256)[:12]}...), the "
            f"query encoder {ident.model!r} has {str(ident.weights_sha256)[:12]}...; search with the index's "
            f"model: --model {theirs.model}"
        )
    if theirs.query_sha256 is not None and ident.query_sha256 != theirs.query_sha256:
        mine = ident.query_model or ident.model
        raise InputError(
            f"{where} was built with the model card {theirs.model!r}, whose queries are encoded by "
            f"{theirs.query_model!r} (sha256 {theirs.query_sha256[:12]}...); this search encodes them with "
            f"{mine!r}: search with the index's model card (--model {theirs.model}), or ask for --inference-free "
            "queries weighted from the index itself"
        )


def is_inference_free(encoder: Any) -> bool:
    """Whether ``encoder`` encodes queries without a transformer (a weight table, alone or as a pair's query
    side)."""
    return getattr(getattr(encoder, "queries", encoder), "backend", None) == "static"


def model_tokenizer(model: str | Path) -> Path:
    """The ``tokenizer.json`` of a model name, folder, ONNX export or model card (its document model), without
    loading the model: what an inference-free query encoder tokenizes with."""
    if is_card(model):
        return model_tokenizer(read_card(model).document_model)
    path = Path(str(model)).expanduser()
    if (path / "tokenizer.json").is_file():
        return path / "tokenizer.json"
    return resolve_model(model) / "tokenizer.json"


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
                     model: str | None, max_length: int | None, inference_free: bool,
                     connect: tuple[tuple[str, Any], ...]) -> Searcher:
    return Searcher(engine_url=engine_url, index=index, local_dir=local_dir, model=model, max_length=max_length,
                    inference_free=inference_free, **dict(connect))


def search(
    query_text: str,
    *,
    engine_url: str | None = None,
    index: str | None = None,
    local_dir: str | Path | None = None,
    model: str | None = None,
    max_length: int | None = None,
    inference_free: bool = False,
    **options: Any,
) -> list[Hit]:
    """Search an engine index (``engine_url`` + ``index``) or a local index (``local_dir``) with text.
    ``inference_free``: queries weighted by the model card's table or the index's IDF, no transformer run.

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
                                max_length, bool(inference_free), tuple(sorted(connect_options.items())))
    return searcher.search(query_text, **options)


def score_sum(explanation: Sequence[Contribution]) -> float:
    """The SPLADE score that a full explanation adds up to (float64 sum cast to float32, as Lucene does)."""
    return float(np.float32(math.fsum(c.contribution for c in explanation)))
