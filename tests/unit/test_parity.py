"""spladekit.parity: comparison rules (ties as sets, any score difference fails), report, queries file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _support import FakeEngine
from spladekit.errors import InputError
from spladekit.features import FeatureNames
from spladekit.local.index import LocalIndex
from spladekit.parity import ParityReport, compare_query, run_parity
from spladekit.query import TwoPhase
from spladekit.readers import read_queries
from spladekit.search import Searcher
from spladekit.vectors import SparseVector

NAMES = FeatureNames([f"t{i}" for i in range(50)])


def _docs() -> tuple[list[str], list[SparseVector]]:
    rng = np.random.default_rng(11)
    ids, vecs = [], []
    for i in range(80):
        terms = rng.choice(np.arange(1, 30), size=rng.integers(1, 8), replace=False)
        vecs.append(SparseVector(terms, rng.uniform(0.05, 3.0, size=terms.size)))
        ids.append(f"d{i}")
    # Three documents with the same vector: a three-way tie.
    for j in range(3):
        ids.append(f"tie{j}")
        vecs.append(SparseVector.from_dict({40: 1.0}))
    return ids, vecs


@pytest.fixture()
def local():
    index = LocalIndex(mode="lucene")
    index.add(*_docs())
    return index


Q = SparseVector.from_dict({3: 1.2, 7: 0.8, 11: 2.0, 19: 0.4})


def _reference(local, vec, k):
    ids, scores = local.search(vec, k=k)
    return list(zip(ids, scores.tolist(), strict=True))


def test_identical_hits_agree(local):
    r = compare_query("q", _reference(local, Q, 10), local, Q, 10)
    assert r.ok and r.overlap == 1.0 and r.max_score_diff == 0.0 and r.problems == []


def test_a_one_ulp_score_difference_fails(local):
    hits = _reference(local, Q, 10)
    d, s = hits[3]
    hits[3] = (d, float(np.nextafter(np.float32(s), np.float32(0))))
    r = compare_query("q", hits, local, Q, 10)
    assert not r.ok and r.max_score_diff > 0
    assert any("differ from the float32 reference" in p for p in r.problems)


def test_a_missing_document_fails(local):
    hits = _reference(local, Q, 11)
    r = compare_query("q", hits[:9] + hits[10:11], local, Q, 10)
    assert not r.ok and any("differs beyond ties" in p for p in r.problems)
    assert r.overlap == 0.9


def test_ties_at_the_kth_place_are_sets(local):
    q = SparseVector.from_dict({40: 2.0})
    ref = _reference(local, q, 3)
    assert len({s for _, s in ref}) == 1
    # An engine returning the tied documents in another order, or another member of the tie, is right.
    assert compare_query("q", ref[::-1], local, q, 3).ok
    r = compare_query("q", [ref[2]], local, q, 1)
    assert r.ok and r.overlap == 0.0


def test_unsorted_or_duplicated_hits_fail(local):
    hits = _reference(local, Q, 5)
    assert not compare_query("q", [hits[1], hits[0], *hits[2:]], local, Q, 5).ok
    assert not compare_query("q", [hits[0], hits[0], *hits[2:]], local, Q, 5).ok


class _Corrupting(FakeEngine):
    """A fake engine whose scores for one query are off by 0.1%."""

    def __init__(self, corrupt: SparseVector | None = None) -> None:
        super().__init__(names=NAMES)
        self.add(*_docs())
        self.corrupt = corrupt

    def search_body(self, body, search_type=None):
        resp = super().search_body(body, search_type)
        if self.corrupt is not None and np.array_equal(self._query_vector(body["query"]["bool"]["should"]).ids,
                                                       self.corrupt.ids):
            for h in resp["hits"]["hits"]:
                h["_score"] = float(np.float32(h["_score"]) * np.float32(1.001))
        return resp


def _engine(corrupt=None) -> Searcher:
    return Searcher(engine_index=_Corrupting(corrupt), names=NAMES)


def test_run_parity_report(local, tmp_path):
    queries = {"a": Q, "b": SparseVector.from_dict({40: 1.0, 2: 0.3}), "c": SparseVector.from_dict({5: 0.7})}
    good = run_parity(_engine(), local, queries, k=5)
    assert good.ok and good.summary()["parity"] == 1.0
    bad = run_parity(_engine(corrupt=queries["c"]), local, queries, k=5)
    assert not bad.ok and bad.summary()["agree"] == 2
    data = json.loads(bad.write(tmp_path / "r.json").read_text())
    assert data["failures"] == ["c"] and data["summary"]["max_score_diff"] > 0
    assert [q["qid"] for q in data["per_query"]] == ["a", "b", "c"]
    assert isinstance(bad, ParityReport) and data["mode"] == "exact"


def test_two_phase_parity_compares_with_the_same_plan_on_the_local_index(local):
    queries = {"a": Q, "b": SparseVector.from_dict({2: 2.5, 12: 0.18, 14: 1.33, 21: 1.29, 27: 1.69})}
    report = run_parity(_engine(), local, queries, k=3, two_phase=TwoPhase(top_k=1, window=4))
    assert report.ok and report.mode == "two-phase"
    # The plan's answer is not the exact answer for query b: the reference really is the plan's.
    exact = run_parity(_engine(), local, queries, k=3)
    assert exact.ok and exact.queries[1].engine != report.queries[1].engine


def test_run_parity_needs_a_lucene_mode_index():
    with pytest.raises(InputError, match="lucene"):
        run_parity(_engine(), LocalIndex(mode="exact"), {"a": Q})


def test_read_queries_jsonl_and_tsv(tmp_path):
    j = tmp_path / "q.jsonl"
    j.write_text('{"_id": "1", "text": "wing stall"}\n\n{"id": 2, "query": "lift"}\n')
    assert read_queries(j) == {"1": "wing stall", "2": "lift"}
    t = tmp_path / "q.tsv"
    t.write_text("7\tboundary layer\n")
    assert read_queries(t) == {"7": "boundary layer"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "1", "text": ""}\n')
    with pytest.raises(InputError, match="bad.jsonl:1"):
        read_queries(bad)
    with pytest.raises(InputError, match="no queries file"):
        read_queries(tmp_path / "missing.jsonl")


def _random_queries(n: int = 30) -> dict[str, SparseVector]:
    rng = np.random.default_rng(5)
    out = {}
    for i in range(n):
        terms = rng.choice(np.arange(1, 30), size=rng.integers(2, 6), replace=False)
        out[f"r{i}"] = SparseVector(terms, rng.uniform(0.1, 2.5, size=terms.size))
    return out


def test_two_phase_parity_on_three_shards_takes_the_first_pass_per_shard(local, monkeypatch):
    import spladekit.parity as parity_module

    sharded = FakeEngine(names=NAMES, shards=3).add(*_docs())  # rescores the top window of each shard
    plan = TwoPhase(top_k=1, window=3)
    queries = _random_queries()
    report = run_parity(Searcher(engine_index=sharded, names=NAMES), local, queries, k=3, two_phase=plan)
    assert report.ok and report.shards == 3 and report.to_dict()["shards"] == 3
    # A reference with one window over the whole index (one shard's view) is wrong for some query: the
    # per-shard reference is what makes the comparison pass.
    monkeypatch.setattr(parity_module, "shard_partition", lambda *a: None)
    naive = run_parity(Searcher(engine_index=sharded, names=NAMES), local, queries, k=3, two_phase=plan)
    assert not naive.ok


def test_shard_partition_refuses_indexes_that_hold_other_documents(local):
    from spladekit.errors import EngineError
    from spladekit.parity import shard_partition

    sharded = FakeEngine(names=NAMES, shards=3).add(*_docs())
    parts = shard_partition(sharded, local)
    assert parts is not None and sorted(i for p in parts for i in p) == sorted(local.ids())
    assert [len(p) for p in parts] == sharded.shard_counts()
    sharded.add(["extra"], [SparseVector.from_dict({1: 1.0})])
    with pytest.raises(EngineError, match="documents per shard.*drop --two-phase"):
        shard_partition(sharded, local)
    assert shard_partition(FakeEngine(names=NAMES).add(*_docs()), local) is None  # one shard: nothing to do
