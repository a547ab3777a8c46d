"""Range-blocked exhaustive search, for queries whose postings cover a good part of the collection."""

from __future__ import annotations

import numpy as np

from spladekit.local.kernels.accumulate import add_postings
from spladekit.local.kernels.postings import gallop
from spladekit.local.kernels.topk import SLACK, heap_push, heap_sort

#: Documents per range of :func:`search_chunked`: ``1 << CHUNK_SHIFT`` float64 sums (128 KiB) stay in L2.
CHUNK_SHIFT = 14
#: Queries with at least this many postings per document go to :func:`search_chunked`: with so many
#: postings MaxScore prunes little, and cache-resident range sums beat it (measured at 1M documents).
CHUNK_LOAD = 2.0


def search_chunked(query, segment, table, shift, allowed, k, cacc, top):
    """Exhaustive exact top-``k`` of one query, documents taken in ranges of ``1 << shift``.

    The float64 sums of one range (``cacc``, at least ``min(1 << shift, n_docs)`` long, left zeroed) stay in the
    CPU cache while the query's postings of that range are added term by term, in ascending query term order:
    the contract's order, so the sums are the exact scores and need no re-scoring. Each term's postings being
    sorted by document, a cursor per query term walks its list once (its end in the range found by galloping).
    After each range its documents are offered to the top-``k`` heap ``top`` (ties by document number) and the
    sums are zeroed.
    """
    q_ids, q_weights = query
    offsets, docs, values = segment
    out_docs, out_scores = top
    n_terms = offsets.shape[0] - 1
    nq = q_ids.shape[0]
    size = 1 << shift
    cursor = np.full(nq, -1, np.int64)
    n_docs = 0
    for i in range(nq):
        t = q_ids[i]
        if 0 <= t < n_terms and q_weights[i] > 0 and offsets[t + 1] > offsets[t]:
            cursor[i] = offsets[t]
            n_docs = max(n_docs, docs[offsets[t + 1] - 1] + 1)
    check = allowed.shape[0] > 0
    n = 0
    for base in range(0, n_docs, size):
        lim = base + size
        for i in range(nq):
            p = cursor[i]
            if p < 0:
                continue
            stop = gallop(docs, p, offsets[q_ids[i] + 1], lim)
            add_postings(q_weights[i], segment, table, p, stop, cacc, base, None, 0, None)
            cursor[i] = stop
        width = min(size, n_docs - base)
        # Below the k-th score less a slack (for the float32 cast) no document can enter the top k.
        floor = np.float64(out_scores[0]) * (1 - SLACK) if n == k else 0.0
        for j in range(width):
            a = cacc[j]
            cacc[j] = 0.0
            if a > 0 and a >= floor:
                d = base + j
                if not check or allowed[d]:
                    n = heap_push(out_scores, out_docs, n, k, np.float32(a), d)
                    if n == k:
                        floor = np.float64(out_scores[0]) * (1 - SLACK)
    heap_sort(out_scores, out_docs, n)
    return n


#: Compiled by :mod:`spladekit.jit` (the package gathers every module's).
COMPILED = ("search_chunked",)
