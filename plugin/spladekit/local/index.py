"""LocalIndex: the embedded SPLADE index, also the reference scorer for engine parity.

Storage is a *main* term-major segment (immutable, memory-mappable after :meth:`LocalIndex.save`) plus a
*tail* segment built from documents added since the last merge; deletes and upserts mark rows dead in a
tombstone mask. The tail is merged into the main segment (dropping dead rows) once it holds a quarter of the
main segment's documents, and always on :meth:`LocalIndex.save`. Scores follow the engines' arithmetic in
``lucene`` mode and use the model's float32 weights in ``exact`` mode (see :mod:`spladekit.local.kernels`).

Ties: hits with equal float32 scores come in internal row order: the order documents were added (an upsert
gives the document a new, last position) until :meth:`LocalIndex.reorder` renumbers the rows (by recursive graph
bisection, so that similar documents are adjacent and block-max pruning pays); after it, the reordered order,
followed by documents added since in their order of addition. Compare tied hits with an engine as sets.

>>> from spladekit.vectors import SparseVector
>>> index = LocalIndex(mode="exact")
>>> index.add(["a", "b", "c"], [SparseVector.from_dict({1: 1.0, 5: 2.0}), SparseVector.from_dict({5: 1.0}),
...                              SparseVector.from_dict({9: 3.0})])
>>> ids, scores = index.search(SparseVector.from_dict({5: 0.5}), k=10)
>>> ids, scores.tolist()
(['a', 'b'], [1.0, 0.5])
>>> index.delete(["a"])
1
>>> index.search(SparseVector.from_dict({5: 0.5}))[0]
['b']
>>> len(index)
2
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from spladekit import __version__, lucene
from spladekit.errors import IndexFormatError, InputError
from spladekit.local import kernels
from spladekit.local import reorder as bp
from spladekit.local.text import ANALYZER, TextIndex, Vocabulary
from spladekit.vectors import SparseBatch, SparseVector

Mode = Literal["lucene", "exact"]
MODES = ("lucene", "exact")
FORMAT = "spladekit-local-index"
#: 2: the index keeps BM25 text postings beside the vectors (``bm25`` in params.json). Version 1 (vectors only)
#: still loads, for SPLADE search; BM25 and hybrid on it raise an error that says to rebuild it.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
PARAMS = "params.json"
TIE_ORDER = ("score descending, then internal row order: order of addition (an upsert moves a document last), "
             "or after LocalIndex.reorder() the reordered order, documents added since then after it")
#: How the main segment's rows are ordered: as added, by :func:`spladekit.local.reorder.bp_order`, or by an order
#: the caller gave to :meth:`LocalIndex.reorder`.
ROW_ORDERS = ("insertion", "bp", "given")
#: Block-max search is used by default on indexes reordered with at least this many main rows.
BLOCK_MAX_MIN_DOCS = 4096
#: The tail segment is merged into the main one when it holds this many rows or a quarter of the main rows.
MERGE_MIN_ROWS = 4096

_ARRAYS = ("offsets", "docs", "values", "term_max", "keys", "key_offsets")
_TEXT_ARRAYS = {"text_offsets": np.int64, "text_docs": np.int32, "text_freqs": np.int32, "text_lengths": np.int32,
                "text_terms": np.uint8, "text_term_offsets": np.int64}
_EMPTY_OFFSETS = np.zeros(1, np.int64)
_NO_MAX = np.zeros(0, np.float32)
#: No block-max lists (a plain tuple of kernels.Blocks' fields), per value dtype: made once, not per search.
_NO_BLOCKS = {np.dtype(dt): (0, np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, dt), np.zeros(0, np.int32))
              for dt in (np.uint16, np.float32)}


def _value_dtype(mode: str) -> np.dtype:
    return np.dtype(np.uint16) if mode == "lucene" else np.dtype(np.float32)


class _Keys:
    """Document ids by internal row: a packed utf-8 block (loaded, maybe memory-mapped) plus newer ids."""

    def __init__(self, blob: np.ndarray | None = None, offsets: np.ndarray | None = None) -> None:
        self.blob = np.zeros(0, np.uint8) if blob is None else blob
        self.offsets = np.zeros(1, np.int64) if offsets is None else offsets
        self.packed = int(self.offsets.shape[0] - 1)
        self.extra: list[str] = []

    def __len__(self) -> int:
        return self.packed + len(self.extra)

    def __getitem__(self, row: int) -> str:
        if row < self.packed:
            return bytes(self.blob[self.offsets[row]:self.offsets[row + 1]]).decode("utf-8")
        return self.extra[row - self.packed]

    def take(self, rows: Iterable[int]) -> list[str]:
        return [self[int(r)] for r in rows]

    def permute(self, order: np.ndarray) -> _Keys:
        """The packed keys of rows ``order[0], order[1], ...`` (all rows packed: after a merge)."""
        if self.extra:
            return self.pack(order)
        starts = self.offsets[:-1][order]
        lengths = np.diff(self.offsets)[order]
        offsets = np.zeros(order.shape[0] + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
        return _Keys(self.blob[gather], offsets)

    def pack(self, rows: np.ndarray) -> _Keys:
        encoded = [k.encode("utf-8") for k in self.take(rows)]
        offsets = np.zeros(len(encoded) + 1, np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return _Keys(np.frombuffer(b"".join(encoded), np.uint8).copy(), offsets)


def _as_csr(vectors: Sequence[SparseVector]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, ids, weights) of the vectors, keeping only the weights an engine accepts (finite, normal)."""
    batch = vectors if isinstance(vectors, SparseBatch) else SparseBatch.from_vectors(list(vectors))
    offsets, ids, weights = batch.offsets, batch.ids, batch.weights
    keep = np.isfinite(weights) & (weights >= lucene.MIN_WEIGHT)
    if not keep.all():
        row = np.repeat(np.arange(len(batch)), np.diff(offsets))
        offsets = np.zeros_like(offsets)
        np.cumsum(np.bincount(row[keep], minlength=len(batch)), out=offsets[1:])
        ids, weights = ids[keep], weights[keep]
    if ids.size and ids.min() < 0:
        raise ValueError("vocabulary ids must be >= 0")
    return offsets, ids, weights


class LocalIndex:
    """An in-process SPLADE index over string document ids (see the module docstring for the layout).

    ``mode``: ``"lucene"`` (default; weights stored as uint16 FeatureField frequencies, scores bit-identical to
    OpenSearch/Elasticsearch) or ``"exact"`` (float32 weights). ``meta``: free-form facts saved with the index;
    ``model`` and ``model_sha256`` there are checked by :meth:`load`. Searching is thread-safe; adding,
    deleting and reordering must not run concurrently with anything else.
    """

    def __init__(self, mode: Mode = "lucene", meta: dict[str, Any] | None = None, *,
                 use_numba: bool | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        self.mode: str = mode
        self.meta: dict[str, Any] = dict(meta or {})
        self._k = kernels.get(use_numba)
        self._table = kernels.decode_table() if mode == "lucene" else None
        dtype = _value_dtype(mode)
        self._main = (_EMPTY_OFFSETS, np.zeros(0, np.int32), np.zeros(0, dtype))
        self._term_max = np.zeros(0, np.float32)  # per-term maximum of the main segment, for pruning
        #: Exact top-k with MaxScore-style or block-max pruning (same results); False scores every posting.
        self.prune = True
        #: Block-max search (same results): None decides (on for indexes reordered by :meth:`reorder` with at
        #: least :data:`BLOCK_MAX_MIN_DOCS` main rows, most of them in that order, and there for the queries
        #: whose block bounds promise to pay, see ``kernels.BLOCK_FILL``); True forces it for every query, False
        #: turns it off.
        self.block_max: bool | None = None
        #: Documents per block of the block-max lists, as a power of two.
        self.block_shift = kernels.BLOCK_SHIFT
        #: Approximate search below 1 (in (0, 1]): every query goes the block-max way, which skips a block when
        #: ``alpha`` times its bound is below the k-th score so far (BMP's alpha). Faster, recall below 1, the
        #: hits found keep their exact scores; it pays on indexes reordered by :meth:`reorder`. 1 is exact.
        self.alpha = 1.0
        self._blocks: tuple[int, tuple[np.ndarray, ...]] | None = None  # (shift, block-max lists), built lazily
        self._row_order = "insertion"
        self._rows_ordered = 0  # main rows (a prefix) placed by that order; later ones are in insertion order
        self._n_main = 0
        self._n_terms = 0
        self._keys = _Keys()
        self._live = np.zeros(0, bool)
        self._n_dead = 0
        self._rows: dict[str, int] | None = None  # id -> live row, built on first need
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # doc-major CSR chunks
        self._n_pending = 0
        self._tail: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()
        self._work: tuple[np.ndarray, np.ndarray] | None = None
        # BM25 postings of the documents' text, rows as the vectors'; None for an index saved without them.
        self._text: TextIndex | None = TextIndex(self._k)

    # --- facts -----------------------------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """``"numba"`` or ``"numpy"``: which build of the kernels this index runs."""
        return self._k.backend

    def __len__(self) -> int:
        """Live documents."""
        return self._n_main + self._n_pending - self._n_dead

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._row_map()

    def ids(self) -> list[str]:
        """The live documents' ids, in row order."""
        return list(self._row_map())

    def __repr__(self) -> str:
        return f"LocalIndex(mode={self.mode!r}, docs={len(self)}, postings={self.n_postings})"

    @property
    def n_postings(self) -> int:
        """Postings stored, dead rows included until the next merge."""
        tail = sum(int(c[1].shape[0]) for c in self._pending)
        return int(self._main[1].shape[0]) + tail

    def nbytes(self) -> int:
        """Bytes of the main segment's arrays (offsets, docs, values) — the size of the postings on disk."""
        return int(sum(a.nbytes for a in self._main))

    @property
    def has_text(self) -> bool:
        """Whether the index keeps BM25 text postings (indexes saved by spladekit before format 2 do not)."""
        return self._text is not None

    def text_nbytes(self) -> int:
        """Bytes of the BM25 text arrays as saved (postings, lengths, vocabulary); 0 without text."""
        return 0 if self._text is None else self._text.nbytes()

    @property
    def row_order(self) -> str:
        """How the main segment's rows are ordered: one of :data:`ROW_ORDERS` (see :meth:`reorder`)."""
        return self._row_order

    def block_max_nbytes(self) -> int:
        """Bytes of the block-max lists (in memory only, never saved; built here if not yet)."""
        return int(sum(a.nbytes for a in self._block_lists()))

    # --- writing ---------------------------------------------------------------------------------------------

    def add(self, ids: Sequence[str], vectors: Sequence[SparseVector],
            texts: Sequence[str | None] | None = None) -> None:
        """Add documents; an id already present is replaced (upsert). Zero/negative weights are dropped.

        ``texts`` (one per document, None or "" for none): the text BM25 searches (:meth:`search_bm25`), analyzed
        as the engines' ``standard`` analyzer does (:mod:`spladekit.local.text`); without it the documents have no
        text and BM25 does not find them.
        """
        ids = [str(i) for i in ids]
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors: pass one id per vector")
        if texts is not None and len(texts) != len(ids):
            raise ValueError(f"{len(texts)} texts for {len(ids)} documents: pass one text (or None) per document")
        if texts is not None and self._text is None:
            raise IndexFormatError(_NO_TEXT)
        if not ids:
            return
        offsets, term_ids, weights = _as_csr(vectors)
        values = lucene.encode(weights) if self.mode == "lucene" else weights.astype(np.float32, copy=False)
        rows = self._row_map()
        first = self._n_main + self._n_pending
        self._grow_live(first + len(ids))
        self._live[first:first + len(ids)] = True
        for j, key in enumerate(ids):
            old = rows.get(key)
            if old is not None:
                self._live[old] = False
                self._n_dead += 1
            rows[key] = first + j
        self._keys.extra.extend(ids)
        if self._text is not None:
            self._text.add(texts if texts is not None else [None] * len(ids))
        self._pending.append((offsets, term_ids, values))
        self._n_pending += len(ids)
        if term_ids.size:
            self._n_terms = max(self._n_terms, int(term_ids.max()) + 1)
        self._tail = None
        if self._n_pending >= max(MERGE_MIN_ROWS, self._n_main // 4):
            self.merge()

    def delete(self, ids: Iterable[str]) -> int:
        """Delete documents by id; unknown ids are ignored. Returns how many were deleted."""
        rows = self._row_map()
        n = 0
        for key in ids:
            row = rows.pop(str(key), None)
            if row is not None:
                self._live[row] = False
                self._n_dead += 1
                n += 1
        return n

    def merge(self) -> None:
        """Fold the tail into the main segment and drop deleted rows (renumbering, order kept)."""
        if not self._n_pending and not self._n_dead:
            return
        n_rows = self._n_main + self._n_pending
        live = self._live[:n_rows]
        renumber = np.full(n_rows, -1, np.int32)
        renumber[live] = np.arange(int(live.sum()), dtype=np.int32)
        n_terms = max(self._n_terms, self._main[0].shape[0] - 1)
        segment = self._k.merge_segments(self._main, self._tail_segment(), renumber, n_terms)
        if self._text is not None:
            self._text.merge(renumber)
        keys = self._keys.pack(np.flatnonzero(live))
        self._rows_ordered = int(live[:self._rows_ordered].sum())
        self._blocks = None
        self._main = segment
        self._term_max = self._k.term_maxima(segment[0], segment[2], self._table)
        self._n_main = len(keys)
        self._n_terms = n_terms
        self._keys = keys
        self._live = np.ones(self._n_main, bool)
        self._n_dead = 0
        self._pending, self._n_pending, self._tail = [], 0, None
        if self._rows is not None:
            self._rows = None
        self._work = None

    def reorder(self, order: np.ndarray | Sequence[int] | None = None, **bp_options: Any) -> np.ndarray:
        """Merge, then renumber the rows so that row ``i`` holds the document that was at row ``order[i]``.

        ``order=None`` computes the order by recursive graph bisection
        (:func:`spladekit.local.reorder.bp_order`, options passed on) so that documents sharing terms are
        adjacent: block-max search (see :attr:`block_max`) then bounds blocks of similar documents tightly and
        skips most of them. Results do not change, except the order of tied hits, which follows the rows (see
        :data:`TIE_ORDER`). Documents added later go after the reordered rows. Saved with the index
        (``row_order`` in ``params.json``). Returns the order used (int64, old row by new row).

        >>> from spladekit.vectors import SparseVector
        >>> index = LocalIndex()
        >>> index.add(["x", "y", "z"], [SparseVector.from_dict({1: 1.0}), SparseVector.from_dict({2: 1.0}),
        ...                              SparseVector.from_dict({1: 1.0})])
        >>> index.reorder([0, 2, 1]).tolist(), index.row_order
        ([0, 2, 1], 'given')
        >>> index.search(SparseVector.from_dict({1: 1.0, 2: 0.5}))[0]
        ['x', 'z', 'y']
        """
        self.merge()
        n = self._n_main
        offsets, docs, values = self._main
        n_terms = int(offsets.shape[0] - 1)
        if order is not None:
            if bp_options:
                raise ValueError(f"options {sorted(bp_options)} are for bp_order; they do not apply to a given order")
            order = np.asarray(order, dtype=np.int64)
            if order.shape != (n,) or (n and (order.min() < 0 or order.max() >= n
                                              or not np.all(np.bincount(order, minlength=n) == 1))):
                raise ValueError(f"order must be a permutation of the {n} rows of the index (old row by new row)")
            kind = "given"
        rows = self._k.doc_major(offsets, docs, values, n)
        if order is None:
            order = np.asarray(bp.bp_order(rows[0], rows[1], n_terms, **bp_options), dtype=np.int64)
            kind = "bp"
        rows = self._k.take_rows(*rows, order)
        self._main = self._k.build_segment(*rows, n_terms, 0)
        del rows
        if self._text is not None:
            self._text.permute(order)
        self._keys = self._keys.permute(order)
        self._row_order, self._rows_ordered = kind, n
        self._rows = None
        self._blocks = None
        return order

    # --- whole-index views and static pruning -----------------------------------------------------------------

    def document_frequencies(self) -> np.ndarray:
        """Live documents holding each vocabulary id (int64, one per id up to the largest seen): the statistics
        an inference-free query's IDF weights come from. Merges first."""
        self.merge()
        return np.diff(self._main[0]).astype(np.int64)

    def documents(self) -> tuple[list[str], SparseBatch]:
        """Every live document, in row order: its id and its stored vector as the index scores it (``lucene``
        mode: the FeatureField values decoded; ``exact``: the float32 weights), as one CSR batch. Merges first."""
        self.merge()
        offsets, docs, values = self._main
        doc_offsets, term_ids, stored = self._k.doc_major(offsets, docs, values, self._n_main)
        weights = self._table[stored] if self._table is not None else np.asarray(stored, np.float32)
        return self._keys.take(range(self._n_main)), SparseBatch(doc_offsets, term_ids, weights)

    def prune_postings(self, top_postings: int) -> LocalIndex:
        """A new index keeping, for every term, only its ``top_postings`` highest-weighted postings (ties: the
        lower row): the term-centric static pruning of the SPLADE pruning study. Documents, ids and row order
        are kept (a document may lose every posting), and so is the BM25 text (shared with this index);
        ``meta["index_prune"]`` records what was done, and ingest refuses to add documents to such an index (they
        would not be pruned by the same bound)."""
        if isinstance(top_postings, bool) or int(top_postings) != top_postings or top_postings < 1:
            raise ValueError(f"top_postings must be an integer >= 1, got {top_postings}")
        self.merge()
        offsets, docs, values = self._main
        n_terms = int(offsets.shape[0] - 1)
        term = np.repeat(np.arange(n_terms, dtype=np.int64), np.diff(offsets))
        # Stored values order as the weights do (FeatureField frequencies are monotone in the weight).
        order = np.lexsort((docs, -values.astype(np.float64), term))
        rank = np.arange(order.shape[0], dtype=np.int64) - offsets[:-1][term[order]]
        keep = np.zeros(order.shape[0], bool)
        keep[order[rank < top_postings]] = True
        new_offsets = np.zeros(n_terms + 1, np.int64)
        np.cumsum(np.bincount(term[keep], minlength=n_terms), out=new_offsets[1:])
        record = {"top_postings": int(top_postings), "postings_before": int(docs.shape[0]),
                  "postings_after": int(keep.sum())}
        out = LocalIndex(mode=self.mode, meta={**self.meta, "index_prune": record},  # type: ignore[arg-type]
                         use_numba=self._k.backend == "numba")
        out._main = (new_offsets, np.ascontiguousarray(docs[keep]), np.ascontiguousarray(values[keep]))
        out._term_max = out._k.term_maxima(out._main[0], out._main[2], out._table)
        out._n_main, out._n_terms = self._n_main, n_terms
        out._keys = self._keys
        out._live = np.ones(self._n_main, bool)
        out._row_order, out._rows_ordered = self._row_order, self._rows_ordered
        out._text = self._text  # the BM25 text postings are not pruned: the same rows, shared
        return out

    # --- searching -------------------------------------------------------------------------------------------

    def search(self, vector: SparseVector, k: int = 10, filter_ids: Iterable[str] | None = None,
               alpha: float | None = None) -> tuple[list[str], np.ndarray]:
        """The ``k`` best documents for a query vector: (ids, float32 scores), best first, ties in row order.

        ``filter_ids`` restricts the hits to these ids (unknown ids are ignored). Only documents sharing a term
        with the query (positive score) are returned, so there may be fewer than ``k``. ``alpha``: this search's
        :attr:`alpha` (None: the index's).
        """
        return self.search_many([vector], k=k, threads=1, filter_ids=filter_ids, alpha=alpha)[0]

    def search_bm25(self, text: str, k: int = 10,
                    filter_ids: Iterable[str] | None = None) -> tuple[list[str], np.ndarray]:
        """BM25 over the documents' text, as an engine's ``match`` on the ``text`` field scores it: (ids, float32
        scores), best first, ties in row order. Lucene's BM25 (k1 = 1.2, b = 0.75, one-byte length norms, the
        engines' (1 + k1) scale) over the ``standard`` analyzer's tokens (:mod:`spladekit.local.text`).

        >>> from spladekit.vectors import SparseVector
        >>> index = LocalIndex()
        >>> index.add(["a", "b"], [SparseVector.from_dict({1: 1.0})] * 2, texts=["wing stall", "wing wing flaps"])
        >>> ids, scores = index.search_bm25("Wings stall", k=5)
        >>> ids, [round(float(s), 4) for s in scores]
        (['a'], [0.7549])
        """
        if k < 1:
            raise ValueError(f"k must be >= 1; got {k}")
        if self._text is None:
            raise IndexFormatError(_NO_TEXT)
        n_rows = self._n_main + self._n_pending
        allowed = self._allowed(filter_ids, n_rows)
        with self._lock:
            rows, scores = self._text.search(text, k, allowed)
        return self._keys.take(rows), scores.copy()

    def search_many(self, vectors: Sequence[SparseVector], k: int = 10, threads: int | None = None,
                    filter_ids: Iterable[str] | None = None,
                    alpha: float | None = None) -> list[tuple[list[str], np.ndarray]]:
        """:meth:`search` for many queries; ``threads`` > 1 spreads queries over cores (None: all of numba's)."""
        if k < 1:
            raise ValueError(f"k must be >= 1; got {k}")
        threads = self._k.max_threads if threads is None else int(threads)
        if threads < 1:
            raise ValueError(f"threads must be >= 1 (or None for all cores); got {threads}")
        queries = _as_csr(vectors)
        n_queries = queries[0].shape[0] - 1
        n_rows = self._n_main + self._n_pending
        allowed = self._allowed(filter_ids, n_rows)
        tail = self._tail_segment()
        out_docs = np.zeros((n_queries, k), np.int32)
        out_scores = np.zeros((n_queries, k), np.float32)
        out_counts = np.zeros(n_queries, np.int64)
        # One thread (every single search) runs the serial kernel: numba's thread count is not touched.
        workers = 1 if threads == 1 else min(self._k.set_threads(threads), max(n_queries, 1))
        term_max = self._term_max if self.prune else _NO_MAX
        alpha = float(self.alpha if alpha is None else alpha)
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1] (1: exact search); got {alpha!r}")
        # block_max=True or an approximate search: every query by block-max search, which never gives up; None:
        # by the query's postings.
        forced = self.block_max is True or (alpha < 1.0 and self.prune)
        fill, give_up = (0.0, 1.0) if forced else (kernels.BLOCK_FILL, kernels.GIVE_UP)
        with self._lock:
            if self._use_block_max(alpha):
                blocks = (int(self.block_shift), *self._block_lists())
            else:
                blocks = _NO_BLOCKS[self._main[2].dtype]
            search = self._k.search_batch_parallel if workers > 1 else self._k.search_batch
            # Each group a plain tuple of the fields of its named tuple (kernels.Queries, Segment, Blocks,
            # SearchOptions, Workspace, Hits): numba types plain tuples faster, a few microseconds a search.
            search(queries, self._main, tail, self._table, term_max, blocks, allowed, (k, fill, give_up, alpha),
                   self._workspace(workers, n_rows), (out_docs, out_scores, out_counts))
        return [(self._keys.take(out_docs[q, :out_counts[q]]), out_scores[q, :out_counts[q]].copy())
                for q in range(n_queries)]

    def vectors(self) -> tuple[list[str], SparseBatch]:
        """Every live document's id and stored vector, in row order (after a merge): the index's export.

        Weights are what the index scores with (see :meth:`doc_vector`); in ``lucene`` mode adding them to another
        index stores the same frequencies again. Deleted documents are dropped by the merge this does first.

        >>> index = LocalIndex(mode="exact")
        >>> index.add(["a", "b"], [SparseVector.from_dict({3: 0.5}), SparseVector.from_dict({1: 2.0, 3: 1.0})])
        >>> ids, batch = index.vectors()
        >>> ids, batch[1].ids.tolist(), batch[1].weights.tolist()
        (['a', 'b'], [1, 3], [2.0, 1.0])
        """
        self.merge()
        offsets, terms, values = self._k.doc_major(*self._main, self._n_main)
        weights = self._table[values] if self._table is not None else np.asarray(values, np.float32)
        return self._keys.take(range(self._n_main)), SparseBatch(offsets, terms, weights.astype(np.float32))

    def doc_vector(self, doc_id: str, term_ids: Sequence[int] | np.ndarray | None = None) -> SparseVector:
        """The stored weights of one document, for the vocabulary ids ``term_ids`` (None: all its terms).

        Weights are what the index scores with: in ``lucene`` mode the FeatureField frequencies decoded to
        float32 (so ``q_t * weight`` is the engines' clause score), in ``exact`` mode the model's float32
        weights. Terms the document lacks are left out. Each term costs a binary search in its posting list;
        ``term_ids=None`` searches every vocabulary id (about 30,000 for BERT vocabularies: milliseconds, not
        microseconds). Raises ``KeyError`` for an unknown or deleted id.
        """
        row = self._row_map().get(str(doc_id))
        if row is None:
            raise KeyError(f"no document {doc_id!r} in this local index (unknown or deleted id)")
        if term_ids is None:
            terms = None
        else:
            terms = np.unique(np.asarray(term_ids, dtype=np.int64))
            if terms.size and terms[0] < 0:
                raise ValueError("term_ids must be vocabulary ids >= 0")
        if row < self._n_main:
            offsets, docs, values = self._main
            if terms is None:
                terms = np.arange(offsets.shape[0] - 1, dtype=np.int64)
            pos = np.empty(terms.shape[0], np.int64)
            self._k.find_postings(offsets, docs, terms, row, pos)
            found = pos >= 0
            ids, stored = terms[found], values[pos[found]]
        else:
            local = row - self._n_main
            for doc_offsets, chunk_ids, chunk_values in self._pending:
                n = doc_offsets.shape[0] - 1
                if local < n:
                    lo, hi = int(doc_offsets[local]), int(doc_offsets[local + 1])
                    ids, stored = chunk_ids[lo:hi].astype(np.int64), chunk_values[lo:hi]
                    break
                local -= n
            keep = np.argsort(ids, kind="stable")
            ids, stored = ids[keep], stored[keep]
            if terms is not None:
                mask = np.isin(ids, terms)
                ids, stored = ids[mask], stored[mask]
        weights = self._table[stored] if self._table is not None else np.asarray(stored, np.float32)
        return SparseVector(ids.astype(np.int32), weights.astype(np.float32))

    def _allowed(self, filter_ids: Iterable[str] | None, n_rows: int) -> np.ndarray:
        if filter_ids is None:
            return self._live[:n_rows] if self._n_dead else np.zeros(0, bool)
        mask = np.zeros(n_rows, bool)
        rows = self._row_map()
        hits = [rows[key] for key in map(str, filter_ids) if key in rows]
        mask[np.asarray(hits, dtype=np.int64)] = True
        return mask

    def _use_block_max(self, alpha: float | None = None) -> bool:
        if not self.prune or self._n_main == 0:
            return False
        if self.block_max is not None:
            return self.block_max
        if (self.alpha if alpha is None else alpha) < 1.0:
            return True
        return (self._row_order != "insertion" and self._n_main >= BLOCK_MAX_MIN_DOCS
                and 2 * self._rows_ordered >= self._n_main)

    def _block_lists(self) -> tuple[np.ndarray, ...]:
        # Built on first need after each change of the main segment: one pass over its postings.
        shift = int(self.block_shift)
        if not 0 <= shift <= 16:
            raise ValueError(f"block_shift must be in 0..16 (blocks of 1 to 65536 documents); got {shift}")
        if self._blocks is None or self._blocks[0] != shift:
            self._blocks = (shift, self._k.block_maxima(*self._main, shift))
        return self._blocks[1]

    def _workspace(self, workers: int, n_rows: int) -> tuple[np.ndarray, ...]:
        # Kept between searches: zeroing a fresh float64 row per query would cost more than scoring it.
        if self._work is None or self._work[0].shape[0] < workers or self._work[0].shape[1] < n_rows:
            size = max(n_rows, 1)
            self._work = (np.zeros((workers, size), np.float64), np.zeros((workers, size), np.int32),
                          np.zeros((workers, size), np.int32), np.zeros((workers, size // 8 + 1), np.uint8))
        return tuple(w[:workers] for w in self._work)

    def _tail_segment(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._tail is None:
            if not self._pending:
                self._tail = (_EMPTY_OFFSETS, np.zeros(0, np.int32), np.zeros(0, _value_dtype(self.mode)))
            else:
                offsets, ids, values = _concat_csr(self._pending)
                self._tail = self._k.build_segment(offsets, ids, values, self._n_terms, self._n_main)
        return self._tail

    def _row_map(self) -> dict[str, int]:
        if self._rows is None:
            n_rows = self._n_main + self._n_pending
            live = self._live[:n_rows]
            self._rows = {self._keys[r]: r for r in range(n_rows) if live[r]}
        return self._rows

    def _grow_live(self, n: int) -> None:
        if self._live.shape[0] < n:
            grown = np.zeros(max(n, 2 * self._live.shape[0]), bool)
            grown[:self._live.shape[0]] = self._live
            self._live = grown

    # --- disk ------------------------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Merge, then write plain ``.npy`` arrays and ``params.json`` into ``directory`` (replacing an index).

        Crash-safe: the arrays go into a new ``arrays-<n>/`` folder and ``params.json``, replaced atomically
        last, names the folder to read; a crash at any point leaves the previous index readable. Older
        folders are removed afterwards (an index memory-mapped from them keeps its open files).
        """
        self.merge()
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        arrays = dict(zip(("offsets", "docs", "values"), self._main, strict=True))
        arrays["term_max"] = self._term_max
        arrays["keys"], arrays["key_offsets"] = self._keys.blob, self._keys.offsets
        if self._text is not None:
            arrays.update(self._text.arrays())
        generation = f"arrays-{time.time_ns()}"
        staging = path / f".{generation}.tmp"
        staging.mkdir()
        for name, array in arrays.items():
            with open(staging / f"{name}.npy", "wb") as fh:
                np.save(fh, np.ascontiguousarray(array))
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(staging, path / generation)
        params = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "arrays_dir": generation,
            "mode": self.mode,
            "model": self.meta.get("model"),
            "model_sha256": self.meta.get("model_sha256"),
            "n_docs": self._n_main,
            "n_postings": int(self._main[1].shape[0]),
            "n_terms": int(self._main[0].shape[0] - 1),
            "value_dtype": str(_value_dtype(self.mode)),
            "row_order": self._row_order,
            "row_order_rows": self._rows_ordered,
            "bm25": None if self._text is None else {
                "k1": lucene.BM25_K1, "b": lucene.BM25_B, "analyzer": ANALYZER, "field": "text",
                "n_tokens": len(self._text.vocabulary), "n_postings": int(self._text.arrays()["text_docs"].shape[0])},
            "tie_order": TIE_ORDER,
            "spladekit_version": __version__,
            "meta": self.meta,
        }
        tmp = path / f".{PARAMS}.tmp"
        tmp.write_text(json.dumps(params, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path / PARAMS)
        for old in path.glob("arrays-*"):
            if old.name != generation and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        for old in path.glob(".arrays-*.tmp"):
            shutil.rmtree(old, ignore_errors=True)
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str], mmap: bool = True, *, model: str | None = None,
             use_numba: bool | None = None) -> LocalIndex:
        """Open an index written by :meth:`save`; ``mmap`` maps the arrays instead of reading them.

        ``model`` (a model name or weights sha256): raise :class:`IndexFormatError` unless the index was built
        with that model, since queries encoded by another model would score against the wrong vocabulary.
        """
        path = Path(directory)
        params = read_params(path)
        if model is not None and model not in (params.get("model"), params.get("model_sha256")):
            raise IndexFormatError(
                f"the local index at {path} was built with model {params.get('model')!r} "
                f"(sha256 {params.get('model_sha256')}), not {model!r}: search it with that model, or rebuild it "
                f"with `spladekit ingest CORPUS --local {path} --model {model}`"
            )
        mode = params["mode"]
        index = cls(mode=mode, meta=params.get("meta") or {}, use_numba=use_numba)
        arrays = {}
        # Indexes saved before generations existed keep their arrays beside params.json.
        arrays_dir = path / params.get("arrays_dir", ".")
        for name in _ARRAYS:
            try:
                array = np.load(arrays_dir / f"{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise IndexFormatError(f"the local index at {path} is incomplete ({name}.npy: {exc}); "
                                       "rebuild it with `spladekit ingest CORPUS --local DIR`") from exc
            arrays[name] = array.view(np.ndarray)
        expected = {"offsets": np.int64, "docs": np.int32, "values": _value_dtype(mode), "term_max": np.float32,
                    "keys": np.uint8, "key_offsets": np.int64}
        n_docs, n_postings = int(params["n_docs"]), int(params["n_postings"])
        bad = [n for n, dt in expected.items() if arrays[n].dtype != np.dtype(dt) or arrays[n].ndim != 1]
        if (bad or arrays["docs"].shape[0] != n_postings or arrays["values"].shape[0] != n_postings
                or arrays["key_offsets"].shape[0] != n_docs + 1 or int(arrays["offsets"][-1]) != n_postings
                or arrays["term_max"].shape[0] != arrays["offsets"].shape[0] - 1):
            raise IndexFormatError(f"the local index at {path} does not match its params.json "
                                   f"(arrays {bad or 'of the wrong length'}); rebuild it with `spladekit ingest "
                                   f"CORPUS --local {path}`")
        index._main = (arrays["offsets"], arrays["docs"], arrays["values"])
        index._term_max = arrays["term_max"]
        index._n_main = n_docs
        index._n_terms = int(arrays["offsets"].shape[0] - 1)
        index._keys = _Keys(arrays["keys"], arrays["key_offsets"])
        index._live = np.ones(n_docs, bool)
        # Indexes saved before reorder() existed have no row_order: their rows are in insertion order.
        index._row_order = params.get("row_order", "insertion")
        index._rows_ordered = int(params.get("row_order_rows", 0))
        index._text = _load_text(path, arrays_dir, params, mmap, index._k) if params.get("bm25") else None
        return index


def read_params(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``params.json`` of a local index, checked for format and version."""
    path = Path(directory)
    try:
        params = json.loads((path / PARAMS).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexFormatError(f"no local index at {path} (no {PARAMS}); build one with "
                               f"`spladekit ingest CORPUS --local {path}`") from None
    except json.JSONDecodeError as exc:
        raise IndexFormatError(f"{path / PARAMS} is not valid JSON ({exc}); rebuild the index") from exc
    if params.get("format") != FORMAT:
        raise IndexFormatError(f"{path} holds no spladekit local index (format {params.get('format')!r})")
    version = params.get("format_version")
    if version not in READABLE_VERSIONS:
        raise IndexFormatError(
            f"the local index at {path} has format version {version}; this spladekit ({__version__}) reads version "
            f"{FORMAT_VERSION}: rebuild it with `spladekit ingest CORPUS --local {path}` "
            "(or use the spladekit version that wrote it)"
        )
    if params.get("mode") not in MODES:
        raise IndexFormatError(f"{path / PARAMS} names an unknown mode {params.get('mode')!r}; rebuild the index")
    if params.get("row_order", "insertion") not in ROW_ORDERS:
        raise IndexFormatError(f"{path / PARAMS} names an unknown row_order {params.get('row_order')!r} (known: "
                               f"{', '.join(ROW_ORDERS)}); use the spladekit version that wrote it, or rebuild it")
    return params


_NO_TEXT = ("this local index keeps no text for BM25 (it was built by a spladekit older than local index format 2): "
            "rebuild it with `spladekit ingest CORPUS --local NEW_DIR`, or search it with SPLADE only (no --bm25/"
            "--hybrid)")


def _load_text(path: Path, arrays_dir: Path, params: dict[str, Any], mmap: bool, kernels: Any) -> TextIndex:
    arrays = {}
    for name, dtype in _TEXT_ARRAYS.items():
        try:
            array = np.load(arrays_dir / f"{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"the local index at {path} is incomplete ({name}.npy: {exc}); "
                                   "rebuild it with `spladekit ingest CORPUS --local DIR`") from exc
        if array.dtype != np.dtype(dtype) or array.ndim != 1:
            raise IndexFormatError(f"the local index at {path} has a {name}.npy of the wrong type; rebuild it with "
                                   "`spladekit ingest CORPUS --local DIR`")
        arrays[name] = array.view(np.ndarray)
    n_docs = int(params["n_docs"])
    if (arrays["text_lengths"].shape[0] != n_docs
            or not int(arrays["text_offsets"][-1]) == arrays["text_docs"].shape[0] == arrays["text_freqs"].shape[0]):
        raise IndexFormatError(f"the local index at {path} has text arrays that do not match its params.json; "
                               "rebuild it with `spladekit ingest CORPUS --local DIR`")
    vocabulary = Vocabulary(arrays["text_terms"], arrays["text_term_offsets"])
    main = (arrays["text_offsets"], arrays["text_docs"], arrays["text_freqs"])
    return TextIndex(kernels, vocabulary, main, arrays["text_lengths"])


def _concat_csr(chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    if len(chunks) == 1:
        return chunks[0]
    lengths = np.concatenate([np.diff(c[0]) for c in chunks])
    offsets = np.zeros(lengths.shape[0] + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, np.concatenate([c[1] for c in chunks]), np.concatenate([c[2] for c in chunks])


def prune_index(directory: str | os.PathLike[str], out: str | os.PathLike[str], *, top_postings: int) -> dict[str, Any]:
    """Term-centric static pruning of the local index at ``directory`` into a new index at ``out`` (see
    :meth:`LocalIndex.prune_postings`); returns what changed (postings and bytes before and after)."""
    src, dst = Path(directory), Path(out)
    if dst.resolve() == src.resolve():
        raise InputError(f"-o {dst} is the index being pruned; pruning drops postings for good: write the pruned "
                         "index to another folder")
    if dst.exists() and any(dst.iterdir()) and not (dst / PARAMS).is_file():
        raise InputError(f"{dst} exists and is not a local index; give an empty or new folder to -o")
    index = LocalIndex.load(src, mmap=True)
    if index.meta.get("index_prune"):
        raise InputError(f"the local index at {src} is already pruned per term ({index.meta['index_prune']}); prune "
                         "the full index instead")
    pruned = index.prune_postings(top_postings)
    pruned.save(dst)
    return {"source": str(src), "out": str(dst), "docs": len(pruned), **pruned.meta["index_prune"],
            "bytes_before": index.nbytes(), "bytes_after": pruned.nbytes()}
