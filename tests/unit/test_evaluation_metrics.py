"""Our metrics are ir_measures' metrics, with unanswered queries counted as 0."""

from __future__ import annotations

import ir_measures
import numpy as np
import pytest

from spladekit.errors import InputError
from spladekit.evaluation.metrics import DEFAULT_MEASURES, compute, parse_measures


def _random_case(seed: int, n_queries: int = 12, n_docs: int = 60):
    rng = np.random.default_rng(seed)
    qrels, run = {}, {}
    for q in range(n_queries):
        judged = rng.choice(n_docs, size=int(rng.integers(1, 15)), replace=False)
        qrels[f"q{q}"] = {f"d{d}": int(rng.integers(0, 4)) for d in judged}
        qrels[f"q{q}"][f"d{judged[0]}"] = int(rng.integers(1, 4))  # at least one relevant
        retrieved = rng.choice(n_docs, size=int(rng.integers(1, n_docs)), replace=False)
        run[f"q{q}"] = {f"d{d}": float(s) for d, s in zip(retrieved, rng.random(len(retrieved)), strict=True)}
    return qrels, run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_ir_measures_on_full_runs(seed):
    qrels, run = _random_case(seed)
    agg, per_query = compute(qrels, run, DEFAULT_MEASURES)
    expected = ir_measures.calc_aggregate([ir_measures.parse_measure(m) for m in DEFAULT_MEASURES], qrels, run)
    for name in DEFAULT_MEASURES:
        assert agg[name] == pytest.approx(expected[ir_measures.parse_measure(name)], abs=1e-12)
    for m in ir_measures.iter_calc([ir_measures.nDCG @ 10], qrels, run):
        assert per_query[m.query_id]["nDCG@10"] == pytest.approx(m.value, abs=1e-12)


def test_unanswered_queries_count_zero():
    qrels, run = _random_case(5)
    partial = {q: docs for i, (q, docs) in enumerate(run.items()) if i % 3}
    partial["q0"] = {}  # an empty answer is unanswered too
    dropped = [q for q in qrels if not partial.get(q)]
    agg, per_query = compute(qrels, partial, DEFAULT_MEASURES)
    for q in dropped:
        assert all(v == 0.0 for v in per_query[q].values())
    # independent: ir_measures on the answered queries only, rescaled to all judged queries
    answered_qrels = {q: d for q, d in qrels.items() if q not in dropped}
    answered_run = {q: partial[q] for q in answered_qrels}
    sub = ir_measures.calc_aggregate([ir_measures.parse_measure(m) for m in DEFAULT_MEASURES], answered_qrels,
                                     answered_run)
    for name in DEFAULT_MEASURES:
        expected = sub[ir_measures.parse_measure(name)] * len(answered_qrels) / len(qrels)
        assert agg[name] == pytest.approx(expected, abs=1e-12)
        assert agg[name] > 0


def test_nothing_answered_is_all_zero_and_unjudged_queries_are_ignored():
    qrels = {"q1": {"a": 1}}
    agg, per_query = compute(qrels, {"other": {"a": 5.0}}, ["nDCG@10", "AP"])
    assert agg == {"nDCG@10": 0.0, "AP": 0.0}
    assert set(per_query) == {"q1"}


def test_measure_names_are_checked():
    assert len(parse_measures(["nDCG@10", "P@5"])) == 2
    with pytest.raises(InputError, match="unknown measure"):
        parse_measures(["nDCG@@10"])
    with pytest.raises(InputError, match="no measure"):
        parse_measures([])
