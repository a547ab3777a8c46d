"""Evaluation on cranfield with the real default model: every backend gives the same metrics, and our
nDCG@10 equals sentence-transformers' SparseInformationRetrievalEvaluator on the same model and data.

Document vectors are cached under ``$SPLADEKIT_CACHE/eval`` (keyed by corpus and weights hashes), so only the
first run pays for encoding the corpus.
"""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from spladekit.cli import main
from spladekit.evaluation import compute, evaluate, load_beir, load_run

pytestmark = pytest.mark.integration

MEASURES = ["nDCG@10", "RR@10", "R@100", "AP"]
DEPTH = 100  # enough for every measure above; keeps 225 queries x 5 systems quick on 2 cores


@pytest.fixture(scope="module")
def cranfield(datasets_dir):
    path = datasets_dir / "cranfield"
    if not (path / "corpus.jsonl").is_file():
        pytest.fail(f"{path} is not a BEIR folder")
    return path


def test_engines_and_local_give_identical_metrics(cranfield, opensearch, elasticsearch, index_name, tmp_path):
    # OpenSearch through the CLI (local index, SPLADE, BM25, hybrid), Elasticsearch through the library.
    out = tmp_path / "os"
    result = CliRunner().invoke(main, ["eval", str(cranfield), "--engine", opensearch.url, "--local", "--bm25",
                                       "--hybrid", "--index", index_name, "-k", str(DEPTH), "--out", str(out),
                                       "--silent", "--metrics", " ".join(MEASURES)])
    assert result.exit_code == 0, result.output
    assert "splade-opensearch" in result.output and "hybrid-rrf" in result.output
    os_report = json.loads((out / "report.json").read_text())
    systems = {s["name"]: s for s in os_report["systems"]}
    assert set(systems) == {"splade-local", "splade-opensearch", "bm25-opensearch", "hybrid-rrf", "hybrid-weighted"}
    # cranfield's two empty abstracts are dead-lettered by ingest (and said so), the rest indexed
    assert systems["splade-local"]["cost"]["not_indexed"] == systems["splade-opensearch"]["cost"]["not_indexed"]
    assert os_report["settings"]["encoding"]["max_length"] == 512
    assert (out / "per-query-nDCG10.png").read_bytes()[:4] == b"\x89PNG"

    es_report = evaluate(cranfield, engine_url=elasticsearch.url, local=False, bm25=True, metrics=MEASURES,
                         k=DEPTH, index_name=index_name)
    es = es_report.system("splade-elasticsearch")

    local, osr = systems["splade-local"], systems["splade-opensearch"]
    assert local["metrics"] == osr["metrics"] == es.metrics
    assert local["per_query"] == osr["per_query"] == es.per_query
    assert os_report["n_queries"] == es_report.n_queries == 225
    # the runs themselves: same scores, bit for bit (float32 written with repr), on the first 10 hits
    runs = {n: load_run(out / "runs" / f"{n}.trec") for n in ("splade-local", "splade-opensearch")}
    for qid, hits in runs["splade-local"].items():
        top = sorted(hits.items(), key=lambda h: (-h[1], h[0]))[:10]
        assert all(runs["splade-opensearch"][qid].get(d) == s for d, s in top), qid

    # BM25 is a different model with its own numbers; both engines use Lucene's BM25 on the same text
    bm25_os, bm25_es = systems["bm25-opensearch"]["metrics"], es_report["bm25-elasticsearch"]
    assert bm25_os["nDCG@10"] == pytest.approx(bm25_es["nDCG@10"], abs=0.01)
    assert local["metrics"]["nDCG@10"] != bm25_os["nDCG@10"]
    # the cost columns are filled for SPLADE
    for key in ("mean_query_terms", "mean_doc_terms", "index_bytes_per_doc", "latency_p50_ms"):
        assert osr["cost"][key] > 0, key


def test_ndcg_matches_sentence_transformers(cranfield, tmp_path):
    import torch
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator
    from sentence_transformers.sparse_encoder.modules import MLMTransformer, SpladePooling

    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.models import resolve_model

    report = evaluate(cranfield, local=True, local_mode="exact", metrics=MEASURES, k=DEPTH, out_dir=tmp_path)
    ds = load_beir(cranfield)
    # sentence-transformers' evaluator judges binary relevance (a set of relevant ids per query)
    ours, _ = compute(ds.binary_qrels(), load_run(report.system("splade-local").run_file), ["nDCG@10"])

    max_length = SpladeEncoder.load("splade-tiny").max_length
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model = SparseEncoder(modules=[MLMTransformer(str(resolve_model("splade-tiny")), max_seq_length=max_length),
                                   SpladePooling(pooling_strategy="max")], device="cpu")
    corpus = {did: doc.full_text() for did, doc in ds.corpus.items()}
    relevant = {q: {d for d, r in docs.items() if r > 0} for q, docs in ds.qrels.items()}
    evaluator = SparseInformationRetrievalEvaluator(
        ds.queries, corpus, relevant, batch_size=128, write_csv=False, ndcg_at_k=[10], mrr_at_k=[10],
        accuracy_at_k=[1], precision_recall_at_k=[10], map_at_k=[100])
    theirs = evaluator(model)["dot_ndcg@10"]
    assert ours["nDCG@10"] == pytest.approx(theirs, abs=0.002)
    # graded nDCG (the report's) is a different number: the comparison above really used binary judgments
    assert report["splade-local"]["nDCG@10"] != pytest.approx(ours["nDCG@10"], abs=1e-6)
