"""The top-``k`` heap: a min-heap of hits (worst at the root) in two arrays, ordered by score then document.

Hits are compared as float32 scores (what the caller gets), ties by document number ascending, so the order is
total and deterministic: the contract's order (see :mod:`spladekit.local.kernels`).

>>> import numpy as np
>>> scores, docs = np.zeros(2, np.float32), np.zeros(2, np.int32)
>>> n = 0
>>> for s, d in ((1.0, 7), (3.0, 8), (3.0, 2)):
...     n = heap_push(scores, docs, n, 2, np.float32(s), d)
>>> heap_sort(scores, docs, n)
>>> docs.tolist(), scores.tolist()
([2, 8], [3.0, 3.0])
"""

from __future__ import annotations

import numpy as np

# Relative slack on pruning bounds: partial sums are float64 in another order than the final one, and the
# threshold is read back as float32; 1e-6 is far above both errors, so pruning never drops a true hit.
SLACK = 1e-6


def worse(s1, d1, s2, d2):
    """Whether hit (s1, d1) ranks below hit (s2, d2): lower score, or the same score and a later document."""
    return s1 < s2 or (s1 == s2 and d1 > d2)


def sift_down(heap_scores, heap_docs, n, j):
    """Restore the min-heap (worst hit at the root) below position ``j`` of the first ``n`` entries."""
    s = heap_scores[j]
    d = heap_docs[j]
    while True:
        c = 2 * j + 1
        if c >= n:
            break
        if c + 1 < n and worse(heap_scores[c + 1], heap_docs[c + 1], heap_scores[c], heap_docs[c]):
            c += 1
        if not worse(heap_scores[c], heap_docs[c], s, d):
            break
        heap_scores[j] = heap_scores[c]
        heap_docs[j] = heap_docs[c]
        j = c
    heap_scores[j] = s
    heap_docs[j] = d


def heap_push(out_scores, out_docs, n, k, s, d):
    """Offer hit (s, d) to the min-heap of the best ``k`` (worst at the root) holding ``n``; returns the new size."""
    if n < k:
        j = n
        n += 1
        while j > 0:
            parent = (j - 1) >> 1
            if not worse(s, d, out_scores[parent], out_docs[parent]):
                break
            out_scores[j] = out_scores[parent]
            out_docs[j] = out_docs[parent]
            j = parent
        out_scores[j] = s
        out_docs[j] = d
    elif worse(out_scores[0], out_docs[0], s, d):
        out_scores[0] = s
        out_docs[0] = d
        sift_down(out_scores, out_docs, n, 0)
    return n


def heap_sort(out_scores, out_docs, n):
    """Turn the min-heap of ``n`` hits into a best-first list, in place."""
    for end in range(n - 1, 0, -1):
        s = out_scores[0]
        d = out_docs[0]
        out_scores[0] = out_scores[end]
        out_docs[0] = out_docs[end]
        out_scores[end] = s
        out_docs[end] = d
        sift_down(out_scores, out_docs, end, 0)


def offer_touched(acc, touched, n_touched, allowed, k, out_docs, out_scores, n):
    """Offer the touched documents allowed by the mask to the top-``k`` heap holding ``n``; returns its size."""
    check = allowed.shape[0] > 0
    for i in range(n_touched):
        d = touched[i]
        if check and not allowed[d]:
            continue
        n = heap_push(out_scores, out_docs, n, k, np.float32(acc[d]), d)
    return n


def select_top_k(acc, touched, n_touched, allowed, k, out_docs, out_scores):
    """The best ``k`` touched documents allowed by the mask, best first; returns how many were found.

    ``allowed`` is a bool mask over internal documents, or empty for "all".
    """
    n = offer_touched(acc, touched, n_touched, allowed, k, out_docs, out_scores, 0)
    heap_sort(out_scores, out_docs, n)
    return n


#: Compiled by :mod:`spladekit.jit` (the package gathers every module's).
COMPILED = ("worse", "sift_down", "heap_push", "heap_sort", "offer_touched", "select_top_k")
