"""The local index's kernels, written once in plain numpy and Python loops, in small modules:

- :mod:`.tuples`: the named tuples of arrays and scalars the kernels take (:class:`Segment`, :class:`Workspace`, ...);
- :mod:`.accumulate`: the clause score and the one loop that adds posting lists to the accumulators;
- :mod:`.postings`: finding documents in posting lists (binary search, galloping);
- :mod:`.topk`: the top-``k`` heap;
- :mod:`.pruned`: MaxScore-style exact search (:func:`~.pruned.search_pruned`, :func:`~.pruned.search_dense`)
  and the exact re-scoring of its finalists;
- :mod:`.chunked`: range-blocked exhaustive search for queries that touch most documents;
- :mod:`.block_max`: block-max lists and block-max search, for reordered rows;
- :mod:`.segments`: building and merging segments, doc-major rows and row permutations;
- :mod:`.batch`: :func:`~.batch.search_batch`, each query's path chosen by its postings, over workers;
- :mod:`.bm25`: BM25 top-k over the text postings (Lucene's arithmetic).

:func:`get` returns them jit-compiled by numba (:mod:`spladekit.jit`), or when numba is missing as they are
(slowly, but with the same results bit for bit). Keep them to the subset numba compiles: arrays, scalars, flat
tuples of them, loops, no other objects. Each module names what it adds to the compiled set (``COMPILED``;
``DRIVERS`` stay Python and call compiled functions; ``PARALLEL`` are compiled twice, ``prange`` serial and
parallel); :data:`MODULES` lists the modules, and one namespace holds all their functions, so a function of
one module calls the compiled functions of the others.

A *segment* (:class:`Segment`) is a term-major CSR inverted index:

- ``offsets`` (int64, ``n_terms + 1``): the postings of vocabulary id ``t`` are ``offsets[t]:offsets[t + 1]``;
- ``docs`` (int32): internal document numbers, ascending within a term;
- ``values``: uint16 FeatureField frequencies (``lucene`` mode, decoded through :func:`decode_table`) or
  float32 weights (``exact`` mode).

A document's score is the engines' arithmetic (see :mod:`spladekit.lucene`): for each query term in
ascending id order, the clause ``float32(q_t * value)`` is added to a float64 accumulator; the total is cast
to float32. Results are ordered by score descending and **ties by internal document number ascending** (the
order in which documents were added; an upsert gives the document a new, last number). Only documents with a
positive score are returned, as the engines return only matching documents.

Exact top-k uses MaxScore-style pruning when per-term maxima are given (:func:`~.pruned.search_pruned`, and
:func:`~.pruned.search_dense` for queries touching a good part of the collection); its finalists are re-scored
in the order above, so pruned and exhaustive searches return the same ids and bit-identical scores. When
documents were reordered so that similar ones are adjacent, :func:`~.block_max.search_block_max` bounds blocks
of ``1 << BLOCK_SHIFT`` documents with per (term, block) maxima (:func:`~.block_max.block_maxima`) and scores
only the blocks that can still enter the top k, again in the contract's order.

>>> import numpy as np
>>> kernels = get(use_numba=False)
>>> main = Segment(*kernels.build_segment(np.array([0, 2, 3]), np.array([1, 2, 1], np.int32),
...                                       np.array([0.5, 1.0, 2.0], np.float32), 3, 0))
>>> main.offsets.tolist(), main.docs.tolist(), main.values.tolist()
([0, 0, 2, 3], [0, 1, 0], [0.5, 2.0, 1.0])
>>> queries = Queries(np.array([0, 2]), np.array([1, 2], np.int32), np.array([1.0, 1.0], np.float32))
>>> out = Hits.zeros(1, k=5)
>>> kernels.search_batch(queries, main, Segment.empty(np.float32), None, np.zeros(0, np.float32),
...                      Blocks.empty(np.float32), np.zeros(0, bool), SearchOptions(5, BLOCK_FILL, GIVE_UP),
...                      Workspace.zeros(1, 2), out)
>>> out.docs[0, :out.counts[0]].tolist(), out.scores[0, :out.counts[0]].tolist()
([1, 0], [2.0, 1.5])
"""

from __future__ import annotations

from spladekit import jit
from spladekit.local.kernels import (
    accumulate,
    batch,
    block_max,
    bm25,
    chunked,
    postings,
    pruned,
    segments,
    topk,
    tuples,
)
from spladekit.local.kernels.accumulate import decode_table
from spladekit.local.kernels.block_max import BLOCK_FILL, BLOCK_SHIFT, GIVE_UP
from spladekit.local.kernels.chunked import CHUNK_LOAD
from spladekit.local.kernels.tuples import Blocks, Hits, Queries, Query, SearchOptions, Segment, Top, Workspace

__all__ = [
    "BLOCK_FILL", "BLOCK_SHIFT", "CHUNK_LOAD", "COMPILED", "DRIVERS", "GIVE_UP", "MODULES", "PARALLEL", "Blocks",
    "Hits", "Queries", "Query", "SearchOptions", "Segment", "Top", "Workspace", "decode_table", "get",
]

#: The kernel modules, callees before callers (numba compiles lazily, so the order is for the reader).
MODULES = (tuples, postings, accumulate, topk, pruned, chunked, block_max, segments, batch, bm25)
#: What the modules add to the compiled set (see :func:`spladekit.jit.jit_namespace`).
COMPILED = tuple(name for m in MODULES for name in getattr(m, "COMPILED", ()))
PARALLEL = tuple(name for m in MODULES for name in getattr(m, "PARALLEL", ()))
DRIVERS = tuple(name for m in MODULES for name in getattr(m, "DRIVERS", ()))


def get(use_numba: bool | None = None) -> jit.Functions:
    """The kernels to use: compiled when numba imports (and :data:`spladekit.jit.USE_NUMBA` allows), else plain.

    Every function of :data:`MODULES` is an attribute (``search_batch``, ``search_batch_parallel``,
    ``build_segment``, ...); built once per backend.
    """
    return jit.functions(MODULES, COMPILED, PARALLEL, DRIVERS, use_numba)
