"""The score contract: how Lucene's FeatureField stores a weight and how OpenSearch/Elasticsearch score it.

FeatureField keeps a feature value ``v`` as the term frequency ``floatToIntBits(float32(v)) >>> 15``: the
sign bit is 0 (values are positive), so 8 exponent bits and the top 8 stored mantissa bits survive (9
significant bits with the implicit one) and the rest is truncated. Decoding shifts back by 15.

A linear ``rank_feature`` (OpenSearch) or a boosted ``term`` on ``sparse_vector`` (Elasticsearch) scores one
clause as ``float32(float32(boost) * decode(freq))``; a ``bool.should`` adds the clause scores in double and
casts the total to float32. :func:`reference_scores` is that arithmetic, written once and used by the
local index (``lucene`` mode), parity checks and the engine score-contract tests.

>>> decode(encode(np.array([0.123456, 1.0], dtype=np.float32))).tolist()
[0.123291015625, 1.0]
"""

from __future__ import annotations

import numpy as np

#: Smallest value a FeatureField accepts (Float.MIN_NORMAL); smaller, zero and negative values are dropped.
MIN_WEIGHT = np.float32(np.finfo(np.float32).tiny)
#: Largest frequency FeatureField produces: floatToIntBits(Float.MAX_VALUE) >>> 15.
MAX_FREQ = int(np.array(np.finfo(np.float32).max, dtype=np.float32).view(np.uint32)) >> 15
#: Lucene's FeatureField.newLinearQuery rejects weights outside (0, 64] (neural_sparse passes them through).
MAX_LINEAR_QUERY_WEIGHT = 64.0


def encode(weights: np.ndarray) -> np.ndarray:
    """float32 weights (positive, finite, normal) -> FeatureField term frequencies (uint16)."""
    w = np.ascontiguousarray(weights, dtype=np.float32)
    if w.size and not (np.all(np.isfinite(w)) and np.all(w >= MIN_WEIGHT)):
        raise ValueError("FeatureField values must be finite and >= 1.17549435e-38; drop zeros and negatives first")
    return (w.view(np.uint32) >> np.uint32(15)).astype(np.uint16)


def decode(freqs: np.ndarray) -> np.ndarray:
    """FeatureField term frequencies -> the float32 values Lucene scores with."""
    f = np.asarray(freqs).astype(np.uint32)
    return (f << np.uint32(15)).view(np.float32)


def quantize(weights: np.ndarray) -> np.ndarray:
    """What an engine will score with for these weights: decode(encode(w))."""
    return decode(encode(weights))


def clause_scores(query_weights: np.ndarray, doc_values: np.ndarray) -> np.ndarray:
    """Per-term clause score: float32(float32(q) * decoded doc value), computed in float32 as Lucene does."""
    return np.multiply(
        np.asarray(query_weights, dtype=np.float32), np.asarray(doc_values, dtype=np.float32), dtype=np.float32
    )


def reference_scores(
    query_ids: np.ndarray,
    query_weights: np.ndarray,
    doc_offsets: np.ndarray,
    doc_ids: np.ndarray,
    doc_freqs: np.ndarray,
) -> np.ndarray:
    """Brute-force engine scores of one query against CSR documents stored as FeatureField frequencies.

    For each document: the clause scores of the shared terms, summed in float64, cast to float32. Documents
    with no shared term score 0 (an engine would not return them).
    """
    q = dict(zip(np.asarray(query_ids).tolist(), np.asarray(query_weights, dtype=np.float32).tolist(), strict=True))
    n_docs = len(doc_offsets) - 1
    out = np.zeros(n_docs, dtype=np.float32)
    values = decode(doc_freqs)
    for d in range(n_docs):
        lo, hi = int(doc_offsets[d]), int(doc_offsets[d + 1])
        total = 0.0
        for t, v in zip(doc_ids[lo:hi].tolist(), values[lo:hi].tolist(), strict=True):
            qw = q.get(t)
            if qw is not None:
                total += float(np.float32(np.float32(qw) * np.float32(v)))
        out[d] = np.float32(total)
    return out


def reference_ranking(scores: np.ndarray, doc_keys: list[str], k: int) -> list[tuple[str, float]]:
    """Top-k (key, score) pairs for documents with a positive score: score descending, ties by key."""
    hits = [(doc_keys[i], float(scores[i])) for i in np.flatnonzero(scores > 0)]
    hits.sort(key=lambda h: (-h[1], h[0]))
    return hits[:k]
