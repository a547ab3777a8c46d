"""export-vectors: Anserini JsonVectorCollection and float JSONL, queries in both topic formats, PISA's dicts,
and the round trip (reading the export back gives the same integer vectors)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from _support import REPO, FakeEncoder
from spladekit.cli import main
from spladekit.errors import InputError
from spladekit.exchange import export_vectors, pisa_documents, pisa_queries, quantize, read_vectors
from spladekit.features import FeatureNames
from spladekit.ingest import ingest
from spladekit.local.index import LocalIndex
from spladekit.schema import SCHEMA, ModelIdentity
from spladekit.vectors import SparseVector

TOKENS = ["[PAD]", "wing", "stall", "a.b", "##ing", "%", "flow", "x y"]
NAMES = FeatureNames(TOKENS)


def _index(tmp_path, mode: str) -> tuple[LocalIndex, dict[str, SparseVector]]:
    rng = np.random.default_rng(7)
    docs = {}
    for i in range(40):
        ids = rng.choice(np.arange(1, len(TOKENS)), int(rng.integers(1, len(TOKENS))), replace=False)
        # weights across scales: some round to 0 at x100 (dropped), some to the same integer
        docs[f"doc-{i}"] = SparseVector(ids, rng.choice([0.001, 0.004, 0.005, 0.0051, 0.27, 1.2345, 3.0],
                                                        ids.size).astype(np.float32))
    index = LocalIndex(mode=mode, meta=SCHEMA.meta(ModelIdentity("tiny", "c" * 64)))
    index.add(list(docs), list(docs.values()))
    index.save(tmp_path / f"ix-{mode}")
    return LocalIndex.load(tmp_path / f"ix-{mode}"), docs


QUERIES = {"q1": SparseVector.from_dict({1: 0.5, 2: 1.25, 3: 0.004}), "q 2": SparseVector.from_dict({6: 2.0})}


@pytest.mark.parametrize("mode", ["exact", "lucene"])
def test_anserini_export_round_trips_to_the_same_integer_vectors(tmp_path, mode: str) -> None:
    index, _ = _index(tmp_path, mode)
    manifest = export_vectors(tmp_path / f"ix-{mode}", tmp_path / "out", names=NAMES, query_vectors=QUERIES)
    ids, batch = index.documents()
    want = {}
    for doc_id, vec in zip(ids, batch, strict=True):  # the weights the index scores with
        terms, impacts = quantize(vec)
        want[doc_id] = {NAMES.name(t): int(v) for t, v in zip(terms.tolist(), impacts.tolist(), strict=True)}
        # the rule itself: round(w * 100), zeros dropped
        assert want[doc_id] == {NAMES.name(t): round(float(w) * 100) for t, w in zip(vec.ids, vec.weights,
                                                                                     strict=True)
                                if round(float(w) * 100) != 0}
    got = dict(read_vectors(tmp_path / "out"))
    assert got == want and all(isinstance(v, int) and v > 0 for d in got.values() for v in d.values())
    rows = [json.loads(line) for line in (tmp_path / "out" / "docs" / "docs.jsonl").read_text().splitlines()]
    assert all(set(r) == {"id", "contents", "vector"} for r in rows)  # Anserini's JsonVectorCollection fields
    assert "a%2Eb" in {t for d in got.values() for t in d} and "x%20y" in {t for d in got.values() for t in d}
    assert manifest["docs"] == 40 and manifest["postings"] == sum(len(d) for d in got.values())
    assert manifest["postings"] < manifest["postings_in_index"]  # weights that round to 0 are dropped
    # queries: {"qid", "vector"} JSONL and the pre-tokenized TSV (each term repeated by its weight)
    queries = dict(read_vectors(tmp_path / "out" / "queries.jsonl"))
    assert queries == {"q1": {"wing": 50, "stall": 125}, "q 2": {"flow": 200}}
    tsv = dict(line.split("\t") for line in (tmp_path / "out" / "queries.tsv").read_text().splitlines())
    assert sorted(tsv["q1"].split()) == sorted(["wing"] * 50 + ["stall"] * 125)
    assert tsv["q 2"].split() == ["flow"] * 200
    # PISA through pyterrier-pisa: the same integers, as its toks dicts
    assert {d["docno"]: d["toks"] for d in pisa_documents(tmp_path / "out")} == want
    assert pisa_queries(tmp_path / "out")[0] == {"qid": "q1", "query_toks": {"wing": 50, "stall": 125}}
    # integer scores are what an impact index computes: the exact dot product of the integer vectors
    check = LocalIndex(mode="exact")
    check.add(list(got), [NAMES.from_features(v) for v in got.values()])
    ids, scores = check.search(NAMES.from_features(queries["q1"]), k=5)
    for doc_id, score in zip(ids, scores.tolist(), strict=True):
        assert score == sum(v * queries["q1"].get(t, 0) for t, v in got[doc_id].items())


def test_jsonl_export_keeps_the_float32_weights(tmp_path) -> None:
    index, docs = _index(tmp_path, "exact")
    export_vectors(tmp_path / "ix-exact", tmp_path / "out", format="jsonl", names=NAMES, query_vectors=QUERIES)
    got = dict(read_vectors(tmp_path / "out"))
    for doc_id, vec in docs.items():
        back = NAMES.from_features(got[doc_id])
        assert back.ids.tolist() == vec.ids.tolist()
        np.testing.assert_array_equal(back.weights.view(np.uint32), vec.weights.view(np.uint32))
    assert not (tmp_path / "out" / "queries.tsv").exists()
    assert NAMES.from_features(dict(read_vectors(tmp_path / "out" / "queries.jsonl"))["q1"]).to_dict() == \
        QUERIES["q1"].to_dict()


def test_queries_are_encoded_by_the_index_query_encoder(tmp_path, monkeypatch) -> None:
    from spladekit.encoder import runtime

    monkeypatch.setattr(runtime.SpladeEncoder, "load", classmethod(lambda cls, *a, **k: FakeEncoder()))
    enc = FakeEncoder()
    ingest(REPO / "ingest" / "sample_corpus.jsonl", local_dir=tmp_path / "ix", encoder=enc,
           checkpoint=tmp_path / "j" / "cp.json")
    queries = REPO / "ingest" / "sample_queries.jsonl"
    out = CliRunner().invoke(main, ["export-vectors", str(tmp_path / "ix"), "-o", str(tmp_path / "out"),
                                    "--queries", str(queries)])
    assert out.exit_code == 0, out.output
    manifest = json.loads(out.stdout)
    texts = {json.loads(line)["_id"]: json.loads(line)["text"] for line in queries.read_text().splitlines()}
    exported = dict(read_vectors(tmp_path / "out" / "queries.jsonl"))
    assert manifest["queries"] == len(texts) == len(exported) and manifest["query_encoder"] == "fake-splade"
    for qid, text in texts.items():
        ids, impacts = quantize(enc.vector(text))
        assert exported[qid] == {enc.names.name(i): v for i, v in zip(ids.tolist(), impacts.tolist(), strict=True)}


def test_bad_exports_say_what_to_do(tmp_path) -> None:
    _index(tmp_path, "exact")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("keep me")
    with pytest.raises(InputError, match="holds something else"):
        export_vectors(tmp_path / "ix-exact", tmp_path / "busy", names=NAMES)
    with pytest.raises(ValueError, match="valid: anserini, jsonl"):
        export_vectors(tmp_path / "ix-exact", tmp_path / "o", names=NAMES, format="ciff")
    (tmp_path / "bad.jsonl").write_text('{"id": "1"}\n')
    with pytest.raises(InputError, match="bad.jsonl:1: not an exported vector"):
        list(read_vectors(tmp_path / "bad.jsonl"))
    export_vectors(tmp_path / "ix-exact", tmp_path / "o2", names=NAMES)
    with pytest.raises(InputError, match="--queries FILE"):
        pisa_queries(tmp_path / "o2")
