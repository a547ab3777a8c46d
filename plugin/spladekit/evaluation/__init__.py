"""Retrieval evaluation: SPLADE (local index, engine) beside BM25 and hybrid fusion on a BEIR test collection.

:func:`evaluate` loads the collection (:mod:`spladekit.datasets`), builds or reuses the indexes with ingest
(:mod:`.build`), runs every query against every requested system through the same searcher as ``spladekit
search`` (:mod:`.runs`), scores the runs with ir_measures
(:mod:`.metrics`), and writes TREC runs, a JSON report with quality beside cost (:mod:`.report`) and a
per-query SPLADE-minus-BM25 plot (:mod:`.plot`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spladekit.datasets import Dataset, DataWarning, Exclusions, load_beir, load_qrels
from spladekit.encoder.runtime import SpladeEncoder
from spladekit.engines import connect, safe_url
from spladekit.errors import InputError
from spladekit.evaluation import build
from spladekit.evaluation.metrics import DEFAULT_MEASURES, compute, parse_measures
from spladekit.evaluation.plot import plot_delta
from spladekit.evaluation.report import EvalReport, SystemResult
from spladekit.evaluation.runs import SystemRun, run_bm25, run_hybrid, run_splade
from spladekit.evaluation.trec import load_run, write_run
from spladekit.fusion import HYBRID_WINDOW
from spladekit.search import Searcher, check_query_encoder
from spladekit.vectors import Pruning

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
    "write_run",
]

#: Weight of SPLADE in the weighted hybrid (BM25 gets 1 - alpha); the CLI's default too.
HYBRID_ALPHA = 0.5


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
        raise InputError(f"run files must have distinct names (file stems), got {names}")
    return evaluate_runs(dataset, runs, measures=metrics, out_dir=out_dir)


def _plot_if_possible(report: EvalReport, out: Path, measure: str) -> None:
    if measure not in report.measures:
        return
    splade = next((s for s in report.systems if s.name.startswith("splade")), None)
    bm25 = next((s for s in report.systems if s.name.startswith("bm25")), None)
    if splade is None or bm25 is None:
        return
    try:
        path = plot_delta(splade.per_query, bm25.per_query, out / f"per-query-{measure.replace('@', '')}.png",
                          measure=measure, label_a=splade.name, label_b=bm25.name,
                          title=f"{report.dataset}: {splade.name} − {bm25.name}, {measure} per query")
    except ImportError:  # matplotlib (a dev dependency) is missing: the plot is optional
        return
    report.files["plot"] = str(path)


def _text_runs(searcher: Searcher, splade_name: str, kind: str, queries: dict[str, str], qvecs: dict, k: int, *,
               bm25: bool, hybrid: bool, window: int, progress: bool) -> list[SystemRun]:
    """BM25 (with ``bm25`` or ``hybrid``) and the two hybrid fusions (with ``hybrid``) on one searcher's index."""
    out: list[SystemRun] = []
    if bm25 or hybrid:
        out.append(run_bm25(f"bm25-{kind}", searcher, queries, k, progress=progress))
    if hybrid:
        for name, fusion in (("hybrid-rrf", "rrf"), ("hybrid-weighted", "weighted")):
            hr = run_hybrid(name, searcher, queries, qvecs, k, fusion=fusion, alpha=HYBRID_ALPHA, window=window,
                            progress=progress)
            hr.info["inputs"] = [splade_name, f"bm25-{kind}"]
            out.append(hr)
    return out


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
    encoder: Any = None,
    split: str = "test",
    qrels_path: str | Path | None = None,
    encoding: str = "utf-8",
    decode_errors: str = "strict",
    k: int = 1000,
    local_mode: str = "lucene",
    index_name: str | None = None,
    rebuild: bool = False,
    progress: bool = False,
    max_length: int | None = None,
    long_text: str = "truncate",
    max_windows: int | None = None,
    window: int = HYBRID_WINDOW,
    backend: str = "onnx",
    device: str = "cpu",
    dtype: str = "float32",
    doc_prune: Pruning | str | dict[str, Any] | None = None,
    inference_free: bool = False,
    **connect_options: Any,
) -> EvalReport:
    """Evaluate SPLADE (local and/or engine), and optionally BM25 and hybrid, on a BEIR folder.

    ``local``: SPLADE on the embedded index (``local_mode`` "lucene" scores as the engines do, "exact" with
    unquantized weights). ``engine_url``: SPLADE on that engine (index ``index_name``, default
    ``spladekit-eval-<dataset>``), and BM25 on its ``text`` field with ``bm25``. Without an engine, ``bm25`` and
    ``hybrid`` run on the local index (``bm25-local``; its BM25 scores as the engines'). ``hybrid`` fuses SPLADE
    (the engine's, else the local index's) with BM25 by RRF and by the weighted sum, exactly as ``spladekit
    search --hybrid -k K`` does
    (each side ``max(k, window)`` deep). Indexes are built with :func:`spladekit.ingest.ingest` and reused while
    they hold this corpus encoded this way; ``rebuild`` forces a rebuild. ``k`` is the run depth per query.
    ``max_length``/``long_text``/``max_windows``: how documents are encoded (see
    :class:`spladekit.encoder.SpladeEncoder`); the report counts truncated documents and dropped tokens.
    ``backend``/``device``/``dtype``: the encoder's runtime (``SpladeEncoder.load``). ``encoding`` and
    ``decode_errors``: how corpus.jsonl and queries.jsonl are decoded, as ingest reads them
    (:class:`spladekit.readers.Decoding`; by default a line that is not UTF-8 is excluded and counted).
    ``doc_prune``: static pruning of the documents at ingest (``ingest(doc_prune=...)``; the pruned indexes are
    built beside the full ones, from the same encoded corpus). ``inference_free``: queries weighted by the model
    card's table or each index's own IDF, no transformer (``search --inference-free``).
    ``connect_options`` (``user``, ``password``, ``api_key``, ``ca_certs``, ``verify_certs``) reach the engine.
    """
    if local_mode not in ("lucene", "exact"):
        raise ValueError(f"local_mode must be 'lucene' or 'exact', got {local_mode!r}")
    if k < 1:
        raise ValueError(f"k (run depth) must be >= 1, got {k}")
    if (bm25 or hybrid) and not engine_url and not local:
        raise InputError("BM25 and hybrid runs need an index: the local index (local=True) or an engine (engine_url)")
    if not local and not engine_url:
        raise InputError("nothing to evaluate: enable the local index, or give an engine URL")
    measures = list(metrics)
    parse_measures(measures)
    rule = Pruning.of(doc_prune)
    dataset = load_beir(dataset_dir, split, qrels_path=qrels_path, encoding=encoding, decode_errors=decode_errors)
    if encoder is None:
        encoder = SpladeEncoder.load(model, max_length=max_length, long_text=long_text, max_windows=max_windows,
                                     backend=backend, device=device, dtype=dtype)
    ident = encoder.identity()
    qvecs, encode_ms = build.encode_queries(encoder, dataset.queries, progress=progress)
    docs = build.DocVectors(encoder, dataset, progress=progress, rebuild=rebuild)
    docs.batch  # noqa: B018 - encode (or load) the corpus once, before any index is built from it

    def system_queries(searcher: Searcher) -> tuple[dict, list[float]]:
        # Inference-free query vectors depend on the index (its IDF): encoded per system, after it is built.
        return build.encode_queries(searcher.encoder, dataset.queries) if inference_free else (qvecs, encode_ms)

    runs: list[SystemRun] = []
    cost: dict[str, dict] = {}
    if local:
        where, local_cost = build.local_index(docs, mode=local_mode, rebuild=rebuild, doc_prune=rule)
        searcher = Searcher(local_dir=where, encoder=encoder, inference_free=inference_free)
        check_query_encoder(searcher.meta, searcher.encoder, f"the local index at {where}")
        vectors, ms = system_queries(searcher)
        sr = run_splade("splade-local", searcher, vectors, k, progress=progress)
        sr.info["mode"] = local_mode
        runs.append(sr)
        cost[sr.name] = {**local_cost, "encode_p50_ms": build.p50(ms)}
        if not engine_url:
            runs.extend(_text_runs(searcher, sr.name, "local", dataset.queries, vectors, k, bm25=bm25, hybrid=hybrid,
                                   window=window, progress=progress))
    engine = None
    if engine_url:
        engine = connect(engine_url, index_name or build.default_index_name(dataset, rule), names=encoder.names,
                         **connect_options)
        engine_cost = build.engine_index(engine, docs, rebuild=rebuild, doc_prune=rule, **connect_options)
        searcher = Searcher(engine_index=engine, encoder=encoder, inference_free=inference_free)
        vectors, ms = system_queries(searcher)
        kind = engine.engine
        sr = run_splade(f"splade-{kind}", searcher, vectors, k, progress=progress)
        runs.append(sr)
        cost[sr.name] = {**engine_cost, "encode_p50_ms": build.p50(ms)}
        text_runs = _text_runs(searcher, sr.name, kind, dataset.queries, vectors, k, bm25=bm25, hybrid=hybrid,
                               window=window, progress=progress)
        runs.extend(text_runs)
        for tr in text_runs:
            if tr.name.startswith("bm25-"):
                cost[tr.name] = {"index_bytes_per_doc": engine_cost.get("index_bytes_per_doc")}
    stats = docs.stats
    n_docs = max(len(docs.ids), 1)
    encode_counts = {**stats.to_dict(), "max_length": ident.max_length, "long_text": ident.long_text,
                "truncated_fraction": round(stats.truncated / n_docs, 6)}
    settings = {"k": k, "local_mode": local_mode if local else None, "split": split,
                "doc_prune": str(rule) if rule is not None else None, "inference_free": inference_free,
                "engine_url": safe_url(engine_url) if engine_url else None,
                "index": engine.index if engine is not None else None, "hybrid_window": window,
                "hybrid_alpha": HYBRID_ALPHA, "encoding": encode_counts,
                "input": {"encoding": dataset.decoding.encoding, "decode_errors": dataset.decoding.errors,
                          "repaired_lines": dataset.repaired}}
    if rule is not None:
        ident = dataclasses.replace(ident, doc_prune=str(rule))
    model_info = {**ident.to_meta(), "export_revision": getattr(encoder, "info", {}).get("export_revision")}
    return evaluate_runs(dataset, runs, measures=measures, out_dir=out_dir, cost=cost, model=model_info,
                         settings=settings)
