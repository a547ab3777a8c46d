"""The clause score and the one loop that adds posting lists to float64 accumulators.

Every search path adds postings through :func:`add_postings`, in both modes: :func:`clause` is the value of a
posting, ``float32(q_t * weight)``, the weight being a float32 (``exact`` mode, ``table is None``) or a uint16
FeatureField frequency decoded through :func:`decode_table` (``lucene`` mode). The arguments that do not apply
to a path are None, and numba compiles one version per combination, each without the tests that do not apply.

>>> import numpy as np
>>> from spladekit.local.kernels.tuples import Query, Segment
>>> segment = Segment(np.array([0, 2, 3]), np.array([0, 1, 1], np.int32), np.array([0.5, 2.0, 1.0], np.float32))
>>> acc, touched = np.zeros(2), np.zeros(2, np.int32)
>>> n = accumulate_query(Query(np.array([0, 1]), np.array([1.0, 0.5], np.float32)), segment, None, acc, touched, 0)
>>> acc.tolist(), touched[:n].tolist()
([0.5, 2.5], [0, 1])
"""

from __future__ import annotations

import numpy as np

from spladekit import lucene


def decode_table() -> np.ndarray:
    """Every uint16 FeatureField frequency decoded to its float32 value (a 256 KiB lookup table)."""
    return lucene.decode(np.arange(1 << 16, dtype=np.uint32).astype(np.uint16))


def clause(w, values, table, p):
    """One clause score ``float32(w * value)`` of posting ``p`` (``table is None``: float32 weights)."""
    if table is None:
        return w * values[p]
    return w * table[values[p]]  # float32 * float32 -> float32, as Lucene's clause score


def add_postings(w, segment, table, lo, hi, acc, base, touched, n, only):
    """Add the positive clauses ``float32(w * value)`` of postings ``lo:hi`` of ``segment`` to ``acc[doc - base]``.

    The accumulate loop of every search path. ``touched`` (int32) receives the documents whose accumulator was
    still zero, from position ``n`` on; the new count is returned. ``touched=None`` tracks nothing (the dense
    paths sweep all the accumulators instead). ``only``: a bitset of the documents to add (the candidates of a
    pruned search), or None for all. ``base`` offsets the accumulators (a block's or a range's own sums).
    """
    docs = segment.docs
    values = segment.values
    for p in range(lo, hi):
        d = docs[p]
        if only is not None:
            if not only[d >> 3] & (1 << (d & 7)):
                continue
        v = clause(w, values, table, p)
        # Only positive clauses count, as in the engines (weights <= 0 and underflows add nothing).
        if v > 0:
            if touched is not None:
                # Clause scores are > 0, so a zero accumulator means "not seen yet" (no separate mask to reset).
                if acc[d - base] == 0.0:
                    touched[n] = d
                    n += 1
            acc[d - base] += v
    return n


def accumulate_term(t, w, segment, table, acc, touched, n):
    """:func:`add_postings` for the whole posting list of vocabulary id ``t`` (in range) with query weight ``w``."""
    return add_postings(w, segment, table, segment.offsets[t], segment.offsets[t + 1], acc, 0, touched, n, None)


def accumulate_query(query, segment, table, acc, touched, n):
    """Add one segment's clause scores of a whole query to ``acc``; new documents go to ``touched``."""
    ids = query.ids
    weights = query.weights
    n_terms = segment.offsets.shape[0] - 1
    for i in range(ids.shape[0]):
        t = ids[i]
        if 0 <= t < n_terms:  # query terms outside the segment's vocabulary have no postings
            n = accumulate_term(t, weights[i], segment, table, acc, touched, n)
    return n


def reset(acc, touched, n):
    """Zero the accumulator where the last query wrote, so the next query starts clean."""
    for i in range(n):
        acc[touched[i]] = 0.0


#: Compiled by :mod:`spladekit.jit` (the package gathers every module's).
COMPILED = ("clause", "add_postings", "accumulate_term", "accumulate_query", "reset")
