"""Building, merging and reshaping segments: term-major from doc-major rows and back, row permutations.

>>> import numpy as np
>>> offsets, docs, values = build_segment(np.array([0, 2, 3]), np.array([1, 2, 1], np.int32),
...                                       np.array([0.5, 1.0, 2.0], np.float32), 3, 0)
>>> offsets.tolist(), docs.tolist(), values.tolist()
([0, 0, 2, 3], [0, 1, 0], [0.5, 2.0, 1.0])
>>> [a.tolist() for a in doc_major(offsets, docs, values, 2)]
[[0, 2, 3], [1, 2, 1], [0.5, 1.0, 2.0]]
"""

from __future__ import annotations

import numpy as np


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




#: Compiled by :mod:`spladekit.jit` (the package gathers every module's); drivers stay Python and call them.
COMPILED = ("count_terms", "fill_segment", "count_merged", "fill_merged", "fill_rows", "count_taken", "fill_taken")
DRIVERS = ("build_segment", "merge_segments", "doc_major", "take_rows")
