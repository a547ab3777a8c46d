"""BM25 over the local index's text postings: Lucene's arithmetic (:mod:`spladekit.lucene`), exhaustive top-k.

The text postings are a segment like the SPLADE ones (term-major CSR: ``offsets``, ``docs``, ``values``), whose
values are term frequencies (int32) and whose term ids number the index's own vocabulary of analyzed tokens.
A query is its distinct term ids with their clause weights (``lucene.bm25_weights``); a document's score adds,
term by term in query order, ``weight - weight / (1 + freq * cache[norm[doc]])`` in float32 to a float64
accumulator, cast to float32 at the end, as the engines' ``bool`` does. Hits are ordered by score descending,
ties by row ascending; only documents sharing a term with the query are returned.

>>> import numpy as np
>>> offsets, docs, freqs = np.array([0, 2, 3]), np.array([0, 1, 1], np.int32), np.array([1, 3, 1], np.int32)
>>> cache = np.ones(256, np.float32)
>>> acc, touched = np.zeros(2), np.zeros(2, np.int32)
>>> out_docs, out_scores = np.zeros(2, np.int32), np.zeros(2, np.float32)
>>> n = bm25_search(offsets, docs, freqs, offsets[:1] * 0, docs[:0], freqs[:0], np.array([0], np.int64),
...                 np.array([2.0], np.float32), np.zeros(2, np.uint8), cache, np.zeros(0, bool), 2, acc, touched,
...                 out_docs, out_scores)
>>> out_docs[:n].tolist(), out_scores[:n].tolist()
([1, 0], [1.5, 1.0])
"""

from __future__ import annotations

import numpy as np

from spladekit.local.kernels.topk import heap_push, heap_sort


def bm25_add(offsets, docs, freqs, terms, weights, norms, cache, allowed, acc, touched, n_touched):
    """Add each query term's clause scores over one segment's postings; returns the number of touched rows."""
    one = np.float32(1.0)
    for i in range(terms.shape[0]):
        t = terms[i]
        if t < 0 or t >= offsets.shape[0] - 1:
            continue
        w = weights[i]
        for p in range(offsets[t], offsets[t + 1]):
            d = docs[p]
            if allowed.shape[0] > 0 and not allowed[d]:
                continue
            s = w - w / (one + np.float32(freqs[p]) * cache[norms[d]])
            if acc[d] == 0.0:
                touched[n_touched] = d
                n_touched += 1
            acc[d] += s
    return n_touched


def bm25_search(main_offsets, main_docs, main_freqs, tail_offsets, tail_docs, tail_freqs, terms, weights, norms,
                cache, allowed, k, acc, touched, out_docs, out_scores):
    """The ``k`` best rows of a query over the main and tail text segments; returns how many were found.

    ``acc`` (float64) and ``touched`` (int32) are workspaces of one entry per row, ``acc`` all zero on entry and
    left all zero; ``out_docs``/``out_scores`` hold at least ``k`` entries and come out best first.
    """
    n = bm25_add(main_offsets, main_docs, main_freqs, terms, weights, norms, cache, allowed, acc, touched, 0)
    n = bm25_add(tail_offsets, tail_docs, tail_freqs, terms, weights, norms, cache, allowed, acc, touched, n)
    found = 0
    for i in range(n):
        d = touched[i]
        found = heap_push(out_scores, out_docs, found, k, np.float32(acc[d]), d)
        acc[d] = 0.0
    heap_sort(out_scores, out_docs, found)
    return found


#: Compiled by :mod:`spladekit.jit` (the package gathers every module's).
COMPILED = ("bm25_add", "bm25_search")
