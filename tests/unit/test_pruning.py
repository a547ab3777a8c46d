"""Static pruning: each rule's exact output on small vectors, one rule set for queries and documents, ingest
--doc-prune recorded and guarded, term-centric index-prune against a brute-force oracle, and the two sides
composing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from _support import REPO, FakeEncoder, oracle_top_k
from spladekit.cli import main
from spladekit.errors import IndexFormatError, InputError
from spladekit.ingest import ingest
from spladekit.local.index import LocalIndex, prune_index
from spladekit.query import prune
from spladekit.schema import ModelIdentity, check_identity
from spladekit.vectors import Pruning, SparseVector

SAMPLE = REPO / "ingest" / "sample_corpus.jsonl"
# weights 5, 4, 2, 2, 1, 0.5 (sum 14.5) on ids 10, 3, 7, 1, 20, 2: the two 2s tie (ids 7 and 1)
VEC = SparseVector.from_dict({10: 5.0, 3: 4.0, 7: 2.0, 1: 2.0, 20: 1.0, 2: 0.5})


@pytest.mark.parametrize(("rule", "kept"), [
    ("top_k:1", {10: 5.0}),
    ("top_k:3", {10: 5.0, 3: 4.0, 1: 2.0}),          # tie at 2.0: the lower id (1) wins
    ("top_k:6", VEC.to_dict()),
    ("top_k:100", VEC.to_dict()),
    ("ratio:0.4", {10: 5.0, 3: 4.0, 7: 2.0, 1: 2.0}),  # >= 0.4 x 5 = 2, ties included
    ("ratio:0.41", {10: 5.0, 3: 4.0}),
    ("ratio:1", {10: 5.0}),
    ("ratio:0", VEC.to_dict()),
    ("mass:0.3", {10: 5.0}),                          # 5 >= 0.3 x 14.5 = 4.35
    ("mass:0.35", {10: 5.0, 3: 4.0}),                 # 5 < 5.075 <= 9
    ("mass:0.62", {10: 5.0, 3: 4.0}),                 # 9 >= 8.99
    ("mass:0.63", {10: 5.0, 3: 4.0, 1: 2.0}),         # 9 < 9.135: one more, the tie's lower id
    ("mass:1", VEC.to_dict()),
    ("min_weight:2", {10: 5.0, 3: 4.0, 7: 2.0, 1: 2.0}),
    ("min_weight:2.01", {10: 5.0, 3: 4.0}),
    ("min_weight:0", VEC.to_dict()),
    ("min_weight:9", {}),
    # combined: min_weight/ratio first, then mass (of the whole vector), then top_k
    ("mass:0.9,top_k:2", {10: 5.0, 3: 4.0}),
    ("min_weight:1,mass:0.99", {10: 5.0, 3: 4.0, 7: 2.0, 1: 2.0, 20: 1.0}),
    ("ratio:0.5,mass:0.99", {10: 5.0, 3: 4.0}),
])
def test_each_rule_keeps_exactly_these_terms(rule: str, kept: dict[int, float]) -> None:
    assert Pruning.parse(rule).apply(VEC).to_dict() == kept


def test_non_positive_weights_always_go_and_empty_stays_empty() -> None:
    vec = SparseVector(np.array([1, 2, 3]), np.array([1.0, 0.0, -2.0], np.float32))
    assert Pruning(top_k=3).apply(vec).to_dict() == {1: 1.0}
    assert len(Pruning(mass=0.5).apply(SparseVector.empty())) == 0


def test_query_and_document_pruning_are_one_function() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        vec = SparseVector(rng.choice(5000, n, replace=False), rng.exponential(1.0, n).astype(np.float32))
        spec = {"top_k": int(rng.integers(1, 40)) if rng.random() < 0.5 else None,
                "ratio": float(rng.uniform(0, 1)) if rng.random() < 0.3 else None,
                "mass": float(rng.uniform(0.05, 1)) if rng.random() < 0.5 else None,
                "min_weight": float(rng.uniform(0, 1)) if rng.random() < 0.3 else None}
        want = Pruning(**spec).apply(vec)
        got, _ = prune(vec, **spec, max_clauses=None)
        assert got.to_dict() == want.to_dict()


def test_rule_spelling_round_trips_and_bad_rules_say_what_is_valid() -> None:
    rule = Pruning.parse(" mass:0.90 , top_k:128 ")
    assert (rule.top_k, rule.mass) == (128, 0.9)
    assert str(rule) == "top_k:128,mass:0.9" and Pruning.parse(str(rule)) == rule
    assert Pruning.of({"top_k": 4, "ratio": None}) == Pruning(top_k=4)
    assert Pruning.of("") is None and Pruning.of(None) is None and Pruning.of({}) is None
    for bad, needle in [("top_k", "is not one of top_k:N"), ("top_k:x", "needs an integer"),
                        ("mass:2", "mass must be in (0, 1]"), ("ratio:-1", "ratio must be in [0, 1]"),
                        ("topk:3", "is not one of"), ("top_k:0", "top_k must be an integer >= 1"),
                        ("top_k:2,top_k:3", "given twice"), ("min_weight:-1", "min_weight must be >= 0")]:
        with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace("[", r"\[")):
            Pruning.parse(bad)


# ------------------------------------------------------------------------------------------ ingest --doc-prune


def _docs(encoder: FakeEncoder) -> dict[str, SparseVector]:
    return {row["_id"]: encoder.vector(f"{row.get('title', '')} {row['text']}".strip() if row.get("title")
                                       else row["text"])
            for row in map(json.loads, SAMPLE.read_text(encoding="utf-8").splitlines())}


def test_ingest_prunes_every_document_and_records_the_rule(tmp_path) -> None:
    enc = FakeEncoder()
    report = ingest(SAMPLE, local_dir=tmp_path / "ix", encoder=enc, doc_prune="top_k:3",
                    checkpoint=tmp_path / "job" / "cp.json")
    index = LocalIndex.load(tmp_path / "ix")
    full = _docs(enc)
    ids, batch = index.documents()
    for doc_id, stored in zip(ids, batch, strict=True):
        want = Pruning(top_k=3).apply(full[doc_id])
        assert stored.ids.tolist() == want.ids.tolist()
    assert index.meta["doc_prune"] == "top_k:3" and report.doc_prune == "top_k:3"
    assert report.pruning == {"terms_in": sum(len(v) for v in full.values()), "terms_kept": int(batch.nnz().sum())}
    assert "pruned by top_k:3" in report.summary()
    assert ModelIdentity.from_meta(index.meta).doc_prune == "top_k:3"


def test_the_guard_refuses_another_rule_and_names_the_fix(tmp_path) -> None:
    enc = FakeEncoder()
    ingest(SAMPLE, local_dir=tmp_path / "ix", encoder=enc, doc_prune={"mass": 0.8},
           checkpoint=tmp_path / "j1" / "cp.json")
    for other, shown in [(None, "no document pruning"), ("mass:0.9", "doc_prune=mass:0.9")]:
        with pytest.raises(IndexFormatError, match="--doc-prune mass:0.8") as err:
            ingest(SAMPLE, local_dir=tmp_path / "ix", encoder=enc, doc_prune=other,
                   checkpoint=tmp_path / "j2" / "cp.json")
        assert shown in str(err.value) and "\n" not in str(err.value)
    ingest(SAMPLE, local_dir=tmp_path / "ix", encoder=enc, doc_prune="mass:0.8", checkpoint=tmp_path / "j3" / "cp")
    # an unpruned index refuses a pruned job, and says to run without the rule
    ingest(SAMPLE, local_dir=tmp_path / "full", encoder=enc, checkpoint=tmp_path / "j4" / "cp.json")
    with pytest.raises(IndexFormatError, match="without --doc-prune"):
        ingest(SAMPLE, local_dir=tmp_path / "full", encoder=enc, doc_prune="top_k:2",
               checkpoint=tmp_path / "j5" / "cp.json")
    meta = LocalIndex.load(tmp_path / "full").meta
    assert "doc_prune" not in meta  # an unpruned index's _meta reads as before
    with pytest.warns(UserWarning, match="FORCED"):
        assert check_identity(meta, ModelIdentity("fake-splade", "f" * 64, max_length=512, doc_prune="top_k:2"),
                              "index", force=True)


def test_doc_and_query_pruning_compose(tmp_path) -> None:
    enc = FakeEncoder()
    ingest(SAMPLE, local_dir=tmp_path / "ix", encoder=enc, doc_prune="top_k:4", checkpoint=tmp_path / "j" / "cp")
    index = LocalIndex.load(tmp_path / "ix")
    docs = {d: Pruning(top_k=4).apply(v) for d, v in _docs(enc).items()}
    order = index.documents()[0]
    for text in ("wing stall flow", "boundary layer heat transfer over a plate", "shock wave"):
        query = enc.vector(text)
        for rule in (None, Pruning(top_k=2), Pruning(mass=0.6)):
            q = rule.apply(query) if rule else query
            got = list(zip(*index.search(q, k=10), strict=True))
            want = oracle_top_k(q, docs, 10, order=order)
            assert [(d, float(s)) for d, s in got] == want


# ------------------------------------------------------------------------------------------ term-centric


def test_prune_postings_keeps_each_terms_best_postings_exactly() -> None:
    rng = np.random.default_rng(3)
    keys = [f"d{i:03d}" for i in range(300)]
    vectors = []
    for _ in keys:
        ids = rng.choice(60, int(rng.integers(1, 20)), replace=False)
        # weights on a coarse grid, so that ties between postings of one term are common
        vectors.append(SparseVector(ids, (rng.integers(1, 8, ids.size) / 4).astype(np.float32)))
    for mode in ("exact", "lucene"):
        index = LocalIndex(mode=mode)
        index.add(keys, vectors)
        pruned = index.prune_postings(5)
        stored = dict(zip(*index.documents(), strict=True))
        want: dict[str, dict[int, float]] = {k: {} for k in keys}
        for term in range(60):
            postings = [(-float(stored[k].to_dict().get(term, 0)), row, k) for row, k in enumerate(keys)
                        if term in stored[k].to_dict()]
            for _, _, k in sorted(postings)[:5]:  # weight descending, then the lower row
                want[k][term] = stored[k].to_dict()[term]
        got = dict(zip(*pruned.documents(), strict=True))
        assert {k: got[k].to_dict() for k in keys} == want
        assert len(pruned) == len(index) and int(pruned.document_frequencies().max()) == 5
        assert pruned.meta["index_prune"] == {"top_postings": 5, "postings_before": index.n_postings,
                                              "postings_after": pruned.n_postings}
        # its searches are those of an index holding the pruned vectors
        query = SparseVector.from_dict({1: 1.0, 7: 0.5, 30: 2.0})
        check = LocalIndex(mode=mode)
        check.add(keys, [got[k] for k in keys])
        assert pruned.search(query, k=20)[0] == check.search(query, k=20)[0]


def test_index_prune_cli_writes_a_new_index_and_ingest_refuses_it(tmp_path) -> None:
    enc = FakeEncoder()
    ingest(SAMPLE, local_dir=tmp_path / "ix", encoder=enc, checkpoint=tmp_path / "j" / "cp.json")
    out = CliRunner().invoke(main, ["index-prune", str(tmp_path / "ix"), "--top-postings", "2",
                                    "-o", str(tmp_path / "small")])
    assert out.exit_code == 0, out.output
    facts = json.loads(out.stdout)
    small = LocalIndex.load(tmp_path / "small")
    assert facts["postings_after"] == small.n_postings < facts["postings_before"] == LocalIndex.load(
        tmp_path / "ix").n_postings
    assert facts["bytes_after"] < facts["bytes_before"] and facts["docs"] == 30
    full = LocalIndex.load(tmp_path / "ix")
    assert small.has_text and small.search_bm25("wing stall", k=5)[0] == full.search_bm25("wing stall", k=5)[0]
    with pytest.raises(IndexFormatError, match="pruned per term by `spladekit index-prune`"):
        ingest(SAMPLE, local_dir=tmp_path / "small", encoder=enc, checkpoint=tmp_path / "j2" / "cp.json")
    with pytest.raises(InputError, match="already pruned per term"):
        prune_index(tmp_path / "small", tmp_path / "smaller", top_postings=1)
    with pytest.raises(InputError, match="is the index being pruned"):
        prune_index(tmp_path / "ix", tmp_path / "ix", top_postings=1)
    with pytest.raises(ValueError, match="top_postings must be an integer >= 1"):
        LocalIndex.load(tmp_path / "ix").prune_postings(0)


def test_encode_cli_prunes_documents(monkeypatch) -> None:
    from spladekit.encoder import runtime

    class Decoding(FakeEncoder):
        def encode_documents(self, texts, prune=None, **_):
            rule = Pruning.of(prune)
            return [rule.apply(v) if rule else v for v in super().encode_documents(texts)]

        def decode(self, vec, top_k=None):
            return [(self.names.tokens[i], float(w)) for i, w in zip(vec.ids, vec.weights, strict=True)][:top_k]

    monkeypatch.setattr(runtime.SpladeEncoder, "load", classmethod(lambda cls, *a, **k: Decoding()))
    text = "wing stall lift drag flow shock wave"
    full = CliRunner().invoke(main, ["encode", text, "--json"])
    pruned = CliRunner().invoke(main, ["encode", text, "--json", "--doc-prune", "top_k:2"])
    assert json.loads(full.stdout)["terms"] == 7 and json.loads(pruned.stdout)["terms"] == 2
    bad = CliRunner().invoke(main, ["encode", text, "--query", "--doc-prune", "top_k:2"])
    assert bad.exit_code == 2 and "prune queries at search time" in bad.stderr
