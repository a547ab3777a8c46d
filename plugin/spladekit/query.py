"""The one place a query SparseVector becomes engine query DSL.

Both engines score a term as ``float32(boost) * decoded document value`` (a linear FeatureField query), and a
``bool.should`` adds the terms: the dot product of the score contract (``spladekit.lucene``).

- OpenSearch: ``rank_feature`` on ``<field>.<feature>`` with ``linear: {}`` and ``boost = q_t``. The default
  function is ``saturation``, which is not a dot product, so ``linear`` is always spelled out.
- Elasticsearch: ``term`` on the ``sparse_vector`` field with ``boost = q_t``.

Query weights go out as the exact decimal of their float32 value (``float(np.float32(w))``), so the engine
parses back exactly the weight the local index uses. Pruning (``top_k``, ``min_weight``, ``ratio``, ``mass``) is
applied first, then the bool clause limit (1024 by default): a query over the limit keeps its largest
weights and says so in :attr:`Query.notes` (and a :class:`QueryPrunedWarning`).

>>> from spladekit.features import FeatureNames
>>> names = FeatureNames(["[PAD]", "wing", "stall", "a.b"])
>>> q = SparseVector.from_dict({1: 1.5, 3: 0.25})
>>> to_query(q, names, engine="opensearch", size=3)["query"]["bool"]["should"][0]
{'rank_feature': {'field': 'splade.wing', 'boost': 1.5, 'linear': {}}}
>>> to_query(q, names, engine="elasticsearch")["query"]["bool"]["should"][1]
{'term': {'splade': {'value': 'a%2Eb', 'boost': 0.25}}}
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from spladekit.features import FeatureNames
from spladekit.vectors import SparseVector

Engine = Literal["opensearch", "elasticsearch"]
QUERY_ENGINES: tuple[str, ...] = ("opensearch", "elasticsearch")
#: Both engines refuse a bool query with more clauses than ``indices.query.bool.max_clause_count`` (1024
#: by default on OpenSearch 2.x; Elasticsearch 8 sizes it from the heap but 1024 is safe everywhere).
DEFAULT_MAX_CLAUSES = 1024


class QueryPrunedWarning(UserWarning):
    """A query vector had more terms than the bool clause limit; its smallest weights were dropped."""


@dataclass
class Query:
    """An engine query body with the vector it was built from (after pruning) and notes on what was cut."""

    body: dict[str, Any]
    vector: SparseVector
    notes: list[str] = field(default_factory=list)


def prune(
    vec: SparseVector,
    *,
    top_k: int | None = None,
    min_weight: float | None = None,
    ratio: float | None = None,
    mass: float | None = None,
    max_clauses: int | None = DEFAULT_MAX_CLAUSES,
) -> tuple[SparseVector, list[str]]:
    """Drop query terms: below ``min_weight``, below ``ratio`` x the largest weight, beyond the fewest largest
    weights that add up to ``mass`` x the sum of all (positive) weights, beyond the ``top_k`` largest, then
    beyond ``max_clauses`` (with a note). Non-positive weights are always dropped.

    ``mass`` adapts the number of terms to the query: a query whose weight sits on a few tokens keeps few, a
    flat one keeps more (two-phase first passes, :class:`spladekit.search.TwoPhase`).

    >>> v = SparseVector.from_dict({1: 4.0, 2: 1.0, 3: 0.1})
    >>> prune(v, ratio=0.2)[0].to_dict()
    {1: 4.0, 2: 1.0}
    >>> prune(v, mass=0.75)[0].to_dict(), prune(v, mass=0.8)[0].to_dict()
    ({1: 4.0}, {1: 4.0, 2: 1.0})
    >>> pruned, notes = prune(v, max_clauses=1)
    >>> pruned.to_dict(), notes
    ({1: 4.0}, ['query pruned from 3 to 1 terms to stay within the bool clause limit (1024 by default; max_clauses=1)'])
    """
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    if min_weight is not None and not min_weight >= 0:
        raise ValueError(f"min_weight must be >= 0 or None, got {min_weight}")
    if ratio is not None and not 0 <= ratio <= 1:
        raise ValueError(f"ratio must be in [0, 1] or None, got {ratio}")
    if mass is not None and not 0 < mass <= 1:
        raise ValueError(f"mass must be in (0, 1] or None, got {mass}")
    if max_clauses is not None and max_clauses < 1:
        raise ValueError(f"max_clauses must be >= 1 or None, got {max_clauses}")
    notes: list[str] = []
    vec = vec.positive()
    total = float(vec.weights.sum(dtype=np.float64))
    keep = np.ones(len(vec), dtype=bool)
    if min_weight is not None:
        keep &= vec.weights >= np.float32(min_weight)
    if ratio is not None and len(vec):
        keep &= vec.weights >= np.float32(ratio) * vec.weights.max()
    if not keep.all():
        vec = SparseVector(vec.ids[keep], vec.weights[keep])
    if mass is not None and len(vec):
        # Largest first, ties by id (as top_k): keep up to and including the weight that reaches the mass.
        order = np.lexsort((vec.ids, -vec.weights))
        reached = np.cumsum(vec.weights[order], dtype=np.float64) >= mass * total
        vec = vec.top_k(int(np.argmax(reached)) + 1 if reached.any() else len(vec))
    if top_k is not None:
        vec = vec.top_k(top_k)
    if max_clauses is not None and len(vec) > max_clauses:
        notes.append(
            f"query pruned from {len(vec)} to {max_clauses} terms to stay within the bool clause limit "
            f"({DEFAULT_MAX_CLAUSES} by default; max_clauses={max_clauses})"
        )
        vec = vec.top_k(max_clauses)
    return vec, notes


def clauses(vec: SparseVector, names: FeatureNames, engine: str, field: str = "splade") -> list[dict[str, Any]]:
    """One should-clause per term, scoring ``boost * decoded value`` on either engine."""
    _check_engine(engine)
    ids = vec.ids.tolist()
    # float(np.float32) is the exact value of the float32 weight: the engine parses back the same float32.
    weights = [float(w) for w in vec.weights.astype(np.float32)]
    if engine == "opensearch":
        return [
            {"rank_feature": {"field": f"{field}.{names.name(i)}", "boost": w, "linear": {}}}
            for i, w in zip(ids, weights, strict=True)
        ]
    return [{"term": {field: {"value": names.name(i), "boost": w}}} for i, w in zip(ids, weights, strict=True)]


def build_query(
    vec: SparseVector,
    names: FeatureNames,
    engine: str = "opensearch",
    field: str = "splade",
    *,
    size: int = 10,
    from_: int = 0,
    top_k: int | None = None,
    min_weight: float | None = None,
    ratio: float | None = None,
    mass: float | None = None,
    max_clauses: int | None = DEFAULT_MAX_CLAUSES,
    filter: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,  # noqa: A002 (the DSL's word)
    source: bool | Sequence[str] | None = None,
) -> Query:
    """The full search body for ``vec`` plus what pruning did (see :func:`to_query`)."""
    _check_engine(engine)
    if size < 0 or from_ < 0:
        raise ValueError(f"size and from_ must be >= 0, got size={size}, from_={from_}")
    pruned, notes = prune(vec, top_k=top_k, min_weight=min_weight, ratio=ratio, mass=mass, max_clauses=max_clauses)
    bool_q: dict[str, Any] = {"should": clauses(pruned, names, engine, field), "minimum_should_match": 1}
    if filter:
        bool_q["filter"] = [dict(f) for f in filter] if isinstance(filter, Sequence) else [dict(filter)]
    body: dict[str, Any] = {"query": {"bool": bool_q}, "size": size}
    if from_:
        body["from"] = from_
    if source is not None:
        body["_source"] = source if isinstance(source, bool) else list(source)
    return Query(body, pruned, notes)


def to_query(
    vec: SparseVector,
    names: FeatureNames,
    engine: str = "opensearch",
    field: str = "splade",
    **options: Any,
) -> dict[str, Any]:
    """Query SparseVector -> search body for ``engine`` ("opensearch" or "elasticsearch").

    Options: ``size`` (10), ``from_`` (0), ``top_k``, ``min_weight``, ``ratio``, ``mass`` (pruning),
    ``max_clauses`` (1024; a longer query is cut to its largest weights with a :class:`QueryPrunedWarning`),
    ``filter`` (any engine query or list of them, applied as a non-scoring ``bool.filter``) and ``source``
    (``_source``: False, True or a list of fields). An empty vector matches nothing
    (``minimum_should_match: 1``).
    """
    q = build_query(vec, names, engine, field, **options)
    for note in q.notes:
        warnings.warn(note, QueryPrunedWarning, stacklevel=2)
    return q.body


def _check_engine(engine: str) -> None:
    if engine not in QUERY_ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid engines: {', '.join(QUERY_ENGINES)}")
