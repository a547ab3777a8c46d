"""BM25 on the local index: the analyzer, Lucene's arithmetic on a hand-checked example, the kernel against a
slow oracle through upserts, deletes, merges and reordering, saving, old indexes, search and eval without a server.
(Against real engines on a real collection: tests/integration/test_local_bm25_engines.py.)"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from _support import FakeEncoder, old_format_index, oracle_bm25, skip_or_fail
from spladekit import lucene
from spladekit import search as S
from spladekit.errors import IndexFormatError
from spladekit.fusion import fuse
from spladekit.ingest import ingest
from spladekit.local import kernels
from spladekit.local.index import LocalIndex
from spladekit.local.text import MAX_TOKEN_LENGTH, analyze
from spladekit.schema import SCHEMA, ModelIdentity
from spladekit.vectors import SparseVector

MODEL = ModelIdentity("fake-splade", "f" * 64)
WORDS = ("wing stall lift drag flow boundary layer shock wave heat transfer pressure jet nozzle plate cone "
         "laminar turbulent mach number supersonic hypersonic").split()


def _vec(i: int) -> SparseVector:
    return SparseVector.from_dict({1 + i % 7: 1.0, 9: 0.5})


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(0, 40)))) for _ in range(n)]


def _check_against_oracle(index: LocalIndex, live: dict[str, str], stats_docs: dict[str, str], queries: list[str]):
    """Every query's hits: the oracle's (scores to float32 rounding), over the live documents, with the
    collection statistics of ``stats_docs`` (the live ones after a merge; all rows, deleted too, before)."""
    for q in queries:
        ids, scores = index.search_bm25(q, k=len(stats_docs) + 1)
        want = oracle_bm25(analyze(q), {d: analyze(t) for d, t in stats_docs.items()})
        want = {d: s for d, s in want.items() if d in live}
        assert set(ids) == set(want)
        for d, s in zip(ids, scores.tolist(), strict=True):
            assert s == pytest.approx(want[d], rel=2e-6)
        assert list(scores) == sorted(scores, reverse=True)


# ---------------------------------------------------------------------------------------------- the analyzer


@pytest.mark.parametrize(("text", "tokens"), [
    ("How do Wings STALL?", ["how", "do", "wings", "stall"]),
    ("don't rock'n'roll", ["don't", "rock'n'roll"]),
    ("U.S.A. and e.g. www.example.com", ["u.s.a", "and", "e.g", "www.example.com"]),
    ("3.14 1,000.50 3.5x v2", ["3.14", "1,000.50", "3.5x", "v2"]),
    ("e-mail AT&T a/b", ["e", "mail", "at", "t", "a", "b"]),
    ("snake_case __ _x_", ["snake_case", "_x_"]),
    ("http://host:9200/x a:b", ["http", "host", "9200", "x", "a:b"]),
    ("Café naïve ÉTÉ", ["café", "naïve", "été"]),
    ("東京タワー ひらがな", ["東", "京", "タワー", "ひ", "ら", "が", "な"]),
    ("", []),
])
def test_analyzer_splits_as_the_standard_tokenizer_does(text, tokens):
    assert analyze(text) == tokens


def test_analyzer_cuts_tokens_longer_than_lucene_allows():
    assert [len(t) for t in analyze("a" * 600)] == [MAX_TOKEN_LENGTH, MAX_TOKEN_LENGTH, 600 - 2 * MAX_TOKEN_LENGTH]


# ------------------------------------------------------------------------------------------ Lucene arithmetic


def test_length_norms_are_lucenes_one_byte_lengths():
    n = np.arange(0, 5000)
    norms = lucene.length_norm(n)
    back = lucene.LENGTH_TABLE[norms]
    assert (back[:24] == n[:24]).all()  # small lengths are exact
    assert (back <= n).all() and (np.diff(norms.astype(int)) >= 0).all()  # rounded down, monotone
    assert ((n - back)[24:] / n[24:]).max() < 1 / 8  # 4 significant bits
    assert lucene.length_norm(np.array([100]))[0] == 57 and lucene.LENGTH_TABLE[57] == 96  # by hand: 24 + (9 << 3)


def test_bm25_on_a_hand_checked_example():
    # Three documents; "c" has no text. N = 2 documents with text, total length 5, avgdl 2.5.
    index = LocalIndex()
    index.add(["a", "b", "c"], [_vec(0), _vec(1), _vec(2)], texts=["Wing stall", "wing, wing flaps", ""])
    ids, scores = index.search_bm25("wing", k=10)
    # "wing": df 2, idf = ln(1 + 0.5 / 2.5) = ln 1.2; weight = 2.2 ln 1.2.
    # a: tf 1, dl 2 -> 2.2 ln1.2 * 1 / (1 + 1.2 (0.25 + 0.75 * 2 / 2.5)) = 2.2 ln1.2 / 2.02
    # b: tf 2, dl 3 -> 2.2 ln1.2 * 2 / (2 + 1.2 (0.25 + 0.75 * 3 / 2.5)) = 2.2 ln1.2 * 2 / 3.38
    assert ids == ["b", "a"]
    assert scores.dtype == np.float32
    assert scores.tolist() == pytest.approx([2.2 * math.log(1.2) * 2 / 3.38, 2.2 * math.log(1.2) / 2.02], rel=1e-6)
    # "stall flaps": one document each, df 1, idf = ln(1 + 1.5 / 1.5) = ln 2.
    ids, scores = index.search_bm25("STALL flaps", k=10)
    assert ids == ["a", "b"]
    ln2 = math.log(2)
    assert scores.tolist() == pytest.approx([2.2 * ln2 / (1 + 1.2 * 0.85), 2.2 * ln2 / (1 + 1.2 * 1.15)], rel=1e-6)
    # A repeated query term counts twice (one clause with boost 2, as Lucene merges duplicate clauses).
    twice = index.search_bm25("stall stall", k=10)[1]
    assert twice.tolist() == pytest.approx([2 * 2.2 * math.log(2) / 2.02], rel=1e-6)
    assert index.search_bm25("nothing here", k=10)[0] == []
    assert index.search_bm25("wing", k=10, filter_ids=["a", "zzz"])[0] == ["a"]
    with pytest.raises(ValueError, match="k must be"):
        index.search_bm25("wing", k=0)


def test_bm25_follows_upserts_deletes_merges_and_reordering():
    texts = _texts(300, seed=1)
    docs = {f"d{i}": t for i, t in enumerate(texts)}
    queries = ["wing stall", "shock wave shock", "mach number supersonic flow", "plate", "unknown words only"]
    index = LocalIndex()
    ids = list(docs)
    index.add(ids[:200], [_vec(i) for i in range(200)], texts=texts[:200])
    index.add(ids[200:], [_vec(i) for i in range(200, 300)], texts=texts[200:])  # a tail segment
    _check_against_oracle(index, docs, docs, queries)
    # Upsert and delete: the old rows count in the statistics until the next merge, as in Lucene.
    rows = dict(docs)
    rows["d5 (old)"] = docs["d5"]
    new5 = "wing wing stall laminar"
    index.add(["d5"], [_vec(5)], texts=[new5])
    index.delete(["d7"])
    live = {**{d: t for d, t in docs.items() if d != "d7"}, "d5": new5}
    rows["d5"] = new5
    _check_against_oracle(index, live, rows, queries)
    index.merge()
    _check_against_oracle(index, live, live, queries)
    before = {q: index.search_bm25(q, k=400) for q in queries}
    index.reorder()
    for q in queries:
        ids_after, scores_after = index.search_bm25(q, k=400)
        assert dict(zip(ids_after, scores_after.tolist(), strict=True)) == dict(
            zip(before[q][0], before[q][1].tolist(), strict=True))


def test_numba_and_numpy_kernels_give_identical_bm25():
    texts = _texts(150, seed=4)
    results = []
    for use_numba in (False, True):
        index = LocalIndex(use_numba=use_numba)
        index.add([f"d{i}" for i in range(150)], [_vec(i) for i in range(150)], texts=texts)
        results.append([index.search_bm25(q, k=20) for q in ("wing stall flow", "heat transfer", "jet")])
    if kernels.get(True).backend != "numba":
        skip_or_fail("numba is not installed: only the plain kernels ran")
    for (ids_a, s_a), (ids_b, s_b) in zip(*results, strict=True):
        assert ids_a == ids_b and s_a.tobytes() == s_b.tobytes()


# ------------------------------------------------------------------------------------------ disk, old indexes


@pytest.mark.parametrize("mmap", [True, False])
def test_bm25_survives_save_and_load(tmp_path, mmap):
    texts = _texts(120, seed=2)
    index = LocalIndex(mode="exact")
    index.add([f"d{i}" for i in range(120)], [_vec(i) for i in range(120)], texts=texts)
    want = [index.search_bm25(q, k=15) for q in ("wing", "boundary layer flow")]
    index.save(tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    assert params["format_version"] == 2 and params["bm25"]["k1"] == 1.2 and params["bm25"]["b"] == 0.75
    loaded = LocalIndex.load(tmp_path, mmap=mmap)
    got = [loaded.search_bm25(q, k=15) for q in ("wing", "boundary layer flow")]
    for (ia, sa), (ib, sb) in zip(want, got, strict=True):
        assert ia == ib and sa.tobytes() == sb.tobytes()
    loaded.add(["new"], [_vec(1)], texts=["wing wing wing"])  # the loaded vocabulary grows on
    assert loaded.search_bm25("wing", k=1)[0] == ["new"]


def test_an_index_without_text_searches_splade_and_names_the_fix_for_bm25(tmp_path):
    index = LocalIndex(meta=SCHEMA.meta(MODEL))
    index.add(["a", "b"], [_vec(0), _vec(1)], texts=["wing", "stall"])
    old = old_format_index(index.save(tmp_path / "ix"))
    loaded = LocalIndex.load(old)
    assert not loaded.has_text and loaded.search(_vec(0))[0][0] == "a"
    with pytest.raises(IndexFormatError, match="spladekit ingest CORPUS --local NEW_DIR"):
        loaded.search_bm25("wing")
    searcher = S.Searcher(local_dir=old, encoder=FakeEncoder(vocab=["[PAD]", "wing", "stall"]))
    for mode in ("bm25", "hybrid"):
        with pytest.raises(IndexFormatError, match="older than local index format 2.*spladekit ingest"):
            searcher.search("wing", mode=mode)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "z", "text": "wing"}\n')
    with pytest.raises(IndexFormatError, match="new folder"):
        ingest(corpus, local_dir=old, encoder=FakeEncoder(), progress=None, checkpoint=tmp_path / "j" / "cp.json")


# ------------------------------------------------------------------------------------------ search and ingest


def test_ingest_indexes_the_text_field_and_local_hybrid_is_the_fusion_of_both_runs(tmp_path):
    corpus = tmp_path / "c.jsonl"
    texts = _texts(80, seed=3)
    corpus.write_text("".join(f'{{"_id": "d{i}", "title": "t{i % 3}", "text": "{t}"}}\n' for i, t in enumerate(texts)))
    enc = FakeEncoder()
    report = ingest(corpus, local_dir=tmp_path / "ix", encoder=enc, progress=None,
                    checkpoint=tmp_path / "j" / "cp.json")
    assert report.indexed == 80
    searcher = S.Searcher(local_dir=tmp_path / "ix", encoder=enc)
    docs = {f"d{i}": analyze(t) for i, t in enumerate(texts)}  # the text field only, as an engine's match
    for q in ("wing stall", "heat transfer plate"):
        bm25 = searcher.search(q, mode="bm25", k=10)
        want = sorted(oracle_bm25(analyze(q), docs).items(), key=lambda h: -h[1])[:10]
        assert [h.score for h in bm25] == pytest.approx([s for _, s in want], rel=2e-6)
        assert [h.rank for h in bm25] == list(range(1, len(bm25) + 1))
        for fusion in ("rrf", "weighted"):
            hybrid = searcher.search(q, mode="hybrid", k=10, fusion=fusion)
            splade = searcher.search(q, k=100)
            text = searcher.search(q, mode="bm25", k=100)
            assert [(h.id, h.score) for h in hybrid] == [(h.id, h.score) for h in fuse(splade, text, k=10,
                                                                                         fusion=fusion)]
