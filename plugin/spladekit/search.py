"""One search entry point for the CLI and for apps: SPLADE, BM25 or hybrid, on an engine or the local index.

>>> from spladekit.features import FeatureNames
>>> names = FeatureNames(["[PAD]", "wing", "stall", "lift"])
>>> q = SparseVector.from_dict({1: 2.0, 2: 0.5, 3: 0.25})
>>> body = two_phase_body(q, names, "elasticsearch", k=10, first_pass=TwoPhase(top_k=1, window=50))
>>> len(body["query"]["bool"]["should"]), len(body["rescore"]["query"]["rescore_query"]["bool"]["should"])
(1, 3)

Modes
-----
- ``splade``: the dot product of the score contract (``spladekit.query``), exact unless ``prune`` is given.
- ``two_phase``: an approximation of ``splade``. The first pass matches only the query's high-weight tokens
  (:class:`TwoPhase`: ``top_k`` largest, or weights >= ``ratio`` x the largest); the engine's ``rescore``
  then re-scores the first pass's top ``window`` hits with the full query (``query_weight`` 0,
  ``rescore_query_weight`` 1, so a rescored hit carries exactly its full SPLADE score). A document that
  shares none of the high-weight tokens, or that ranks below the window in the first pass, is missed: recall
  is measured in ``benchmarks/query.py``. On the local index the same plan runs as a pruned search for the
  window followed by a full search restricted to those ids.
- ``bm25``: ``match`` on the ``text`` field (engines only: the local index holds vectors, not text).
- ``hybrid``: a SPLADE run and a BM25 run of ``window`` hits each, fused client-side, identically on both engines,
  by the functions of :mod:`spladekit.evaluation.runs`: ``rrf`` (``sum 1 / (60 + rank)``) or ``weighted``
  (``alpha * minmax(splade) + (1 - alpha) * minmax(bm25)``, min-max over each run's window, a document absent
  from a run gets 0 there). Fused ties are broken by document id.

``explain=True`` adds, per hit, the query tokens that contributed most to its SPLADE score with their
contributions ``float32(q_t * d_t)``; on an engine ``d_t`` is the stored value as Lucene decodes it (the
quantized ``_source`` weight), so the contributions add up to the engine's score.
"""

from __future__ import annotations

import functools
import math
import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from spladekit.encoder.runtime import Contribution, SpladeEncoder
from spladekit.engines.base import safe_url
from spladekit.errors import EngineError, InputError
from spladekit.evaluation.runs import RRF_K, rrf, weighted_sum
from spladekit.features import FeatureNames
from spladekit import lucene
from spladekit.query import DEFAULT_MAX_CLAUSES, QueryPrunedWarning, build_query, clauses
from spladekit.query import prune as prune_vector
from spladekit.vectors import SparseVector

Mode = Literal["splade", "bm25", "hybrid"]
MODES: tuple[str, ...] = ("splade", "bm25", "hybrid")
FUSIONS: tuple[str, ...] = ("rrf", "weighted")
#: Engine field names of the index layout (DESIGN.md): sparse vector, BM25 text, title.
SPARSE_FIELD = "splade"
TEXT_FIELD = "text"
TITLE_FIELD = "title"
#: Mapping types the sparse field must have on each engine.
SPARSE_TYPES: dict[str, str] = {"opensearch": "rank_features", "elasticsearch": "sparse_vector"}
#: Hits each side of a hybrid search contributes to the fusion (at least k).
HYBRID_WINDOW = 100
#: Query tokens listed per hit by ``explain``.
EXPLAIN_TOP = 5
_PRUNE_KEYS = ("top_k", "min_weight", "ratio", "mass")


@dataclass(frozen=True)
class TwoPhase:
    """First pass of a two-phase search: the ``top_k`` largest query weights (with ``ratio``, only those >=
    ratio x the largest; with ``mass``, only the fewest largest that add up to ``mass`` x the query's total
    weight), rescored with the full query over the top ``window`` first-pass hits.

    The defaults (10 tokens, window 100) are the cheapest setting measured with recall@10 >= 0.98 against
    exact SPLADE on npl and on a 200,000-document tiled npl index, both engines (docs/benchmarks.md).
    """

    top_k: int | None = 10
    ratio: float | None = None
    window: int = 100
    mass: float | None = None

    def __post_init__(self) -> None:
        if self.top_k is None and self.ratio is None and self.mass is None:
            raise ValueError("TwoPhase needs top_k, ratio or mass to choose the first-pass tokens")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"TwoPhase.top_k must be >= 1, got {self.top_k}")
        if self.ratio is not None and not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"TwoPhase.ratio must be in (0, 1], got {self.ratio}")
        if self.mass is not None and not 0.0 < self.mass <= 1.0:
            raise ValueError(f"TwoPhase.mass must be in (0, 1], got {self.mass}")
        if self.window < 1:
            raise ValueError(f"TwoPhase.window must be >= 1, got {self.window}")


@dataclass
class Hit:
    """One search result. ``components`` holds the scores fused into a hybrid score (``splade``, ``bm25``,
    their ranks); ``explanation`` the top contributing query tokens when asked for."""

    id: str
    score: float
    rank: int
    title: str | None = None
    text: str | None = None
    components: dict[str, float | int | None] = field(default_factory=dict)
    explanation: list[Contribution] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.explanation is None:
            out.pop("explanation")
        else:
            out["explanation"] = [c._asdict() for c in self.explanation]
        return out


# ---------------------------------------------------------------------------------------------- pure helpers


def check_prune(prune: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a pruning spec (keys ``top_k``, ``min_weight``, ``ratio``, ``mass``) and return it as a dict."""
    if not prune:
        return {}
    unknown = sorted(set(prune) - set(_PRUNE_KEYS))
    if unknown:
        raise ValueError(f"unknown pruning option(s) {unknown}; valid: {', '.join(_PRUNE_KEYS)}")
    return {k: v for k, v in prune.items() if v is not None}


def prepare_query(
    vec: SparseVector, prune: Mapping[str, Any] | None = None, max_clauses: int | None = DEFAULT_MAX_CLAUSES
) -> tuple[SparseVector, list[str]]:
    """The query vector a search sends after pruning, or an :class:`InputError` when nothing is left."""
    if len(vec.positive()) == 0:
        raise InputError(
            "the query has no token with a positive weight (empty, or only words the model ignores); "
            "rephrase it with content words"
        )
    spec = check_prune(prune)
    pruned, notes = prune_vector(vec, max_clauses=max_clauses, **spec)
    if len(pruned) == 0:
        raise InputError(
            f"pruning ({', '.join(f'{k}={v}' for k, v in spec.items())}) removed every one of the query's "
            f"{len(vec)} tokens (largest weight {float(vec.weights.max()):.4g}); lower min_weight/ratio or "
            "raise top_k"
        )
    return pruned, notes


def first_pass_vector(vec: SparseVector, plan: TwoPhase) -> SparseVector:
    """The high-weight tokens a two-phase search matches in its first pass."""
    first, _ = prune_vector(vec, top_k=plan.top_k, ratio=plan.ratio, mass=plan.mass, max_clauses=None)
    return first


def two_phase_body(
    vec: SparseVector,
    names: FeatureNames,
    engine: str,
    *,
    k: int,
    first_pass: TwoPhase,
    filter: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,  # noqa: A002 (the DSL's word)
    source: bool | Sequence[str] | None = None,
    field: str = SPARSE_FIELD,
) -> dict[str, Any]:
    """Search body of a two-phase search: high-weight tokens first, the full query in an engine rescore.

    ``query_weight: 0`` and ``rescore_query_weight: 1`` make a rescored hit's score exactly its full-query
    score (Lucene computes ``0 * first + 1 * second`` in float32). The full query keeps the clause limit.
    """
    if k > first_pass.window:
        raise ValueError(f"k ({k}) must be <= the two-phase window ({first_pass.window}); raise the window")
    first = first_pass_vector(vec, first_pass)
    body = build_query(first, names, engine, field, size=k, max_clauses=None, filter=filter, source=source).body
    full, _ = prune_vector(vec, max_clauses=DEFAULT_MAX_CLAUSES)
    body["rescore"] = {
        "window_size": first_pass.window,
        "query": {
            "rescore_query": {"bool": {"should": clauses(full, names, engine, field)}},
            "query_weight": 0.0,
            "rescore_query_weight": 1.0,
            "score_mode": "total",
        },
    }
    return body


def bm25_body(
    text: str,
    *,
    k: int,
    filter: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,  # noqa: A002
    source: bool | Sequence[str] | None = None,
    field: str = TEXT_FIELD,
) -> dict[str, Any]:
    """BM25 ``match`` on the text field, with an optional non-scoring filter.

    >>> bm25_body("wing stall", k=5)["query"]
    {'bool': {'must': [{'match': {'text': 'wing stall'}}]}}
    """
    bool_q: dict[str, Any] = {"must": [{"match": {field: text}}]}
    if filter:
        bool_q["filter"] = [dict(f) for f in filter] if isinstance(filter, Sequence) else [dict(filter)]
    body: dict[str, Any] = {"query": {"bool": bool_q}, "size": k}
    if source is not None:
        body["_source"] = source if isinstance(source, bool) else list(source)
    return body


def filter_ids(filter: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> list[str] | None:  # noqa: A002
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


# ---------------------------------------------------------------------------------------------- backends


def _field_type(mapping: Mapping[str, Any], field: str) -> str | None:
    """The type of ``field`` in a get-mapping response (``{index: {"mappings": {"properties": ...}}}``)."""
    for entry in mapping.values():
        props = entry.get("mappings", {}).get("properties", {})
        if field in props:
            return props[field].get("type", "object")
    return None


class Searcher:
    """A connected backend plus the query encoder, checked once and reused across searches.

    Give either ``engine_url`` and ``index`` (or an already connected ``engine_index``) or ``local_dir``.
    ``model`` defaults to the model recorded in the index's metadata, else ``splade-tiny``; an index built
    with other weights than the encoder's is refused (its vectors would not match the queries).
    """

    def __init__(
        self,
        *,
        engine_url: str | None = None,
        index: str | None = None,
        local_dir: str | Path | None = None,
        model: str | None = None,
        encoder: Any = None,
        engine_index: Any = None,
        **connect_options: Any,
    ) -> None:
        if engine_index is None and local_dir is None and not (engine_url and index):
            raise InputError("give an engine (engine_url and index, e.g. --engine URL --index NAME) or local_dir")
        if local_dir is not None and (engine_url or engine_index is not None):
            raise InputError("give either an engine or a local index (local_dir), not both")
        self.local: Any = None
        self.engine_index: Any = None
        self._text_type: str | None = None
        if local_dir is not None:
            from spladekit.local.index import LocalIndex

            directory = Path(local_dir)
            if not directory.exists():
                raise InputError(
                    f"no local index at {directory}; build one with: spladekit ingest CORPUS --local {directory}"
                )
            self.local = LocalIndex.load(directory)
            meta = dict(self.local.meta)
        else:
            if engine_index is None:
                from spladekit.engines import connect

                if not index:
                    raise InputError("an engine search needs --index NAME")
                engine_index = connect(engine_url, index, **connect_options)
            self.engine_index = engine_index
            meta = self._check_engine_index()
        self.meta = meta
        self._encoder = encoder
        self._model = model or meta.get("model") or "splade-tiny"

    # -- setup ---------------------------------------------------------------------------------------------

    @property
    def model(self) -> str:
        """The model the queries are encoded with."""
        return self._model

    @property
    def engine(self) -> str | None:
        return None if self.engine_index is None else self.engine_index.engine

    def _check_engine_index(self) -> dict[str, Any]:
        """Index exists, its sparse field has this engine's type; returns its ``_meta``. One round trip."""
        idx = self.engine_index
        if not idx.exists():
            raise EngineError(
                f"index {idx.index!r} does not exist on {safe_url(idx.url)}; build it with: "
                f"spladekit ingest CORPUS --engine URL --index {idx.index}"
            )
        resp = idx._call("read the mapping", idx.client.indices.get_mapping, index=idx.index)
        mapping = dict(getattr(resp, "body", resp))
        got = _field_type(mapping, SPARSE_FIELD)
        want = SPARSE_TYPES[idx.engine]
        if got != want:
            found = "has no such field" if got is None else f"is mapped as {got!r}"
            raise EngineError(
                f"field {SPARSE_FIELD!r} of index {idx.index!r} {found}, not {want!r} as a SPLADE search on "
                f"{idx.engine} needs: this index was not built by spladekit; build one with: "
                f"spladekit ingest CORPUS --engine URL --index NEW_NAME"
            )
        self._text_type = _field_type(mapping, TEXT_FIELD)
        for entry in mapping.values():
            return dict(entry.get("mappings", {}).get("_meta") or {})
        return {}

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            self._encoder = SpladeEncoder.load(self._model)
            want = self.meta.get("model_sha256")
            have = self._encoder.info.get("weights_sha256") or self._encoder.info.get("sha256")
            if want and have and want != have:
                raise InputError(
                    f"the index was built with model weights {want[:12]}... ({self.meta.get('model')}), the "
                    f"encoder {self._model!r} has {have[:12]}...; pass the index's model with --model"
                )
        return self._encoder

    @property
    def names(self) -> FeatureNames:
        return self.encoder.names

    def encode(self, text: str) -> SparseVector:
        if not text or not text.strip():
            raise InputError("the query is empty; give some words to search for")
        return self.encoder.encode_queries([text])[0]

    # -- searches ------------------------------------------------------------------------------------------

    def search(
        self,
        query_text: str,
        *,
        k: int = 10,
        mode: str = "splade",
        two_phase: bool | TwoPhase = False,
        prune: Mapping[str, Any] | None = None,
        filter: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,  # noqa: A002
        explain: bool = False,
        fusion: str = "rrf",
        alpha: float = 0.5,
        window: int = HYBRID_WINDOW,
        explain_top: int | None = EXPLAIN_TOP,
    ) -> list[Hit]:
        """Search with text; see the module docstring for the modes. ``explain_top``: query tokens listed per
        hit (None: all shared tokens, which then add up to the SPLADE score)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if not query_text or not query_text.strip():
            raise InputError("the query is empty; give some words to search for")
        if mode != "splade":
            self._require_text()
        if mode == "bm25":
            return self.search_bm25(query_text, k=k, filter=filter)
        vec = self.encode(query_text)
        if mode == "splade":
            return self.search_vector(vec, k=k, two_phase=two_phase, prune=prune, filter=filter, explain=explain,
                                      explain_top=explain_top)
        n = max(k, window)
        sp = self.search_vector(vec, k=n, two_phase=two_phase, prune=prune, filter=filter, explain=explain,
                                explain_top=explain_top)
        bm = self.search_bm25(query_text, k=n, filter=filter)
        return _fuse(sp, bm, k=k, fusion=fusion, alpha=alpha)

    def search_vector(
        self,
        vec: SparseVector,
        *,
        k: int = 10,
        two_phase: bool | TwoPhase = False,
        prune: Mapping[str, Any] | None = None,
        filter: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,  # noqa: A002
        explain: bool = False,
        explain_top: int | None = EXPLAIN_TOP,
    ) -> list[Hit]:
        """SPLADE search with a query vector (exact, pruned or two-phase)."""
        plan = TwoPhase() if two_phase is True else (two_phase or None)
        query, notes = prepare_query(vec, prune)
        for note in notes:
            warnings.warn(note, QueryPrunedWarning, stacklevel=2)
        top = explain_top if explain else 0
        if self.local is not None:
            return self._local_splade(query, k=k, plan=plan, filter=filter, explain_top=top)
        return self._engine_splade(query, k=k, plan=plan, filter=filter, explain_top=top)

    def search_bm25(
        self, text: str, *, k: int = 10, filter: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None  # noqa: A002
    ) -> list[Hit]:
        """BM25 ``match`` on the engine index's ``text`` field."""
        self._require_text()
        body = bm25_body(text, k=k, filter=filter, source=[TITLE_FIELD, TEXT_FIELD])
        return self._hits(self._raw(body))

    def _require_text(self) -> None:
        if self.local is not None:
            raise InputError(
                "BM25 and hybrid search need an engine index (the local index stores vectors, not text); "
                "use --engine URL --index NAME"
            )
        if self._text_type != "text":
            raise EngineError(
                f"index {self.engine_index.index!r} has no BM25 text field {TEXT_FIELD!r} (found "
                f"{self._text_type!r}); rebuild it with spladekit ingest"
            )

    # -- engine --------------------------------------------------------------------------------------------

    def _raw(self, body: dict[str, Any]) -> dict[str, Any]:
        idx = self.engine_index
        body.setdefault("track_total_hits", False)  # lets Lucene skip non-competitive blocks (block-max WAND)
        try:
            return idx.search_body(body)
        except EngineError as exc:
            if "index_not_found" in str(exc):
                raise EngineError(
                    f"index {idx.index!r} does not exist on {safe_url(idx.url)}; build it with: "
                    f"spladekit ingest CORPUS --engine URL --index {idx.index}"
                ) from None
            raise

    @staticmethod
    def _hits(resp: Mapping[str, Any]) -> list[Hit]:
        hits = []
        for rank, h in enumerate(resp["hits"]["hits"], start=1):
            src = h.get("_source") or {}
            # The engine computed a float32; JSON carries its shortest repr, which parses back exactly.
            hits.append(Hit(str(h["_id"]), float(np.float32(h["_score"])), rank,
                            title=src.get(TITLE_FIELD) or None, text=src.get(TEXT_FIELD)))
        return hits

    def _engine_splade(
        self, query: SparseVector, *, k: int, plan: TwoPhase | None, filter: Any, explain_top: int | None  # noqa: A002
    ) -> list[Hit]:
        engine = self.engine_index.engine
        explain = explain_top != 0
        source = [TITLE_FIELD, TEXT_FIELD] + ([SPARSE_FIELD] if explain else [])
        if plan is not None:
            body = two_phase_body(query, self.names, engine, k=k, first_pass=plan, filter=filter, source=source)
        else:
            body = build_query(query, self.names, engine, SPARSE_FIELD, size=k, filter=filter, source=source,
                               max_clauses=None).body
        resp = self._raw(body)
        hits = self._hits(resp)
        if explain:
            for hit, raw in zip(hits, resp["hits"]["hits"], strict=True):
                stored = (raw.get("_source") or {}).get(SPARSE_FIELD) or {}
                doc = self.names.from_features(stored).positive()
                # Lucene scores the stored value as FeatureField decodes it, not the float sent at ingest.
                doc = SparseVector(doc.ids, lucene.quantize(doc.weights))
                hit.explanation = self.encoder.explain(query, doc, top_k=explain_top)
        return hits

    # -- local ---------------------------------------------------------------------------------------------

    def _local_splade(
        self, query: SparseVector, *, k: int, plan: TwoPhase | None, filter: Any, explain_top: int | None  # noqa: A002
    ) -> list[Hit]:
        allowed = filter_ids(filter)
        if plan is not None:
            if k > plan.window:
                raise ValueError(f"k ({k}) must be <= the two-phase window ({plan.window}); raise the window")
            first_ids, _ = self.local.search(first_pass_vector(query, plan), k=plan.window, filter_ids=allowed)
            allowed = list(first_ids)
            if not allowed:
                return []
        ids, scores = self.local.search(query, k=k, filter_ids=allowed)
        hits = [Hit(str(i), float(s), r) for r, (i, s) in enumerate(zip(ids, scores, strict=True), start=1)]
        if explain_top != 0:
            for hit in hits:
                hit.explanation = self.encoder.explain(query, local_doc_vector(self.local, query, hit.id),
                                                       top_k=explain_top)
        return hits


def local_doc_vector(local: Any, query: SparseVector, doc_id: str) -> SparseVector:
    """The part of a local document's vector that ``query`` touches, exactly as the index scores it
    (decoded FeatureField weights in ``lucene`` mode): one binary search per query term."""
    return local.doc_vector(doc_id, query.ids)


def _fuse(splade: list[Hit], bm25: list[Hit], *, k: int, fusion: str, alpha: float) -> list[Hit]:
    """Client-side fusion of a SPLADE and a BM25 hit list into ``k`` hits (see the module docstring)."""
    by_id = {h.id: h for h in bm25}
    by_id.update({h.id: h for h in splade})  # the SPLADE hit carries the explanation
    s_run = {"q": {h.id: h.score for h in splade}}
    b_run = {"q": {h.id: h.score for h in bm25}}
    if fusion == "rrf":
        fused = rrf([s_run, b_run], k=RRF_K, depth=k)["q"]
    else:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        fused = weighted_sum([s_run, b_run], [alpha, 1.0 - alpha], depth=k)["q"]
    s_rank = {h.id: h.rank for h in splade}
    b_rank = {h.id: h.rank for h in bm25}
    out = []
    for rank, (doc, score) in enumerate(fused.items(), start=1):
        src = by_id[doc]
        out.append(Hit(doc, float(score), rank, title=src.title, text=src.text,
                       components={"splade": s_run["q"].get(doc), "splade_rank": s_rank.get(doc),
                                   "bm25": b_run["q"].get(doc), "bm25_rank": b_rank.get(doc)},
                       explanation=src.explanation if doc in s_rank else None))
    return out


@functools.lru_cache(maxsize=8)
def _cached_searcher(engine_url: str | None, index: str | None, local_dir: str | None, model: str | None,
                     connect: tuple[tuple[str, Any], ...]) -> Searcher:
    return Searcher(engine_url=engine_url, index=index, local_dir=local_dir, model=model, **dict(connect))


def search(
    query_text: str,
    *,
    engine_url: str | None = None,
    index: str | None = None,
    local_dir: str | Path | None = None,
    k: int = 10,
    mode: str = "splade",
    two_phase: bool | TwoPhase = False,
    prune: Mapping[str, Any] | None = None,
    filter: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,  # noqa: A002
    explain: bool = False,
    model: str | None = None,
    fusion: str = "rrf",
    alpha: float = 0.5,
    window: int = HYBRID_WINDOW,
    **connect_options: Any,
) -> list[Hit]:
    """Search an engine index (``engine_url`` + ``index``) or a local index (``local_dir``) with text.

    ``connect_options`` (``user``, ``password``, ``api_key``, ``ca_certs``, ``verify_certs``) go to
    :func:`spladekit.engines.connect`. The connection and the encoder are cached per (backend, model), so
    repeated calls are cheap; see :class:`Searcher` for the per-call options.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    if not query_text or not query_text.strip():
        raise InputError("the query is empty; give some words to search for")
    searcher = _cached_searcher(engine_url, index, None if local_dir is None else str(local_dir), model,
                                tuple(sorted(connect_options.items())))
    return searcher.search(query_text, k=k, mode=mode, two_phase=two_phase, prune=prune, filter=filter,
                           explain=explain, fusion=fusion, alpha=alpha, window=window)


_SEARCHERS: weakref.WeakKeyDictionary[Any, Searcher] = weakref.WeakKeyDictionary()


def search_engine_index(engine_index: Any, query_text: str, *, model: str | None = None, **options: Any) -> list[Hit]:
    """:meth:`Searcher.search` on an already connected :class:`~spladekit.engines.EngineIndex` (the body of
    ``EngineIndex.search``); the index check and the encoder are kept per index object."""
    searcher = _SEARCHERS.get(engine_index)
    if searcher is None or (model is not None and model != searcher.model):
        searcher = Searcher(engine_index=engine_index, model=model)
        _SEARCHERS[engine_index] = searcher
    return searcher.search(query_text, **options)


def score_sum(explanation: Sequence[Contribution]) -> float:
    """The SPLADE score that a full explanation adds up to (float64 sum cast to float32, as Lucene does)."""
    return float(np.float32(math.fsum(c.contribution for c in explanation)))
