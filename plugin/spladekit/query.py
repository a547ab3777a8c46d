"""The one request builder: a query SparseVector (or text, for BM25) becomes an engine search body.

Every search spladekit sends goes through here: the CLI, the Python API, eval, parity and the benchmarks, so a
published latency is the latency of the request a user sends. Each body asks for ``track_total_hits: false``
(Lucene may then skip non-competitive blocks), and the engine-specific spelling of a term comes from the
engine's dialect (:meth:`spladekit.dialects.EngineSpec.clause`).

Both engines score a term as ``float32(boost) * decoded document value`` (a linear FeatureField query), and a
``bool.should`` adds the terms: the dot product of the score contract (``spladekit.lucene``). Query weights go
out as the exact decimal of their float32 value (``float(np.float32(w))``), so the engine parses back exactly
the weight the local index uses. Pruning (``top_k``, ``min_weight``, ``ratio``, ``mass``) is applied first, then
the bool clause limit (1024 by default): a query over the limit keeps its largest weights and says so in
:attr:`Query.notes` (and a :class:`QueryPrunedWarning`).

Modes:

- exact SPLADE (no pruning) or pruned SPLADE: one ``bool.should``;
- two-phase (:class:`TwoPhase`): the first pass matches only the query's high-weight tokens, then the engine's
  ``rescore`` re-scores the top ``window`` first-pass hits with the full query (``query_weight`` 0,
  ``rescore_query_weight`` 1, so a rescored hit carries exactly its full SPLADE score);
- BM25: ``match`` on the text field (:func:`bm25_query`), sent as ``dfs_query_then_fetch``.

Shards: a SPLADE score reads only the query and the document's own stored values (a FeatureField has no term
statistics), so it is the same on 1 or N shards and every body here uses the default ``query_then_fetch``.
BM25's idf and average length come from the shard's own statistics, so the same document scores differently on
another shard layout; :attr:`Query.search_type` asks BM25 searches for ``dfs_query_then_fetch``, which first
gathers the statistics of every shard (both engines skip that round trip on a single-shard index).

>>> from spladekit.features import FeatureNames
>>> names = FeatureNames(["[PAD]", "wing", "stall", "a.b"])
>>> q = SparseVector.from_dict({1: 1.5, 3: 0.25})
>>> to_query(q, names, engine="opensearch", size=3)["query"]["bool"]["should"][0]
{'rank_feature': {'field': 'splade.wing', 'boost': 1.5, 'linear': {}}}
>>> to_query(q, names, engine="elasticsearch")["query"]["bool"]["should"][1]
{'term': {'splade': {'value': 'a%2Eb', 'boost': 0.25}}}
>>> body = to_query(q, names, "elasticsearch", size=10, two_phase=TwoPhase(top_k=1, window=50))
>>> len(body["query"]["bool"]["should"]), len(body["rescore"]["query"]["rescore_query"]["bool"]["should"])
(1, 2)
>>> bm25_query("wing stall", size=5).body["query"]
{'bool': {'must': [{'match': {'text': 'wing stall'}}]}}
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spladekit import dialects
from spladekit.dialects import EngineSpec
from spladekit.errors import InputError
from spladekit.features import FeatureNames
from spladekit.hits import Hit
from spladekit.schema import SCHEMA
from spladekit.vectors import Pruning, SparseVector

#: Both engines refuse a bool query with more clauses than ``indices.query.bool.max_clause_count`` (1024
#: by default on OpenSearch 2.x; Elasticsearch 8 sizes it from the heap but 1024 is safe everywhere).
DEFAULT_MAX_CLAUSES = 1024
#: The ``_source`` fields a search asks for, to show hits (explanations add the sparse field).
HIT_FIELDS: tuple[str, ...] = (SCHEMA.title, SCHEMA.text)

Filter = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
Source = bool | Sequence[str] | None


class QueryPrunedWarning(UserWarning):
    """A query vector had more terms than the bool clause limit; its smallest weights were dropped."""


#: BM25 scores depend on term statistics, which differ per shard: gather them from all shards first.
BM25_SEARCH_TYPE = "dfs_query_then_fetch"


@dataclass
class Query:
    """An engine search body with the vector it was built from (after pruning), notes on what was cut, and the
    ``search_type`` to send it with (None: the engine's default, ``query_then_fetch``)."""

    body: dict[str, Any]
    vector: SparseVector | None = None
    notes: list[str] = field(default_factory=list)
    search_type: str | None = None


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

    @classmethod
    def of(cls, first_pass_terms: int | None = None, first_pass_mass: float | None = None,
           window: int | None = None) -> TwoPhase:
        """The plan ``spladekit search --two-phase`` makes of its options: ``first_pass_terms`` tokens (10 by
        default) or, with ``first_pass_mass``, the fewest largest holding that share of the weight (capped by
        ``first_pass_terms`` when given), rescored over ``window`` hits (100 by default).

        >>> TwoPhase.of(first_pass_mass=0.7)
        TwoPhase(top_k=None, ratio=None, window=100, mass=0.7)
        """
        top_k = first_pass_terms if first_pass_mass is not None else first_pass_terms or cls.top_k
        return cls(top_k=top_k, mass=first_pass_mass, window=window or cls.window)

    def check_k(self, k: int) -> None:
        if k > self.window:
            raise InputError(f"k ({k}) must be <= the two-phase window ({self.window}); raise the window "
                             f"(--window {k}) or ask for fewer hits")

    def first_pass(self, vec: SparseVector) -> SparseVector:
        """The high-weight tokens the first pass matches."""
        return prune(vec, top_k=self.top_k, ratio=self.ratio, mass=self.mass, max_clauses=None)[0]


def prune(
    vec: SparseVector,
    *,
    top_k: int | None = None,
    min_weight: float | None = None,
    ratio: float | None = None,
    mass: float | None = None,
    max_clauses: int | None = DEFAULT_MAX_CLAUSES,
) -> tuple[SparseVector, list[str]]:
    """Drop query terms by :class:`spladekit.vectors.Pruning` (below ``min_weight``, below ``ratio`` x the
    largest weight, beyond the fewest largest weights that add up to ``mass`` x the sum of all positive weights,
    beyond the ``top_k`` largest: the same rules ``ingest --doc-prune`` applies to documents), then beyond
    ``max_clauses`` (with a note). Non-positive weights are always dropped.

    ``mass`` adapts the number of terms to the query: a query whose weight sits on a few tokens keeps few, a
    flat one keeps more (two-phase first passes, :class:`TwoPhase`).

    >>> v = SparseVector.from_dict({1: 4.0, 2: 1.0, 3: 0.1})
    >>> prune(v, ratio=0.2)[0].to_dict()
    {1: 4.0, 2: 1.0}
    >>> prune(v, mass=0.75)[0].to_dict(), prune(v, mass=0.8)[0].to_dict()
    ({1: 4.0}, {1: 4.0, 2: 1.0})
    >>> pruned, notes = prune(v, max_clauses=1)
    >>> pruned.to_dict(), notes
    ({1: 4.0}, ['query pruned from 3 to 1 terms to stay within the bool clause limit (1024 by default; max_clauses=1)'])
    """
    if max_clauses is not None and max_clauses < 1:
        raise ValueError(f"max_clauses must be >= 1 or None, got {max_clauses}")
    notes: list[str] = []
    vec = Pruning(top_k=top_k, min_weight=min_weight, ratio=ratio, mass=mass).apply(vec)
    if max_clauses is not None and len(vec) > max_clauses:
        notes.append(
            f"query pruned from {len(vec)} to {max_clauses} terms to stay within the bool clause limit "
            f"({DEFAULT_MAX_CLAUSES} by default; max_clauses={max_clauses})"
        )
        vec = vec.top_k(max_clauses)
    return vec, notes


def check_prune(spec: Mapping[str, Any] | Pruning | str | None) -> dict[str, Any]:
    """Validate a pruning spec (a mapping with keys ``top_k``, ``min_weight``, ``ratio``, ``mass``, a rule string
    such as ``"top_k:16"``, or a :class:`Pruning`) and return it as a dict of the rules set."""
    rule = Pruning.of(spec)
    return rule.to_dict() if rule is not None else {}


def prepare(vec: SparseVector, prune_spec: Mapping[str, Any] | None = None,
            max_clauses: int | None = DEFAULT_MAX_CLAUSES) -> tuple[SparseVector, list[str]]:
    """The query vector a search sends after pruning, or an :class:`InputError` when nothing is left."""
    if len(vec.positive()) == 0:
        raise InputError(
            "the query has no token with a positive weight (empty, or only words the model ignores); "
            "rephrase it with content words"
        )
    spec = check_prune(prune_spec)
    pruned, notes = prune(vec, max_clauses=max_clauses, **spec)
    if len(pruned) == 0:
        raise InputError(
            f"pruning ({', '.join(f'{k}={v}' for k, v in spec.items())}) removed every one of the query's "
            f"{len(vec)} tokens (largest weight {float(vec.weights.max()):.4g}); lower min_weight/ratio or "
            "raise top_k"
        )
    return pruned, notes


def clauses(vec: SparseVector, names: FeatureNames, engine: str | EngineSpec,
            field: str = SCHEMA.sparse) -> list[dict[str, Any]]:
    """One should-clause per term, scoring ``boost * decoded value`` on the engine."""
    spec = dialects.get(engine)
    # float(np.float32) is the exact value of the float32 weight: the engine parses back the same float32.
    weights = [float(w) for w in vec.weights.astype(np.float32)]
    return [spec.clause(field, names.name(i), w) for i, w in zip(vec.ids.tolist(), weights, strict=True)]


def _filters(filter: Filter) -> list[dict[str, Any]]:  # noqa: A002 (the DSL's word)
    if not filter:
        return []
    return [dict(f) for f in filter] if isinstance(filter, Sequence) else [dict(filter)]


def _finish(body: dict[str, Any], size: int, from_: int, source: Source) -> dict[str, Any]:
    if size < 0 or from_ < 0:
        raise ValueError(f"size and from_ must be >= 0, got size={size}, from_={from_}")
    body["size"] = size
    if from_:
        body["from"] = from_
    if source is not None:
        body["_source"] = source if isinstance(source, bool) else list(source)
    body["track_total_hits"] = False  # lets Lucene skip non-competitive blocks (block-max WAND / MaxScore)
    return body


def build_query(
    vec: SparseVector,
    names: FeatureNames,
    engine: str | EngineSpec = "opensearch",
    field: str = SCHEMA.sparse,
    *,
    size: int = 10,
    from_: int = 0,
    top_k: int | None = None,
    min_weight: float | None = None,
    ratio: float | None = None,
    mass: float | None = None,
    max_clauses: int | None = DEFAULT_MAX_CLAUSES,
    two_phase: TwoPhase | None = None,
    filter: Filter = None,  # noqa: A002 (the DSL's word)
    source: Source = None,
) -> Query:
    """The SPLADE search body for ``vec`` plus what pruning did (see the module docstring).

    ``two_phase``: the first pass matches :meth:`TwoPhase.first_pass` of the pruned vector and the full
    (pruned) vector rescores the top ``window``; ``size`` must then be at most the window.
    """
    pruned, notes = prune(vec, top_k=top_k, min_weight=min_weight, ratio=ratio, mass=mass, max_clauses=max_clauses)
    first = pruned
    if two_phase is not None:
        two_phase.check_k(size)
        first = two_phase.first_pass(pruned)
    bool_q: dict[str, Any] = {"should": clauses(first, names, engine, field), "minimum_should_match": 1}
    if filter:
        bool_q["filter"] = _filters(filter)
    body: dict[str, Any] = {"query": {"bool": bool_q}}
    if two_phase is not None:
        # query_weight 0 and rescore_query_weight 1: Lucene computes 0 * first + 1 * second in float32, so a
        # rescored hit's score is exactly its full-query score.
        body["rescore"] = {
            "window_size": two_phase.window,
            "query": {
                "rescore_query": {"bool": {"should": clauses(pruned, names, engine, field)}},
                "query_weight": 0.0,
                "rescore_query_weight": 1.0,
                "score_mode": "total",
            },
        }
    return Query(_finish(body, size, from_, source), pruned, notes)


def bm25_query(text: str, *, size: int = 10, from_: int = 0, filter: Filter = None,  # noqa: A002
               source: Source = None, field: str = SCHEMA.text) -> Query:
    """BM25: ``match`` on the text field (the engine's default similarity), with an optional filter; sent as
    ``dfs_query_then_fetch`` so that the scores do not depend on the shard layout (see the module docstring)."""
    bool_q: dict[str, Any] = {"must": [{"match": {field: text}}]}
    if filter:
        bool_q["filter"] = _filters(filter)
    return Query(_finish({"query": {"bool": bool_q}}, size, from_, source), search_type=BM25_SEARCH_TYPE)


def to_query(vec: SparseVector, names: FeatureNames, engine: str | EngineSpec = "opensearch",
             field: str = SCHEMA.sparse, **options: Any) -> dict[str, Any]:
    """Query SparseVector -> search body for ``engine`` ("opensearch" or "elasticsearch").

    Options: ``size`` (10), ``from_`` (0), ``top_k``, ``min_weight``, ``ratio``, ``mass`` (pruning),
    ``max_clauses`` (1024; a longer query is cut to its largest weights with a :class:`QueryPrunedWarning`),
    ``two_phase`` (a :class:`TwoPhase`), ``filter`` (any engine query or list of them, applied as a non-scoring
    ``bool.filter``) and ``source`` (``_source``: False, True or a list of fields). An empty vector matches
    nothing (``minimum_should_match: 1``).
    """
    q = build_query(vec, names, engine, field, **options)
    for note in q.notes:
        warnings.warn(note, QueryPrunedWarning, stacklevel=2)
    return q.body


def df_query(ids: Sequence[int] | np.ndarray, names: FeatureNames, engine: str | EngineSpec = "opensearch",
             field: str = SCHEMA.sparse) -> dict[str, Any]:
    """A search body counting, per term id, the documents whose sparse field holds it: one ``filters``
    aggregation bucket per term, each the term's own clause (so the engine counts exactly what it would match).
    The document frequencies of inference-free queries' IDF on an engine (:func:`parse_df` reads them).

    >>> from spladekit.features import FeatureNames
    >>> body = df_query([2], FeatureNames(["[PAD]", "wing", "a.b"]), "opensearch")
    >>> body["aggs"]["df"]["filters"]["filters"]
    {'2': {'rank_feature': {'field': 'splade.a%2Eb', 'boost': 1.0, 'linear': {}}}}
    """
    spec = dialects.get(engine)
    filters = {str(int(i)): spec.clause(field, names.name(int(i)), 1.0) for i in ids}
    return {"size": 0, "track_total_hits": False, "aggs": {"df": {"filters": {"filters": filters}}}}


def parse_df(resp: Mapping[str, Any], ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """The document frequency of each of ``ids`` from a :func:`df_query` response (int64)."""
    buckets = resp["aggregations"]["df"]["buckets"]
    return np.array([int(buckets[str(int(i))]["doc_count"]) for i in ids], dtype=np.int64)


def parse_hits(resp: Mapping[str, Any]) -> list[Hit]:
    """The hits of an engine search response, ranked from 1, with title and text when ``_source`` has them."""
    hits = []
    for rank, h in enumerate(resp["hits"]["hits"], start=1):
        src = h.get("_source") or {}
        # The engine computed a float32; JSON carries its shortest repr, which parses back exactly.
        hits.append(Hit(str(h["_id"]), float(np.float32(h["_score"])), rank,
                        title=src.get(SCHEMA.title) or None, text=src.get(SCHEMA.text)))
    return hits
