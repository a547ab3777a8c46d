"""Exact top-``k`` with MaxScore-style pruning: :func:`search_pruned`, and :func:`search_dense` for queries
touching a good part of the collection.

Both take the query's terms by decreasing upper bound ``q_t * max value of t`` (:func:`term_maxima`), stop
opening new documents once the bound of the terms left is below the k-th partial score, complete the candidates
that can still reach it, and re-score the finalists in the contract's order (:func:`exact_score`): pruned and
exhaustive searches return the same ids and bit-identical scores.
"""

from __future__ import annotations

import numpy as np

from spladekit.local.kernels.accumulate import accumulate_term, add_postings, clause, reset
from spladekit.local.kernels.postings import find_posting, gallop
from spladekit.local.kernels.topk import SLACK, select_top_k

#: Dense path: keep adding whole posting lists until the bound of the rest is below this share of the
#: threshold (a bound just under it would leave most touched documents as candidates).
STOP_FACTOR = 0.4
#: How many touched documents (in touch order) a pruning threshold is computed from.
THRESHOLD_SAMPLE = 1 << 15


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


def term_bounds(query, offsets, term_max):
    """Per query term the score bound ``q * max weight`` (0 for absent terms), the terms by decreasing bound,
    and ``rest[j]``: the sum of the bounds from the j-th strongest term on."""
    q_ids, q_weights = query
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


def exact_score(query, segment, table, d):
    """Document ``d``'s score by the contract: clauses in ascending term order, float64 sum."""
    q_ids, q_weights = query
    offsets, docs, values = segment
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


def search_pruned(query, segment, table, term_max, allowed, k, work, top):
    """Exact top-``k`` of one query with MaxScore-style pruning; same results as the exhaustive search.

    Terms are taken by decreasing upper bound ``q_t * max value of t`` and their postings added to the
    accumulators. Once the bound ``rest`` of the terms not yet taken is below the current k-th partial score
    (the threshold), no untouched document can enter the top k: the remaining terms only complete the
    candidates (touched documents that can still reach the threshold), flagged in the bitset ``bits`` (small
    enough to stay in cache, unlike the accumulators). The best candidates are finally re-scored term by
    term in ascending id order, so the float64 sum (and the float32 score) is exactly the exhaustive one.
    ``work`` is one worker's :class:`~spladekit.local.kernels.tuples.Workspace`, ``top`` the query's hits.
    """
    q_ids, q_weights = query
    offsets = segment.offsets
    acc, touched, cand, bits = work
    out_docs, out_scores = top
    nq = q_ids.shape[0]
    ub, order, rest = term_bounds(query, offsets, term_max)
    n = 0
    j = 0
    theta = 0.0
    last_try = rest[0]
    pruned = False
    while j < nq:
        i = order[j]
        if ub[i] <= 0:
            break
        n = accumulate_term(q_ids[i], q_weights[i], segment, table, acc, touched, n)
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
            # Only the candidates' postings: no new document, so none goes to the touched list.
            add_postings(q_weights[i], segment, table, offsets[t], offsets[t + 1], acc, 0, None, 0, bits)
        for x in range(c):
            d = cand[x]
            bits[d >> 3] = 0
    else:
        for x in range(n):
            d = touched[x]
            if not check or allowed[d]:
                cand[c] = d
                c += 1
    got = finish_pruned(query, segment, table, allowed, k, acc, cand, c, top)
    reset(acc, touched, n)
    return got


def finish_pruned(query, segment, table, allowed, k, acc, cand, c, top):
    """Top-``k`` of ``c`` candidates: approximate order first, then exact re-scoring of the finalists."""
    out_docs, out_scores = top
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
        acc[d] = exact_score(query, segment, table, d)
    return select_top_k(acc, cand, f, allowed, k, out_docs, out_scores)


def search_dense(query, segment, table, term_max, allowed, k, work, top):
    """:func:`search_pruned` for queries that touch a good part of the collection.

    No touched list (no branch per posting): thresholds come from the postings of the strongest term,
    candidates from one sequential pass over the accumulators, which are then zeroed in one go. The touched
    row of ``work`` is free here: it buffers posting positions.
    """
    q_ids, q_weights = query
    offsets, docs, values = segment
    acc, hits, cand, bits = work
    out_docs, out_scores = top
    n_docs = acc.shape[0]
    nq = q_ids.shape[0]
    ub, order, rest = term_bounds(query, offsets, term_max)
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
        add_postings(q_weights[i], segment, table, offsets[t], offsets[t + 1], acc, 0, None, 0, None)
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
        # The candidates' postings of the remaining terms. Not add_postings(only=bits): its test per posting
        # mispredicts when the candidates are a fair share of the documents; galloping skips the others'
        # postings, gathering tests them without a branch.
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
    got = finish_pruned(query, segment, table, allowed, k, acc, cand, c, top)
    acc[:] = 0.0
    return got


#: Compiled by :mod:`spladekit.jit` (the package gathers every module's).
COMPILED = ("term_maxima", "term_bounds", "exact_score", "search_pruned", "finish_pruned", "search_dense")
