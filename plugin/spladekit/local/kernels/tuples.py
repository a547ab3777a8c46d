"""The named tuples the kernels take: arrays grouped by what they are, so that a kernel takes a few arguments.

numba compiles functions of tuples of arrays and scalars (a named tuple's fields are read by name in nopython
mode); it cannot take other Python objects. The tuples stay flat, one level of arrays and scalars: a parallel
loop (``prange``) hands each tuple to its workers field by field, which numba does for a tuple of arrays but not
for a tuple of tuples. The same type serves a whole batch and one worker or one query of it (its rows).

The entry point, :func:`~spladekit.local.kernels.batch.search_batch`, also takes plain tuples of the same fields
in the same order, and :class:`~spladekit.local.index.LocalIndex` passes those: numba works out the type of a named
tuple argument in Python on every call (about 0.6 us each), of a plain one in C. Inside, they are named again.

>>> import numpy as np
>>> options = SearchOptions(k=10, fill=0.25, give_up=0.5)
>>> options.k, options._fields
(10, ('k', 'fill', 'give_up', 'alpha'))
>>> work = Workspace.zeros(2, 100)
>>> work.acc.shape, work.bits.shape, Workspace(*(a[1] for a in work)).acc.shape
((2, 100), (2, 13), (100,))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Segment(NamedTuple):
    """A term-major CSR inverted index (see :mod:`spladekit.local.kernels`)."""

    #: int64, ``n_terms + 1``: the postings of vocabulary id ``t`` are ``offsets[t]:offsets[t + 1]``.
    offsets: np.ndarray
    #: int32 internal document numbers, ascending within a term.
    docs: np.ndarray
    #: uint16 FeatureField frequencies (``lucene`` mode) or float32 weights (``exact`` mode).
    values: np.ndarray

    @classmethod
    def empty(cls, dtype: np.dtype | type) -> Segment:
        """A segment without terms or postings (an empty tail), values of ``dtype``."""
        return cls(np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, dtype))


class Queries(NamedTuple):
    """Query vectors as a CSR: query ``q`` is ``ids[offsets[q]:offsets[q + 1]]`` with its weights."""

    offsets: np.ndarray
    ids: np.ndarray
    weights: np.ndarray


class Query(NamedTuple):
    """One query: vocabulary ids (ascending, as the score contract adds clauses in that order) and weights."""

    ids: np.ndarray
    weights: np.ndarray


class Blocks(NamedTuple):
    """The block-max lists of a segment (:func:`~spladekit.local.kernels.block_max.block_maxima`) and their block size.

    An empty ``offsets`` means none (block-max search off).
    """

    #: Blocks hold ``1 << shift`` documents.
    shift: int
    #: int64, ``n_terms + 1``: the entries of term ``t`` are ``offsets[t]:offsets[t + 1]``, by ascending block.
    offsets: np.ndarray
    #: int32 block number of each entry.
    blocks: np.ndarray
    #: The largest value of the term's postings in the block (the segment's value dtype).
    maxima: np.ndarray
    #: int32 position of the block's first posting, counted from the start of the term's list.
    starts: np.ndarray

    @classmethod
    def empty(cls, dtype: np.dtype | type) -> Blocks:
        """No block-max lists (block-max search off), for a segment of values of ``dtype``."""
        return cls(0, np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, dtype), np.zeros(0, np.int32))


class SearchOptions(NamedTuple):
    """Scalars of a search: how many hits, and when block-max search applies (see :mod:`.block_max`)."""

    #: Hits per query.
    k: int
    #: Block-max search for the queries whose block fill is at least ``fill`` times the block size.
    fill: float
    #: Block-max search gives up on a query when this share of its blocks still passes the bound after a probe.
    give_up: float
    #: Approximate block-max search below 1: a block is skipped when ``alpha`` times its bound is below the k-th
    #: score (BMP's alpha); 1 is exact.
    alpha: float = 1.0


class Workspace(NamedTuple):
    """Scratch arrays, one row per worker (or one worker's rows), left as found: accumulators zeroed, bits clear."""

    #: float64 accumulators, zeros.
    acc: np.ndarray
    #: int32 documents touched by a query (the dense path buffers posting positions there).
    touched: np.ndarray
    #: int32 candidates (block-max search: block numbers).
    cand: np.ndarray
    #: uint8 bitset of the candidates, ``n_docs // 8 + 1`` bytes per row, zeros.
    bits: np.ndarray

    @classmethod
    def zeros(cls, workers: int, n_docs: int) -> Workspace:
        """A fresh workspace for ``workers`` workers over ``n_docs`` documents."""
        size = max(n_docs, 1)
        return cls(np.zeros((workers, size), np.float64), np.zeros((workers, size), np.int32),
                   np.zeros((workers, size), np.int32), np.zeros((workers, size // 8 + 1), np.uint8))


class Hits(NamedTuple):
    """Results of a batch: ``(n_queries, k)`` documents and scores, best first, and hits per query."""

    docs: np.ndarray
    scores: np.ndarray
    counts: np.ndarray

    @classmethod
    def zeros(cls, n_queries: int, k: int) -> Hits:
        """Room for the top ``k`` of ``n_queries`` queries."""
        return cls(np.zeros((n_queries, k), np.int32), np.zeros((n_queries, k), np.float32),
                   np.zeros(n_queries, np.int64))


class Top(NamedTuple):
    """One query's hits: ``k`` documents and float32 scores, a min-heap while searching, best first after."""

    docs: np.ndarray
    scores: np.ndarray
