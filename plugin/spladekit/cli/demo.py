"""``spladekit demo``: the quick start's main job on the embedded default (local index, default model)."""

from __future__ import annotations

from pathlib import Path

import click

from spladekit.cli._common import friendly_errors
from spladekit.demo import DEFAULT_CORPUS, DEFAULT_DEMO_INDEX, DEFAULT_QUERIES, run_demo


@click.command("demo")
@click.option("--corpus", type=click.Path(dir_okay=True, path_type=Path), default=DEFAULT_CORPUS,
              show_default=True, help="Corpus to ingest (JSONL, BEIR folder, CSV/TSV, Parquet).")
@click.option("--local", "local_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_DEMO_INDEX, show_default=True, help="Local index folder.")
@click.option("--query", "-q", "queries", multiple=True, help="Query to run (repeatable) [default: three samples].")
@click.option("-k", "k", default=3, show_default=True, type=click.IntRange(1), help="Hits per query.")
@click.option("--model", default="splade-tiny", show_default=True, help="Model name, HF id or directory.")
@friendly_errors
def demo(corpus: Path, local_dir: Path, queries: tuple[str, ...], k: int, model: str) -> None:
    """Ingest a sample corpus into the local index, search it, and show why each hit matched."""
    from spladekit.cli.search import format_hits

    result = run_demo(corpus, local_dir=local_dir, queries=queries or DEFAULT_QUERIES, k=k, model=model)
    r = result.ingest_report
    click.echo(f"ingested {corpus} into {local_dir}: read={r.read} indexed={r.indexed} failed={r.failed_total} "
               f"({r.docs_per_s:.0f} docs/s)")
    for query, hits in result.results:
        click.echo(f"\nquery: {query}")
        click.echo(format_hits(hits, "table"))
