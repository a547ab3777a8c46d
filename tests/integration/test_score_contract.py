"""The score contract on real engines: every hit's _score equals the FeatureField reference in float32.

Documents get random positive weights spanning 1e-3..60 (log-uniform); queries get random weights in each
engine's query form (spladekit.query). The reference is spladekit.lucene.reference_scores over the
same vectors; scores must be equal exactly and the hit order must be the reference ranking (ties by id).
"""

from __future__ import annotations

import numpy as np
import pytest

from spladekit import lucene
from spladekit.engines import connect
from spladekit.errors import EngineError
from spladekit.features import FeatureNames
from spladekit.query import QueryPrunedWarning
from spladekit.schema import SCHEMA, ModelIdentity
from spladekit.search import Searcher
from spladekit.vectors import SparseVector

pytestmark = pytest.mark.integration

VOCAB = 400
N_DOCS = 300
N_QUERIES = 25


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n)).astype(np.float32)


def _vocab() -> FeatureNames:
    # Some tokens need escaping (dots, %, spaces) so the contract also covers escaped names.
    specials = ["a.b", "%", "x y", "##ing", "."]
    return FeatureNames(specials + [f"tok{i}" for i in range(VOCAB - len(specials))])


def _random_vector(rng: np.random.Generator, max_terms: int, lo: float, hi: float) -> SparseVector:
    n = int(rng.integers(1, max_terms + 1))
    ids = rng.choice(VOCAB, size=n, replace=False)
    return SparseVector(ids, _log_uniform(rng, lo, hi, n))


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[SparseVector]]:
    rng = np.random.default_rng(20261122)
    keys = [f"doc-{i:04d}" for i in range(N_DOCS)]
    return keys, [_random_vector(rng, 40, 1e-3, 60.0) for _ in keys]


def _reference(q: SparseVector, docs: list[SparseVector]) -> np.ndarray:
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(d) for d in docs])
    ids = np.concatenate([d.ids for d in docs])
    freqs = lucene.encode(np.concatenate([d.weights for d in docs]))
    return lucene.reference_scores(q.ids, q.weights, offsets, ids, freqs)


def test_engine_scores_equal_reference(engine, index_name, corpus) -> None:
    keys, docs = corpus
    names = _vocab()
    idx = connect(engine.url, index_name, engine=engine.engine, names=names)
    assert idx.create(SCHEMA.meta(ModelIdentity("random-test-vectors", "0" * 64)))
    results = list(idx.bulk_index((k, idx.source(v)) for k, v in zip(keys, docs, strict=True)))
    assert [r.id for r in results if not r.ok] == []
    idx.refresh()
    assert idx.count() == N_DOCS

    rng = np.random.default_rng(7)
    compared = 0
    for _ in range(N_QUERIES):
        # Linear FeatureField query weights must lie in (0, 64].
        q = _random_vector(rng, 30, 1e-2, 60.0)
        expected = lucene.reference_ranking(_reference(q, docs), keys, k=N_DOCS)
        hits = Searcher(engine_index=idx, names=names).search_vector(q, k=N_DOCS)
        got = [(h.id, h.score) for h in hits]
        assert all(s == float(np.float32(s)) for _, s in got)
        # Exact float32 equality, hit for hit, in the reference order (ties broken by id).
        engine_sorted = sorted(((i, float(s)) for i, s in got), key=lambda h: (-h[1], h[0]))
        assert engine_sorted == expected
        scores = [float(s) for _, s in got]
        assert scores == sorted(scores, reverse=True)
        compared += len(expected)
    assert compared > N_QUERIES  # the queries did match documents


def test_filter_keeps_scores(engine, index_name, corpus) -> None:
    keys, docs = corpus
    names = _vocab()
    idx = connect(engine.url, index_name, engine=engine.engine, names=names)
    idx.create(SCHEMA.meta(ModelIdentity("random-test-vectors", "0" * 64)))
    assert all(r.ok for r in idx.bulk_index((k, idx.source(v)) for k, v in zip(keys, docs, strict=True)))
    idx.refresh()
    q = SparseVector(np.arange(0, VOCAB, 3), np.full(len(range(0, VOCAB, 3)), 1.5, np.float32))
    allowed = keys[::2]
    hits = Searcher(engine_index=idx, names=names).search_vector(q, k=N_DOCS, filter={"ids": {"values": allowed}})
    full = dict(lucene.reference_ranking(_reference(q, docs), keys, k=N_DOCS))
    assert hits and {h.id for h in hits} == {k for k in full if k in set(allowed)}
    assert all(float(h.score) == full[h.id] for h in hits)


def test_boosts_above_64_stay_linear(engine, index_name, corpus) -> None:
    # The (0, 64] bound is FeatureField.newLinearQuery's weight; our queries use weight 1 and a boost.
    keys, docs = corpus
    idx = connect(engine.url, index_name, engine=engine.engine, names=_vocab())
    idx.create(SCHEMA.meta(ModelIdentity("random-test-vectors", "0" * 64)))
    assert all(r.ok for r in idx.bulk_index((k, idx.source(v)) for k, v in zip(keys, docs, strict=True)))
    idx.refresh()
    rng = np.random.default_rng(11)
    for _ in range(5):
        q = _random_vector(rng, 20, 64.0, 5000.0)
        hits = Searcher(engine_index=idx, names=_vocab()).search_vector(q, k=N_DOCS)
        got = sorted(((h.id, float(h.score)) for h in hits), key=lambda h: (-h[1], h[0]))
        assert got == lucene.reference_ranking(_reference(q, docs), keys, k=N_DOCS)


def test_clause_limit_error_names_the_fix(engine, index_name) -> None:
    names = FeatureNames([f"t{i}" for i in range(20000)])
    idx = connect(engine.url, index_name, engine=engine.engine, names=names)
    idx.create(SCHEMA.meta(ModelIdentity("m", "0")))
    q = SparseVector(np.arange(20000), np.ones(20000, np.float32))
    searcher = Searcher(engine_index=idx, names=names)
    # Pruned to the default limit (with a warning saying so): accepted by both engines.
    with pytest.warns(QueryPrunedWarning, match="20000 to 1024 terms"):
        searcher.search_vector(q, k=1)
    # Unpruned: refused (OpenSearch allows 1024 clauses, Elasticsearch 8 with a 512 MB heap 8192).
    with pytest.raises(EngineError, match="(maxClauseCount|too_many_clauses).*prune it"):
        searcher.search_vector(q, k=1, max_clauses=None)
