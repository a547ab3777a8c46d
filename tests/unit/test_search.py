"""spladekit.search and the search CLI: query plans, fusion, explanations, errors (no engine, no download)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from spladekit import search as S
from spladekit.cli import main
from spladekit.encoder.runtime import SpladeEncoder
from spladekit.errors import EngineError, InputError
from spladekit.features import FeatureNames
from spladekit import lucene
from spladekit.local.index import LocalIndex
from spladekit.query import DEFAULT_MAX_CLAUSES
from spladekit.vectors import SparseVector

VOCAB = ["[PAD]", "wing", "stall", "lift", "drag", "flow", "the", "a.b", "boundary", "layer"]


class FakeEncoder:
    """Words of VOCAB -> ids, weight 1 + position; explain is the real SpladeEncoder.explain."""

    def __init__(self) -> None:
        self.names = FeatureNames(VOCAB)
        self.info = {"weights_sha256": "abc"}

    def encode_queries(self, texts):
        out = []
        for t in texts:
            d = {}
            for j, w in enumerate(t.split()):
                if w in VOCAB[1:]:
                    d[VOCAB.index(w)] = 1.0 + 0.37 * j
            out.append(SparseVector.from_dict(d))
        return out

    explain = SpladeEncoder.explain


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
    index = LocalIndex(mode="lucene", meta={"model": "fake"})
    index.add(*_random_docs())
    return index.save(tmp_path / "idx")


@pytest.fixture()
def searcher(local_dir):
    return S.Searcher(local_dir=local_dir, encoder=FakeEncoder())


# ------------------------------------------------------------------------------------------------ query plans


def _boost(clause):
    if "rank_feature" in clause:
        return clause["rank_feature"]["boost"]
    return clause["term"]["splade"]["boost"]


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
def test_two_phase_body_first_pass_is_the_high_weight_tokens_and_rescore_the_full_query(engine):
    names = FeatureNames(VOCAB)
    q = SparseVector.from_dict({1: 3.0, 2: 0.2, 3: 1.5, 4: 0.9, 5: 2.5})
    body = S.two_phase_body(q, names, engine, k=10, first_pass=S.TwoPhase(top_k=2, window=40),
                            filter={"term": {"lang": "en"}})
    first = body["query"]["bool"]["should"]
    rescore = body["rescore"]
    full = rescore["query"]["rescore_query"]["bool"]["should"]
    assert len(first) == 2 and len(full) == len(q)
    assert sorted(_boost(c) for c in first) == [2.5, 3.0]
    assert sorted(_boost(c) for c in full) == sorted(q.weights.tolist())
    assert rescore["window_size"] == 40
    assert rescore["query"]["query_weight"] == 0.0 and rescore["query"]["rescore_query_weight"] == 1.0
    assert body["size"] == 10
    assert body["query"]["bool"]["filter"] == [{"term": {"lang": "en"}}]
    assert "filter" not in rescore["query"]["rescore_query"]["bool"]


def test_two_phase_ratio_and_window_checks():
    names = FeatureNames(VOCAB)
    q = SparseVector.from_dict({1: 3.0, 2: 0.2, 3: 1.5})
    body = S.two_phase_body(q, names, "opensearch", k=5, first_pass=S.TwoPhase(top_k=None, ratio=0.5))
    assert len(body["query"]["bool"]["should"]) == 2  # 3.0 and 1.5 >= 0.5 * 3.0
    with pytest.raises(ValueError, match="window"):
        S.two_phase_body(q, names, "opensearch", k=50, first_pass=S.TwoPhase(window=10))
    with pytest.raises(ValueError, match="top_k, ratio or mass"):
        S.TwoPhase(top_k=None, ratio=None)
    with pytest.raises(ValueError, match="mass"):
        S.TwoPhase(mass=0.0)


def test_two_phase_mass_adapts_the_first_pass_to_the_query():
    names = FeatureNames(VOCAB)
    peaked = SparseVector.from_dict({1: 8.0, 2: 0.5, 3: 0.5, 4: 0.5, 5: 0.5})  # 80 % on one token
    flat = SparseVector.from_dict({1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0})
    plan = S.TwoPhase(top_k=None, mass=0.75, window=20)
    for vec, first in ((peaked, {"splade.wing"}), (flat, {f"splade.{w}" for w in VOCAB[1:5]})):
        body = S.two_phase_body(vec, names, "opensearch", k=5, first_pass=plan)
        assert {c["rank_feature"]["field"] for c in body["query"]["bool"]["should"]} == first
        assert len(body["rescore"]["query"]["rescore_query"]["bool"]["should"]) == 5
    capped = S.two_phase_body(flat, names, "opensearch", k=5, first_pass=S.TwoPhase(top_k=2, mass=0.75, window=20))
    assert len(capped["query"]["bool"]["should"]) == 2  # top_k caps what the mass asks for


def test_empty_query_vector_is_a_clear_error():
    with pytest.raises(InputError, match="no token with a positive weight"):
        S.prepare_query(SparseVector.empty())


def test_query_whose_every_token_is_pruned_is_a_clear_error():
    q = SparseVector.from_dict({1: 0.5, 2: 0.25})
    with pytest.raises(InputError, match="removed every one of the query's 2 tokens"):
        S.prepare_query(q, {"min_weight": 1.0})


def test_unknown_prune_option_lists_valid_ones():
    with pytest.raises(ValueError, match="top_k, min_weight, ratio"):
        S.prepare_query(SparseVector.from_dict({1: 1.0}), {"topk": 3})


def test_query_of_2000_tokens_is_cut_to_the_clause_limit_with_a_note():
    rng = np.random.default_rng(0)
    q = SparseVector(np.arange(2000), rng.uniform(0.01, 2.0, 2000))
    pruned, notes = S.prepare_query(q)
    assert len(pruned) == DEFAULT_MAX_CLAUSES
    assert notes and "clause limit" in notes[0]
    # the largest weights are the ones kept
    assert pruned.weights.min() >= np.sort(q.weights)[-DEFAULT_MAX_CLAUSES]


def test_bm25_body_with_filter():
    body = S.bm25_body("wing stall", k=7, filter=[{"term": {"a": 1}}], source=["title"])
    assert body == {"query": {"bool": {"must": [{"match": {"text": "wing stall"}}], "filter": [{"term": {"a": 1}}]}},
                    "size": 7, "_source": ["title"]}


def test_filter_ids_accepts_ids_queries_only():
    assert S.filter_ids([{"ids": {"values": ["1", "2"]}}, {"ids": {"values": [2, 3]}}]) == ["2"]
    with pytest.raises(InputError, match="only filter by document ids"):
        S.filter_ids({"term": {"lang": "en"}})


# ------------------------------------------------------------------------------------------------ fusion


def _hits(pairs):
    return [S.Hit(d, s, r) for r, (d, s) in enumerate(pairs, start=1)]


def test_rrf_fusion_follows_the_formula():
    splade = _hits([("a", 9.0), ("b", 5.0), ("c", 1.0)])
    bm25 = _hits([("c", 20.0), ("d", 10.0), ("a", 3.0)])
    fused = S._fuse(splade, bm25, k=4, fusion="rrf", alpha=0.5)
    ranks = {"a": (1, 3), "b": (2, None), "c": (3, 1), "d": (None, 2)}
    expected = {d: sum(1 / (60 + r) for r in rs if r) for d, rs in ranks.items()}
    assert [h.id for h in fused] == sorted(expected, key=lambda d: (-expected[d], d))
    for h in fused:
        assert math.isclose(h.score, expected[h.id], rel_tol=1e-12)
        assert (h.components["splade_rank"], h.components["bm25_rank"]) == ranks[h.id]
    assert [h.rank for h in fused] == [1, 2, 3, 4]


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_weighted_fusion_is_a_minmax_normalised_sum(alpha):
    splade = _hits([("a", 9.0), ("b", 5.0), ("c", 1.0)])
    bm25 = _hits([("c", 20.0), ("d", 10.0), ("a", 4.0)])
    fused = {h.id: h.score for h in S._fuse(splade, bm25, k=10, fusion="weighted", alpha=alpha)}

    def norm(run, d):
        vals = [s for _, s in run]
        return next(((s - min(vals)) / (max(vals) - min(vals)) for x, s in run if x == d), 0.0)

    sp = [(h.id, h.score) for h in splade]
    bm = [(h.id, h.score) for h in bm25]
    for d in "abcd":
        assert math.isclose(fused[d], alpha * norm(sp, d) + (1 - alpha) * norm(bm, d), abs_tol=1e-12)


def test_fusion_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        S._fuse(_hits([("a", 1.0)]), _hits([("a", 1.0)]), k=1, fusion="weighted", alpha=1.5)


# ------------------------------------------------------------------------------------------------ local searches


def test_local_search_matches_the_local_index_and_explanations_add_up(searcher, local_dir):
    hits = searcher.search("wing lift flow boundary", k=5, explain=True)
    vec = FakeEncoder().encode_queries(["wing lift flow boundary"])[0]
    ids, scores = LocalIndex.load(local_dir).search(vec, k=5)
    assert [h.id for h in hits] == ids and [h.score for h in hits] == scores.tolist()
    for h in hits:
        full = FakeEncoder().explain(vec, S.local_doc_vector(searcher.local, vec, h.id))
        assert math.isclose(S.score_sum(full), h.score, rel_tol=1e-6)
        assert h.explanation == full[: S.EXPLAIN_TOP]
        contribs = [c.contribution for c in h.explanation]
        assert contribs == sorted(contribs, reverse=True)


def test_local_two_phase_rescores_the_first_pass_window_exactly(searcher):
    exact = searcher.search("wing stall lift drag flow", k=5)
    approx = searcher.search("wing stall lift drag flow", k=5, two_phase=S.TwoPhase(top_k=1, window=10))
    full_window = searcher.search("wing stall lift drag flow", k=5, two_phase=S.TwoPhase(top_k=5, window=60))
    assert [(h.id, h.score) for h in full_window] == [(h.id, h.score) for h in exact]
    exact_scores = {h.id: h.score for h in searcher.search("wing stall lift drag flow", k=60)}
    assert all(h.score == exact_scores[h.id] for h in approx)  # rescored with the full query


def test_local_bm25_and_hybrid_are_refused_with_a_fix(searcher):
    for mode in ("bm25", "hybrid"):
        with pytest.raises(InputError, match="need an engine index"):
            searcher.search("wing", mode=mode)


def test_empty_query_text_and_bad_mode(searcher):
    with pytest.raises(InputError, match="query is empty"):
        searcher.search("   ")
    with pytest.raises(ValueError, match="splade, bm25, hybrid"):
        searcher.search("wing", mode="dense")


def test_missing_local_index_names_the_build_command(tmp_path):
    with pytest.raises(InputError, match="spladekit ingest"):
        S.Searcher(local_dir=tmp_path / "nope", encoder=FakeEncoder())


# ------------------------------------------------------------------------------------------------ engine (fake client)


class FakeEngineIndex:
    """Just enough of EngineIndex: scores a body's linear clauses like Lucene over stored _source vectors."""

    engine = "opensearch"
    index = "docs"
    url = "http://127.0.0.1:1"

    def __init__(self, ids, vecs, names, *, exists=True, sparse_type="rank_features"):
        self.names_ = names
        self.docs = {i: names.to_features(v) for i, v in zip(ids, vecs, strict=True)}
        self._exists = exists
        self.bodies = []
        outer = self

        class _Indices:
            def get_mapping(self, index):
                return {index: {"mappings": {"_meta": {"model": "fake"},
                                             "properties": {"splade": {"type": sparse_type},
                                                            "text": {"type": "text"}}}}}

        class _Client:
            indices = _Indices()

        self.client = _Client()
        self.outer = outer

    def exists(self):
        return self._exists

    def _call(self, what, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    def search_body(self, body):
        return self._search(body)

    def _search(self, body):
        self.bodies.append(body)
        clauses = body["query"]["bool"]["should"]
        q = {c["rank_feature"]["field"].split(".", 1)[1]: c["rank_feature"]["boost"] for c in clauses}
        scored = []
        for doc_id, feats in self.docs.items():
            total = 0.0
            for name, w in feats.items():
                if name in q:
                    dq = float(lucene.quantize(np.array([w], np.float32))[0])
                    total += float(np.float32(np.float32(q[name]) * np.float32(dq)))
            if total > 0:
                scored.append((doc_id, float(np.float32(total))))
        scored.sort(key=lambda x: (-x[1], x[0]))
        src_fields = body.get("_source", [])
        hits = [{"_id": d, "_score": s,
                 "_source": {"splade": self.docs[d]} if "splade" in src_fields else {}}
                for d, s in scored[: body["size"]]]
        return {"hits": {"hits": hits}}


def test_engine_explanations_use_the_quantized_stored_values_and_add_up():
    names = FeatureNames(VOCAB)
    ids, vecs = _random_docs(seed=3)
    fake = FakeEngineIndex(ids, vecs, names)
    searcher = S.Searcher(engine_index=fake, encoder=FakeEncoder())
    hits = searcher.search("wing stall lift", k=4, explain=True)
    assert hits and fake.bodies[-1]["track_total_hits"] is False
    assert fake.bodies[-1]["_source"] == ["title", "text", "splade"]
    for h in hits:
        assert len(h.explanation) <= S.EXPLAIN_TOP
        assert math.isclose(S.score_sum(h.explanation), h.score, rel_tol=1e-6)
        for c in h.explanation:
            stored = fake.docs[h.id][names.name(names.tokens.index(c.token))]
            assert c.doc_weight == float(lucene.quantize(np.array([stored], np.float32))[0])


def test_missing_engine_index_is_a_clear_error():
    fake = FakeEngineIndex([], [], FeatureNames(VOCAB), exists=False)
    with pytest.raises(EngineError, match="does not exist.*spladekit ingest"):
        S.Searcher(engine_index=fake, encoder=FakeEncoder())


def test_wrong_field_type_is_a_clear_error():
    fake = FakeEngineIndex([], [], FeatureNames(VOCAB), sparse_type="float")
    with pytest.raises(EngineError, match="mapped as 'float', not 'rank_features'"):
        S.Searcher(engine_index=fake, encoder=FakeEncoder())


def test_index_built_with_other_model_weights_is_refused(local_dir, monkeypatch):
    class Other(FakeEncoder):
        def __init__(self):
            super().__init__()
            self.info = {"weights_sha256": "zzz"}

    index = LocalIndex.load(local_dir, mmap=False)
    index.meta["model_sha256"] = "abc"
    index.save(local_dir)
    monkeypatch.setattr(S.SpladeEncoder, "load", classmethod(lambda cls, *a, **kw: Other()))
    with pytest.raises(InputError, match="built with model weights abc"):
        S.Searcher(local_dir=local_dir).encode("wing")


# ------------------------------------------------------------------------------------------------ CLI


@pytest.fixture()
def fake_load(monkeypatch):
    monkeypatch.setattr(S.SpladeEncoder, "load", classmethod(lambda cls, *a, **kw: FakeEncoder()))
    S._cached_searcher.cache_clear()
    yield
    S._cached_searcher.cache_clear()


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
    r = runner.invoke(main, ["search", "wing", "--local", str(local_dir), "--bm25"])
    assert r.exit_code == 1 and "need an engine index" in r.output
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


def test_search_engine_index_reuses_one_searcher_per_index(monkeypatch):
    loads = []
    monkeypatch.setattr(S.SpladeEncoder, "load", classmethod(lambda cls, *a, **kw: loads.append(a) or FakeEncoder()))
    ids, vecs = _random_docs(seed=5)
    fake = FakeEngineIndex(ids, vecs, FeatureNames(VOCAB))
    first = S.search_engine_index(fake, "wing stall", k=3)
    second = S.search_engine_index(fake, "wing stall", k=3, two_phase=S.TwoPhase(top_k=1, window=50))
    assert [h.id for h in first] and len(loads) == 1 and len(fake.bodies) == 2
    assert "rescore" in fake.bodies[1] and all(h.score <= first[0].score for h in second)
