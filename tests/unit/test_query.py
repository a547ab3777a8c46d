"""The query builder: DSL shape per engine, exact float32 weights, pruning, the clause limit."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from spladekit.features import FeatureNames
from spladekit.query import QueryPrunedWarning, build_query, prune, to_query
from spladekit.vectors import SparseVector

NAMES = FeatureNames(["[PAD]", "wing", "stall", "a.b", "x y"] + [f"t{i}" for i in range(3000)])


def test_opensearch_shape_is_linear_rank_feature() -> None:
    body = to_query(SparseVector.from_dict({1: 1.5, 3: 0.25}), NAMES, engine="opensearch", size=7)
    assert body["size"] == 7
    should = body["query"]["bool"]["should"]
    assert should == [
        {"rank_feature": {"field": "splade.wing", "boost": 1.5, "linear": {}}},
        {"rank_feature": {"field": "splade.a%2Eb", "boost": 0.25, "linear": {}}},
    ]
    assert body["query"]["bool"]["minimum_should_match"] == 1


def test_elasticsearch_shape_is_boosted_term() -> None:
    body = to_query(SparseVector.from_dict({2: 3.0, 4: 0.5}), NAMES, engine="elasticsearch", field="vec")
    assert body["query"]["bool"]["should"] == [
        {"term": {"vec": {"value": "stall", "boost": 3.0}}},
        {"term": {"vec": {"value": "x%20y", "boost": 0.5}}},
    ]


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
def test_weights_round_trip_exactly_through_json(engine: str) -> None:
    rng = np.random.default_rng(0)
    w = np.exp(rng.uniform(np.log(1e-3), np.log(60), 500)).astype(np.float32)
    vec = SparseVector(np.arange(1, 501), w)
    body = json.loads(json.dumps(to_query(vec, NAMES, engine=engine)))
    clauses = body["query"]["bool"]["should"]
    if engine == "opensearch":
        sent = [c["rank_feature"]["boost"] for c in clauses]
    else:
        sent = [c["term"]["splade"]["boost"] for c in clauses]
    # The engine parses the boost as a float: it must get back the very same float32.
    assert np.array_equal(np.array(sent, dtype=np.float32), w)


def test_pruning_options() -> None:
    vec = SparseVector.from_dict({1: 4.0, 2: 2.0, 3: 1.0, 4: 0.1})
    assert prune(vec, top_k=2)[0].to_dict() == {1: 4.0, 2: 2.0}
    assert prune(vec, min_weight=1.0)[0].to_dict() == {1: 4.0, 2: 2.0, 3: 1.0}
    assert prune(vec, ratio=0.5)[0].to_dict() == {1: 4.0, 2: 2.0}
    assert prune(vec, top_k=3, ratio=0.2)[0].to_dict() == {1: 4.0, 2: 2.0, 3: 1.0}
    assert prune(vec)[1] == []


def test_nonpositive_weights_never_sent() -> None:
    vec = SparseVector(np.array([1, 2, 3]), np.array([1.0, 0.0, -2.0], dtype=np.float32))
    assert len(to_query(vec, NAMES, engine="opensearch")["query"]["bool"]["should"]) == 1


def test_clause_limit_prunes_and_says_so() -> None:
    rng = np.random.default_rng(1)
    vec = SparseVector(np.arange(5, 2005), rng.uniform(0.1, 5, 2000).astype(np.float32))
    q = build_query(vec, NAMES, "elasticsearch")
    assert len(q.body["query"]["bool"]["should"]) == 1024
    assert len(q.notes) == 1 and "2000 to 1024" in q.notes[0]
    # The kept terms are the 1024 largest weights.
    assert np.array_equal(np.sort(q.vector.weights)[::-1], np.sort(vec.weights)[::-1][:1024])
    with pytest.warns(QueryPrunedWarning, match="bool clause limit"):
        to_query(vec, NAMES, engine="opensearch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(to_query(vec, NAMES, engine="opensearch", max_clauses=None)["query"]["bool"]["should"]) == 2000


def test_mass_keeps_the_fewest_largest_weights_that_reach_it() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        vec = SparseVector(rng.choice(30000, n, replace=False), rng.exponential(1.0, n).astype(np.float32))
        mass = float(rng.uniform(0.05, 1.0))
        kept, _ = prune(vec, mass=mass)
        desc = np.sort(vec.weights.astype(np.float64))[::-1]
        need = int(np.searchsorted(np.cumsum(desc) >= mass * desc.sum(), True)) + 1
        assert len(kept) == min(need, n)
        assert np.array_equal(np.sort(kept.weights)[::-1], np.sort(vec.weights)[::-1][: len(kept)])
        assert kept.weights.sum(dtype=np.float64) >= mass * desc.sum() * (1 - 1e-12)
    # The mass is of the whole query, so a ratio cut first can leave fewer terms than asked, never more.
    vec = SparseVector.from_dict({1: 4.0, 2: 3.0, 3: 3.0})
    assert prune(vec, mass=0.9)[0].to_dict() == {1: 4.0, 2: 3.0, 3: 3.0}
    assert prune(vec, mass=0.9, ratio=0.9)[0].to_dict() == {1: 4.0}
    with pytest.raises(ValueError, match="mass"):
        prune(vec, mass=1.5)


def test_filter_size_from_source() -> None:
    vec = SparseVector.from_dict({1: 1.0})
    body = to_query(vec, NAMES, size=5, from_=10, filter={"term": {"lang": "en"}}, source=["title"])
    assert body["from"] == 10 and body["size"] == 5 and body["_source"] == ["title"]
    assert body["query"]["bool"]["filter"] == [{"term": {"lang": "en"}}]
    body = to_query(vec, NAMES, filter=[{"ids": {"values": ["a"]}}, {"exists": {"field": "title"}}], source=False)
    assert len(body["query"]["bool"]["filter"]) == 2 and body["_source"] is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "solr"}, "valid engines: opensearch, elasticsearch"),
        ({"top_k": 0}, "top_k"),
        ({"ratio": 1.5}, "ratio"),
        ({"min_weight": -1}, "min_weight"),
        ({"max_clauses": 0}, "max_clauses"),
        ({"size": -1}, "size"),
    ],
)
def test_bad_options_name_the_valid_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_query(SparseVector.from_dict({1: 1.0}), NAMES, **kwargs)


def test_empty_vector_matches_nothing() -> None:
    body = to_query(SparseVector.empty(), NAMES)
    assert body["query"]["bool"] == {"should": [], "minimum_should_match": 1}
