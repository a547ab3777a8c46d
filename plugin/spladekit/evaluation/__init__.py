"""Retrieval evaluation: SPLADE (local index, engine) beside BM25 and hybrid fusion on a BEIR test collection.

:func:`evaluate` loads the collection (:mod:`.datasets`), builds or reuses the indexes (:mod:`.build`), runs
every query against every requested system (:mod:`.runs`), scores the runs with ir_measures
(:mod:`.metrics`), and writes TREC runs, a JSON report with quality beside cost (:mod:`.report`) and a
per-query SPLADE-minus-BM25 plot (:mod:`.plot`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from spladekit.evaluation.datasets import Dataset, DataWarning, Exclusions, load_beir, load_qrels, load_run, write_run
from spladekit.evaluation.metrics import DEFAULT_MEASURES, compute, parse_measures
from spladekit.evaluation.report import EvalReport, SystemResult
from spladekit.evaluation.runs import SystemRun, rrf, weighted_sum

__all__ = [
    "DEFAULT_MEASURES",
    "DataWarning",
    "Dataset",
    "EvalReport",
    "Exclusions",
    "SystemResult",
    "SystemRun",
    "compute",
    "evaluate",
    "evaluate_run_files",
    "evaluate_runs",
    "load_beir",
    "load_qrels",
    "load_run",
    "rrf",
    "weighted_sum",
    "write_run",
]

#: Hybrid weights for (SPLADE, BM25) in the weighted-sum fusion; equal by default, recorded in the report.
HYBRID_WEIGHTS = (0.5, 0.5)


def evaluate_runs(
    dataset: Dataset,
    system_runs: Sequence[SystemRun],
    *,
    measures: Sequence[str] = DEFAULT_MEASURES,
    out_dir: str | Path | None = None,
    cost: dict[str, dict] | None = None,
    plot_measure: str = "nDCG@10",
    model: dict | None = None,
    settings: dict | None = None,
) -> EvalReport:
    """Score finished runs against ``dataset``'s judgments; with ``out_dir``, write runs, report and plot."""
    measures = list(measures)
    parse_measures(measures)  # fail before any work on an unknown name
    report = EvalReport(dataset.name, n_docs=len(dataset.corpus), n_queries=len(dataset.qrels), measures=measures,
                        exclusions=dataset.exclusions.as_dict(), model=dict(model or {}),
                        settings=dict(settings or {}))
    out = Path(out_dir) if out_dir is not None else None
    for sr in system_runs:
        agg, per_query = compute(dataset.qrels, sr.run, measures)
        unanswered = sum(1 for q in dataset.qrels if not sr.run.get(q))
        c = {"mean_query_terms": sr.mean_query_terms(), "latency_p50_ms": sr.latency_p50_ms(),
             **(cost or {}).get(sr.name, {})}
        result = SystemResult(sr.name, agg, per_query, c, info={**sr.info, "unanswered_queries": unanswered})
        if out is not None:
            result.run_file = str(write_run(sr.run, out / "runs" / f"{sr.name}.trec", tag=sr.name))
        report.systems.append(result)
    if out is not None:
        _plot_if_possible(report, out, plot_measure)
        report.files["report"] = str(out / "report.json")
        report.save(out / "report.json")
    return report


def evaluate_run_files(
    dataset_dir: str | Path,
    run_files: Sequence[str | Path],
    *,
    metrics: Sequence[str] = DEFAULT_MEASURES,
    out_dir: str | Path | None = None,
    split: str = "test",
    qrels_path: str | Path | None = None,
) -> EvalReport:
    """Score existing TREC run files (named after their file stem) against a BEIR folder's judgments."""
    dataset = load_beir(dataset_dir, split, qrels_path=qrels_path)
    runs = [SystemRun(Path(f).stem, load_run(f)) for f in run_files]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        from spladekit.errors import InputError

        raise InputError(f"run files must have distinct names (file stems), got {names}")
    return evaluate_runs(dataset, runs, measures=metrics, out_dir=out_dir)


def _safe_url(url: str) -> str:
    # the report is a file people share: never write credentials given in the URL
    from spladekit.engines import safe_url

    return safe_url(url)


def _plot_if_possible(report: EvalReport, out: Path, measure: str) -> None:
    if measure not in report.measures:
        return
    splade = next((s for s in report.systems if s.name.startswith("splade")), None)
    bm25 = next((s for s in report.systems if s.name.startswith("bm25")), None)
    if splade is None or bm25 is None:
        return
    from spladekit.evaluation.plot import plot_delta

    path = plot_delta(splade.per_query, bm25.per_query, out / f"per-query-{measure.replace('@', '')}.png",
                      measure=measure, label_a=splade.name, label_b=bm25.name,
                      title=f"{report.dataset}: {splade.name} − {bm25.name}, {measure} per query")
    report.files["plot"] = str(path)


def evaluate(
    dataset_dir: str | Path,
    *,
    engine_url: str | None = None,
    local: bool = True,
    bm25: bool = False,
    hybrid: bool = False,
    metrics: Sequence[str] = DEFAULT_MEASURES,
    out_dir: str | Path | None = None,
    model: str = "splade-tiny",
    split: str = "test",
    qrels_path: str | Path | None = None,
    k: int = 1000,
    local_mode: str = "lucene",
    index_name: str | None = None,
    rebuild: bool = False,
    progress: bool = False,
    engine_options: dict | None = None,
) -> EvalReport:
    """Evaluate SPLADE (local and/or engine), and optionally BM25 and hybrid, on a BEIR folder.

    ``local``: SPLADE on the embedded index (``local_mode`` "lucene" scores as the engines do, "exact" with
    unquantized weights). ``engine_url``: SPLADE on that engine (index ``index_name``, default
    ``spladekit-eval-<dataset>``), and BM25 on its ``text`` field with ``bm25``. ``hybrid`` fuses the SPLADE
    run (engine if given, else local) with BM25 on the client, by RRF and by weighted sum (needs an engine
    for BM25). Indexes are reused when they hold this corpus encoded by this model; ``rebuild`` forces a
    rebuild. ``k`` is the run depth per query. ``qrels_path`` replaces ``qrels/<split>.tsv`` by another
    judgments file (BEIR tsv or TREC qrels).
    """
    from spladekit.evaluation import build
    from spladekit.evaluation.runs import run_engine_bm25, run_engine_splade, run_local

    if local_mode not in ("lucene", "exact"):
        raise ValueError(f"local_mode must be 'lucene' or 'exact', got {local_mode!r}")
    if k < 1:
        raise ValueError(f"k (run depth) must be >= 1, got {k}")
    if (bm25 or hybrid) and not engine_url:
        from spladekit.errors import InputError

        raise InputError("BM25 and hybrid runs need an engine: pass engine_url (CLI: --engine URL)")
    if not local and not engine_url and not bm25:
        from spladekit.errors import InputError

        raise InputError("nothing to evaluate: enable the local index, or give an engine URL")
    measures = list(metrics)
    parse_measures(measures)
    dataset = load_beir(dataset_dir, split, qrels_path=qrels_path)
    out = Path(out_dir) if out_dir is not None else None

    runs: list[SystemRun] = []
    cost: dict[str, dict] = {}
    model_info: dict = {}
    splade_for_hybrid: SystemRun | None = None
    need_splade = local or engine_url is not None
    if need_splade:
        enc = build.load_encoder(model)
        model_info = build.model_info(enc)
        qvecs, encode_ms = build.encode_queries(enc, dataset.queries, progress=progress)
        docs = build.DocVectors(enc, dataset, progress=progress, rebuild=rebuild)
        if local:
            idx, local_cost = build.local_index(dataset, docs, model_info, mode=local_mode, rebuild=rebuild)
            sr = run_local(idx, qvecs, k, name="splade-local", progress=progress)
            sr.info["mode"] = local_mode
            runs.append(sr)
            cost[sr.name] = {**local_cost, "encode_p50_ms": build.p50(encode_ms)}
            splade_for_hybrid = sr
    engine = None
    if engine_url:
        engine = build.engine_index(engine_url, index_name or build.default_index_name(dataset),
                                    names=enc.names, **(engine_options or {}))
        kind = build.engine_kind(engine)
        engine_cost = build.ensure_engine_index(engine, dataset, docs, model_info, encoder=enc, rebuild=rebuild,
                                                progress=progress)
        sr = run_engine_splade(engine, qvecs, k, name=f"splade-{kind}", progress=progress)
        runs.append(sr)
        cost[sr.name] = {**engine_cost, "encode_p50_ms": build.p50(encode_ms)}
        splade_for_hybrid = sr
        if bm25 or hybrid:
            br = run_engine_bm25(engine, dataset.queries, k, name=f"bm25-{kind}", progress=progress)
            runs.append(br)
            cost[br.name] = {"index_bytes_per_doc": engine_cost.get("index_bytes_per_doc")}
            if hybrid and splade_for_hybrid is not None:
                runs.append(SystemRun("hybrid-rrf", rrf([splade_for_hybrid.run, br.run], depth=k),
                                      info={"fusion": "rrf", "k": 60, "inputs": [splade_for_hybrid.name, br.name]}))
                runs.append(SystemRun(
                    "hybrid-wsum",
                    weighted_sum([splade_for_hybrid.run, br.run], HYBRID_WEIGHTS, depth=k),
                    info={"fusion": "weighted_sum of min-max normalised scores", "weights": list(HYBRID_WEIGHTS),
                          "inputs": [splade_for_hybrid.name, br.name]}))
    settings = {"k": k, "local_mode": local_mode if local else None, "split": split,
                "engine_url": _safe_url(engine_url) if engine_url else None,
                "index": engine.index if engine is not None else None}
    report = evaluate_runs(dataset, runs, measures=measures, out_dir=out, cost=cost, model=model_info,
                           settings=settings)
    return report
