"""LocalIndex: string ids, upserts and deletes, filters, ties, save/load (mmap), format and model checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spladekit import lucene
from spladekit.errors import IndexFormatError
from spladekit.local import index as index_module
from spladekit.local.index import LocalIndex
from spladekit.vectors import SparseBatch, SparseVector

VOCAB = 300


def random_vectors(rng: np.random.Generator, n: int, mean_terms: int) -> list[SparseVector]:
    out = []
    for _ in range(n):
        ids = np.unique(np.minimum(rng.zipf(1.3, int(rng.integers(1, 2 * mean_terms))) - 1, VOCAB - 1))
        out.append(SparseVector(ids, rng.gamma(1.0, 0.7, ids.size).astype(np.float32) + np.float32(0.01)))
    return out


def key(i: int) -> str:
    # Keys sort like insertion order, so lucene.reference_ranking's tie order (by key) is the index's.
    return f"doc-{i:05d}"


def reference(query: SparseVector, keys: list[str], vectors: list[SparseVector], k: int, mode: str):
    batch = SparseBatch.from_vectors(vectors)
    if mode == "lucene":
        scores = lucene.reference_scores(query.ids, query.weights, batch.offsets, batch.ids,
                                         lucene.encode(batch.weights))
    else:  # the lucene reference with the identity "decode": float32 products, float64 sum
        scores = np.array([np.float32(sum_f64(np.multiply(query.weights[np.isin(query.ids, v.ids)],
                                                          v.weights[np.isin(v.ids, query.ids)],
                                                          dtype=np.float32))) for v in vectors], np.float32)
    ranking = lucene.reference_ranking(scores, keys, k)
    return [h[0] for h in ranking], np.array([h[1] for h in ranking], np.float32)


def sum_f64(values: np.ndarray) -> float:
    total = 0.0
    for v in values.tolist():  # left to right in double, as the engines (not math.fsum, not pairwise)
        total += v
    return total


def assert_same(got, want):
    assert got[0] == want[0]
    np.testing.assert_array_equal(np.asarray(got[1]).view(np.uint32), want[1].view(np.uint32))


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(11)
    return random_vectors(rng, 500, 25), random_vectors(rng, 25, 8)


@pytest.mark.parametrize("mode", ["lucene", "exact"])
def test_search_matches_reference(corpus, mode):
    docs, queries = corpus
    keys = [key(i) for i in range(len(docs))]
    index = LocalIndex(mode=mode)
    index.add(keys, docs)
    assert len(index) == len(docs) and index.backend == "numba"
    for q in queries:
        assert_same(index.search(q, k=12), reference(q, keys, docs, 12, mode))


def test_search_many_with_threads_equals_search(corpus):
    docs, queries = corpus
    index = LocalIndex()
    index.add([key(i) for i in range(len(docs))], docs)
    single = [index.search(q, k=10) for q in queries]
    for threads in (1, 2):
        for got, want in zip(index.search_many(queries, k=10, threads=threads), single, strict=True):
            assert_same(got, (want[0], want[1]))


def test_numpy_backend_gives_the_same_results(corpus):
    docs, queries = corpus
    keys = [key(i) for i in range(120)]
    fast, slow = LocalIndex(), LocalIndex(use_numba=False)
    assert slow.backend == "numpy"
    for index in (fast, slow):
        index.add(keys, docs[:120])
    for q in queries[:8]:
        assert_same(slow.search(q, k=10), fast.search(q, k=10))


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path, corpus, mmap):
    docs, queries = corpus
    index = LocalIndex(meta={"model": "splade-tiny", "model_sha256": "ab" * 32, "note": "x"})
    index.add([f"id ü {i}" for i in range(len(docs))], docs)
    index.save(tmp_path / "ix")
    params = json.loads((tmp_path / "ix" / "params.json").read_text())
    assert params["format_version"] == index_module.FORMAT_VERSION and params["mode"] == "lucene"
    assert params["model"] == "splade-tiny" and params["n_docs"] == len(docs)
    assert params["n_postings"] == sum(len(v) for v in docs)
    loaded = LocalIndex.load(tmp_path / "ix", mmap=mmap)
    assert isinstance(loaded._main[1].base, np.memmap) is mmap
    assert loaded.meta["note"] == "x" and len(loaded) == len(docs)
    for q in queries:
        assert_same(loaded.search(q, k=10), index.search(q, k=10))
    # 6 bytes per posting (int32 doc + uint16 frequency) plus the offsets
    assert loaded.nbytes() == 6 * params["n_postings"] + 8 * (params["n_terms"] + 1)


def test_a_memory_mapped_index_can_be_changed_and_saved_in_place(tmp_path, corpus):
    docs, queries = corpus
    keys = [key(i) for i in range(len(docs))]
    index = LocalIndex()
    index.add(keys[:300], docs[:300])
    index.save(tmp_path)
    loaded = LocalIndex.load(tmp_path)
    loaded.add(keys[300:], docs[300:])
    loaded.delete(keys[:10])
    loaded.save(tmp_path)
    again = LocalIndex.load(tmp_path)
    assert len(again) == len(docs) - 10
    for q in queries:
        assert_same(again.search(q, k=10), reference(q, keys[10:], docs[10:], 10, "lucene"))


def test_upserts_and_deletes_match_a_fresh_build(monkeypatch, corpus):
    monkeypatch.setattr(index_module, "MERGE_MIN_ROWS", 16)  # exercise tail segments and merges
    docs, queries = corpus
    rng = np.random.default_rng(2)
    index = LocalIndex(mode="exact")
    state: dict[str, SparseVector] = {}  # insertion-ordered, like the index's internal order
    for step in range(40):
        batch = [key(int(i)) for i in rng.integers(0, 150, 8)]
        vectors = [docs[int(i)] for i in rng.integers(0, len(docs), len(batch))]
        index.add(batch, vectors)
        for k_, v in zip(batch, vectors, strict=True):
            state.pop(k_, None)  # an upsert moves the document last
            state[k_] = v
        if step % 3 == 0:
            gone = [key(int(i)) for i in rng.integers(0, 150, 4)]
            assert index.delete(gone) == sum(g in state for g in set(gone))
            for g in gone:
                state.pop(g, None)
        assert len(index) == len(state)
    keys, vectors = list(state), list(state.values())
    for q in queries:
        got = index.search(q, k=10)
        want = reference(q, keys, vectors, 10, "exact")
        # Keys are not in insertion order here, so ties may differ from the reference: compare the scores,
        # then everything against an index built once from the final state in the same internal order.
        np.testing.assert_array_equal(got[1], want[1])
        rebuilt = LocalIndex(mode="exact")
        rebuilt.add(keys, vectors)
        assert_same(got, rebuilt.search(q, k=10))


def test_upsert_replaces_the_vector_and_moves_the_document_last():
    index = LocalIndex()
    v = SparseVector.from_dict({4: 1.0})
    index.add(["a", "b", "c"], [v, v, v])
    query = SparseVector.from_dict({4: 1.0})
    assert index.search(query)[0] == ["a", "b", "c"]
    index.add(["a"], [v])
    assert index.search(query)[0] == ["b", "c", "a"] and len(index) == 3
    index.add(["b"], [SparseVector.from_dict({5: 1.0})])
    assert index.search(query)[0] == ["c", "a"]
    assert index.search(SparseVector.from_dict({5: 2.0}))[0] == ["b"]


def test_duplicate_ids_in_one_call_keep_the_last():
    index = LocalIndex()
    index.add(["a", "a"], [SparseVector.from_dict({1: 1.0}), SparseVector.from_dict({2: 1.0})])
    assert len(index) == 1
    assert index.search(SparseVector.from_dict({1: 1.0}))[0] == []
    assert index.search(SparseVector.from_dict({2: 1.0}))[0] == ["a"]


def test_delete_and_filter_ids(corpus):
    docs, queries = corpus
    keys = [key(i) for i in range(len(docs))]
    index = LocalIndex()
    index.add(keys, docs)
    assert index.delete(["nope"]) == 0
    assert index.delete(keys[::2]) == len(keys[::2])
    assert keys[0] not in index and keys[1] in index
    allowed = set(keys[1:200])
    for q in queries:
        ids, _ = index.search(q, k=50)
        assert not set(ids) & set(keys[::2])
        ids, _ = index.search(q, k=50, filter_ids=[*allowed, "unknown"])
        alive = [i for i in range(len(docs)) if i % 2 and keys[i] in allowed]
        assert ids == reference(q, [keys[i] for i in alive], [docs[i] for i in alive], 50, "lucene")[0]


def test_zero_and_negative_weights_are_dropped():
    index = LocalIndex()
    index.add(["a"], [SparseVector(np.array([1, 2, 3]), np.array([0.0, -1.0, 2.0], np.float32))])
    assert index.n_postings == 1
    assert index.search(SparseVector.from_dict({1: 1.0, 2: 1.0}))[0] == []


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="lucene, exact"):
        LocalIndex(mode="bm25")  # type: ignore[arg-type]
    index = LocalIndex()
    with pytest.raises(ValueError, match="one id per vector"):
        index.add(["a", "b"], [SparseVector.empty()])
    with pytest.raises(ValueError, match="k must be"):
        index.search(SparseVector.empty(), k=0)


def test_empty_index_and_empty_query():
    index = LocalIndex()
    assert index.search(SparseVector.from_dict({1: 1.0})) == ([], pytest.approx(np.zeros(0)))
    index.add(["a"], [SparseVector.from_dict({1: 1.0})])
    ids, scores = index.search(SparseVector.empty())
    assert ids == [] and scores.dtype == np.float32


def test_other_format_version_is_a_clear_error(tmp_path):
    index = LocalIndex()
    index.add(["a"], [SparseVector.from_dict({1: 1.0})])
    index.save(tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    params["format_version"] = 99
    (tmp_path / "params.json").write_text(json.dumps(params))
    with pytest.raises(IndexFormatError, match="format version 99.*rebuild it with `spladekit ingest CORPUS --local"):
        LocalIndex.load(tmp_path)


def test_other_model_is_a_clear_error(tmp_path):
    index = LocalIndex(meta={"model": "splade-tiny", "model_sha256": "cd" * 32})
    index.add(["a"], [SparseVector.from_dict({1: 1.0})])
    index.save(tmp_path)
    assert len(LocalIndex.load(tmp_path, model="splade-tiny")) == 1
    assert len(LocalIndex.load(tmp_path, model="cd" * 32)) == 1
    with pytest.raises(IndexFormatError, match="built with model 'splade-tiny'.*--model other"):
        LocalIndex.load(tmp_path, model="other")


def test_missing_or_damaged_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexFormatError, match="no local index"):
        LocalIndex.load(tmp_path / "nothing")
    index = LocalIndex()
    index.add(["a"], [SparseVector.from_dict({1: 1.0})])
    index.save(tmp_path)
    arrays_dir = tmp_path / json.loads((tmp_path / "params.json").read_text())["arrays_dir"]
    np.save(arrays_dir / "docs.npy", np.zeros(5, np.int32))
    with pytest.raises(IndexFormatError, match="does not match its params.json"):
        LocalIndex.load(tmp_path)


def test_a_crash_during_save_leaves_the_previous_index_readable(tmp_path, monkeypatch):
    import os

    index = LocalIndex()
    index.add(["a"], [SparseVector.from_dict({1: 1.0})])
    index.save(tmp_path)
    index.add(["b", "c"], [SparseVector.from_dict({1: 2.0}), SparseVector.from_dict({2: 3.0})])
    real_replace = os.replace

    def crash_on_params(src, dst):
        if str(dst).endswith("params.json"):
            raise OSError("simulated crash before the commit point")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_params)
    with pytest.raises(OSError, match="simulated crash"):
        index.save(tmp_path)
    monkeypatch.setattr(os, "replace", real_replace)
    reloaded = LocalIndex.load(tmp_path)
    assert len(reloaded) == 1
    assert reloaded.search(SparseVector.from_dict({1: 1.0}), k=5)[0] == ["a"]
    index.save(tmp_path)  # the next save commits and clears the orphaned generation
    assert len(LocalIndex.load(tmp_path)) == 3
    assert len(list(tmp_path.glob("arrays-*"))) == 1


def test_ingest_upserts_into_a_local_index_and_refuses_another_mode(tmp_path):
    from _support import FakeEncoder
    from spladekit.errors import IndexFormatError
    from spladekit.ingest import ingest

    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "a", "title": "wing", "text": "stall"}\n{"id": 7, "text": "flow"}\n')
    job = {"encoder": FakeEncoder(), "checkpoint": tmp_path / "j" / "cp.json"}
    assert ingest(corpus, local_dir=tmp_path / "ix", **job).indexed == 2
    index = LocalIndex.load(tmp_path / "ix", model="fake-splade")
    assert index.meta["model_sha256"] == "f" * 64
    assert index.search(FakeEncoder().vector("stall"))[0] == ["a"]  # title and text joined
    corpus.write_text('{"_id": "7", "text": "wing"}\n')
    assert ingest(corpus, local_dir=tmp_path / "ix", **job).indexed == 1
    assert len(LocalIndex.load(tmp_path / "ix")) == 2  # an upsert by id, not a new document
    assert LocalIndex.load(tmp_path / "ix").search(FakeEncoder().vector("flow"))[0] == []
    with pytest.raises(IndexFormatError, match="lucene' mode, not 'exact'.*--local-mode lucene"):
        ingest(corpus, local_dir=tmp_path / "ix", local_mode="exact", **job)


@pytest.mark.parametrize("mode", ["lucene", "exact"])
def test_doc_vector_returns_the_stored_weights(corpus, mode):
    vectors = corpus[0][:160]
    keys = [key(i) for i in range(len(vectors))]
    index = LocalIndex(mode=mode)
    index.add(keys[:150], vectors[:150])
    index.merge()
    index.add(keys[150:160], vectors[150:160])  # these stay in the tail
    index.add([keys[3]], [vectors[7]])  # upsert: the new vector counts
    for i in (0, 3, 42, 155):
        vec = vectors[7] if i == 3 else vectors[i]
        stored = lucene.decode(lucene.encode(vec.weights)) if mode == "lucene" else vec.weights
        keep = stored > 0
        got = index.doc_vector(keys[i])
        np.testing.assert_array_equal(got.ids, vec.ids[keep])
        np.testing.assert_array_equal(got.weights.view(np.uint32), stored[keep].view(np.uint32))
        some = np.concatenate([vec.ids[::2], [10**6]])  # an id beyond the vocabulary is just absent
        part = index.doc_vector(keys[i], some.tolist())
        want = np.isin(vec.ids[keep], some)
        np.testing.assert_array_equal(part.ids, vec.ids[keep][want])
        np.testing.assert_array_equal(part.weights, stored[keep][want])
        # clause scores rebuilt from doc_vector give the search score
        q = SparseVector(vec.ids[:5], np.ones(min(5, vec.ids.size), np.float32))
        ids, scores = index.search(q, k=len(index))
        d = index.doc_vector(keys[i], q.ids)
        total = sum_f64(np.float32(1.0) * d.weights)
        assert np.float32(total) == scores[ids.index(keys[i])]
    index.delete([keys[0]])
    with pytest.raises(KeyError, match="unknown or deleted"):
        index.doc_vector(keys[0])


def by_strongest_term(vectors: list[SparseVector]) -> np.ndarray:
    """An order that puts documents with the same strongest term next to each other (a stand-in for BP)."""
    return np.argsort([int(v.ids[np.argmax(v.weights)]) for v in vectors], kind="stable")


def ranked_by_rows(query: SparseVector, keys: list[str], vectors: list[SparseVector], k: int, mode: str):
    """The reference top-k with ties by position in ``keys`` (the index's rows), not by key."""
    ids, values = reference(query, keys, vectors, len(vectors), mode)
    scores = dict(zip(ids, values.tolist(), strict=True))
    hits = sorted((-scores[key_], row) for row, key_ in enumerate(keys) if key_ in scores)[:k]
    return [keys[row] for _, row in hits], np.array([-s for s, _ in hits], np.float32)


def _indexed_for_reorder(monkeypatch, corpus, mode):
    """The corpus in a fresh index with block-max always on, and every query's full ranking before reordering."""
    monkeypatch.setattr(index_module, "BLOCK_MAX_MIN_DOCS", 0)
    docs, queries = corpus
    keys = [key(i) for i in range(len(docs))]
    index = LocalIndex(mode=mode)
    index.add(keys, docs)
    return docs, queries, keys, index, [index.search(q, k=len(docs)) for q in queries]


@pytest.mark.parametrize("mode", ["lucene", "exact"])
def test_reorder_keeps_the_hits_and_orders_ties_by_the_new_rows(monkeypatch, corpus, mode):
    docs, queries, keys, index, before = _indexed_for_reorder(monkeypatch, corpus, mode)
    order = by_strongest_term(docs)
    assert index.reorder(order).tolist() == order.tolist()
    assert index.row_order == "given" and index._use_block_max()
    new_keys, new_docs = [keys[i] for i in order], [docs[i] for i in order]
    for q, (ids, scores) in zip(queries, before, strict=True):
        got = index.search(q, k=len(docs))
        assert set(zip(got[0], got[1].tolist(), strict=True)) == set(zip(ids, scores.tolist(), strict=True))
        assert_same(index.search(q, k=12), ranked_by_rows(q, new_keys, new_docs, 12, mode))
    assert index.doc_vector(keys[5]).ids.tolist() == docs[5].ids.tolist()


@pytest.mark.parametrize("mode", ["lucene", "exact"])
def test_block_max_equals_the_other_paths_with_deletes_filters_and_tail(monkeypatch, corpus, mode):
    monkeypatch.setattr(index_module, "MERGE_MIN_ROWS", 10_000)  # the later additions stay in the tail
    docs, queries = corpus
    keys = [key(i) for i in range(len(docs))]
    index = LocalIndex(mode=mode)
    index.add(keys[:400], docs[:400])
    index.reorder(by_strongest_term(docs[:400]))
    index.add(keys[400:], docs[400:])
    index.add([keys[7]], [docs[450]])  # an upsert: row 7's document moves to the tail
    index.delete(keys[100:160])
    assert index._n_pending and index._n_dead
    allowed = keys[::3]
    for q in queries:
        results = {}
        for setting in (True, False):
            index.block_max = setting
            for threads in (1, 2):
                results[setting, threads] = [index.search_many([q], k=10, threads=threads)[0],
                                             index.search(q, k=10, filter_ids=allowed)]
        index.prune = False
        results["exhaustive"] = [index.search(q, k=10), index.search(q, k=10, filter_ids=allowed)]
        index.prune = True
        want = results.pop("exhaustive")
        for got in results.values():
            for g, w in zip(got, want, strict=True):
                assert_same(g, w)
        assert not set(want[0][0]) & set(keys[100:160])


def test_block_max_numpy_backend_gives_the_same_results(monkeypatch, corpus):
    monkeypatch.setattr(index_module, "BLOCK_MAX_MIN_DOCS", 0)
    docs, queries = corpus
    fast, slow = LocalIndex(), LocalIndex(use_numba=False)
    for index in (fast, slow):
        index.add([key(i) for i in range(150)], docs[:150])
        index.reorder(by_strongest_term(docs[:150]))
        assert index._use_block_max()
    for q in queries[:6]:
        assert_same(slow.search(q, k=10), fast.search(q, k=10))


@pytest.mark.parametrize("mmap", [True, False])
def test_reorder_survives_save_and_load(tmp_path, monkeypatch, corpus, mmap):
    monkeypatch.setattr(index_module, "BLOCK_MAX_MIN_DOCS", 0)
    docs, queries = corpus
    keys = [key(i) for i in range(len(docs))]
    index = LocalIndex()
    index.add(keys, docs)
    index.reorder(by_strongest_term(docs))
    index.save(tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    assert params["row_order"] == "given" and params["row_order_rows"] == len(docs)
    assert params["format_version"] == index_module.FORMAT_VERSION and "reorder()" in params["tie_order"]
    loaded = LocalIndex.load(tmp_path, mmap=mmap)
    assert loaded.row_order == "given" and loaded._use_block_max()
    for q in queries:
        assert_same(loaded.search(q, k=10), index.search(q, k=10))
    # documents added after a reordering go last; the reordered prefix shrinks with deletions
    loaded.add(["new"], [docs[0]])
    loaded.delete(keys[:5])
    loaded.merge()
    assert loaded._rows_ordered == len(docs) - 5 and loaded._keys[len(loaded) - 1] == "new"
    assert loaded.block_max_nbytes() > 0


def test_indexes_saved_before_reorder_existed_load_in_insertion_order(tmp_path):
    index = LocalIndex()
    index.add(["a", "b"], [SparseVector.from_dict({1: 1.0}), SparseVector.from_dict({1: 1.0})])
    index.save(tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    del params["row_order"], params["row_order_rows"]
    (tmp_path / "params.json").write_text(json.dumps(params))
    loaded = LocalIndex.load(tmp_path)
    assert loaded.row_order == "insertion" and not loaded._use_block_max()
    assert loaded.search(SparseVector.from_dict({1: 1.0}))[0] == ["a", "b"]
    params["row_order"] = "sorted-by-magic"
    (tmp_path / "params.json").write_text(json.dumps(params))
    with pytest.raises(IndexFormatError, match="unknown row_order 'sorted-by-magic'"):
        LocalIndex.load(tmp_path)


def test_reorder_without_an_order_runs_bp_order_on_the_doc_major_rows(monkeypatch, corpus):
    from spladekit.local import reorder

    docs, queries = corpus
    keys = [key(i) for i in range(len(docs))]
    calls = []

    def fake_bp_order(doc_offsets, term_ids, n_terms, **options):
        calls.append(options)
        batch = SparseBatch.from_vectors(docs)
        np.testing.assert_array_equal(doc_offsets, batch.offsets)
        np.testing.assert_array_equal(term_ids, batch.ids)
        assert n_terms == VOCAB
        return by_strongest_term(docs)

    monkeypatch.setattr(reorder, "bp_order", fake_bp_order)
    index = LocalIndex()
    index.add(keys, docs)
    before = index.search(queries[0], k=len(docs))
    index.reorder(leaf_size=8)
    assert calls == [{"leaf_size": 8}] and index.row_order == "bp"
    after = index.search(queries[0], k=len(docs))
    assert sorted(zip(*after, strict=True)) == sorted(zip(*before, strict=True))


def test_reorder_rejects_what_is_not_a_permutation(corpus):
    index = LocalIndex()
    index.add(["a", "b", "c"], corpus[0][:3])
    for bad in ([0, 1], [0, 1, 1], [0, 1, 3], [-1, 0, 1]):
        with pytest.raises(ValueError, match="permutation of the 3 rows"):
            index.reorder(bad)
    with pytest.raises(ValueError, match="for bp_order"):
        index.reorder([0, 1, 2], leaf_size=4)
    assert index.row_order == "insertion"


@pytest.mark.parametrize("mode", ["lucene", "exact"])
def test_reorder_by_bp_then_save_and_load_keeps_every_score(tmp_path, monkeypatch, corpus, mode):
    docs, queries, keys, index, before = _indexed_for_reorder(monkeypatch, corpus, mode)
    order = index.reorder(leaf_size=8)
    assert index.row_order == "bp" and sorted(order.tolist()) == list(range(len(docs)))
    index.save(tmp_path)
    loaded = LocalIndex.load(tmp_path)
    assert loaded.row_order == "bp" and [loaded._keys[r] for r in range(5)] == [keys[i] for i in order[:5]]
    for forced in (None, True):
        loaded.block_max = forced
        for q, (ids, scores) in zip(queries, before, strict=True):
            got = loaded.search(q, k=len(docs))
            assert sorted(zip(*got, strict=True)) == sorted(zip(ids, scores, strict=True))
            top = loaded.search(q, k=10)
            np.testing.assert_array_equal(top[1].view(np.uint32), scores[:10].view(np.uint32))


@pytest.mark.parametrize("use_numba", [False, True])
def test_alpha_below_one_is_approximate_block_max_with_exact_scores(use_numba):
    rng = np.random.default_rng(11)
    docs = [SparseVector(np.sort(rng.choice(300, 20, replace=False)).astype(np.int32),
                         rng.uniform(0.1, 2, 20).astype(np.float32)) for _ in range(3000)]
    queries = [SparseVector(np.sort(rng.choice(300, 12, replace=False)).astype(np.int32),
                            rng.uniform(0.1, 2, 12).astype(np.float32)) for _ in range(20)]
    index = LocalIndex(mode="exact", use_numba=use_numba)
    index.add([f"d{i}" for i in range(3000)], docs)
    index.reorder()
    exact = [index.search(q, k=10) for q in queries]
    index.alpha = 1.0
    assert all(index.search(q, k=10)[0] == e[0] for q, e in zip(queries, exact, strict=True))
    found = []
    for alpha in (0.9, 0.5, 0.2):
        index.alpha = alpha
        got = [index.search(q, k=10) for q in queries]
        for q, (ids, scores) in zip(queries, got, strict=True):
            for doc, score in zip(ids, scores.tolist(), strict=True):  # what it finds, it scores exactly
                assert index.search(q, k=1, filter_ids=[doc])[1][0] == np.float32(score)
        found.append(np.mean([len(set(g[0]) & set(e[0])) for g, e in zip(got, exact, strict=True)]))
    assert found[0] >= found[-1] and found[-1] < 10  # a low alpha skips blocks that held true hits
    index.alpha = 1.0  # one search's alpha (what `spladekit search --approx` passes) leaves the index's alone
    for q, (ids, scores) in zip(queries, got, strict=True):
        mine = index.search(q, k=10, alpha=0.2)
        assert mine[0] == ids and mine[1].tolist() == scores.tolist()
    assert index.alpha == 1.0 and [index.search(q, k=10)[0] for q in queries] == [e[0] for e in exact]
    index.alpha = 0.0
    with pytest.raises(ValueError, match="alpha must be in"):
        index.search(queries[0])
