"""The local index's kernels, written once in plain numpy and Python loops.

``_numba.py`` jit-compiles these very functions; when numba is missing they run as they are (slowly, but with
the same results bit for bit). Keep them to the subset numba compiles: arrays, scalars, loops, no objects.

A *segment* is a term-major CSR inverted index:

- ``offsets`` (int64, ``n_terms + 1``): the postings of vocabulary id ``t`` are ``offsets[t]:offsets[t + 1]``;
- ``docs`` (int32): internal document numbers, ascending within a term;
- ``values``: uint16 FeatureField frequencies (``lucene`` mode, decoded through :func:`decode_table`) or
  float32 weights (``exact`` mode).

A document's score is the engines' arithmetic (see :mod:`spladekit.lucene`): for each query term in
ascending id order, the clause ``float32(q_t * value)`` is added to a float64 accumulator; the total is cast
to float32. Results are ordered by score descending and **ties by internal document number ascending** (the
order in which documents were added; an upsert gives the document a new, last number). Only documents with a
positive score are returned, as the engines return only matching documents.

Exact top-k uses MaxScore-style pruning when per-term maxima are given (:func:`search_pruned`, and
:func:`search_dense` for queries touching a good part of the collection); its finalists are re-scored in the
order above, so pruned and exhaustive searches return the same ids and bit-identical scores. When documents
were reordered so that similar ones are adjacent, :func:`search_block_max` bounds blocks of ``1 << BLOCK_SHIFT``
documents with per (term, block) maxima (:func:`block_maxima`) and scores only the blocks that can still enter
the top k, again in the contract's order.

>>> import numpy as np
>>> offsets, docs, values = build_segment(np.array([0, 2, 3]), np.array([1, 2, 1], np.int32),
...                                       np.array([0.5, 1.0, 2.0], np.float32), 3, 0)
>>> offsets.tolist(), docs.tolist(), values.tolist()
([0, 0, 2, 3], [0, 1, 0], [0.5, 2.0, 1.0])
"""

from __future__ import annotations

import numpy as np

from spladekit import lucene

# numba swaps this for numba.prange (see _numba.py); here the batch loop runs serially.
prange = range


def decode_table() -> np.ndarray:
    """Every uint16 FeatureField frequency decoded to its float32 value (a 256 KiB lookup table)."""
    return lucene.decode(np.arange(1 << 16, dtype=np.uint32).astype(np.uint16))


# --- scoring -------------------------------------------------------------------------------------------------


def accumulate_lucene(q_ids, q_weights, offsets, docs, freqs, table, acc, touched, n_touched):
    """Add one segment's clause scores (uint16 frequencies) to ``acc``; new documents go to ``touched``."""
    n_terms = offsets.shape[0] - 1
    for i in range(q_ids.shape[0]):
        t = q_ids[i]
        if t < 0 or t >= n_terms:
            continue
        w = q_weights[i]
        for p in range(offsets[t], offsets[t + 1]):
            v = w * table[freqs[p]]  # float32 * float32 -> float32, as Lucene's clause score
            if v > 0:
                d = docs[p]
                # Clause scores are > 0, so a zero accumulator means "not seen yet" (no separate mask to reset).
                if acc[d] == 0.0:
                    touched[n_touched] = d
                    n_touched += 1
                acc[d] += v
    return n_touched


def accumulate_exact(q_ids, q_weights, offsets, docs, weights, acc, touched, n_touched):
    """:func:`accumulate_lucene` for float32 weights (``exact`` mode)."""
    n_terms = offsets.shape[0] - 1
    for i in range(q_ids.shape[0]):
        t = q_ids[i]
        if t < 0 or t >= n_terms:
            continue
        w = q_weights[i]
        for p in range(offsets[t], offsets[t + 1]):
            v = w * weights[p]
            if v > 0:
                d = docs[p]
                if acc[d] == 0.0:
                    touched[n_touched] = d
                    n_touched += 1
                acc[d] += v
    return n_touched


def accumulate(q_ids, q_weights, offsets, docs, values, table, acc, touched, n_touched):
    """Dispatch on the mode: ``table is None`` means float32 weights (numba prunes the other branch)."""
    if table is None:
        return accumulate_exact(q_ids, q_weights, offsets, docs, values, acc, touched, n_touched)
    return accumulate_lucene(q_ids, q_weights, offsets, docs, values, table, acc, touched, n_touched)


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


def select_top_k(acc, touched, n_touched, allowed, k, out_docs, out_scores):
    """The best ``k`` touched documents allowed by the mask, best first; returns how many were found.

    ``allowed`` is a bool mask over internal documents, or empty for "all". Scores are compared as float32
    (what the caller gets), ties by document number, so the order is total and deterministic.
    """
    n = offer_touched(acc, touched, n_touched, allowed, k, out_docs, out_scores, 0)
    heap_sort(out_scores, out_docs, n)
    return n


def offer_touched(acc, touched, n_touched, allowed, k, out_docs, out_scores, n):
    """Offer the touched documents allowed by the mask to the top-``k`` heap holding ``n``; returns its size."""
    check = allowed.shape[0] > 0
    for i in range(n_touched):
        d = touched[i]
        if check and not allowed[d]:
            continue
        n = heap_push(out_scores, out_docs, n, k, np.float32(acc[d]), d)
    return n


def reset(acc, touched, n_touched):
    """Zero the accumulator where the last query wrote, so the next query starts clean."""
    for i in range(n_touched):
        acc[touched[i]] = 0.0


def clause(w, values, table, p):
    """One clause score ``float32(w * value)`` of posting ``p`` (``table is None``: float32 weights)."""
    if table is None:
        return w * values[p]
    return w * table[values[p]]


def accumulate_term(t, w, offsets, docs, values, table, acc, touched, n_touched):
    """:func:`accumulate` for one query term ``t`` of weight ``w``."""
    for p in range(offsets[t], offsets[t + 1]):
        v = clause(w, values, table, p)
        if v > 0:
            d = docs[p]
            if acc[d] == 0.0:
                touched[n_touched] = d
                n_touched += 1
            acc[d] += v
    return n_touched


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


def exact_score(q_ids, q_weights, offsets, docs, values, table, d):
    """Document ``d``'s score by the contract: clauses in ascending term order, float64 sum."""
    n_terms = offsets.shape[0] - 1
    total = np.float64(0.0)  # not 0.0: numpy would add a float32 clause to a Python float in float32
    for i in range(q_ids.shape[0]):
        t = q_ids[i]
        if t < 0 or t >= n_terms:
            continue
        p = find_posting(docs, offsets[t], offsets[t + 1], d)
        if p >= 0:
            v = clause(q_weights[i], values, table, p)
            if v > 0:
                total += v
    return total


# Relative slack on pruning bounds: partial sums are float64 in another order than the final one, and the
# threshold is read back as float32; 1e-6 is far above both errors, so pruning never drops a true hit.
SLACK = 1e-6
#: Dense path: keep adding whole posting lists until the bound of the rest is below this share of the
#: threshold (a bound just under it would leave most touched documents as candidates).
STOP_FACTOR = 0.4
#: How many touched documents (in touch order) a pruning threshold is computed from.
THRESHOLD_SAMPLE = 1 << 15


def term_bounds(q_ids, q_weights, offsets, term_max):
    """Per query term the score bound ``q * max weight`` (0 for absent terms), the terms by decreasing bound,
    and ``rest[j]``: the sum of the bounds from the j-th strongest term on."""
    n_terms = offsets.shape[0] - 1
    nq = q_ids.shape[0]
    ub = np.zeros(nq, np.float64)
    for i in range(nq):
        t = q_ids[i]
        if 0 <= t < n_terms and offsets[t + 1] > offsets[t]:
            ub[i] = q_weights[i] * term_max[t]
    order = np.argsort(-ub)
    rest = np.zeros(nq + 1, np.float64)
    for j in range(nq - 1, -1, -1):
        rest[j] = rest[j + 1] + ub[order[j]]
    return ub, order, rest


def search_pruned(q_ids, q_weights, offsets, docs, values, table, term_max, allowed, k, acc, touched, cand, bits,
                  out_docs, out_scores):
    """Exact top-``k`` of one query with MaxScore-style pruning; same results as the exhaustive search.

    Terms are taken by decreasing upper bound ``q_t * max value of t`` and their postings added to the
    accumulators. Once the bound ``rest`` of the terms not yet taken is below the current k-th partial score
    (the threshold), no untouched document can enter the top k: the remaining terms only complete the
    candidates (touched documents that can still reach the threshold), flagged in the bitset ``bits`` (small
    enough to stay in cache, unlike the accumulators). The best candidates are finally re-scored term by
    term in ascending id order, so the float64 sum (and the float32 score) is exactly the exhaustive one.
    """
    nq = q_ids.shape[0]
    ub, order, rest = term_bounds(q_ids, q_weights, offsets, term_max)
    n = 0
    j = 0
    theta = 0.0
    last_try = rest[0]
    pruned = False
    while j < nq:
        i = order[j]
        if ub[i] <= 0:
            break
        n = accumulate_term(q_ids[i], q_weights[i], offsets, docs, values, table, acc, touched, n)
        j += 1
        r = rest[j]
        if r <= 0:
            break
        # A threshold costs a pass over the touched documents: try only when the bound has fallen enough.
        if n >= k and r < 0.5 * rest[0] and r < 0.7 * last_try:
            last_try = r
            # Any k touched documents give a valid (lower) threshold; the first ones come from the terms
            # with the highest bounds, so a bounded prefix keeps most of the threshold at a fraction of the cost.
            got = select_top_k(acc, touched, min(n, THRESHOLD_SAMPLE), allowed, k, out_docs, out_scores)
            if got == k:
                theta = np.float64(out_scores[k - 1]) * (1 - SLACK)
                if r < theta:
                    pruned = True
                    break
    check = allowed.shape[0] > 0
    c = 0
    if pruned:
        r = rest[j]
        for x in range(n):
            d = touched[x]
            if (not check or allowed[d]) and acc[d] + r >= theta:
                cand[c] = d
                c += 1
                bits[d >> 3] |= np.uint8(1 << (d & 7))
        for jj in range(j, nq):
            i = order[jj]
            if ub[i] <= 0:
                continue
            t = q_ids[i]
            w = q_weights[i]
            for p in range(offsets[t], offsets[t + 1]):
                d = docs[p]
                if bits[d >> 3] & (1 << (d & 7)):
                    v = clause(w, values, table, p)
                    if v > 0:
                        acc[d] += v
        for x in range(c):
            d = cand[x]
            bits[d >> 3] = 0
    else:
        for x in range(n):
            d = touched[x]
            if not check or allowed[d]:
                cand[c] = d
                c += 1
    got = finish_pruned(q_ids, q_weights, offsets, docs, values, table, allowed, k, acc, cand, c, out_docs,
                        out_scores)
    reset(acc, touched, n)
    return got


def finish_pruned(q_ids, q_weights, offsets, docs, values, table, allowed, k, acc, cand, c, out_docs, out_scores):
    """Top-``k`` of ``c`` candidates: approximate order first, then exact re-scoring of the finalists."""
    got = select_top_k(acc, cand, c, allowed, k, out_docs, out_scores)
    if got == 0:
        return 0
    # Finalists: candidates whose (reordered) sum is within the slack of the k-th; re-score them exactly.
    floor = np.float64(out_scores[got - 1]) * (1 - SLACK) if got == k else 0.0
    f = 0
    for x in range(c):
        d = cand[x]
        if acc[d] >= floor:
            cand[f] = d
            f += 1
    for x in range(f):
        d = cand[x]
        acc[d] = exact_score(q_ids, q_weights, offsets, docs, values, table, d)
    return select_top_k(acc, cand, f, allowed, k, out_docs, out_scores)


def search_dense(q_ids, q_weights, offsets, docs, values, table, term_max, allowed, k, acc, cand, bits, hits,
                 out_docs, out_scores):
    """:func:`search_pruned` for queries that touch a good part of the collection.

    No touched list (no branch per posting): thresholds come from the postings of the strongest term,
    candidates from one sequential pass over the accumulators, which are then zeroed in one go.
    """
    n_docs = acc.shape[0]
    nq = q_ids.shape[0]
    ub, order, rest = term_bounds(q_ids, q_weights, offsets, term_max)
    j = 0
    theta = 0.0
    last_try = rest[0]
    pruned = False
    first = -1
    while j < nq:
        i = order[j]
        if ub[i] <= 0:
            break
        t = q_ids[i]
        w = q_weights[i]
        for p in range(offsets[t], offsets[t + 1]):
            v = clause(w, values, table, p)
            if v > 0:
                acc[docs[p]] += v
        if first < 0:
            first = t
        j += 1
        r = rest[j]
        if r <= 0:
            break
        if r < 0.5 * rest[0] and r < 0.7 * last_try:
            last_try = r
            lo = offsets[first]
            m = min(offsets[first + 1] - lo, THRESHOLD_SAMPLE)
            got = select_top_k(acc, docs[lo:lo + m], m, allowed, k, out_docs, out_scores)
            if got == k and out_scores[k - 1] > 0:
                theta = np.float64(out_scores[k - 1]) * (1 - SLACK)
                if r < STOP_FACTOR * theta:
                    pruned = True
                    break
    check = allowed.shape[0] > 0
    r = rest[j] if pruned else 0.0
    lim = max(theta - r, 0.0)
    c = 0
    # Branch-free compaction: most documents are touched here, so a branch would mispredict all the time.
    if check:
        for d in range(n_docs):
            a = acc[d]
            cand[c] = d
            c += (a > 0) & (a >= lim) & allowed[d]
    else:
        for d in range(n_docs):
            a = acc[d]
            cand[c] = d
            c += (a > 0) & (a >= lim)
    if pruned:
        for x in range(c):
            d = cand[x]
            bits[d >> 3] |= np.uint8(1 << (d & 7))
        for jj in range(j, nq):
            i = order[jj]
            if ub[i] <= 0:
                continue
            t = q_ids[i]
            w = q_weights[i]
            lo = offsets[t]
            hi = offsets[t + 1]
            if c * 16 < hi - lo:
                # Few candidates against a long list: gallop through it (candidates are ascending).
                p = lo
                for x in range(c):
                    d = cand[x]
                    p = gallop(docs, p, hi, d)
                    if p >= hi:
                        break
                    if docs[p] == d:
                        v = clause(w, values, table, p)
                        if v > 0:
                            acc[d] += v
                continue
            # Branch-free: gather the candidates' postings of this term into a buffer, then add them.
            m = 0
            for p in range(lo, hi):
                d = docs[p]
                hits[m] = p
                m += (bits[d >> 3] >> (d & 7)) & 1
            for x in range(m):
                p = hits[x]
                v = clause(w, values, table, p)
                if v > 0:
                    acc[docs[p]] += v
        for x in range(c):
            d = cand[x]
            bits[d >> 3] = 0
    got = finish_pruned(q_ids, q_weights, offsets, docs, values, table, allowed, k, acc, cand, c, out_docs,
                        out_scores)
    acc[:] = 0.0
    return got


# --- range-blocked exhaustive search ---------------------------------------------------------------------

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


#: Documents per range of :func:`search_chunked`: ``1 << CHUNK_SHIFT`` float64 sums (128 KiB) stay in L2.
CHUNK_SHIFT = 14
#: Queries with at least this many postings per document go to :func:`search_chunked`: with so many
#: postings MaxScore prunes little, and cache-resident range sums beat it (measured at 1M documents).
CHUNK_LOAD = 2.0


def search_chunked(q_ids, q_weights, offsets, docs, values, table, shift, allowed, k, cacc, out_docs, out_scores):
    """Exhaustive exact top-``k`` of one query, documents taken in ranges of ``1 << shift``.

    For queries whose postings cover a good part of the collection. The float64 sums of one range (``cacc``,
    at least ``min(1 << shift, n_docs)`` long, left zeroed) stay in the CPU cache while the query's postings
    of that range are added term by term, in ascending query term order: the contract's order, so the sums
    are the exact scores and need no re-scoring. Each term's postings being sorted by document, a cursor per
    query term walks its list once (its end in the range found by galloping). After each range its documents
    are offered to the top-``k`` heap (ties by document number) and the sums are zeroed.
    """
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
            w = q_weights[i]
            # No test for a positive clause: w > 0 and stored values are > 0, so a clause is > 0 or an
            # underflow to +0.0, which leaves a float64 sum unchanged (and an all-zero sum is not a hit).
            for q in range(p, stop):
                cacc[docs[q] - base] += clause(w, values, table, q)
            cursor[i] = stop
        top = min(size, n_docs - base)
        # Below the k-th score less a slack (for the float32 cast) no document can enter the top k.
        floor = np.float64(out_scores[0]) * (1 - SLACK) if n == k else 0.0
        for j in range(top):
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


# --- block-max search (rows reordered so that similar documents are adjacent) --------------------------------

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
    """
    bm_offsets = count_blocks(offsets, docs, shift)
    n = bm_offsets[-1]
    bm_blocks = np.empty(n, np.int32)
    bm_max = np.empty(n, values.dtype)
    bm_start = np.empty(n, np.int32)
    fill_blocks(offsets, docs, values, shift, bm_offsets, bm_blocks, bm_max, bm_start)
    return bm_offsets, bm_blocks, bm_max, bm_start


def search_block_max(q_ids, q_weights, offsets, docs, values, table, shift, bm_offsets, bm_blocks, bm_max, bm_start,
                     give_up, allowed, k, n, ub, order, out_docs, out_scores):
    """Exact top-``k`` of one query by block-max pruning; returns the size of the (unsorted) heap.

    ``n`` hits are already in the heap ``out_docs``/``out_scores`` (the tail's, say); returns -1 (the heap then
    holds nothing of use) when the bounds turn out too loose to pay (see :data:`GIVE_UP`; 1 never gives up).
    Every block's bound is the
    sum of ``float32(q_t * block max of t)`` over the query terms, added in float64 **in ascending query term
    order**: clause by clause it is >= the document's clause (float32 rounding is monotone) and float64 addition
    is monotone, so the bound is >= the float64 sum of the contract for every document of the block, exactly.
    Blocks are visited by decreasing bound (bucketed), their documents scored exactly in contract order (for each
    query term, its entry for the block found by binary search gives the block's postings), and offered to the
    heap. A block is skipped when its bound is below the k-th score less :data:`SLACK` (a document scoring
    exactly the k-th and placed earlier would still win its tie, so equality is visited); then every block of
    the lower buckets is below it too, and the search stops after the current bucket.
    ``ub`` (float64, zeros, at least as long as the number of blocks) is left zeroed; ``order`` is int32 scratch.
    """
    n_terms = bm_offsets.shape[0] - 1
    nq = q_ids.shape[0]
    n_blocks = 0
    for i in range(nq):
        t = q_ids[i]
        # Clauses of weights <= 0 are never added (as in the other paths), so they bound nothing either.
        if t < 0 or t >= n_terms or q_weights[i] <= 0 or bm_offsets[t + 1] == bm_offsets[t]:
            continue
        w = q_weights[i]
        for e in range(bm_offsets[t], bm_offsets[t + 1]):
            ub[bm_blocks[e]] += clause(w, bm_max, table, e)
        n_blocks = max(n_blocks, bm_blocks[bm_offsets[t + 1] - 1] + 1)
    top = 0.0
    live = 0
    for b in range(n_blocks):
        top = max(top, ub[b])
        live += ub[b] > 0
    if top <= 0:
        for b in range(n_blocks):
            ub[b] = 0.0
        return n
    # Counting sort of the blocks by bucket of their bound (the bucket is monotone in the bound).
    scale = (BOUND_BUCKETS - 1) / top
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
    limit = np.float64(out_scores[0]) * (1 - SLACK) if n == k else 0.0
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
                w = q_weights[i]
                for p in range(lo + bm_start[e], hi):
                    bacc[docs[p] - base] += clause(w, values, table, p)
            for y in range(size):
                a = bacc[y]
                if a > 0:
                    bacc[y] = 0.0
                    d = base + y
                    if not check or allowed[d]:
                        n = heap_push(out_scores, out_docs, n, k, np.float32(a), d)
            if n == k:
                limit = np.float64(out_scores[0]) * (1 - SLACK)
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


def search_batch(q_offsets, q_ids, q_weights, offsets, docs, values, tail_offsets, tail_docs, tail_values,
                 table, term_max, bm_shift, bm_offsets, bm_blocks, bm_max, bm_start, bm_fill, bm_give_up, allowed, k,
                 acc, touched, cand, bits, out_docs, out_scores, out_counts):
    """Top-``k`` of every query (CSR ``q_offsets/q_ids/q_weights``) over a main and a tail segment.

    ``acc`` (float64, zeros) and ``touched`` (int32) are ``(n_workers, n_docs)`` workspaces; worker ``w`` takes
    queries ``w, w + n_workers, ...``, so the outer loop parallelises over workers (``prange`` under numba).
    Results go to ``out_docs``/``out_scores`` (``(n_queries, k)``) and ``out_counts`` (hits per query).
    Paths, all exact and giving the same results: with the main segment's block-max lists (``bm_*``, from
    :func:`block_maxima` with ``bm_shift``; empty ``bm_offsets`` for none) :func:`search_block_max` for the
    queries whose :func:`block_fill` is at least ``bm_fill`` times the block size (the tail scored exhaustively
    first), unless it gives up (``bm_give_up``, see :data:`GIVE_UP`); else with per-term maxima ``term_max``
    (float32, one per term of the main segment) and an empty tail, :func:`search_chunked`, :func:`search_dense`
    or :func:`search_pruned` by the query's postings; else (an empty ``term_max``, or a tail) every posting is
    scored. ``cand`` is a third ``(n_workers, n_docs)`` int32 workspace, ``bits`` a
    ``(n_workers, n_docs // 8 + 1)`` uint8 one.
    """
    n_queries = q_offsets.shape[0] - 1
    n_workers = acc.shape[0]
    for w in prange(n_workers):
        for q in range(w, n_queries, n_workers):
            lo = q_offsets[q]
            hi = q_offsets[q + 1]
            qi = q_ids[lo:hi]
            qw = q_weights[lo:hi]
            if bm_offsets.shape[0] > 0 and block_fill(qi, offsets, bm_offsets) >= bm_fill * (1 << bm_shift):
                n = 0
                if tail_docs.shape[0] > 0:
                    m = accumulate(qi, qw, tail_offsets, tail_docs, tail_values, table, acc[w], touched[w], 0)
                    n = offer_touched(acc[w], touched[w], m, allowed, k, out_docs[q], out_scores[q], 0)
                    reset(acc[w], touched[w], m)
                n = search_block_max(qi, qw, offsets, docs, values, table, bm_shift, bm_offsets, bm_blocks, bm_max,
                                     bm_start, bm_give_up, allowed, k, n, acc[w], cand[w], out_docs[q],
                                     out_scores[q])
                if n >= 0:
                    heap_sort(out_scores[q], out_docs[q], n)
                    out_counts[q] = n
                    continue
            if term_max.shape[0] > 0 and tail_docs.shape[0] == 0:
                # Queries whose postings would touch a good part of the collection go the dense way.
                load = 0
                for i in range(hi - lo):
                    t = qi[i]
                    if 0 <= t < offsets.shape[0] - 1:
                        load += offsets[t + 1] - offsets[t]
                if load >= CHUNK_LOAD * acc.shape[1]:
                    out_counts[q] = search_chunked(qi, qw, offsets, docs, values, table, CHUNK_SHIFT, allowed, k,
                                                   acc[w], out_docs[q], out_scores[q])
                    continue
                if 4 * load >= acc.shape[1]:
                    # touched[w] is free in the dense path: it buffers posting positions there.
                    out_counts[q] = search_dense(qi, qw, offsets, docs, values, table, term_max, allowed, k, acc[w],
                                                 cand[w], bits[w], touched[w], out_docs[q], out_scores[q])
                    continue
                out_counts[q] = search_pruned(qi, qw, offsets, docs, values, table, term_max, allowed, k, acc[w],
                                              touched[w], cand[w], bits[w], out_docs[q], out_scores[q])
                continue
            n = accumulate(qi, qw, offsets, docs, values, table, acc[w], touched[w], 0)
            n = accumulate(qi, qw, tail_offsets, tail_docs, tail_values, table, acc[w], touched[w], n)
            out_counts[q] = select_top_k(acc[w], touched[w], n, allowed, k, out_docs[q], out_scores[q])
            reset(acc[w], touched[w], n)


# --- building and merging segments ---------------------------------------------------------------------------


def count_terms(term_ids, n_terms):
    """Postings per term of doc-major term ids, as ``n_terms + 1`` offsets."""
    counts = np.zeros(n_terms + 1, np.int64)
    for p in range(term_ids.shape[0]):
        counts[term_ids[p] + 1] += 1
    for t in range(n_terms):
        counts[t + 1] += counts[t]
    return counts


def fill_segment(doc_offsets, term_ids, values, first_doc, offsets, out_docs, out_values):
    """Scatter doc-major postings into term-major arrays (counting sort; docs stay ascending per term)."""
    cursor = offsets[:-1].copy()
    for d in range(doc_offsets.shape[0] - 1):
        for p in range(doc_offsets[d], doc_offsets[d + 1]):
            t = term_ids[p]
            j = cursor[t]
            cursor[t] = j + 1
            out_docs[j] = first_doc + d
            out_values[j] = values[p]


def build_segment(doc_offsets, term_ids, values, n_terms, first_doc):
    """Term-major segment ``(offsets, docs, values)`` of doc-major CSR documents numbered from ``first_doc``."""
    offsets = count_terms(term_ids, n_terms)
    out_docs = np.empty(term_ids.shape[0], np.int32)
    out_values = np.empty(term_ids.shape[0], values.dtype)
    fill_segment(doc_offsets, term_ids, values, first_doc, offsets, out_docs, out_values)
    return offsets, out_docs, out_values


def count_merged(a_offsets, a_docs, b_offsets, b_docs, renumber, n_terms):
    """Offsets of the merge of two segments, keeping postings whose document has ``renumber[d] >= 0``."""
    out = np.zeros(n_terms + 1, np.int64)
    for t in range(n_terms):
        c = 0
        if t < a_offsets.shape[0] - 1:
            for p in range(a_offsets[t], a_offsets[t + 1]):
                if renumber[a_docs[p]] >= 0:
                    c += 1
        if t < b_offsets.shape[0] - 1:
            for p in range(b_offsets[t], b_offsets[t + 1]):
                if renumber[b_docs[p]] >= 0:
                    c += 1
        out[t + 1] = out[t] + c
    return out


def fill_merged(a_offsets, a_docs, a_values, b_offsets, b_docs, b_values, renumber, offsets, out_docs,
                out_values):
    """Write the merged postings (segment ``a`` holds lower document numbers than ``b``, so order is kept)."""
    for t in range(offsets.shape[0] - 1):
        j = offsets[t]
        if t < a_offsets.shape[0] - 1:
            for p in range(a_offsets[t], a_offsets[t + 1]):
                d = renumber[a_docs[p]]
                if d >= 0:
                    out_docs[j] = d
                    out_values[j] = a_values[p]
                    j += 1
        if t < b_offsets.shape[0] - 1:
            for p in range(b_offsets[t], b_offsets[t + 1]):
                d = renumber[b_docs[p]]
                if d >= 0:
                    out_docs[j] = d
                    out_values[j] = b_values[p]
                    j += 1


def term_maxima(offsets, values, table):
    """The largest value of each term's postings (decoded to float32), the bound pruning starts from."""
    n_terms = offsets.shape[0] - 1
    out = np.zeros(n_terms, np.float32)
    for t in range(n_terms):
        m = np.float32(0.0)
        for p in range(offsets[t], offsets[t + 1]):
            v = clause(np.float32(1.0), values, table, p)
            if v > m:
                m = v
        out[t] = m
    return out


def merge_segments(a, b, renumber, n_terms):
    """One segment from segments ``a`` and ``b`` (tuples of arrays), dropping documents with ``renumber < 0``."""
    offsets = count_merged(a[0], a[1], b[0], b[1], renumber, n_terms)
    out_docs = np.empty(offsets[-1], np.int32)
    out_values = np.empty(offsets[-1], a[2].dtype)
    fill_merged(a[0], a[1], a[2], b[0], b[1], b[2], renumber, offsets, out_docs, out_values)
    return offsets, out_docs, out_values


#: :func:`doc_major` fills rows in ranges of ``1 << ROWS_SHIFT`` documents, whose output stays in the CPU cache.
ROWS_SHIFT = 12


def fill_rows(offsets, docs, values, doc_offsets, out_terms, out_values):
    """Scatter term-major postings into doc-major rows (term ids come out ascending per row).

    Rows are filled range by range, each term's cursor resuming where the previous range stopped: the writes of
    one range stay in cache instead of landing all over the output.
    """
    n_terms = offsets.shape[0] - 1
    n_docs = doc_offsets.shape[0] - 1
    cursor = offsets[:-1].copy()
    fill = doc_offsets[:-1].copy()
    for base in range(0, n_docs, 1 << ROWS_SHIFT):
        lim = base + (1 << ROWS_SHIFT)
        for t in range(n_terms):
            p = cursor[t]
            hi = offsets[t + 1]
            while p < hi and docs[p] < lim:
                j = fill[docs[p]]
                fill[docs[p]] = j + 1
                out_terms[j] = t
                out_values[j] = values[p]
                p += 1
            cursor[t] = p


def doc_major(offsets, docs, values, n_docs):
    """The doc-major CSR ``(doc_offsets, term_ids, values)`` of a segment of ``n_docs`` documents."""
    doc_offsets = count_terms(docs, n_docs)  # postings per document: the same histogram
    out_terms = np.empty(docs.shape[0], np.int32)
    out_values = np.empty(docs.shape[0], values.dtype)
    fill_rows(offsets, docs, values, doc_offsets, out_terms, out_values)
    return doc_offsets, out_terms, out_values


def count_taken(doc_offsets, order):
    """Offsets of the doc-major rows ``order[0], order[1], ...``."""
    out = np.zeros(order.shape[0] + 1, np.int64)
    for i in range(order.shape[0]):
        out[i + 1] = out[i] + doc_offsets[order[i] + 1] - doc_offsets[order[i]]
    return out


def fill_taken(doc_offsets, term_ids, values, order, out_offsets, out_terms, out_values):
    """Copy row ``order[i]`` of a doc-major CSR to row ``i``."""
    for i in range(order.shape[0]):
        j = out_offsets[i]
        for p in range(doc_offsets[order[i]], doc_offsets[order[i] + 1]):
            out_terms[j] = term_ids[p]
            out_values[j] = values[p]
            j += 1


def take_rows(doc_offsets, term_ids, values, order):
    """The doc-major CSR whose row ``i`` is row ``order[i]`` of the given one."""
    out_offsets = count_taken(doc_offsets, order)
    out_terms = np.empty(out_offsets[-1], term_ids.dtype)
    out_values = np.empty(out_offsets[-1], values.dtype)
    fill_taken(doc_offsets, term_ids, values, order, out_offsets, out_terms, out_values)
    return out_offsets, out_terms, out_values


#: The functions ``_numba.py`` compiles, callees before callers.
COMPILED = (
    "accumulate_lucene", "accumulate_exact", "accumulate", "worse", "sift_down", "heap_push", "offer_touched",
    "select_top_k", "reset",
    "clause", "accumulate_term", "find_posting", "find_postings", "exact_score", "term_bounds", "search_pruned",
    "finish_pruned",
    "search_dense",
    "term_maxima", "heap_sort", "gallop", "search_chunked",
    "count_blocks", "fill_blocks", "search_block_max", "block_fill",
    "count_terms", "fill_segment", "count_merged", "fill_merged", "fill_rows", "count_taken",
    "fill_taken",
)
#: Compiled twice: serially, and with ``prange`` run in parallel.
BATCH = "search_batch"
#: Plain Python drivers that call the compiled functions (re-bound, not compiled).
DRIVERS = ("build_segment", "merge_segments", "block_maxima", "doc_major", "take_rows")
