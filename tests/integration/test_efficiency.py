"""Efficient SPLADE on real engines with the real default model: documents pruned at ingest (recorded, guarded,
engine == local), inference-free queries on an engine (document frequencies counted by the engine give the
very query vectors and hits of the local index), and the Anserini export of a real index.

Cranfield is encoded once (the eval cache, ``spladekit.evaluation.build.DocVectors``); the same vectors go to
each engine and to the local index through ingest.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spladekit.cli import main
from spladekit.datasets import load_beir
from spladekit.engines import connect
from spladekit.errors import IndexFormatError
from spladekit.evaluation import build
from spladekit.evaluation.metrics import compute
from spladekit.exchange import export_vectors, read_vectors
from spladekit.features import FeatureNames
from spladekit.ingest import ingest
from spladekit.local.index import LocalIndex
from spladekit.parity import parity
from spladekit.search import Searcher

pytestmark = pytest.mark.integration

RULE = "mass:0.8"
N_QUERIES = 60


@pytest.fixture(scope="module")
def cranfield(datasets_dir: Path, default_encoder):
    dataset = load_beir(datasets_dir / "cranfield", "test")
    docs = build.DocVectors(default_encoder, dataset)
    docs.batch  # noqa: B018 - encoded once (or read from the eval cache)
    queries = dict(list(dataset.queries.items())[:N_QUERIES])
    return dataset, docs, queries


def _ingest(docs, tmp: Path, doc_prune: str | None = None, **target):
    return ingest(docs.dataset.path / "corpus.jsonl", encoder=build.CachedEncoder(docs.encoder, docs),
                  checkpoint=tmp / "job" / "cp.json", doc_prune=doc_prune, **target)


@pytest.fixture(scope="module")
def local_full(cranfield, tmp_path_factory) -> Path:
    _, docs, _ = cranfield
    where = tmp_path_factory.mktemp("full") / "ix"
    _ingest(docs, where.parent, local_dir=where)
    return where


def _same_ranking(a: list, b: list) -> None:
    """Equal float32 scores rank for rank; documents with equal scores may come in another order."""
    assert [s for _, s in a] == [s for _, s in b]
    for score in {s for _, s in a}:
        assert {d for d, s in a if s == score} == {d for d, s in b if s == score}


def test_doc_pruned_engine_index_is_recorded_guarded_and_equals_local(engine, index_name, cranfield, tmp_path):
    _, docs, queries = cranfield
    report = _ingest(docs, tmp_path / "e", RULE, engine_url=engine.url, index=index_name, engine=engine.engine)
    assert report.complete and report.doc_prune == RULE
    assert report.pruning["terms_kept"] < report.pruning["terms_in"]
    idx = connect(engine.url, index_name, engine=engine.engine)
    assert idx.meta()["doc_prune"] == RULE
    with pytest.raises(IndexFormatError, match=f"--doc-prune {RULE}"):
        _ingest(docs, tmp_path / "e2", engine_url=engine.url, index=index_name, engine=engine.engine)
    local = tmp_path / "local"
    _ingest(docs, tmp_path / "l", RULE, local_dir=local)
    assert LocalIndex.load(local).n_postings == report.pruning["terms_kept"]
    result = parity(engine_url=engine.url, index=index_name, local_dir=local, queries=queries, k=10)
    assert result.ok, [q.qid for q in result.queries if not q.ok][:5]


def test_inference_free_search_on_an_engine_equals_the_local_index(engine, index_name, cranfield, local_full,
                                                                   tmp_path):
    _, docs, queries = cranfield
    _ingest(docs, tmp_path / "e", engine_url=engine.url, index=index_name, engine=engine.engine)
    on_engine = Searcher(engine_index=connect(engine.url, index_name, engine=engine.engine,
                                              names=docs.encoder.names), inference_free=True)
    on_local = Searcher(local_dir=local_full, inference_free=True)
    assert on_engine.encoder.identity().query_model == f"idf:{engine.engine}:{index_name}"
    for qid, text in queries.items():
        vec = on_local.encode(text)
        assert on_engine.encode(text).to_dict() == vec.to_dict(), qid  # the engine's df == the local df
        if not len(vec):
            continue
        got = [(h.id, h.score) for h in on_engine.search(text, k=10)]
        _same_ranking(got, [(h.id, h.score) for h in on_local.search(text, k=10)])
    out = CliRunner().invoke(main, ["search", "flow over a flat plate", "--engine", engine.url, "--index",
                                    index_name, "--inference-free", "--format", "jsonl", "-k", "5"])
    assert out.exit_code == 0, out.output
    _same_ranking([(json.loads(line)["id"], json.loads(line)["score"]) for line in out.stdout.splitlines()],
                  [(h.id, h.score) for h in on_local.search("flow over a flat plate", k=5)])


def test_anserini_export_of_a_real_index_round_trips(cranfield, tmp_path):
    dataset, docs, queries = cranfield
    exact = tmp_path / "exact"
    _ingest(docs, tmp_path / "x", local_dir=exact, local_mode="exact")
    qvecs = {q: docs.encoder.encode_queries([t])[0] for q, t in queries.items()}
    manifest = export_vectors(exact, tmp_path / "out", query_vectors=qvecs)
    assert manifest["docs"] == len(LocalIndex.load(exact))
    names: FeatureNames = docs.encoder.names
    ints = {d: names.from_features(v) for d, v in read_vectors(tmp_path / "out")}
    ids, batch = LocalIndex.load(exact).documents()
    for doc_id, vec in zip(ids, batch, strict=True):  # round(w * 100), zeros dropped, read back unchanged
        want = np.rint(vec.weights.astype(np.float64) * 100)
        assert ints[doc_id].to_dict() == {i: float(w) for i, w in zip(vec.ids.tolist(), want.tolist(),
                                                                      strict=True) if w > 0}
    # integer scoring (what an impact index computes) ranks almost as the float weights do
    int_index = LocalIndex(mode="exact")
    int_index.add(list(ints), list(ints.values()))
    float_index = LocalIndex.load(exact)
    int_queries = {q: names.from_features(v) for q, v in read_vectors(tmp_path / "out" / "queries.jsonl")}
    overlap = []
    for qid, vec in qvecs.items():
        a = set(float_index.search(vec, k=10)[0])
        b = set(int_index.search(int_queries[qid], k=10)[0])
        overlap.append(len(a & b) / max(len(a), 1))
    assert np.mean(overlap) >= 0.9, np.mean(overlap)
    runs = {q: dict(zip(*int_index.search(int_queries[q], k=100), strict=True)) for q in qvecs}
    assert compute({q: dataset.qrels[q] for q in qvecs if q in dataset.qrels}, runs, ["nDCG@10"])[0]["nDCG@10"] > 0
