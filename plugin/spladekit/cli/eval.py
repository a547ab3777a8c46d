"""``spladekit eval``: SPLADE (local or engine) beside BM25 and hybrid on a BEIR folder."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click

from spladekit.cli._common import (
    DOC_PRUNE_HELP,
    PruningRule,
    connect_kwargs,
    connection_options,
    decoding_options,
    encoder_options,
    friendly_errors,
    report_option,
    write_report,
)


@click.command("eval", epilog="Exit status: 0 the evaluation ran (excluded input is listed, not an error); 1 error; "
               "2 usage error.")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--engine", "engine_url", metavar="URL", help="Evaluate SPLADE (and --bm25) on this engine.")
@click.option("--local/--no-local", "local", default=None,
              help="Evaluate SPLADE on the embedded local index (default: on unless --engine is given).")
@click.option("--bm25", is_flag=True, help="Add BM25 (a match query on the text field): on --engine if given, "
              "else on the local index (the same BM25).")
@click.option("--hybrid", is_flag=True, help="Add SPLADE+BM25 fusion (RRF and weighted), as search --hybrid does.")
@click.option("--metrics", "metrics", multiple=True, metavar="MEASURE",
              help="ir_measures names, repeatable or space separated [default: nDCG@10 RR@10 R@100 AP].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write TREC runs, report.json and the per-query plot here.")
@report_option
@click.option("--model", default="splade-tiny", show_default=True, help="Model name or directory.")
@click.option("--max-length", type=click.IntRange(8), default=None,
              help="Tokens per window for documents and queries [default: the model's own].")
@click.option("--long-text", type=click.Choice(["truncate", "split"]), default="truncate", show_default=True,
              help="Documents longer than --max-length: cut, or encoded whole as max-pooled windows.")
@click.option("--max-windows", type=click.IntRange(1), default=None, help="With --long-text split: windows per doc.")
@click.option("--doc-prune", type=PruningRule(), default=None,
              help=DOC_PRUNE_HELP.split(" Recorded")[0] + " (pruned indexes are built beside the full ones).")
@click.option("--inference-free", is_flag=True,
              help="Queries weighted by the model card's table or the index's IDF, no transformer on the query path.")
@click.option("--split", default="test", show_default=True, help="Qrels split: qrels/<split>.tsv.")
@click.option("--qrels", "qrels_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Judgments file to use instead (BEIR tsv or TREC qrels).")
@click.option("--run", "run_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Score this TREC run file instead of searching (repeatable; named after the file).")
@click.option("-k", "--depth", "k", default=1000, show_default=True, type=click.IntRange(1),
              help="Documents retrieved per query.")
@click.option("--mode", "local_mode", type=click.Choice(["lucene", "exact"]), default="lucene", show_default=True,
              help="Local scoring: as the engines do (lucene) or with unquantized weights (exact).")
@click.option("--index", "index_name", metavar="NAME", help="Engine index [default: spladekit-eval-<dataset>].")
@click.option("--rebuild", is_flag=True, help="Re-encode and re-index even when a matching index exists.")
@decoding_options
@encoder_options
@connection_options
@click.option("--silent", is_flag=True, help="No progress bars.")
@friendly_errors
def eval_(dataset_dir: Path, engine_url: str | None, local: bool | None, bm25: bool, hybrid: bool,
          metrics: tuple[str, ...], out_dir: Path | None, report_path: Path | None, model: str,
          max_length: int | None, long_text: str, max_windows: int | None, doc_prune: Any, inference_free: bool,
          split: str, qrels_path: Path | None,
          run_files: tuple[Path, ...], k: int, local_mode: str, index_name: str | None, rebuild: bool,
          decoding: dict[str, str], runtime: dict[str, str], connection: dict[str, Any], silent: bool) -> None:
    """Evaluate retrieval on DATASET_DIR (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

    Searches with SPLADE on the local index and/or an engine (plus BM25 and hybrid), or, with --run,
    scores existing TREC run files.

    Prints a table of quality (ir_measures) beside cost; unanswered queries count 0. Excluded input
    (malformed lines, judgments on unknown documents, queries without judgments) is warned about and listed.
    """
    from spladekit.evaluation import DEFAULT_MEASURES, DataWarning, evaluate, evaluate_run_files

    if max_windows is not None and long_text != "split":
        raise click.UsageError("--max-windows applies to --long-text split only")
    measures = [m for arg in metrics for m in arg.split()] or list(DEFAULT_MEASURES)
    if local is None:
        local = engine_url is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if run_files:
            report = evaluate_run_files(dataset_dir, run_files, metrics=measures, out_dir=out_dir, split=split,
                                        qrels_path=qrels_path)
        else:
            connect = connect_kwargs(connection, with_timeout=False) if engine_url else {}
            report = evaluate(dataset_dir, engine_url=engine_url, local=local, bm25=bm25, hybrid=hybrid,
                              metrics=measures, out_dir=out_dir, model=model, split=split, qrels_path=qrels_path,
                              k=k, local_mode=local_mode, index_name=index_name, rebuild=rebuild,
                              progress=not silent, max_length=max_length, long_text=long_text,
                              max_windows=max_windows, doc_prune=doc_prune, inference_free=inference_free,
                              **decoding, **runtime, **connect)
    for w in caught:
        if issubclass(w.category, DataWarning) or issubclass(w.category, UserWarning):
            click.echo(f"warning: {w.message}", err=True)
    click.echo(report.table())
    encoding = report.settings.get("encoding") or {}
    if encoding.get("texts"):
        click.echo(f"documents: {encoding['texts']} encoded at {encoding['max_length']} tokens ({encoding['long_text']}"
                   f"): {encoding['truncated']} truncated, {encoding['tokens_dropped']} tokens dropped, "
                   f"{encoding['windows']} windows", err=True)
    write_report(report_path, report.to_dict(per_query=False))
    for what, path in report.files.items():
        click.echo(f"{what}: {path}", err=True)
