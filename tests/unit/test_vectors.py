from __future__ import annotations

import numpy as np
import pytest

from spladekit.vectors import SparseBatch, SparseVector


def test_sorts_unsorted_ids_and_keeps_pairs():
    v = SparseVector(np.array([9, 3, 5]), np.array([0.9, 0.3, 0.5]))
    assert v.ids.tolist() == [3, 5, 9]
    assert v.weights.tolist() == pytest.approx([0.3, 0.5, 0.9])
    assert v.ids.dtype == np.int32 and v.weights.dtype == np.float32


def test_duplicate_ids_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        SparseVector(np.array([3, 3]), np.array([1.0, 2.0]))


def test_length_mismatch_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        SparseVector(np.array([1, 2]), np.array([1.0]))


def test_dense_round_trip_and_dot_matches_dense():
    rng = np.random.default_rng(0)
    a = rng.random(50).astype(np.float32) * (rng.random(50) < 0.3)
    b = rng.random(50).astype(np.float32) * (rng.random(50) < 0.3)
    va, vb = SparseVector.from_dense(a), SparseVector.from_dense(b)
    np.testing.assert_array_equal(va.to_dense(50), a)
    assert va.dot(vb) == pytest.approx(float(np.dot(a.astype(np.float64), b.astype(np.float64))))


def test_top_k_breaks_ties_by_lower_id():
    v = SparseVector.from_dict({1: 0.5, 2: 0.9, 3: 0.5, 4: 0.1})
    assert v.top_k(2).to_dict() == {1: 0.5, 2: pytest.approx(0.9)}


def test_positive_drops_what_engines_reject():
    v = SparseVector(np.array([1, 2, 3, 4, 5]), np.array([0.0, -1.0, np.inf, 1e-40, 2.0]))
    assert v.positive().ids.tolist() == [5]


def test_batch_round_trip():
    vs = [SparseVector.from_dict({1: 1.0, 4: 2.0}), SparseVector.empty(), SparseVector.from_dict({7: 3.0})]
    batch = SparseBatch.from_vectors(vs)
    assert len(batch) == 3
    assert batch.nnz().tolist() == [2, 0, 1]
    assert [v.to_dict() for v in batch] == [v.to_dict() for v in vs]
    assert batch[-1].to_dict() == {7: 3.0}
    with pytest.raises(IndexError):
        batch[3]
