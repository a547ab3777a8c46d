"""``spladekit parity``: the same query vectors on an engine index and the local index; exit 1 on any mismatch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from spladekit.cli._common import connect_kwargs, connection_options, friendly_errors, report_option, write_report


@click.command("parity", epilog="Exit status: 0 every query agrees; 1 a query disagrees (or an error); 2 usage error.")
@click.option("--engine", "engine_url", required=True, metavar="URL", help="The engine holding --index.")
@click.option("--index", "index_name", required=True, metavar="NAME", help="Engine index to check.")
@click.option("--local", "local_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Local index (lucene mode) built from the same document vectors.")
@click.option("--queries", "queries_file", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Queries: JSONL ({'_id', 'text'}, BEIR queries.jsonl) or TSV (qid, text).")
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(1), help="Top-k compared.")
@click.option("--two-phase", is_flag=True, help="Compare two-phase searches (first pass + rescore) instead of exact.")
@click.option("--first-pass-terms", default=None, type=click.IntRange(1), help="Two-phase: first-pass tokens [10].")
@click.option("--window", default=None, type=click.IntRange(1), help="Two-phase: rescore window [100].")
@report_option
@click.option("--model", default=None, help="Query encoder [default: the local index's model].")
@connection_options
@click.option("--silent", is_flag=True, help="No progress bar.")
@friendly_errors
def parity(engine_url: str, index_name: str, local_dir: Path, queries_file: Path, k: int, two_phase: bool,
           first_pass_terms: int | None, window: int | None, report_path: Path | None, model: str | None,
           connection: dict[str, Any], silent: bool) -> None:
    """Check that an engine index scores exactly like the local reference index.

    For each query: top-k ids on both, overlap@k, and the largest |engine score - float32 reference score|.
    Exit status 1 when any query's top-k differs beyond tied scores or any score differs.
    """
    from spladekit.parity import parity as run_parity
    from spladekit.query import TwoPhase

    if (first_pass_terms or window) and not two_phase:
        raise click.UsageError("--first-pass-terms and --window apply to --two-phase only")
    plan = None
    if two_phase:
        plan = TwoPhase(top_k=first_pass_terms or TwoPhase.top_k, window=window or TwoPhase.window)
        if k > plan.window:
            raise click.BadParameter(f"-k {k} is above the two-phase window ({plan.window})", param_hint="-k")
    result = run_parity(engine_url=engine_url, index=index_name, local_dir=local_dir, queries=queries_file, k=k,
                        two_phase=plan, model=model, report=report_path, progress=not silent,
                        **connect_kwargs(connection))
    s = result.summary()
    click.echo(f"{result.engine} {index_name} vs {local_dir} ({result.mode}): {s['agree']}/{s['queries']} queries "
               f"agree ({100 * s['parity']:.1f}%), mean overlap@{k} {s['mean_overlap_at_k']:.4f}, "
               f"max |score diff| {s['max_score_diff']:.3g}")
    for q in result.queries:
        if not q.ok:
            click.echo(f"  query {q.qid}: " + "; ".join(q.problems), err=True)
    write_report(report_path, result.to_dict())
    if not result.ok:
        sys.exit(1)
