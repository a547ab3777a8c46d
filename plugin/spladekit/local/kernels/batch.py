"""The batch kernel: each query's search path chosen by its postings, queries spread over workers.

Paths, all exact and giving the same results: with the main segment's block-max lists, block-max search for
the queries whose :func:`~.block_max.block_fill` is high enough (the tail scored exhaustively first), unless it
gives up; else with per-term maxima and an empty tail, range-blocked (:func:`~.chunked.search_chunked`), dense
or MaxScore-pruned search (:mod:`.pruned`) by the query's postings; else (no maxima, or a tail) every posting
is scored (:func:`search_exhaustive`).
"""

from __future__ import annotations

from spladekit.local.kernels.accumulate import accumulate_query, reset
from spladekit.local.kernels.block_max import block_fill, search_block_max
from spladekit.local.kernels.chunked import CHUNK_LOAD, CHUNK_SHIFT, search_chunked
from spladekit.local.kernels.pruned import search_dense, search_pruned
from spladekit.local.kernels.topk import heap_sort, offer_touched, select_top_k
from spladekit.local.kernels.tuples import Blocks, Query, SearchOptions, Segment, Top, Workspace

# numba swaps this for numba.prange (see spladekit.jit); here the batch loop runs serially.
prange = range


def query_load(q_ids, offsets):
    """Postings of the query's terms in a segment (``offsets``): the work of an exhaustive search."""
    n_terms = offsets.shape[0] - 1
    load = 0
    for i in range(q_ids.shape[0]):
        t = q_ids[i]
        if 0 <= t < n_terms:
            load += offsets[t + 1] - offsets[t]
    return load


def search_exhaustive(query, main, tail, table, allowed, k, work, top):
    """Top-``k`` of one query scoring every posting of both segments; returns the number of hits."""
    n = accumulate_query(query, main, table, work.acc, work.touched, 0)
    n = accumulate_query(query, tail, table, work.acc, work.touched, n)
    got = select_top_k(work.acc, work.touched, n, allowed, k, top.docs, top.scores)
    reset(work.acc, work.touched, n)
    return got


def search_query(query, main, tail, table, term_max, blocks, allowed, options, work, top):
    """Top-``options.k`` of one query by the path its postings call for (see the module docstring).

    Arguments as for :func:`search_batch`, but ``query`` is one :class:`~.tuples.Query`, ``work`` one worker's
    rows and ``top`` the query's :class:`~.tuples.Top`; returns the number of hits, sorted best first in ``top``.
    """
    k = options.k
    n_docs = work.acc.shape[0]
    if blocks.offsets.shape[0] > 0 and block_fill(query.ids, main.offsets, blocks.offsets) >= options.fill * (
            1 << blocks.shift):
        n = 0
        if tail.docs.shape[0] > 0:
            m = accumulate_query(query, tail, table, work.acc, work.touched, 0)
            n = offer_touched(work.acc, work.touched, m, allowed, k, top.docs, top.scores, 0)
            reset(work.acc, work.touched, m)
        n = search_block_max(query, main, table, blocks, allowed, k, options.give_up, n, work, top,
                             options.alpha)
        if n >= 0:
            heap_sort(top.scores, top.docs, n)
            return n
    if term_max.shape[0] > 0 and tail.docs.shape[0] == 0:
        # Queries whose postings would touch a good part of the collection go the dense way.
        load = query_load(query.ids, main.offsets)
        if load >= CHUNK_LOAD * n_docs:
            return search_chunked(query, main, table, CHUNK_SHIFT, allowed, k, work.acc, top)
        if 4 * load >= n_docs:
            return search_dense(query, main, table, term_max, allowed, k, work, top)
        return search_pruned(query, main, table, term_max, allowed, k, work, top)
    return search_exhaustive(query, main, tail, table, allowed, k, work, top)


def search_batch(queries, main, tail, table, term_max, blocks, allowed, options, work, out):
    """Top-``k`` of every query over a main and a tail segment.

    - ``queries``: :class:`~.tuples.Queries`, the query vectors;
    - ``main``, ``tail``: :class:`~.tuples.Segment` (an empty tail: ``offsets`` of one zero, no postings);
    - ``table``: :func:`~.accumulate.decode_table` for uint16 frequencies (``lucene`` mode), None for float32
      weights (``exact`` mode);
    - ``term_max``: float32, one per term of the main segment (:func:`~.pruned.term_maxima`), or empty: no
      MaxScore pruning;
    - ``blocks``: :class:`~.tuples.Blocks` of the main segment (empty ``offsets``: no block-max search);
    - ``allowed``: bool mask over internal documents, or empty for all;
    - ``options``: :class:`~.tuples.SearchOptions` (``k``; ``fill`` and ``give_up`` of block-max search);
    - ``work``: :class:`~.tuples.Workspace` of ``(n_workers, n_docs)`` rows (``bits``: ``n_docs // 8 + 1``);
      worker ``w`` takes queries ``w, w + n_workers, ...``, so the outer loop parallelises over workers
      (``prange`` under numba);
    - ``out``: :class:`~.tuples.Hits` receiving ``(n_queries, k)`` documents and scores and the hits per query.

    Each group is its named tuple or a plain tuple of the same fields in the same order. Plain ones are cheaper
    to call with: numba types a named tuple argument in Python on every call (about 0.6 us each), a plain one in
    C. Below this function they are named tuples either way (built in compiled code, for nothing).
    """
    main_segment = Segment(*main)
    tail_segment = Segment(*tail)
    block_lists = Blocks(*blocks)
    opts = SearchOptions(*options)
    # Arrays out of their tuples before the parallel loop: in it, numba loses writes made through a named tuple's
    # field (numba issues 5872, 7135). Callees may write through the tuples built in the loop from those arrays.
    q_offsets, q_ids, q_weights = queries
    acc, touched, cand, bits = work
    out_docs, out_scores, out_counts = out
    n_queries = q_offsets.shape[0] - 1
    n_workers = acc.shape[0]
    for w in prange(n_workers):
        rows = Workspace(acc[w], touched[w], cand[w], bits[w])
        for q in range(w, n_queries, n_workers):
            lo = q_offsets[q]
            hi = q_offsets[q + 1]
            query = Query(q_ids[lo:hi], q_weights[lo:hi])
            out_counts[q] = search_query(query, main_segment, tail_segment, table, term_max, block_lists, allowed,
                                         opts, rows, Top(out_docs[q], out_scores[q]))


#: Compiled by :mod:`spladekit.jit` (the package gathers every module's); ``PARALLEL`` also as
#: ``<name>_parallel``, with ``prange`` run in parallel.
COMPILED = ("query_load", "search_exhaustive", "search_query")
PARALLEL = ("search_batch",)
