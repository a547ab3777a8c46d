"""The local index's kernels: numba and numpy agree bit for bit, and both agree with brute-force references."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from spladekit import jit, lucene
from spladekit.local import kernels
from spladekit.local.kernels import Blocks, Hits, Queries, Query, SearchOptions, Segment, Top, Workspace
from spladekit.vectors import SparseBatch, SparseVector

VOCAB = 300


def random_batch(rng: np.random.Generator, n: int, mean_terms: int, vocab: int = VOCAB) -> SparseBatch:
    """Zipf-like term ids (a few terms in most vectors, as in SPLADE) and positive float32 weights."""
    vectors = []
    for _ in range(n):
        size = int(rng.integers(0, 2 * mean_terms))
        ids = np.unique(np.minimum(rng.zipf(1.3, size) - 1, vocab - 1))
        vectors.append(SparseVector(ids, rng.gamma(1.0, 0.7, ids.size).astype(np.float32) + np.float32(0.01)))
    return SparseBatch.from_vectors(vectors)


def exact_scores(query: SparseVector, docs: SparseBatch) -> np.ndarray:
    """float32 clause products summed in float64 in ascending term order, cast to float32 (written directly)."""
    q = query.to_dict()
    out = np.zeros(len(docs), np.float32)
    for d, doc in enumerate(docs):
        total = 0.0
        for t, w in zip(doc.ids.tolist(), doc.weights.tolist(), strict=True):
            if t in q:
                total += float(np.float32(np.float32(q[t]) * np.float32(w)))
        out[d] = np.float32(total)
    return out


def expected_top(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positive scores, best first, ties by lower document number."""
    docs = np.flatnonzero((scores > 0) & (True if allowed is None else allowed))
    order = np.lexsort((docs, -scores[docs]))[:k]
    return docs[order].astype(np.int32), scores[docs[order]]


def run(k_impl, segment, queries: SparseBatch, k: int, table, allowed=None, tail=None, workers: int = 1,
        prune: bool = False, block_shift: int | None = None, block_policy: tuple[float, float] = (0.0, 1.0),
        named: bool = False):
    """search_batch over ``segment`` (+ ``tail``): exhaustive, MaxScore (``prune``) or block-max (``block_shift``;
    ``block_policy`` = (fill, give_up): by default block-max for every query, never giving up). The groups go as
    plain tuples, as LocalIndex passes them, or with ``named`` as the named tuples."""
    n_docs = int(max(segment[1].max(initial=-1), -1 if tail is None else tail[1].max(initial=-1))) + 1
    tail = Segment(*tail) if tail else Segment.empty(segment[2].dtype)
    n_q = len(queries)
    out = Hits.zeros(n_q, k)
    work = Workspace.zeros(workers, n_docs)
    term_max = k_impl.term_maxima(segment[0], segment[2], table) if prune else np.zeros(0, np.float32)
    if block_shift is None:
        blocks = Blocks.empty(segment[2].dtype)
    else:
        blocks = Blocks(block_shift, *k_impl.block_maxima(*segment, block_shift))
    batch = k_impl.search_batch_parallel if workers > 1 else k_impl.search_batch
    args = (Queries(queries.offsets, queries.ids, queries.weights), Segment(*segment), tail, table, term_max, blocks,
            np.zeros(0, bool) if allowed is None else allowed, SearchOptions(k, *block_policy), work, out)
    batch(*(args if named else (tuple(a) if isinstance(a, tuple) else a for a in args)))
    assert not work.acc.any() and not work.bits.any(), "the kernel must leave its workspace zeroed for the next query"
    return [(out.docs[q, :out.counts[q]], out.scores[q, :out.counts[q]]) for q in range(n_q)]


def segment_of(k_impl, docs: SparseBatch, mode: str, first_doc: int = 0):
    values = lucene.encode(docs.weights) if mode == "lucene" else docs.weights
    return k_impl.build_segment(docs.offsets, docs.ids, values, VOCAB, first_doc)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return random_batch(rng, 400, 25), random_batch(rng, 30, 8)


@pytest.fixture(scope="module")
def compiled():
    k = kernels.get(True)
    if k.backend != "numba":
        pytest.fail("numba is a core dependency and must import in the test environment")
    return k


@pytest.mark.parametrize("mode", ["lucene", "exact"])
def test_numba_and_numpy_agree_bit_for_bit(data, compiled, mode):
    docs, queries = data
    plain = kernels.get(False)
    assert plain.backend == "numpy"
    table = kernels.decode_table() if mode == "lucene" else None
    seg_numba, seg_numpy = segment_of(compiled, docs, mode), segment_of(plain, docs, mode)
    for a, b in zip(seg_numba, seg_numpy, strict=True):
        np.testing.assert_array_equal(a, b)
    got_numba = run(compiled, seg_numba, queries, 10, table)
    got_numpy = run(plain, seg_numpy, queries, 10, table)
    assert sum(len(d) for d, _ in got_numba) > 100  # the queries really hit documents
    for (dn, sn), (dp, sp) in zip(got_numba, got_numpy, strict=True):
        np.testing.assert_array_equal(dn, dp)
        np.testing.assert_array_equal(sn.view(np.uint32), sp.view(np.uint32))


def test_lucene_mode_matches_reference_scores(data, compiled):
    docs, queries = data
    freqs = lucene.encode(docs.weights)
    got = run(compiled, segment_of(compiled, docs, "lucene"), queries, 15, kernels.decode_table())
    for q, (d, s) in zip(queries, got, strict=True):
        ref = lucene.reference_scores(q.ids, q.weights, docs.offsets, docs.ids, freqs)
        want_d, want_s = expected_top(ref, 15)
        np.testing.assert_array_equal(d, want_d)
        np.testing.assert_array_equal(s.view(np.uint32), want_s.view(np.uint32))


def test_exact_mode_matches_float64_sum_of_float32_products(data, compiled):
    docs, queries = data
    got = run(compiled, segment_of(compiled, docs, "exact"), queries, 15, None)
    for q, (d, s) in zip(queries, got, strict=True):
        want_d, want_s = expected_top(exact_scores(q, docs), 15)
        np.testing.assert_array_equal(d, want_d)
        np.testing.assert_array_equal(s.view(np.uint32), want_s.view(np.uint32))


def test_decode_table_is_lucene_decode():
    freqs = np.array([0, 1, 16256, 32000, lucene.MAX_FREQ], np.uint16)
    np.testing.assert_array_equal(kernels.decode_table()[freqs].view(np.uint32), lucene.decode(freqs).view(np.uint32))


def test_parallel_batch_equals_serial(data, compiled):
    docs, queries = data
    segment = segment_of(compiled, docs, "lucene")
    compiled.set_threads(2)
    serial = run(compiled, segment, queries, 10, kernels.decode_table())
    parallel = run(compiled, segment, queries, 10, kernels.decode_table(), workers=2)
    for (a, sa), (b, sb) in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sa.view(np.uint32), sb.view(np.uint32))


def test_named_and_plain_tuples_give_the_same_results(data, compiled):
    docs, queries = data
    segment = segment_of(compiled, docs, "lucene")
    for k_impl in (compiled, kernels.get(False)):
        named = run(k_impl, segment, queries, 10, kernels.decode_table(), prune=True, named=True)
        plain = run(k_impl, segment, queries, 10, kernels.decode_table(), prune=True)
        for (a, sa), (b, sb) in zip(named, plain, strict=True):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(sa.view(np.uint32), sb.view(np.uint32))


def test_main_plus_tail_equals_one_segment(data, compiled):
    docs, queries = data
    head, rest = SparseBatch.from_vectors(docs[:250]), SparseBatch.from_vectors(docs[250:])
    table = kernels.decode_table()
    split = run(compiled, segment_of(compiled, head, "lucene"), queries, 10, table,
                tail=segment_of(compiled, rest, "lucene", first_doc=250))
    whole = run(compiled, segment_of(compiled, docs, "lucene"), queries, 10, table)
    for (a, sa), (b, sb) in zip(split, whole, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sa, sb)


def test_merge_drops_dead_documents_and_keeps_order(data, compiled):
    docs, _ = data
    head, rest = SparseBatch.from_vectors(docs[:250]), SparseBatch.from_vectors(docs[250:])
    live = np.random.default_rng(3).random(len(docs)) > 0.3
    renumber = np.full(len(docs), -1, np.int32)
    renumber[live] = np.arange(live.sum())
    merged = compiled.merge_segments(segment_of(compiled, head, "lucene"),
                                     segment_of(compiled, rest, "lucene", 250), renumber, VOCAB)
    kept = SparseBatch.from_vectors([docs[i] for i in np.flatnonzero(live)])
    for a, b in zip(merged, segment_of(compiled, kept, "lucene"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_ties_come_in_document_order_and_k_keeps_the_first(compiled):
    same = SparseVector.from_dict({3: 0.5, 7: 1.5})
    other = SparseVector.from_dict({3: 0.25})
    docs = SparseBatch.from_vectors([other, same, same, other, same, same, same])
    query = SparseBatch.from_vectors([SparseVector.from_dict({3: 1.0, 7: 1.0})])
    (d, s), = run(compiled, segment_of(compiled, docs, "lucene"), query, 3, kernels.decode_table())
    assert d.tolist() == [1, 2, 4]
    assert len(set(s.tolist())) == 1
    (d, _), = run(compiled, segment_of(compiled, docs, "lucene"), query, 10, kernels.decode_table())
    assert d.tolist() == [1, 2, 4, 5, 6, 0, 3]


def test_allowed_mask_filters_hits(data, compiled):
    docs, queries = data
    allowed = np.random.default_rng(5).random(len(docs)) < 0.5
    got = run(compiled, segment_of(compiled, docs, "exact"), queries, 10, None, allowed=allowed)
    for q, (d, _s) in zip(queries, got, strict=True):
        want_d, _ = expected_top(exact_scores(q, docs), 10, allowed)
        np.testing.assert_array_equal(d, want_d)
        assert allowed[d].all()


def test_query_terms_outside_the_vocabulary_are_ignored(compiled):
    docs = SparseBatch.from_vectors([SparseVector.from_dict({1: 1.0})])
    query = SparseBatch.from_vectors([SparseVector.from_dict({1: 2.0, VOCAB + 50: 9.0})])
    (d, s), = run(compiled, segment_of(compiled, docs, "exact"), query, 5, None)
    assert d.tolist() == [0] and s.tolist() == [2.0]


def test_missing_numba_falls_back_to_numpy_with_one_warning(monkeypatch, data):
    docs, queries = data
    monkeypatch.setattr(jit, "_MODULES", {})
    monkeypatch.setitem(sys.modules, "numba", None)  # "import numba" now raises ImportError
    calls = []
    original = kernels.accumulate.add_postings

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(kernels.accumulate, "add_postings", counting)
    with pytest.warns(RuntimeWarning, match="numba is not installed"):
        fallback = kernels.get(True)
    assert fallback.backend == "numpy"
    assert fallback.search_batch is kernels.batch.search_batch  # the plain function, not a compiled dispatcher
    small = SparseBatch.from_vectors(docs[:60])
    got = run(fallback, segment_of(fallback, small, "lucene"), queries, 5, kernels.decode_table())
    assert calls, "the plain Python kernel did not run"
    for q, (d, s) in zip(queries, got, strict=True):
        ref = lucene.reference_scores(q.ids, q.weights, small.offsets, small.ids, lucene.encode(small.weights))
        want_d, want_s = expected_top(ref, 5)
        np.testing.assert_array_equal(d, want_d)
        np.testing.assert_array_equal(s, want_s)


@pytest.mark.parametrize("mode", ["lucene", "exact"])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_pruned_search_equals_exhaustive_search(compiled, mode, k):
    # Skewed weights (a few strong terms per query, many weak ones) so that pruning really cuts lists short.
    rng = np.random.default_rng(k)
    docs, queries = random_batch(rng, 3000, 30), random_batch(rng, 40, 12)
    queries = SparseBatch(queries.offsets, queries.ids, (queries.weights ** 3).astype(np.float32))
    table = kernels.decode_table() if mode == "lucene" else None
    segment = segment_of(compiled, docs, mode)
    allowed = np.random.default_rng(1).random(len(docs)) < 0.9
    for mask in (None, allowed):
        full = run(compiled, segment, queries, k, table, allowed=mask)
        pruned = run(compiled, segment, queries, k, table, allowed=mask, prune=True)
        # the plain-Python build of the pruned kernel too (once: it is slow)
        plain = (run(kernels.get(False), segment, SparseBatch.from_vectors(queries[:8]), k, table,
                     allowed=mask, prune=True) if k == 3 else pruned)
        for (a, sa), (b, sb), (c, sc) in zip(full, pruned, plain, strict=False):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(sa.view(np.uint32), sb.view(np.uint32))
            np.testing.assert_array_equal(b, c)
            np.testing.assert_array_equal(sb.view(np.uint32), sc.view(np.uint32))



@pytest.mark.parametrize("path", ["search_pruned", "search_dense"])
def test_both_pruned_paths_equal_exhaustive(compiled, path):
    rng = np.random.default_rng(9)
    docs, queries = random_batch(rng, 2000, 30), random_batch(rng, 30, 12)
    table = kernels.decode_table()
    segment = segment_of(compiled, docs, "lucene")
    term_max = compiled.term_maxima(segment[0], segment[2], table)
    n = len(docs)
    acc, touched, cand = np.zeros(n), np.zeros(n, np.int32), np.zeros(n, np.int32)
    bits = np.zeros(n // 8 + 1, np.uint8)
    for q in queries:
        q = SparseVector(q.ids, (q.weights ** 3).astype(np.float32))  # skewed: pruning kicks in
        want_d, want_s = run(compiled, segment, SparseBatch.from_vectors([q]), 5, table)[0]
        out_d, out_s = np.zeros(5, np.int32), np.zeros(5, np.float32)
        got = getattr(compiled, path)(Query(q.ids, q.weights), Segment(*segment), table, term_max, np.zeros(0, bool), 5,
                                      Workspace(acc, touched, cand, bits), Top(out_d, out_s))
        np.testing.assert_array_equal(out_d[:got], want_d)
        np.testing.assert_array_equal(out_s[:got].view(np.uint32), want_s.view(np.uint32))
        assert not acc.any() and not bits.any()


@pytest.mark.parametrize("mode", ["lucene", "exact"])
@pytest.mark.parametrize("shift", [3, 6, 14])
def test_range_blocked_search_equals_exhaustive(compiled, mode, shift):
    # Few distinct weights: many exactly tied scores, so the tie order (document number) is checked across ranges.
    rng = np.random.default_rng(shift)
    docs, queries = random_batch(rng, 1500, 20, vocab=40), random_batch(rng, 25, 10, vocab=40)
    docs = SparseBatch(docs.offsets, docs.ids, np.round(docs.weights * 2).astype(np.float32) / 2 + 0.5)
    table = kernels.decode_table() if mode == "lucene" else None
    allowed = np.random.default_rng(2).random(len(docs)) < 0.7
    plain = kernels.get(False)
    for k_impl in (compiled, plain):
        segment = segment_of(k_impl, docs, mode)
        cacc = np.zeros(len(docs))
        for mask in (None, allowed):
            want = run(compiled, segment, queries, 7, table, allowed=mask)
            for q, (want_d, want_s) in zip(list(queries)[:6 if k_impl is plain else None], want, strict=False):
                out_d, out_s = np.zeros(7, np.int32), np.zeros(7, np.float32)
                got = k_impl.search_chunked(Query(q.ids, q.weights), Segment(*segment), table, shift,
                                            np.zeros(0, bool) if mask is None else mask, 7, cacc, Top(out_d, out_s))
                np.testing.assert_array_equal(out_d[:got], want_d)
                np.testing.assert_array_equal(out_s[:got].view(np.uint32), want_s.view(np.uint32))
                assert not cacc.any(), "the range sums must be left zeroed"


def test_dense_queries_take_the_range_blocked_path_in_search_batch(compiled, monkeypatch):
    # A small vocabulary makes every query's postings outnumber the documents (load >= CHUNK_LOAD * n_docs).
    rng = np.random.default_rng(5)
    docs, queries = random_batch(rng, 800, 12, vocab=12), random_batch(rng, 20, 6, vocab=12)
    table = kernels.decode_table()
    segment = segment_of(compiled, docs, "lucene")
    loads = [int(sum(segment[0][t + 1] - segment[0][t] for t in q.ids)) for q in queries]
    assert max(loads) >= kernels.CHUNK_LOAD * len(docs)
    full = run(compiled, segment, queries, 5, table)
    pruned = run(compiled, segment, queries, 5, table, prune=True)
    calls = []
    real = kernels.batch.search_chunked
    monkeypatch.setattr(kernels.batch, "search_chunked", lambda *a: calls.append(1) or real(*a))
    plain = run(kernels.get(False), segment, queries, 5, table, prune=True)
    assert calls, "the plain batch kernel did not use search_chunked for dense queries"
    for (a, sa), (b, sb), (c, sc) in zip(full, pruned, plain, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sa.view(np.uint32), sb.view(np.uint32))
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(sa.view(np.uint32), sc.view(np.uint32))


def clustered(docs: SparseBatch) -> SparseBatch:
    """The documents sorted by their strongest term (similar documents adjacent, as after a reordering)."""
    key = [int(d.ids[np.argmax(d.weights)]) if len(d) else -1 for d in docs]
    return SparseBatch.from_vectors([docs[i] for i in np.argsort(key, kind="stable")])


@pytest.mark.parametrize("mode", ["lucene", "exact"])
@pytest.mark.parametrize("shift", [0, 3, 5])
def test_block_max_search_equals_exhaustive_and_reference(compiled, mode, shift):
    # Few distinct weights: many exact ties, within and across blocks; skewed queries so that blocks are skipped.
    rng = np.random.default_rng(40 + shift)
    docs, queries = random_batch(rng, 1200, 20, vocab=60), random_batch(rng, 30, 10, vocab=60)
    docs = clustered(SparseBatch(docs.offsets, docs.ids, np.round(docs.weights * 2).astype(np.float32) / 2 + 0.5))
    queries = SparseBatch(queries.offsets, queries.ids, (queries.weights ** 3).astype(np.float32) + 0.01)
    table = kernels.decode_table() if mode == "lucene" else None
    allowed = np.random.default_rng(2).random(len(docs)) < 0.7
    segment = segment_of(compiled, docs, mode)
    values = lucene.quantize(docs.weights) if mode == "lucene" else docs.weights
    plain_docs = SparseBatch(docs.offsets, docs.ids, values)
    for k in (1, 7):
        for mask in (None, allowed):
            want = run(compiled, segment, queries, k, table, allowed=mask)
            got = run(compiled, segment, queries, k, table, allowed=mask, block_shift=shift)
            for q, (a, sa), (b, sb) in zip(queries, want, got, strict=True):
                ref_d, ref_s = expected_top(exact_scores(q, plain_docs), k, mask)
                np.testing.assert_array_equal(a, ref_d)
                np.testing.assert_array_equal(sa.view(np.uint32), ref_s.view(np.uint32))
                np.testing.assert_array_equal(b, a)
                np.testing.assert_array_equal(sb.view(np.uint32), sa.view(np.uint32))
    # the plain-Python build of the block-max kernel (a few queries: it is slow)
    few = SparseBatch.from_vectors(queries[:5])
    plain = kernels.get(False)
    for (a, sa), (b, sb) in zip(run(compiled, segment, few, 7, table, allowed=allowed),
                                run(plain, segment, few, 7, table, allowed=allowed, block_shift=shift), strict=True):
        np.testing.assert_array_equal(b, a)
        np.testing.assert_array_equal(sb.view(np.uint32), sa.view(np.uint32))


@pytest.mark.parametrize("workers", [1, 2])
def test_block_max_search_with_a_tail_equals_one_segment(data, compiled, workers):
    docs, queries = data
    docs = clustered(docs)
    head, rest = SparseBatch.from_vectors(docs[:300]), SparseBatch.from_vectors(docs[300:])
    table = kernels.decode_table()
    compiled.set_threads(workers)
    allowed = np.random.default_rng(8).random(len(docs)) < 0.8
    for mask in (None, allowed):
        whole = run(compiled, segment_of(compiled, docs, "lucene"), queries, 10, table, allowed=mask)
        split = run(compiled, segment_of(compiled, head, "lucene"), queries, 10, table, allowed=mask,
                    tail=segment_of(compiled, rest, "lucene", first_doc=300), workers=workers, block_shift=4)
        for (a, sa), (b, sb) in zip(whole, split, strict=True):
            np.testing.assert_array_equal(b, a)
            np.testing.assert_array_equal(sb.view(np.uint32), sa.view(np.uint32))


def test_block_maxima_lists_hold_each_blocks_maximum(data, compiled):
    docs, _ = data
    offsets, d, values = segment_of(compiled, docs, "lucene")
    bm_offsets, bm_blocks, bm_max, bm_start = compiled.block_maxima(offsets, d, values, 4)
    plain = kernels.get(False).block_maxima(offsets, d, values, 4)
    for a, b in zip((bm_offsets, bm_blocks, bm_max, bm_start), plain, strict=True):
        np.testing.assert_array_equal(a, b)
    for t in range(VOCAB):
        lo, hi = offsets[t], offsets[t + 1]
        blocks = d[lo:hi] >> 4
        want = np.unique(blocks)
        e = slice(bm_offsets[t], bm_offsets[t + 1])
        np.testing.assert_array_equal(bm_blocks[e], want)
        np.testing.assert_array_equal(bm_start[e], np.searchsorted(blocks, want))
        np.testing.assert_array_equal(bm_max[e], [values[lo:hi][blocks == b].max() for b in want])
    assert bm_max.dtype == np.uint16 and bm_start.dtype == np.int32


def test_doc_major_and_take_rows_rebuild_the_documents(data, compiled, monkeypatch):
    docs, _ = data
    segment = segment_of(compiled, docs, "exact")
    order = np.random.default_rng(4).permutation(len(docs))
    want = SparseBatch.from_vectors([docs[i] for i in order])
    monkeypatch.setattr(kernels.segments, "ROWS_SHIFT", 5)  # several row ranges in the plain build
    for k_impl in (compiled, kernels.get(False)):
        rows = k_impl.doc_major(*segment, len(docs))
        for got, whole in zip(rows, (docs.offsets, docs.ids, docs.weights), strict=True):
            np.testing.assert_array_equal(got, whole)
        for got, taken in zip(k_impl.take_rows(*rows, order), (want.offsets, want.ids, want.weights), strict=True):
            np.testing.assert_array_equal(got, taken)


@pytest.mark.parametrize("with_tail", [False, True])
def test_block_max_hands_queries_it_gives_up_on_to_the_other_paths(data, compiled, monkeypatch, with_tail):
    # give_up = 0: after 16 blocks any block still above the k-th score sends the query elsewhere; blocks of 4 docs
    # so that there are many. A fill threshold above any query's fill sends every query elsewhere from the start.
    docs, queries = data
    table = kernels.decode_table()
    head, rest = SparseBatch.from_vectors(docs[:300]), SparseBatch.from_vectors(docs[300:])
    segment = segment_of(compiled, head if with_tail else docs, "lucene")
    tail = segment_of(compiled, rest, "lucene", first_doc=300) if with_tail else None
    want = run(compiled, segment_of(compiled, docs, "lucene"), queries, 10, table)
    plain = kernels.get(False)
    returned = []
    real = kernels.batch.search_block_max
    monkeypatch.setattr(kernels.batch, "search_block_max", lambda *a: returned.append(real(*a)) or returned[-1])
    for k_impl, policy in ((compiled, (0.0, 0.0)), (compiled, (1e9, 1.0)), (plain, (0.0, 0.0))):
        got = run(k_impl, segment, queries, 10, table, tail=tail, prune=True, block_shift=2, block_policy=policy)
        for (a, sa), (b, sb) in zip(want, got, strict=True):
            np.testing.assert_array_equal(b, a)
            np.testing.assert_array_equal(sb.view(np.uint32), sa.view(np.uint32))
    assert -1 in returned and any(r >= 0 for r in returned), "the plain kernel gave up on no query, or on all"


def test_block_max_ignores_query_weights_that_are_not_positive(data, compiled):
    # LocalIndex drops them before searching; a direct kernel call must still agree with the other paths.
    docs, queries = data
    signed = SparseBatch(queries.offsets, queries.ids,
                         np.where(np.arange(queries.ids.size) % 3 == 0, -queries.weights, queries.weights))
    segment = segment_of(compiled, clustered(docs), "exact")
    want = run(compiled, segment, signed, 10, None)
    got = run(compiled, segment, signed, 10, None, block_shift=3)
    for (a, sa), (b, sb) in zip(want, got, strict=True):
        np.testing.assert_array_equal(b, a)
        np.testing.assert_array_equal(sb.view(np.uint32), sa.view(np.uint32))
