"""spladekit.search and the search CLI: searches on the local index and a (fake) engine, fusion, explanations,
the index guard, the cache, errors (no engine, no download)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from _support import FakeEncoder, FakeEngine, old_format_index, oracle_top_k
from spladekit import lucene
from spladekit import search as S
from spladekit.cli import main
from spladekit.errors import EngineError, IndexFormatError, InputError
from spladekit.hits import explain
from spladekit.local.index import LocalIndex
from spladekit.query import TwoPhase
from spladekit.schema import SCHEMA, ModelIdentity
from spladekit.vectors import SparseVector

VOCAB = ["[PAD]", "wing", "stall", "lift", "drag", "flow", "the", "a.b", "boundary", "layer"]
MODEL = ModelIdentity("fake-splade", "f" * 64)


def _encoder() -> FakeEncoder:
    return FakeEncoder(vocab=VOCAB)


def _random_docs(n: int = 60, seed: int = 7) -> tuple[list[str], list[SparseVector]]:
    rng = np.random.default_rng(seed)
    ids, vecs = [], []
    for i in range(n):
        terms = rng.choice(np.arange(1, len(VOCAB)), size=rng.integers(1, 6), replace=False)
        vecs.append(SparseVector(terms, rng.uniform(0.05, 3.0, size=terms.size)))
        ids.append(f"d{i}")
    return ids, vecs


@pytest.fixture()
def local_dir(tmp_path):
    index = LocalIndex(mode="lucene", meta=SCHEMA.meta(MODEL))
    index.add(*_random_docs())
    return index.save(tmp_path / "idx")


@pytest.fixture()
def searcher(local_dir):
    return S.Searcher(local_dir=local_dir, encoder=_encoder())


def _engine(seed: int = 3, **kw) -> FakeEngine:
    ids, vecs = _random_docs(seed=seed)
    return FakeEngine(names=_encoder().names, meta=SCHEMA.meta(MODEL), **kw).add(ids, vecs, text="wing stall")


# ------------------------------------------------------------------------------------------------ local searches


def test_local_search_matches_the_oracle_and_explanations_add_up(searcher, local_dir):
    hits = searcher.search("wing lift flow boundary", k=5, explain=True)
    vec = _encoder().encode_queries(["wing lift flow boundary"])[0]
    ids, vecs = _random_docs()
    want = oracle_top_k(vec, dict(zip(ids, vecs, strict=True)), 5)
    assert [(h.id, h.score) for h in hits] == want
    local = LocalIndex.load(local_dir)
    for h in hits:
        full = explain(vec, local.doc_vector(h.id, vec.ids), searcher.names)
        assert S.score_sum(full) == h.score  # float32 clauses summed in double: the score, exactly
        assert h.explanation == full[: S.EXPLAIN_TOP]
        contribs = [c.contribution for c in h.explanation]
        assert contribs == sorted(contribs, reverse=True)


def test_local_two_phase_rescores_the_first_pass_window_exactly(searcher):
    exact = searcher.search("wing stall lift drag flow", k=5)
    approx = searcher.search("wing stall lift drag flow", k=5, two_phase=TwoPhase(top_k=1, window=10))
    full_window = searcher.search("wing stall lift drag flow", k=5, two_phase=TwoPhase(top_k=5, window=60))
    assert [(h.id, h.score) for h in full_window] == [(h.id, h.score) for h in exact]
    exact_scores = {h.id: h.score for h in searcher.search("wing stall lift drag flow", k=60)}
    assert all(h.score == exact_scores[h.id] for h in approx)  # rescored with the full query
    with pytest.raises(InputError, match="must be <= the two-phase window"):
        searcher.search("wing", k=20, two_phase=TwoPhase(window=10))


def test_local_approx_finds_a_subset_with_exact_scores_and_only_on_the_local_index(tmp_path):
    rng = np.random.default_rng(5)
    ids = [f"d{i}" for i in range(2000)]
    vecs = [SparseVector(np.sort(rng.choice(np.arange(1, len(VOCAB)), 4, replace=False)),
                         rng.uniform(0.05, 3.0, 4)) for _ in ids]
    index = LocalIndex(mode="exact", meta=SCHEMA.meta(MODEL))
    index.add(ids, vecs)
    index.reorder()
    searcher = S.Searcher(local_dir=index.save(tmp_path / "idx"), encoder=_encoder())
    text = "wing stall lift drag flow boundary layer"
    exact = searcher.search(text, k=10)
    assert [(h.id, h.score) for h in searcher.search(text, k=10, approx=1.0)] == [(h.id, h.score) for h in exact]
    every = {h.id: h.score for h in searcher.search(text, k=len(ids))}
    for approx in (0.8, 0.3):
        hits = searcher.search(text, k=10, approx=approx)
        assert hits and all(h.score == every[h.id] for h in hits)  # what it finds, it scores exactly
    with pytest.raises(ValueError, match="approx must be in"):
        searcher.search(text, approx=0.0)
    with pytest.raises(InputError, match="runs on the local index"):
        S.Searcher(engine_index=_engine(), encoder=_encoder()).search("wing", approx=0.5)


def test_local_bm25_and_hybrid_on_an_index_without_text_are_refused_with_a_fix(local_dir):
    searcher = S.Searcher(local_dir=old_format_index(local_dir), encoder=_encoder())
    for mode in ("bm25", "hybrid"):
        with pytest.raises(IndexFormatError, match="spladekit ingest CORPUS --local NEW_DIR"):
            searcher.search("wing", mode=mode)


def test_empty_query_text_and_bad_mode(searcher):
    with pytest.raises(InputError, match="query is empty"):
        searcher.search("   ")
    with pytest.raises(ValueError, match="splade, bm25, hybrid"):
        searcher.search("wing", mode="dense")
    with pytest.raises(InputError, match="no token with a positive weight"):
        searcher.search("nothing known here")


def test_missing_local_index_names_the_build_command(tmp_path):
    with pytest.raises(InputError, match="spladekit ingest"):
        S.Searcher(local_dir=tmp_path / "nope", encoder=_encoder())


def test_filter_ids_accepts_ids_queries_only():
    assert S.filter_ids([{"ids": {"values": ["1", "2"]}}, {"ids": {"values": [2, 3]}}]) == ["2"]
    with pytest.raises(InputError, match="only filter by document ids"):
        S.filter_ids({"term": {"lang": "en"}})


# ------------------------------------------------------------------------------------------------ engine (fake)


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
def test_engine_search_sends_the_builders_body_and_explanations_use_the_quantized_values(engine):
    fake = _engine(engine=engine)
    searcher = S.Searcher(engine_index=fake, encoder=_encoder())
    hits = searcher.search("wing stall lift", k=4, explain=True)
    body = fake.bodies[-1]
    assert hits and body["track_total_hits"] is False and body["size"] == 4
    assert body["_source"] == ["title", "text", "splade"]
    for h in hits:
        assert len(h.explanation) <= S.EXPLAIN_TOP
        assert S.score_sum(h.explanation) == h.score
        for c in h.explanation:
            stored = fake.docs[h.id][SCHEMA.sparse][c.token]
            assert c.doc_weight == float(lucene.quantize(np.array([stored], np.float32))[0])


def test_engine_two_phase_hybrid_and_bm25_requests():
    fake = _engine()
    searcher = S.Searcher(engine_index=fake, encoder=_encoder())
    searcher.search("wing stall lift drag", k=3, two_phase=True)
    assert fake.bodies[-1]["rescore"]["window_size"] == TwoPhase.window
    hybrid = searcher.search("wing stall", k=3, mode="hybrid", window=20)
    splade_body, bm25_body, fetch = fake.bodies[-3:]
    assert splade_body["size"] == bm25_body["size"] == 20  # each side max(k, window) deep
    assert splade_body["_source"] is False and bm25_body["_source"] is False  # ids and scores only
    assert bm25_body["query"]["bool"]["must"] == [{"match": {"text": "wing stall"}}]
    assert bm25_body["track_total_hits"] is False
    assert len(hybrid) == 3 and set(hybrid[0].components) == {"splade", "splade_rank", "bm25", "bm25_rank"}
    # then one request for the text of the fused top k, and every hit has the text the engine holds
    assert fetch == S.text_body([h.id for h in hybrid])
    assert all(h.text == fake.docs[h.id].get("text") for h in hybrid)
    assert any(h.text for h in hybrid)


REQUEST_CASES = [
    {"mode": "splade", "k": 4},
    {"mode": "splade", "k": 4, "explain": True, "filter": {"ids": {"values": ["d1", "d2", "d9"]}}},
    {"mode": "splade", "k": 3, "two_phase": TwoPhase(top_k=2, window=30), "prune": {"top_k": 3}},
    {"mode": "bm25", "k": 5, "filter": [{"ids": {"values": ["d1"]}}]},
    {"mode": "hybrid", "k": 3, "window": 20, "explain": True},
    {"mode": "hybrid", "k": 3, "two_phase": True, "prune": {"ratio": 0.5}},
]


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
@pytest.mark.parametrize("case", REQUEST_CASES, ids=lambda c: "-".join(f"{k}" for k in c))
def test_requests_are_the_bodies_the_search_sends(engine, case, tmp_path):
    fake = _engine(engine=engine)
    searcher = S.Searcher(engine_index=fake, encoder=_encoder())
    searcher.search("wing stall lift drag", **case)
    sent = fake.bodies[-3:-1] if case["mode"] == "hybrid" else fake.bodies[-1:]  # a hybrid then fetches text
    req = searcher.requests("wing stall lift drag", **case)
    assert (req.engine, req.mode) == (engine, case["mode"])
    assert list(req.bodies.values()) == sent
    assert list(req.bodies) == {"splade": ["splade"], "bm25": ["bm25"], "hybrid": ["splade", "bm25"]}[case["mode"]]
    # Spelled for another engine from a local index: the same body that engine's searcher would send.
    other = "elasticsearch" if engine == "opensearch" else "opensearch"
    local = S.Searcher(local_dir=_local_copy(fake, tmp_path / "local"), encoder=_encoder())
    fake_other = _engine(engine=other)
    S.Searcher(engine_index=fake_other, encoder=_encoder()).search("wing stall lift drag", **case)
    want = fake_other.bodies[-3:-1] if case["mode"] == "hybrid" else fake_other.bodies[-1:]
    assert list(local.requests("wing stall lift drag", engine=other, **case).bodies.values()) == want


def _local_copy(fake: FakeEngine, directory):
    index = LocalIndex(mode="lucene", meta=SCHEMA.meta(MODEL))
    index.add(list(fake.docs), [fake.names.from_features(d[SCHEMA.sparse]) for d in fake.docs.values()])
    return index.save(directory)


def test_requests_errors_and_modes(searcher, local_dir, tmp_path):
    with pytest.raises(InputError, match="name the engine"):
        searcher.requests("wing")
    with pytest.raises(ValueError, match="unknown engine 'solr'"):
        searcher.requests("wing", engine="solr")
    with pytest.raises(InputError, match="query is empty"):
        searcher.requests(" ", engine="opensearch")
    with pytest.raises(InputError, match="two-phase window"):
        searcher.requests("wing", engine="opensearch", k=50, two_phase=TwoPhase(window=20))
    assert searcher.modes() == dict.fromkeys(S.MODES)  # a local index (format 2) keeps BM25 text
    old = S.Searcher(local_dir=old_format_index(tmp_path / "old", local_dir), encoder=_encoder()).modes()
    assert old["splade"] is None and "keeps no text for BM25" in old["bm25"] and old["hybrid"] == old["bm25"]
    assert S.Searcher(engine_index=_engine(), encoder=_encoder()).modes() == dict.fromkeys(S.MODES)
    no_text = S.Searcher(engine_index=FakeEngine(text=False), encoder=_encoder())
    assert no_text.modes()["splade"] is None and "no BM25 text field" in no_text.modes()["bm25"]
    with pytest.raises(EngineError, match="no BM25 text field"):
        no_text.requests("wing", mode="bm25")


def test_missing_engine_index_is_a_clear_error():
    with pytest.raises(EngineError, match="does not exist.*spladekit ingest"):
        S.Searcher(engine_index=FakeEngine(exists=False), encoder=_encoder())


def test_wrong_field_type_is_a_clear_error():
    with pytest.raises(EngineError, match="mapped as 'float', not 'rank_features'"):
        S.Searcher(engine_index=FakeEngine(sparse_type="float"), encoder=_encoder())


def test_index_without_text_field_refuses_bm25():
    searcher = S.Searcher(engine_index=FakeEngine(text=False), encoder=_encoder())
    with pytest.raises(EngineError, match="no BM25 text field"):
        searcher.search("wing", mode="bm25")


def test_index_built_with_other_model_weights_is_refused(local_dir, monkeypatch):
    other = FakeEncoder(sha="0" * 64, vocab=VOCAB)
    monkeypatch.setattr(S.SpladeEncoder, "load", classmethod(lambda cls, *a, **kw: other))
    with pytest.raises(InputError, match="built with model 'fake-splade' \\(weights ffffffffffff"):
        S.Searcher(local_dir=local_dir).encode("wing")


# ------------------------------------------------------------------------------------------------ the cache


@pytest.fixture()
def fake_load(monkeypatch):
    monkeypatch.setattr(S.SpladeEncoder, "load", classmethod(lambda cls, *a, **kw: _encoder()))
    S._cached_searcher.cache_clear()
    yield
    S._cached_searcher.cache_clear()


def test_search_serves_no_stale_hit_after_a_reingest_into_the_same_folder(local_dir, fake_load):
    before = S.search("wing stall", local_dir=local_dir, k=3)
    index = LocalIndex.load(local_dir, mmap=False)
    index.add(["new"], [SparseVector.from_dict({1: 50.0, 2: 50.0})])  # scores above every other document
    index.save(local_dir)
    after = S.search("wing stall", local_dir=local_dir, k=3)
    assert before[0].id != "new" and after[0].id == "new"
    again = S.search("wing stall", local_dir=local_dir, k=3)  # unchanged on disk: the cached searcher
    assert [h.id for h in again] == [h.id for h in after] and S._cached_searcher.cache_info().hits >= 1


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_search_formats(local_dir, fake_load):
    runner = CliRunner()
    table = runner.invoke(main, ["search", "wing lift", "--local", str(local_dir), "-k", "3", "--explain"])
    assert table.exit_code == 0, table.output
    assert table.output.splitlines()[0].split() == ["rank", "score", "id", "text"]
    jsonl = runner.invoke(main, ["search", "wing lift", "--local", str(local_dir), "-k", "3", "--format", "jsonl",
                                 "--explain"])
    rows = [json.loads(line) for line in jsonl.output.splitlines()]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert set(rows[0]["explanation"][0]) == {"token", "token_id", "query_weight", "doc_weight", "contribution"}
    trec = runner.invoke(main, ["search", "wing lift", "--local", str(local_dir), "-k", "3", "--format", "trec",
                                "--qid", "q7"])
    lines = [line.split() for line in trec.output.splitlines()]
    assert [(f[0], f[1], f[2], f[3], f[5]) for f in lines] == [("q7", "Q0", r["id"], str(r["rank"]), "spladekit")
                                                             for r in rows]
    assert [float(f[4]) for f in lines] == [r["score"] for r in rows]


def test_cli_search_errors_are_one_clear_line(local_dir, fake_load, tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["search", "wing", "--local", str(old_format_index(tmp_path / "old", local_dir)),
                             "--bm25"])
    assert r.exit_code == 1 and "keeps no text for BM25" in r.output
    r = runner.invoke(main, ["search", "wing", "--local", str(local_dir), "--prune-min-weight", "100"])
    assert r.exit_code == 1 and "removed every one" in r.output
    r = runner.invoke(main, ["search", "", "--local", str(local_dir)])
    assert r.exit_code == 1 and "query is empty" in r.output
    r = runner.invoke(main, ["search", "wing", "--local", str(tmp_path / "none")])
    assert r.exit_code == 1 and "no local index" in r.output
    r = runner.invoke(main, ["search", "wing", "--bm25", "--hybrid", "--local", str(local_dir)])
    assert r.exit_code == 2 and "not both" in r.output
    r = runner.invoke(main, ["search", "wing", "--local", str(local_dir), "--filter", "{nope"])
    assert r.exit_code == 2 and "not JSON" in r.output
    r = runner.invoke(main, ["search", "wing", "--local", str(local_dir), "-k", "200", "--two-phase"])
    assert r.exit_code == 2 and "above the two-phase window" in r.output
    r = runner.invoke(main, ["search", "wing", "--engine", "http://127.0.0.1:1", "--index", "x", "--approx", "0.5"])
    assert r.exit_code == 2 and "--approx applies to the local index" in r.output
    r = runner.invoke(main, ["search", "wing", "--local", str(local_dir), "--bm25", "--approx", "0.5"])
    assert r.exit_code == 2 and "does not apply to --bm25" in r.output
    r = runner.invoke(main, ["search", "wing", "--local", str(local_dir), "--approx", "0"])
    assert r.exit_code == 2 and "--approx" in r.output
    r = runner.invoke(main, ["search", "wing stall", "--local", str(local_dir), "--approx", "0.5", "--format", "jsonl"])
    assert r.exit_code == 0 and r.output.strip(), r.output


def test_cli_mass_options_reach_the_search(local_dir, fake_load):
    runner = CliRunner()

    def ids(*extra: str) -> list[str]:
        r = runner.invoke(main, ["search", "wing stall lift drag flow", "--local", str(local_dir), "-k", "5",
                                 "--format", "jsonl", *extra])
        assert r.exit_code == 0, r.output
        return [json.loads(line)["id"] for line in r.output.splitlines()]

    exact = ids()
    # All of the weight: the full query, so the exact ranking; a small mass: one token, another ranking.
    assert ids("--two-phase", "--first-pass-mass", "1", "--window", "60") == exact
    assert ids("--prune-mass", "1") == exact
    assert ids("--prune-mass", "0.05") != exact
    r = runner.invoke(main, ["search", "wing", "--local", str(local_dir), "--first-pass-mass", "0.5"])
    assert r.exit_code == 2 and "apply to --two-phase only" in r.output
