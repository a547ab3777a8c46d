"""Document reordering by recursive graph bisection (BP), so that similar documents get adjacent numbers.

The algorithm of Dhulipala et al. (KDD 2016) as reproduced by Mackenzie et al. (ECIR 2019) and used by BMP
(Mallia et al., SIGIR 2024) for learned sparse indexes: split the documents in two halves; in each of
``iterations`` rounds, compute every term's degree (documents holding it) in each half, each document's gain
from moving to the other half under the log-gap cost (a term of degree ``d`` in a half of ``n`` documents costs
``d * log2(n / (d + 1))`` bits), sort each half by gain (largest first) and swap the pairs of the two sorted
halves while the pair's summed gain is positive; stop early when nothing swaps; then bisect each half the same
way until parts hold at most ``leaf_size`` documents. The halves' order after the last round is kept, so each
child starts from its parent's gain order, as in PISA's ``recursive_graph_bisection``.

Written once in plain numpy and loops (the numba subset); :func:`spladekit.jit.functions` compiles
it, and without numba the same code runs as plain Python (slowly, same order). Logarithms come from one table
computed by numpy and sorts are stable, so the two backends agree exactly. Nodes of one level are independent
and each is bisected from its own documents only, so the order does not depend on the number of threads.

>>> import numpy as np
>>> a = [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]   # two topics, interleaved
>>> b = [[5, 6, 7], [5, 6, 8], [5, 7, 8], [6, 7, 8]]
>>> docs = [a[0], a[1], b[0], a[2], b[1], b[2], a[3], b[3]]
>>> offsets = np.cumsum([0] + [len(d) for d in docs]); terms = np.concatenate(docs).astype(np.int32)
>>> order = bp_order(offsets, terms, 9, leaf_size=2)
>>> order.tolist()   # rows 0, 1, 3, 6 are topic a
[6, 0, 1, 3, 2, 4, 5, 7]
>>> round(log_gap_cost(offsets, terms, 9), 3), round(log_gap_cost(offsets, terms, 9, order), 3)
(1.013, 0.606)
"""

from __future__ import annotations

import sys

import numpy as np

from spladekit import jit

# numba swaps this for numba.prange (see spladekit.jit); here every loop runs serially.
prange = range


# --- kernels (the numba subset) ------------------------------------------------------------------------------


def filter_terms(doc_offsets, term_ids, new_id):
    """Doc-major CSR keeping the terms with ``new_id[t] >= 0``, renumbered to ``new_id[t]``."""
    n_docs = doc_offsets.shape[0] - 1
    out_offsets = np.zeros(n_docs + 1, np.int64)
    for d in range(n_docs):
        c = 0
        for p in range(doc_offsets[d], doc_offsets[d + 1]):
            if new_id[term_ids[p]] >= 0:
                c += 1
        out_offsets[d + 1] = out_offsets[d] + c
    out_terms = np.empty(out_offsets[n_docs], np.int32)
    j = 0
    for p in range(term_ids.shape[0]):
        t = new_id[term_ids[p]]
        if t >= 0:
            out_terms[j] = t
            j += 1
    return out_offsets, out_terms


def gather_rows(doc_offsets, term_ids, rows):
    """The CSR rows ``rows[0], rows[1], ...`` copied into a new contiguous CSR, in that order."""
    n = rows.shape[0]
    out_offsets = np.zeros(n + 1, np.int64)
    for i in range(n):
        d = rows[i]
        out_offsets[i + 1] = out_offsets[i] + doc_offsets[d + 1] - doc_offsets[d]
    out_terms = np.empty(out_offsets[n], np.int32)
    for i in prange(n):
        d = rows[i]
        j = out_offsets[i]
        for p in range(doc_offsets[d], doc_offsets[d + 1]):
            out_terms[j] = term_ids[p]
            j += 1
    return out_offsets, out_terms


def count_degrees(doc_offsets, term_ids, lo, hi, left, deg_l, deg_r, touched):
    """Degrees of the terms of rows ``lo:hi`` in the left (``left[r - lo]``) and right halves; lists the terms.

    ``deg_l``/``deg_r`` are zero on entry for every term (a term is new to the node while both are zero), so
    only the node's own terms are touched and reset, never the whole vocabulary. Returns how many terms.
    """
    n = 0
    for r in range(lo, hi):
        for p in range(doc_offsets[r], doc_offsets[r + 1]):
            t = term_ids[p]
            if deg_l[t] == 0 and deg_r[t] == 0:
                touched[n] = t
                n += 1
            if left[r - lo]:
                deg_l[t] += 1
            else:
                deg_r[t] += 1
    return n


def term_gains(touched, n_touched, deg_l, deg_r, log2, n_l, n_r, gain_l, gain_r):
    """Each node term's cost saved by moving one of its documents left to right (``gain_l``) or back."""
    log_l = log2[n_l]
    log_r = log2[n_r]
    for i in range(n_touched):
        t = touched[i]
        a = deg_l[t]
        b = deg_r[t]
        now = a * (log_l - log2[a + 1]) + b * (log_r - log2[b + 1])
        if a > 0:
            gain_l[t] = now - ((a - 1) * (log_l - log2[a]) + (b + 1) * (log_r - log2[b + 2]))
        if b > 0:
            gain_r[t] = now - ((a + 1) * (log_l - log2[a + 2]) + (b - 1) * (log_r - log2[b]))


def move_doc(doc_offsets, term_ids, r, deg_from, deg_to):
    for p in range(doc_offsets[r], doc_offsets[r + 1]):
        t = term_ids[p]
        deg_from[t] -= 1
        deg_to[t] += 1


def bisect_node(doc_offsets, term_ids, perm, lo, hi, iterations, log2, deg_l, deg_r, touched, gain_l, gain_r):
    """Bisect node ``lo:hi``: reorder ``perm[lo:hi]`` (a permutation of the rows ``lo..hi-1``) in place so that
    ``perm[lo:mid]`` and ``perm[mid:hi]`` (``mid`` the middle) are the two halves; returns the rounds run.

    The node's rows are contiguous in the CSR, so the rounds stream over them in row order (cache friendly)
    whatever the current order ``perm``. ``deg_l``, ``deg_r`` (int32), ``touched`` (int32) and ``gain_l``,
    ``gain_r`` (float64) are workspaces with one entry per term; the degrees are zero on entry and on return.
    """
    mid = lo + (hi - lo) // 2
    n_l = mid - lo
    n_r = hi - mid
    left = np.empty(hi - lo, np.bool_)
    for i in range(lo, hi):
        left[perm[i] - lo] = i < mid
    n_touched = count_degrees(doc_offsets, term_ids, lo, hi, left, deg_l, deg_r, touched)
    row_gains = np.empty(hi - lo, np.float64)
    gains = np.empty(hi - lo, np.float64)
    rounds = 0
    for _ in range(iterations):
        rounds += 1
        term_gains(touched, n_touched, deg_l, deg_r, log2, n_l, n_r, gain_l, gain_r)
        for r in range(lo, hi):
            g = np.float64(0.0)
            if left[r - lo]:
                for p in range(doc_offsets[r], doc_offsets[r + 1]):
                    g += gain_l[term_ids[p]]
            else:
                for p in range(doc_offsets[r], doc_offsets[r + 1]):
                    g += gain_r[term_ids[p]]
            row_gains[r - lo] = g
        for i in range(lo, hi):
            gains[i - lo] = row_gains[perm[i] - lo]
        # Stable sorts on the negated gains: largest first, ties in the current order (deterministic).
        by_l = np.argsort(-gains[:n_l], kind="mergesort")
        by_r = np.argsort(-gains[n_l:], kind="mergesort")
        left_rows = perm[lo:mid][by_l]
        right_rows = perm[mid:hi][by_r]
        g_l = gains[:n_l][by_l]
        g_r = gains[n_l:][by_r]
        swaps = 0
        while swaps < n_l and g_l[swaps] + g_r[swaps] > 0:
            x = left_rows[swaps]
            y = right_rows[swaps]
            move_doc(doc_offsets, term_ids, x, deg_l, deg_r)
            move_doc(doc_offsets, term_ids, y, deg_r, deg_l)
            left[x - lo] = False
            left[y - lo] = True
            left_rows[swaps] = y
            right_rows[swaps] = x
            swaps += 1
        perm[lo:mid] = left_rows
        perm[mid:hi] = right_rows
        if swaps == 0:
            break
    for i in range(n_touched):
        t = touched[i]
        deg_l[t] = 0
        deg_r[t] = 0
    return rounds


def bisect_level(doc_offsets, term_ids, perm, los, his, iterations, log2, deg_l, deg_r, touched, gain_l, gain_r,
                 rounds):
    """:func:`bisect_node` on each node ``los[j]:his[j]``; worker ``w`` takes nodes ``w, w + n_workers, ...``.

    The workspaces are ``(n_workers, n_terms)``; compiled as ``bisect_level_parallel`` the workers run in
    parallel. The nodes are disjoint, so the result does not depend on the number of workers.
    """
    n_workers = deg_l.shape[0]
    for w in prange(n_workers):
        for j in range(w, los.shape[0], n_workers):
            rounds[j] = bisect_node(doc_offsets, term_ids, perm, los[j], his[j], iterations, log2, deg_l[w],
                                    deg_r[w], touched[w], gain_l[w], gain_r[w])


def gap_cost(doc_offsets, term_ids, order, n_terms, log2):
    """Sum over all postings of ``log2`` of the d-gap when documents are numbered in ``order``."""
    last = np.full(n_terms, -1, np.int64)
    total = np.float64(0.0)
    for i in range(order.shape[0]):
        d = order[i]
        for p in range(doc_offsets[d], doc_offsets[d + 1]):
            t = term_ids[p]
            total += log2[i - last[t]]
            last[t] = i
    return total


#: The functions :mod:`spladekit.jit` compiles; ``PARALLEL`` ones also as ``<name>_parallel`` with a parallel prange.
COMPILED = ("filter_terms", "count_degrees", "term_gains", "move_doc", "bisect_node", "gap_cost")
PARALLEL = ("gather_rows", "bisect_level")


def _functions() -> jit.Functions:
    return jit.functions(sys.modules[__name__], COMPILED, PARALLEL)


# --- public API ----------------------------------------------------------------------------------------------


def _check_csr(doc_offsets: np.ndarray, term_ids: np.ndarray, n_terms: int) -> tuple[np.ndarray, np.ndarray]:
    doc_offsets = np.ascontiguousarray(doc_offsets, dtype=np.int64)
    term_ids = np.asarray(term_ids)
    if doc_offsets.ndim != 1 or doc_offsets.shape[0] < 1 or term_ids.ndim != 1:
        raise ValueError("doc_offsets must be a 1-d array of n_docs + 1 offsets and term_ids a 1-d array")
    if doc_offsets[0] != 0 or doc_offsets[-1] != term_ids.shape[0] or np.any(np.diff(doc_offsets) < 0):
        raise ValueError(f"doc_offsets must rise from 0 to len(term_ids) = {term_ids.shape[0]}")
    # Checked before the cast to int32, which would wrap large ids into range.
    if term_ids.shape[0] and (int(term_ids.min()) < 0 or int(term_ids.max()) >= n_terms):
        raise ValueError(f"term ids must lie in [0, n_terms = {n_terms}), got [{term_ids.min()}, {term_ids.max()}]")
    return doc_offsets, np.ascontiguousarray(term_ids, dtype=np.int32)


def _log2_table(n: int) -> np.ndarray:
    return np.log2(np.maximum(np.arange(n + 3, dtype=np.float64), 1.0))


def bp_order(doc_offsets: np.ndarray, term_ids: np.ndarray, n_terms: int, *, leaf_size: int = 16,
             iterations: int = 20, min_term_docs: int = 2, seed: int = 0, threads: int | None = None) -> np.ndarray:
    """Return `order` (int64, length n_docs): order[new_row] = old_row, a permutation putting similar docs together.

    ``doc_offsets`` (int64, ``n_docs + 1``) and ``term_ids`` (int32, each document's distinct term ids) are a
    doc-major CSR; weights play no part. Bisection starts from the input order and recurses until parts hold at
    most ``leaf_size`` documents, with at most ``iterations`` swap rounds per bisection. Terms held by fewer than
    ``min_term_docs`` documents are ignored (a term of one document cannot pull documents together). ``threads``
    (default: numba's thread count) bisect the nodes of each level but the first in parallel; the order is the
    same for any thread count and for the numba and plain-Python backends. ``seed`` is kept for interface
    stability: the algorithm has no randomness, so every seed gives the same order.

    Memory: about three copies of ``term_ids`` (the input, and the current and next level's rows).
    """
    if leaf_size < 1:
        raise ValueError(f"leaf_size must be >= 1, got {leaf_size}")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    doc_offsets, term_ids = _check_csr(doc_offsets, term_ids, n_terms)
    n_docs = doc_offsets.shape[0] - 1
    perm = np.arange(n_docs, dtype=np.int64)
    if n_docs <= leaf_size or iterations == 0 or term_ids.shape[0] == 0:
        return perm
    fn = _functions()
    df = np.bincount(term_ids, minlength=n_terms)
    keep = df >= max(min_term_docs, 1)
    new_id = np.where(keep, np.cumsum(keep) - 1, -1).astype(np.int32)
    offsets, terms = fn.filter_terms(doc_offsets, term_ids, new_id)
    m = max(int(keep.sum()), 1)
    log2 = _log2_table(n_docs)

    workers = 1
    previous = None
    if fn.backend == "numba":
        import numba

        previous = numba.get_num_threads()
        workers = max(1, min(fn.max_threads, previous if threads is None else threads))
    deg_l = np.zeros((workers, m), np.int32)
    deg_r = np.zeros((workers, m), np.int32)
    touched = np.zeros((workers, m), np.int32)
    gain_l = np.zeros((workers, m), np.float64)
    gain_r = np.zeros((workers, m), np.float64)
    los = np.zeros(1, np.int64)
    his = np.full(1, n_docs, np.int64)
    try:
        if previous is not None:
            numba.set_num_threads(workers)
        gather = fn.gather_rows_parallel if workers > 1 else fn.gather_rows
        rows = None
        while True:
            big = his - los > leaf_size
            los, his = los[big], his[big]
            if los.shape[0] == 0:
                break
            # Each level works on a copy of the rows in the current order: every node's rows are contiguous.
            if rows is not None:
                offsets, terms = gather(offsets, terms, rows)
            rows = np.arange(n_docs, dtype=np.int64)
            # Threads split a level's nodes; the single first node runs on one thread. A parallel gain loop in
            # the top nodes was tried: their sorts and swaps stay serial, so it gained little on 2 cores, and it
            # lost up to 10x when the cores were busy (idle OpenMP threads spin between short parallel loops).
            level = fn.bisect_level_parallel if workers > 1 and los.shape[0] > 1 else fn.bisect_level
            level(offsets, terms, rows, los, his, iterations, log2, deg_l, deg_r, touched, gain_l, gain_r,
                  np.zeros(los.shape[0], np.int64))
            perm = perm[rows]
            mids = los + (his - los) // 2
            los, his = np.concatenate((los, mids)), np.concatenate((mids, his))
    finally:
        if previous is not None:
            numba.set_num_threads(previous)
    return perm


def log_gap_cost(doc_offsets: np.ndarray, term_ids: np.ndarray, n_terms: int,
                 order: np.ndarray | None = None) -> float:
    """Average ``log2`` of the d-gaps of the inverted index when rows are numbered by ``order`` (BP's objective).

    A term's first posting counts its row number plus one as its gap; lower means similar documents sit closer.
    ``order`` defaults to the input order.
    """
    doc_offsets, term_ids = _check_csr(doc_offsets, term_ids, n_terms)
    n_docs = doc_offsets.shape[0] - 1
    order = np.arange(n_docs, dtype=np.int64) if order is None else np.ascontiguousarray(order, dtype=np.int64)
    if order.shape != (n_docs,) or not np.all(np.bincount(order, minlength=n_docs) == 1):
        raise ValueError(f"order must be a permutation of the {n_docs} rows")
    if term_ids.shape[0] == 0:
        return 0.0
    total = _functions().gap_cost(doc_offsets, term_ids, order, n_terms, _log2_table(n_docs))
    return float(total) / term_ids.shape[0]
