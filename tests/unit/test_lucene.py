"""The FeatureField arithmetic against an independent bit-level derivation (struct, not numpy views)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from spladekit import lucene


def _java_encode(v: float) -> int:
    # Float.floatToIntBits(v) >>> 15, written with struct so it shares no code with lucene.encode.
    return struct.unpack(">I", struct.pack(">f", v))[0] >> 15


def _java_decode(freq: int) -> float:
    return struct.unpack(">f", struct.pack(">I", freq << 15))[0]


def test_encode_decode_match_bitwise_definition():
    rng = np.random.default_rng(1)
    w = np.exp(rng.uniform(np.log(1e-3), np.log(60.0), 5000)).astype(np.float32)
    freqs = lucene.encode(w)
    assert freqs.dtype == np.uint16
    assert freqs.tolist() == [_java_encode(float(x)) for x in w]
    assert lucene.decode(freqs).tolist() == [_java_decode(int(f)) for f in freqs]


def test_quantization_truncates_never_rounds_up():
    rng = np.random.default_rng(2)
    w = rng.uniform(1e-3, 60, 5000).astype(np.float32)
    q = lucene.quantize(w)
    assert np.all(q <= w)
    # 9 significant bits kept: relative error below 2**-8
    assert np.all((w - q) / w < 2.0**-8)


def test_max_freq_is_within_uint16():
    assert lucene.MAX_FREQ == _java_encode(float(np.finfo(np.float32).max)) < 2**16


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan"), 1e-39])
def test_encode_rejects_values_engines_reject(bad):
    with pytest.raises(ValueError, match="drop zeros and negatives"):
        lucene.encode(np.array([1.0, bad], dtype=np.float32))


def test_reference_scores_follow_float32_products_and_double_sum():
    rng = np.random.default_rng(3)
    n_docs, vocab = 40, 30
    offsets, ids, weights = [0], [], []
    for _ in range(n_docs):
        terms = np.sort(rng.choice(vocab, size=rng.integers(1, 10), replace=False))
        ids.extend(terms.tolist())
        weights.extend(rng.uniform(1e-3, 60, terms.size).tolist())
        offsets.append(len(ids))
    freqs = lucene.encode(np.array(weights, dtype=np.float32))
    qids = np.sort(rng.choice(vocab, 8, replace=False)).astype(np.int32)
    qw = rng.uniform(0.01, 5, 8).astype(np.float32)
    got = lucene.reference_scores(qids, qw, np.array(offsets), np.array(ids, np.int32), freqs)
    # independent dense formulation: float32 products, float64 sum, one cast
    dense_q = np.zeros(vocab, np.float32)
    dense_q[qids] = qw
    for d in range(n_docs):
        lo, hi = offsets[d], offsets[d + 1]
        prods = (dense_q[ids[lo:hi]] * lucene.decode(freqs[lo:hi])).astype(np.float32)
        assert got[d] == np.float32(np.sum(prods.astype(np.float64)))


def test_reference_ranking_orders_ties_by_key():
    scores = np.array([1.0, 2.0, 1.0, 0.0], dtype=np.float32)
    assert lucene.reference_ranking(scores, ["d", "a", "b", "c"], 10) == [("a", 2.0), ("b", 1.0), ("d", 1.0)]
