"""Block-max search, for rows reordered so that similar documents are adjacent (:meth:`LocalIndex.reorder`).

:func:`block_maxima` bounds blocks of ``1 << shift`` documents with per (term, block) maxima, and
:func:`search_block_max` scores only the blocks that can still enter the top k, in the contract's order.

>>> import numpy as np
>>> from spladekit.local.kernels.tuples import Segment
>>> lists = block_maxima(*Segment(np.array([0, 3]), np.array([0, 1, 5], np.int32), np.array([2, 7, 4], np.uint16)), 2)
>>> [a.tolist() for a in lists]
[[0, 2], [0, 1], [7, 4], [0, 2]]
"""

from __future__ import annotations

import numpy as np

from spladekit.local.kernels.accumulate import add_postings
from spladekit.local.kernels.postings import find_posting
from spladekit.local.kernels.topk import SLACK, heap_push
from spladekit.local.kernels.tuples import Segment

#: Documents per block of the block-max lists: ``1 << BLOCK_SHIFT``.
BLOCK_SHIFT = 6
#: Block bounds are bucketed linearly below the query's highest bound and visited bucket by bucket, highest first
#: (a counting sort: no comparison sort of all the blocks per query).
BOUND_BUCKETS = 1024
#: By default a query goes the block-max way only if its terms' postings fill at least this share of the
#: documents of their (term, block) entries: sparser entries mean unclustered documents and loose block bounds.
BLOCK_FILL = 0.25
#: After scoring this many blocks, block-max search gives up (and the caller searches another way) if more
#: than the share ``give_up`` (by default :data:`GIVE_UP`) of the query's blocks still have a bound above the
#: k-th score so far.
PROBE_BLOCKS = 16
GIVE_UP = 0.5


def count_blocks(offsets, docs, shift):
    """Per term, how many blocks of ``1 << shift`` documents hold some of its postings, as ``n_terms + 1`` offsets."""
    n_terms = offsets.shape[0] - 1
    out = np.zeros(n_terms + 1, np.int64)
    for t in range(n_terms):
        c = 0
        last = -1
        for p in range(offsets[t], offsets[t + 1]):
            b = docs[p] >> shift
            if b != last:
                c += 1
                last = b
        out[t + 1] = out[t] + c
    return out


def fill_blocks(offsets, docs, values, shift, bm_offsets, bm_blocks, bm_max, bm_start):
    """Write each term's block entries: block number, largest stored value, first posting (from the list start)."""
    for t in range(offsets.shape[0] - 1):
        e = bm_offsets[t] - 1
        last = -1
        lo = offsets[t]
        for p in range(lo, offsets[t + 1]):
            b = docs[p] >> shift
            if b != last:
                e += 1
                last = b
                bm_blocks[e] = b
                bm_start[e] = p - lo
                bm_max[e] = values[p]
            elif values[p] > bm_max[e]:
                # uint16 frequencies decode monotonically, so the largest frequency is the largest weight.
                bm_max[e] = values[p]


def block_maxima(offsets, docs, values, shift):
    """Term-major block-max lists of a segment: ``(bm_offsets, bm_blocks, bm_max, bm_start)``.

    The entries of term ``t`` are ``bm_offsets[t]:bm_offsets[t + 1]``, one per block of ``1 << shift`` documents
    holding some of ``t``'s postings, by ascending block: its number (int32), its largest value (the segment's
    value dtype) and where its postings start, counted from ``offsets[t]`` (int32: a list is shorter than 2**31).
    With ``shift`` they make a :class:`~spladekit.local.kernels.tuples.Blocks`.
    """
    bm_offsets = count_blocks(offsets, docs, shift)
    n = bm_offsets[-1]
    bm_blocks = np.empty(n, np.int32)
    bm_max = np.empty(n, values.dtype)
    bm_start = np.empty(n, np.int32)
    fill_blocks(offsets, docs, values, shift, bm_offsets, bm_blocks, bm_max, bm_start)
    return bm_offsets, bm_blocks, bm_max, bm_start


def search_block_max(query, segment, table, blocks, allowed, k, give_up, n, work, top, alpha=1.0):
    """Exact top-``k`` of one query by block-max pruning; returns the size of the (unsorted) heap.

    ``n`` hits are already in the heap ``top`` (the tail's, say); returns -1 (the heap then holds nothing of
    use) when the bounds turn out too loose to pay (see :data:`GIVE_UP`; 1 never gives up). Every block's bound
    is the sum of ``float32(q_t * block max of t)`` over the query terms, added in float64 **in ascending query
    term order**: clause by clause it is >= the document's clause (float32 rounding is monotone) and float64
    addition is monotone, so the bound is >= the float64 sum of the contract for every document of the block,
    exactly. Blocks are visited by decreasing bound (bucketed), their documents scored exactly in contract order
    (for each query term, its entry for the block found by binary search gives the block's postings), and
    offered to the heap. A block is skipped when its bound is below the k-th score less :data:`SLACK` (a document
    scoring exactly the k-th and placed earlier would still win its tie, so equality is visited); then every
    block of the lower buckets is below it too, and the search stops after the current bucket.
    The ``acc`` row of ``work`` (float64, zeros, at least as long as the number of blocks) holds the bounds and
    is left zeroed; its ``cand`` row is int32 scratch.

    ``alpha`` below 1 makes the search approximate (BMP's alpha): a block is skipped when ``alpha`` times its bound
    is below the k-th score, so blocks whose documents could still enter the top k by a margin under ``1 - alpha``
    of their bound are left out; the hits returned keep their exact scores.
    """
    q_ids, q_weights = query
    offsets = segment.offsets
    shift, bm_offsets, bm_blocks, bm_max, bm_start = blocks
    ub = work.acc
    order = work.cand
    out_docs, out_scores = top
    # The block-max lists are a segment of blocks: a block's bound is its score by the blocks' maxima.
    bounds = Segment(bm_offsets, bm_blocks, bm_max)
    n_terms = bm_offsets.shape[0] - 1
    nq = q_ids.shape[0]
    n_blocks = 0
    for i in range(nq):
        t = q_ids[i]
        # Clauses of weights <= 0 are never added (as in the other paths), so they bound nothing either.
        if t < 0 or t >= n_terms or q_weights[i] <= 0 or bm_offsets[t + 1] == bm_offsets[t]:
            continue
        add_postings(q_weights[i], bounds, table, bm_offsets[t], bm_offsets[t + 1], ub, 0, None, 0, None)
        n_blocks = max(n_blocks, bm_blocks[bm_offsets[t + 1] - 1] + 1)
    highest = 0.0
    live = 0
    for b in range(n_blocks):
        highest = max(highest, ub[b])
        live += ub[b] > 0
    if highest <= 0:
        for b in range(n_blocks):
            ub[b] = 0.0
        return n
    # Counting sort of the blocks by bucket of their bound (the bucket is monotone in the bound).
    scale = (BOUND_BUCKETS - 1) / highest
    starts = np.zeros(BOUND_BUCKETS + 1, np.int64)
    for b in range(n_blocks):
        if ub[b] > 0:
            starts[min(int(ub[b] * scale), BOUND_BUCKETS - 1) + 1] += 1
    for j in range(BOUND_BUCKETS):
        starts[j + 1] += starts[j]
    cursor = starts[:-1].copy()
    for b in range(n_blocks):
        if ub[b] > 0:
            j = min(int(ub[b] * scale), BOUND_BUCKETS - 1)
            order[cursor[j]] = b
            cursor[j] += 1
    size = 1 << shift
    bacc = np.zeros(size, np.float64)
    check = allowed.shape[0] > 0
    limit = np.float64(out_scores[0]) * (1 - SLACK) / alpha if n == k else 0.0
    visited = 0
    for j in range(BOUND_BUCKETS - 1, -1, -1):
        below = False
        for x in range(starts[j], starts[j + 1]):
            b = order[x]
            if ub[b] < limit:
                below = True
                continue
            if visited == PROBE_BLOCKS:
                ahead = 0
                for y in range(n_blocks):
                    ahead += ub[y] >= limit
                if ahead > give_up * live:
                    for y in range(n_blocks):
                        ub[y] = 0.0
                    return -1
            visited += 1
            base = b << shift
            for i in range(nq):
                t = q_ids[i]
                if t < 0 or t >= n_terms or q_weights[i] <= 0:
                    continue
                e = find_posting(bm_blocks, bm_offsets[t], bm_offsets[t + 1], b)
                if e < 0:
                    continue
                lo = offsets[t]
                hi = lo + bm_start[e + 1] if e + 1 < bm_offsets[t + 1] else offsets[t + 1]
                add_postings(q_weights[i], segment, table, lo + bm_start[e], hi, bacc, base, None, 0, None)
            for y in range(size):
                a = bacc[y]
                if a > 0:
                    bacc[y] = 0.0
                    d = base + y
                    if not check or allowed[d]:
                        n = heap_push(out_scores, out_docs, n, k, np.float32(a), d)
            if n == k:
                limit = np.float64(out_scores[0]) * (1 - SLACK) / alpha
        if below:
            break
    for b in range(n_blocks):
        ub[b] = 0.0
    return n


def block_fill(q_ids, offsets, bm_offsets):
    """Postings per (term, block) entry of the query's terms: up to the block size when documents are clustered."""
    n_terms = bm_offsets.shape[0] - 1
    load = 0
    entries = 0
    for i in range(q_ids.shape[0]):
        t = q_ids[i]
        if 0 <= t < n_terms:
            load += offsets[t + 1] - offsets[t]
            entries += bm_offsets[t + 1] - bm_offsets[t]
    return load / max(entries, 1)


#: Compiled by :mod:`spladekit.jit` (the package gathers every module's); drivers stay Python and call them.
COMPILED = ("count_blocks", "fill_blocks", "search_block_max", "block_fill")
DRIVERS = ("block_maxima",)
