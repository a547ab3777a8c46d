"""Report JSON and table, the per-query plot, and evaluate_runs end to end on hand-made runs."""

from __future__ import annotations

import json

import ir_measures
import pytest

from spladekit.datasets import Dataset, Document, Exclusions
from spladekit.evaluation import evaluate_runs
from spladekit.evaluation.plot import per_query_delta, plot_delta
from spladekit.evaluation.report import EvalReport
from spladekit.evaluation.runs import SystemRun


def _dataset() -> Dataset:
    corpus = {f"d{i}": Document("", f"doc {i}") for i in range(6)}
    qrels = {"q1": {"d0": 2, "d1": 1}, "q2": {"d2": 1}, "q3": {"d5": 1}}
    ex = Exclusions()
    ex.note("qrels_unknown_doc", "q1/dx")
    return Dataset("toy", corpus, {q: q for q in qrels}, qrels, ex)


def test_evaluate_runs_writes_runs_report_and_plot(tmp_path):
    ds = _dataset()
    splade = SystemRun("splade-local", {"q1": {"d0": 3.0, "d1": 2.0}, "q2": {"d3": 1.0, "d2": 0.5}},
                       latencies_ms=[1.0, 3.0], query_terms=[4, 6])
    bm25 = SystemRun("bm25-opensearch", {"q1": {"d1": 9.0, "d0": 1.0}, "q2": {"d2": 5.0}, "q3": {"d4": 1.0}},
                     latencies_ms=[2.0, 2.0, 2.0])
    report = evaluate_runs(ds, [splade, bm25], measures=["nDCG@10", "RR@10"], out_dir=tmp_path,
                           cost={"splade-local": {"mean_doc_terms": 50.0, "index_bytes_per_doc": 400.0}})
    # numbers are ir_measures' with q3 (unanswered by splade) as 0
    expected = ir_measures.calc_aggregate([ir_measures.nDCG @ 10], ds.qrels, splade.run)[ir_measures.nDCG @ 10]
    assert report["splade-local"]["nDCG@10"] == pytest.approx(expected)
    assert report.system("splade-local").per_query["q3"] == {"nDCG@10": 0.0, "RR@10": 0.0}
    assert report.system("splade-local").info["unanswered_queries"] == 1
    cost = report.system("splade-local").cost
    assert cost["mean_query_terms"] == 5.0 and cost["latency_p50_ms"] == 2.0 and cost["mean_doc_terms"] == 50.0
    # files
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["exclusions"]["qrels_unknown_doc"] == 1
    assert [s["name"] for s in saved["systems"]] == ["splade-local", "bm25-opensearch"]
    assert EvalReport.load(tmp_path / "report.json").to_dict() == report.to_dict()
    run_lines = (tmp_path / "runs" / "splade-local.trec").read_text().splitlines()
    assert run_lines[0] == "q1 Q0 d0 1 3.0 splade-local"
    png = tmp_path / "per-query-nDCG10.png"
    assert report.files["plot"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # table: every system, every measure, the exclusions
    table = report.table()
    assert "splade-local" in table and "bm25-opensearch" in table and "RR@10" in table
    assert "qrels_unknown_doc=1" in table
    assert report.markdown().count("\n") == 3


def test_plot_written_and_sorted(tmp_path):
    a = {"1": {"nDCG@10": 0.9}, "2": {"nDCG@10": 0.1}, "3": {"nDCG@10": 0.5}}
    b = {"1": {"nDCG@10": 0.3}, "2": {"nDCG@10": 0.6}, "3": {"nDCG@10": 0.5}}
    assert [q for q, _ in per_query_delta(a, b, "nDCG@10")] == ["2", "3", "1"]
    path = plot_delta(a, b, tmp_path / "sub" / "p.png", title="t")
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_unknown_system_and_measure():
    report = evaluate_runs(_dataset(), [SystemRun("x", {})], measures=["AP"])
    assert report["x"] == {"AP": 0.0}
    with pytest.raises(KeyError, match="systems: x"):
        report.system("y")
