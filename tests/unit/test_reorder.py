"""BP document reordering: a deterministic permutation that gathers planted clusters, on both backends."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from spladekit import jit
from spladekit.local import reorder
from spladekit.local.reorder import bp_order, log_gap_cost


def csr(docs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(docs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(d) for d in docs])
    terms = np.concatenate([np.asarray(d, np.int32) for d in docs]) if docs else np.zeros(0, np.int32)
    return offsets, terms.astype(np.int32)


def planted(n_clusters: int = 40, per_cluster: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int,
                                                                                 np.ndarray]:
    """Near-duplicate documents: each takes ~70 % of its cluster's 30 terms plus 10 of 2,000 noise terms.

    Rows are shuffled; returns the CSR, the vocabulary size and each row's cluster.
    """
    rng = np.random.default_rng(seed)
    vocab_noise = 2000
    docs, labels = [], []
    for c in range(n_clusters):
        own = vocab_noise + c * 30 + np.arange(30)
        for _ in range(per_cluster):
            terms = np.concatenate((own[rng.random(30) < 0.7], rng.choice(vocab_noise, 10, replace=False)))
            docs.append(np.unique(terms).tolist())
            labels.append(c)
    shuffle = rng.permutation(len(docs))
    offsets, terms = csr([docs[i] for i in shuffle])
    return offsets, terms, vocab_noise + n_clusters * 30, np.asarray(labels)[shuffle]


def clusters_per_block(labels: np.ndarray, block: int = 64) -> float:
    return float(np.mean([np.unique(labels[i:i + block]).size for i in range(0, labels.size, block)]))


def runs(labels: np.ndarray) -> int:
    """Number of maximal runs of equal labels."""
    return int(1 + np.count_nonzero(labels[1:] != labels[:-1])) if labels.size else 0


def is_permutation(order: np.ndarray, n: int) -> bool:
    return order.dtype == np.int64 and order.shape == (n,) and np.array_equal(np.sort(order), np.arange(n))


@pytest.fixture(scope="module")
def corpus():
    return planted()


@pytest.fixture(scope="module")
def ordered(corpus):
    offsets, terms, n_terms, _ = corpus
    return bp_order(offsets, terms, n_terms)


def test_order_is_a_permutation(corpus, ordered):
    assert is_permutation(ordered, corpus[0].shape[0] - 1)


def test_deterministic_and_independent_of_threads_and_seed(corpus, ordered):
    offsets, terms, n_terms, _ = corpus
    assert np.array_equal(bp_order(offsets, terms, n_terms), ordered)
    assert np.array_equal(bp_order(offsets, terms, n_terms, threads=1), ordered)
    assert np.array_equal(bp_order(offsets, terms, n_terms, threads=2), ordered)
    assert np.array_equal(bp_order(offsets, terms, n_terms, seed=7), ordered)


def test_planted_clusters_end_up_contiguous(corpus, ordered):
    offsets, terms, n_terms, labels = corpus
    after = labels[ordered]
    # 2,000 shuffled rows of 40 clusters: a block of 64 holds ~32 clusters; 50-doc clusters sorted would give ~2.
    assert clusters_per_block(labels) > 25
    assert clusters_per_block(after) <= 3.5
    # Each cluster in a few contiguous runs (sorted by cluster: 40 runs; shuffled: ~1,950).
    assert runs(labels) > 1900
    assert runs(after) <= 3 * 40
    before_cost = log_gap_cost(offsets, terms, n_terms)
    after_cost = log_gap_cost(offsets, terms, n_terms, ordered)
    assert after_cost < 0.75 * before_cost, (before_cost, after_cost)


def test_more_iterations_never_hurt_much_and_zero_is_identity(corpus, ordered):
    offsets, terms, n_terms, _ = corpus
    assert np.array_equal(bp_order(offsets, terms, n_terms, iterations=0), np.arange(offsets.shape[0] - 1))
    one = bp_order(offsets, terms, n_terms, iterations=1)
    assert is_permutation(one, offsets.shape[0] - 1)
    assert log_gap_cost(offsets, terms, n_terms, ordered) <= log_gap_cost(offsets, terms, n_terms, one) + 0.05


def test_log_gap_cost_by_hand():
    # Term 0 in rows 0 and 2: gaps 1, 2; term 1 in row 1: gap 2 -> (0 + 1 + 1) / 3.
    offsets, terms = csr([[0], [1], [0]])
    assert log_gap_cost(offsets, terms, 2) == pytest.approx(2 / 3)
    # Rows numbered [0, 2, 1]: term 0 gaps 1, 1; term 1 gap 3 -> log2(3) / 3.
    assert log_gap_cost(offsets, terms, 2, np.array([0, 2, 1])) == pytest.approx(np.log2(3) / 3)


def test_numpy_backend_gives_the_numba_order(monkeypatch):
    offsets, terms, n_terms, _ = planted(n_clusters=6, per_cluster=12, seed=3)
    plain = jit.functions(reorder, reorder.COMPILED, reorder.PARALLEL, use_numba=False)
    compiled = jit.functions(reorder, reorder.COMPILED, reorder.PARALLEL, use_numba=True)
    if compiled.backend != "numba":
        pytest.fail("numba must be installed for the unit tests (it is a dependency of the local index)")
    assert plain.backend == "numpy"
    orders = {}
    for fn in (plain, compiled):
        monkeypatch.setattr(reorder, "_functions", lambda fn=fn: fn)
        orders[fn.backend] = bp_order(offsets, terms, n_terms, leaf_size=4, iterations=6)
        cost = log_gap_cost(offsets, terms, n_terms, orders[fn.backend])
        orders[fn.backend + "-cost"] = cost
    assert is_permutation(orders["numpy"], offsets.shape[0] - 1)
    assert np.array_equal(orders["numpy"], orders["numba"])
    assert orders["numpy-cost"] == orders["numba-cost"]
    assert not np.array_equal(orders["numba"], np.arange(offsets.shape[0] - 1))


@pytest.mark.parametrize("docs, leaf_size", [
    ([], 16),
    ([[3, 4]], 16),
    ([[3, 4]], 1),
    ([[], [], []], 1),
    ([[1], [], [1], []], 1),
    ([[0, 1], [2], [0, 1], [2]], 16),
])
def test_degenerate_inputs(docs, leaf_size):
    offsets, terms = csr(docs)
    order = bp_order(offsets, terms, 5, leaf_size=leaf_size)
    assert is_permutation(order, len(docs))
    assert log_gap_cost(offsets, terms, 5, order) >= 0


def test_leaf_size_at_least_n_keeps_the_input_order(corpus):
    offsets, terms, n_terms, _ = corpus
    n = offsets.shape[0] - 1
    assert np.array_equal(bp_order(offsets, terms, n_terms, leaf_size=n), np.arange(n))


def test_small_leaves_and_terms_of_one_document():
    offsets, terms = csr([[0, 9], [5, 10], [0, 11], [5, 12], [0, 13], [5, 14]])
    order = bp_order(offsets, terms, 15, leaf_size=1)
    assert is_permutation(order, 6)
    halves = {frozenset(order[:3].tolist()), frozenset(order[3:].tolist())}
    assert halves == {frozenset({0, 2, 4}), frozenset({1, 3, 5})}


@pytest.mark.parametrize("kwargs, message", [
    ({"leaf_size": 0}, "leaf_size"),
    ({"iterations": -1}, "iterations"),
    ({"threads": 0}, "threads"),
])
def test_bad_parameters_raise(kwargs, message):
    offsets, terms = csr([[0], [1]])
    with pytest.raises(ValueError, match=message):
        bp_order(offsets, terms, 2, **kwargs)


def test_bad_csr_raises():
    with pytest.raises(ValueError, match="term ids"):
        bp_order(np.array([0, 1]), np.array([7], np.int32), 5)
    with pytest.raises(ValueError, match="doc_offsets"):
        bp_order(np.array([0, 2]), np.array([1], np.int32), 5)
    with pytest.raises(ValueError, match="term ids"):
        bp_order(np.array([0, 1]), np.array([2**32 + 1], np.int64), 5)  # not wrapped to 1 by the int32 cast
    with pytest.raises(ValueError, match="permutation"):
        log_gap_cost(np.array([0, 1]), np.array([1], np.int32), 5, np.array([0, 1]))
    with pytest.raises(ValueError, match="permutation"):
        log_gap_cost(np.array([0, 1, 2]), np.array([1, 1], np.int32), 5, np.array([1, 1]))


def test_without_numba_the_same_code_runs_with_one_warning(monkeypatch, corpus):
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` raise ImportError
    monkeypatch.setattr(jit, "_MODULES", {})
    with pytest.warns(RuntimeWarning, match="numba is not installed"):
        fn = jit.functions(reorder, reorder.COMPILED, reorder.PARALLEL, use_numba=True)
    assert fn.backend == "numpy" and fn.bisect_level_parallel is reorder.bisect_level
    offsets, terms = csr([[0, 1], [2], [0, 1], [2], [0], [2]])
    assert is_permutation(bp_order(offsets, terms, 3, leaf_size=1), 6)
