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


# --- BM25, as OpenSearch and Elasticsearch score a ``match`` query -------------------------------------------------
#
# Both engines' default similarity is Lucene's BM25 (k1 = 1.2, b = 0.75) wrapped as ``LegacyBM25Similarity``,
# which multiplies the query boost by (1 + k1) so that scores keep their pre-Lucene-8 scale. Per query term:
#
#     idf    = float32(log(1 + (docCount - docFreq + 0.5) / (docFreq + 0.5)))           (in double, then float)
#     weight = float32(boost * (1 + k1)) * idf                                                 (float32)
#     cache  = 1 / (k1 * ((1 - b) + b * LENGTH_TABLE[norm] / avgdl))                           (float32)
#     score  = weight - weight / (1 + freq * cache[norm])                                      (float32)
#
# with avgdl = float32(sumTotalTermFreq / docCount), the document's length (its number of tokens) stored in
# one byte (:func:`length_norm`, Lucene's ``SmallFloat.intToByte4``) and read back through
# :data:`LENGTH_TABLE`; a ``bool`` adds the clause scores in double and casts the total to float32. A query
# term repeated n times is one clause with boost n (Lucene merges duplicate SHOULD clauses).

#: BM25's parameters, Lucene's and the engines' defaults.
BM25_K1 = 1.2
BM25_B = 0.75


def _long_to_int4(i: int) -> int:
    bits = int(i).bit_length()
    if bits < 4:
        return int(i)
    shift = bits - 4
    return ((i >> shift) & 0x07) | ((shift + 1) << 3)


def _int4_to_long(i: int) -> int:
    bits, shift = i & 0x07, (i >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


_NUM_FREE_VALUES = 255 - _long_to_int4(2**31 - 1)  # 24: lengths below this are stored exactly


def length_norm(lengths: np.ndarray) -> np.ndarray:
    """Document lengths (tokens) -> the one-byte norms Lucene stores (``SmallFloat.intToByte4``; lossy above 24).

    >>> length_norm(np.array([0, 1, 23, 24, 100, 1000])).tolist()
    [0, 1, 23, 24, 57, 87]
    """
    n = np.asarray(lengths, dtype=np.int64)
    if n.size and n.min() < 0:
        raise ValueError("document lengths must be >= 0")
    out = n.copy()
    big = n >= _NUM_FREE_VALUES
    out[big] = [_NUM_FREE_VALUES + _long_to_int4(int(v) - _NUM_FREE_VALUES) for v in n[big]]
    return out.astype(np.uint8)


#: The length Lucene reads back for each one-byte norm (``SmallFloat.byte4ToInt``).
LENGTH_TABLE = np.array([i if i < _NUM_FREE_VALUES else _NUM_FREE_VALUES + _int4_to_long(i - _NUM_FREE_VALUES)
                         for i in range(256)], dtype=np.int64)


def bm25_idf(doc_freq: np.ndarray, doc_count: int) -> np.ndarray:
    """Lucene's idf, ``log(1 + (N - df + 0.5) / (df + 0.5))`` in double, as float32."""
    df = np.asarray(doc_freq, dtype=np.float64)
    return np.log(1.0 + (doc_count - df + 0.5) / (df + 0.5)).astype(np.float32)


def bm25_norm_cache(sum_total_term_freq: int, doc_count: int, k1: float = BM25_K1, b: float = BM25_B) -> np.ndarray:
    """``1 / (k1 * ((1 - b) + b * LENGTH_TABLE[i] / avgdl))`` for the 256 norms, in float32 as Lucene computes it."""
    avgdl = np.float32(sum_total_term_freq / doc_count) if doc_count else np.float32(1.0)
    k1, b = np.float32(k1), np.float32(b)
    table = LENGTH_TABLE.astype(np.float32)
    return (np.float32(1.0) / (k1 * ((np.float32(1.0) - b) + b * table / avgdl))).astype(np.float32)


def bm25_weights(counts: np.ndarray, idf: np.ndarray, k1: float = BM25_K1) -> np.ndarray:
    """Clause weights of query terms occurring ``counts`` times: ``float32(count * (1 + k1)) * idf`` in float32."""
    boost = np.asarray(counts, dtype=np.float32) * (np.float32(1.0) + np.float32(k1))
    return (boost.astype(np.float32) * np.asarray(idf, dtype=np.float32)).astype(np.float32)


def bm25_clause(weight: np.ndarray, freq: np.ndarray, norm_inverse: np.ndarray) -> np.ndarray:
    """One term's BM25 score in a document, ``weight - weight / (1 + freq * cache[norm])``, in float32."""
    w = np.asarray(weight, dtype=np.float32)
    f = np.asarray(freq, dtype=np.float32)
    return (w - w / (np.float32(1.0) + f * np.asarray(norm_inverse, dtype=np.float32))).astype(np.float32)
