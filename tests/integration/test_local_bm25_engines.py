"""The local index's BM25 against the real engines: the same tokens as their ``standard`` analyzer, the same BM25
scores on a real collection (cranfield), the same quality, and a local hybrid equal to the engine's fusion."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from spladekit.datasets import load_beir
from spladekit.evaluation import evaluate, load_run
from spladekit.local.text import analyze

REPO = Path(__file__).resolve().parents[2]
CRANFIELD = REPO / "datasets" / "cranfield"
DBPEDIA = REPO / "datasets" / "dbpedia-entity-sub5k"
DEPTH = 100


def _engine_tokens(url: str, text: str) -> list[str]:
    req = urllib.request.Request(f"{url}/_analyze", data=json.dumps({"analyzer": "standard", "text": text}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return [t["token"] for t in json.load(resp)["tokens"]]


def test_analyzer_gives_the_engines_standard_tokens(engine):
    # Cranfield (English): all alike. Dbpedia (names in many scripts): at most 1 in 200 apart, the rare UAX #29
    # rules spladekit.local.text leaves out (measured: 1 of 500, a Khmer digit after Khmer letters).
    for folder, n, tolerated in ((CRANFIELD, None, 0), (DBPEDIA, 500, 0.005)):
        texts = [t for doc in list(load_beir(folder).corpus.values())[:n] for t in (doc.title, doc.text) if t]
        differ = [t for t in texts if analyze(t) != _engine_tokens(engine.url, t)]
        assert len(texts) >= 1000
        assert len(differ) <= tolerated * len(texts), f"{len(differ)} of {len(texts)} differ, e.g. {differ[:2]}"


@pytest.fixture(scope="module")
def local_report(tmp_path_factory, default_encoder):
    out = tmp_path_factory.mktemp("bm25-local")
    return evaluate(CRANFIELD, local=True, bm25=True, hybrid=True, encoder=default_encoder, k=DEPTH,
                    metrics=["nDCG@10", "R@100"], out_dir=out)


def test_local_bm25_and_hybrid_equal_the_engines_on_cranfield(engine, index_name, local_report, default_encoder,
                                                              tmp_path):
    eng = evaluate(CRANFIELD, engine_url=engine.url, local=False, bm25=True, hybrid=True, encoder=default_encoder,
                   k=DEPTH, metrics=["nDCG@10", "R@100"], index_name=index_name, out_dir=tmp_path)
    local = {s.name: s for s in local_report.systems}
    remote = {s.name: s for s in eng.systems}
    bm25_local, bm25_engine = load_run(local["bm25-local"].run_file), load_run(remote[f"bm25-{engine.engine}"].run_file)
    assert set(bm25_local) == set(bm25_engine) and len(bm25_local) == 225
    for qid, hits in bm25_engine.items():
        mine = bm25_local[qid]
        # Same documents with the same float32 scores (the sum's last bit may differ: clause order).
        assert set(mine) == set(hits), qid
        for doc, score in hits.items():
            assert mine[doc] == pytest.approx(score, rel=1e-6, abs=1e-6), (qid, doc)
    ndcg = {name: s.metrics["nDCG@10"] for name, s in {**local, **remote}.items()}
    assert abs(ndcg["bm25-local"] - ndcg[f"bm25-{engine.engine}"]) <= 0.02
    assert ndcg["bm25-local"] == pytest.approx(ndcg[f"bm25-{engine.engine}"], abs=1e-4)
    # Hybrid: the same fusion (spladekit.fusion) of the same inputs gives the same run.
    for name in ("hybrid-rrf", "hybrid-weighted"):
        mine, theirs = load_run(local[name].run_file), load_run(remote[name].run_file)
        for qid, hits in theirs.items():
            assert list(mine[qid]) == list(hits) or mine[qid] == pytest.approx(hits, abs=1e-6), (name, qid)
            assert mine[qid] == pytest.approx(hits, rel=1e-5, abs=1e-6), (name, qid)
        assert local[name].metrics["nDCG@10"] == pytest.approx(remote[name].metrics["nDCG@10"], abs=1e-4)
