"""``spladekit parity``: the same query vectors on an engine index and the local index; exit 1 on any mismatch."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from spladekit.cli._common import USER_HELP, engine_auth, friendly_errors


@click.command("parity")
@click.option("--engine", "engine_url", required=True, metavar="URL", help="The engine holding --index.")
@click.option("--index", "index_name", required=True, metavar="NAME", help="Engine index to check.")
@click.option("--local", "local_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Local index (lucene mode) built from the same document vectors.")
@click.option("--queries", "queries_file", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Queries: JSONL ({'_id', 'text'}, BEIR queries.jsonl) or TSV (qid, text).")
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(1), help="Top-k compared.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON report here (per query: ids, scores, overlap@k, max score difference).")
@click.option("--model", default=None, help="Query encoder [default: the local index's model].")
@click.option("--user", envvar="SPLADEKIT_ENGINE_USER", help=USER_HELP)
@click.option("--api-key", envvar="SPLADEKIT_ENGINE_API_KEY", help="Engine API key [env SPLADEKIT_ENGINE_API_KEY].")
@click.option("--silent", is_flag=True, help="No progress bar.")
@friendly_errors
def parity(engine_url: str, index_name: str, local_dir: Path, queries_file: Path, k: int,
           report_path: Path | None, model: str | None, user: str | None,
           api_key: str | None, silent: bool) -> None:
    """Check that an engine index scores exactly like the local reference index.

    For each query: top-k ids on both, overlap@k, and the largest |engine score - float32 reference score|.
    Exit status 1 when any query's top-k differs beyond tied scores or any score differs.
    """
    from spladekit.parity import parity as run_parity

    connect = engine_auth(user, api_key)
    result = run_parity(engine_url=engine_url, index=index_name, local_dir=local_dir, queries=queries_file, k=k,
                        model=model, report=report_path, progress=not silent, **connect)
    s = result.summary()
    click.echo(f"{result.engine} {index_name} vs {local_dir}: {s['agree']}/{s['queries']} queries agree "
               f"({100 * s['parity']:.1f}%), mean overlap@{k} {s['mean_overlap_at_k']:.4f}, "
               f"max |score diff| {s['max_score_diff']:.3g}")
    for q in result.queries:
        if not q.ok:
            click.echo(f"  query {q.qid}: " + "; ".join(q.problems), err=True)
    if report_path:
        click.echo(f"report: {report_path}", err=True)
    if not result.ok:
        sys.exit(1)
