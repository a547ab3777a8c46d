"""The query builder: DSL shape per engine, exact float32 weights, pruning, the clause limit."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from spladekit.errors import InputError
from spladekit.features import FeatureNames
from spladekit.query import (
    DEFAULT_MAX_CLAUSES,
    QueryPrunedWarning,
    TwoPhase,
    bm25_query,
    build_query,
    parse_hits,
    prepare,
    prune,
    to_query,
)
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
        ({"engine": "solr"}, "valid engines: elasticsearch, opensearch"),
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


# ------------------------------------------------------------------------------------------------ two-phase, BM25

VOCAB = ["[PAD]", "wing", "stall", "lift", "drag", "flow"]


def _boost(clause):
    if "rank_feature" in clause:
        return clause["rank_feature"]["boost"]
    return clause["term"]["splade"]["boost"]


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
def test_two_phase_first_pass_is_the_high_weight_tokens_and_rescore_the_full_query(engine):
    names = FeatureNames(VOCAB)
    q = SparseVector.from_dict({1: 3.0, 2: 0.2, 3: 1.5, 4: 0.9, 5: 2.5})
    body = build_query(q, names, engine, size=10, two_phase=TwoPhase(top_k=2, window=40),
                       filter={"term": {"lang": "en"}}).body
    first = body["query"]["bool"]["should"]
    rescore = body["rescore"]
    full = rescore["query"]["rescore_query"]["bool"]["should"]
    assert len(first) == 2 and len(full) == len(q)
    assert sorted(_boost(c) for c in first) == [2.5, 3.0]
    assert sorted(_boost(c) for c in full) == sorted(q.weights.tolist())
    assert rescore["window_size"] == 40
    assert rescore["query"]["query_weight"] == 0.0 and rescore["query"]["rescore_query_weight"] == 1.0
    assert body["size"] == 10 and body["track_total_hits"] is False
    assert body["query"]["bool"]["filter"] == [{"term": {"lang": "en"}}]
    assert "filter" not in rescore["query"]["rescore_query"]["bool"]


def test_two_phase_ratio_and_window_checks():
    names = FeatureNames(VOCAB)
    q = SparseVector.from_dict({1: 3.0, 2: 0.2, 3: 1.5})
    body = build_query(q, names, "opensearch", size=5, two_phase=TwoPhase(top_k=None, ratio=0.5)).body
    assert len(body["query"]["bool"]["should"]) == 2  # 3.0 and 1.5 >= 0.5 * 3.0
    with pytest.raises(InputError, match="window"):
        build_query(q, names, "opensearch", size=50, two_phase=TwoPhase(window=10))
    with pytest.raises(ValueError, match="top_k, ratio or mass"):
        TwoPhase(top_k=None, ratio=None)
    with pytest.raises(ValueError, match="mass"):
        TwoPhase(mass=0.0)


def test_two_phase_mass_adapts_the_first_pass_to_the_query():
    names = FeatureNames(VOCAB)
    peaked = SparseVector.from_dict({1: 8.0, 2: 0.5, 3: 0.5, 4: 0.5, 5: 0.5})  # 80 % on one token
    flat = SparseVector.from_dict({1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0})
    plan = TwoPhase(top_k=None, mass=0.75, window=20)
    for vec, first in ((peaked, {"splade.wing"}), (flat, {f"splade.{w}" for w in VOCAB[1:5]})):
        body = build_query(vec, names, "opensearch", size=5, two_phase=plan).body
        assert {c["rank_feature"]["field"] for c in body["query"]["bool"]["should"]} == first
        assert len(body["rescore"]["query"]["rescore_query"]["bool"]["should"]) == 5
    capped = build_query(flat, names, "opensearch", size=5, two_phase=TwoPhase(top_k=2, mass=0.75, window=20)).body
    assert len(capped["query"]["bool"]["should"]) == 2  # top_k caps what the mass asks for


def test_empty_query_vector_is_a_clear_error():
    with pytest.raises(InputError, match="no token with a positive weight"):
        prepare(SparseVector.empty())


def test_query_whose_every_token_is_pruned_is_a_clear_error():
    with pytest.raises(InputError, match="removed every one of the query's 2 tokens"):
        prepare(SparseVector.from_dict({1: 0.5, 2: 0.25}), {"min_weight": 1.0})


def test_unknown_prune_option_lists_valid_ones():
    with pytest.raises(ValueError, match="top_k, min_weight, ratio"):
        prepare(SparseVector.from_dict({1: 1.0}), {"topk": 3})


def test_query_of_2000_tokens_is_cut_to_the_clause_limit_with_a_note():
    rng = np.random.default_rng(0)
    q = SparseVector(np.arange(2000), rng.uniform(0.01, 2.0, 2000))
    pruned, notes = prepare(q)
    assert len(pruned) == DEFAULT_MAX_CLAUSES
    assert notes and "clause limit" in notes[0]
    assert pruned.weights.min() >= np.sort(q.weights)[-DEFAULT_MAX_CLAUSES]  # the largest weights are kept


def test_bm25_query_with_filter():
    body = bm25_query("wing stall", size=7, filter=[{"term": {"a": 1}}], source=["title"]).body
    assert body == {"query": {"bool": {"must": [{"match": {"text": "wing stall"}}], "filter": [{"term": {"a": 1}}]}},
                    "size": 7, "_source": ["title"], "track_total_hits": False}


def test_parse_hits_keeps_the_engines_float32_and_the_text_fields():
    resp = {"hits": {"hits": [{"_id": 7, "_score": 1.2345678, "_source": {"title": "T", "text": "x"}},
                              {"_id": "b", "_score": 0.5, "_source": {}}]}}
    hits = parse_hits(resp)
    assert [(h.id, h.rank, h.title, h.text) for h in hits] == [("7", 1, "T", "x"), ("b", 2, None, None)]
    assert hits[0].score == float(np.float32(1.2345678))
