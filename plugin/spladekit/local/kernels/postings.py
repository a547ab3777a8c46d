"""Finding documents in posting lists (ascending document numbers): binary search and galloping.

>>> import numpy as np
>>> docs = np.array([2, 5, 9, 14], np.int32)
>>> find_posting(docs, 0, 4, 9), find_posting(docs, 0, 4, 10), gallop(docs, 0, 4, 10)
(2, -1, 3)
"""

from __future__ import annotations


def find_posting(docs, lo, hi, d):
    """Position of document ``d`` in the ascending ``docs[lo:hi]``, or -1."""
    end = hi
    while lo < hi:
        mid = (lo + hi) >> 1
        if docs[mid] < d:
            lo = mid + 1
        else:
            hi = mid
    if lo < end and docs[lo] == d:
        return lo
    return -1


def find_postings(offsets, docs, terms, d, out):
    """For each vocabulary id of ``terms``: the position of document ``d``'s posting, or -1 (absent term too)."""
    n_terms = offsets.shape[0] - 1
    for i in range(terms.shape[0]):
        t = terms[i]
        out[i] = find_posting(docs, offsets[t], offsets[t + 1], d) if 0 <= t < n_terms else -1


def gallop(docs, p, hi, d):
    """The first position in ``docs[p:hi]`` (ascending) holding a document ``>= d``, or ``hi``."""
    step = 1
    while p + step < hi and docs[p + step] < d:
        p += step
        step *= 2
    e = min(p + step, hi)
    while p < e and docs[p] < d:
        mid = (p + e) >> 1
        if docs[mid] < d:
            p = mid + 1
        else:
            e = mid
    return p


#: Compiled by :mod:`spladekit.jit` (the package gathers every module's).
COMPILED = ("find_posting", "find_postings", "gallop")
