"""``spladekit demo``: the quick start's main job on the embedded default (local index, default model)."""

from __future__ import annotations

from pathlib import Path

import click

from spladekit.cli._common import friendly_errors
from spladekit.demo import DEFAULT_CORPUS, DEFAULT_DEMO_INDEX, run_demo


@click.command("demo")
@click.option("--corpus", type=click.Path(dir_okay=True, path_type=Path), default=DEFAULT_CORPUS,
              show_default=True, help="Corpus to ingest (JSONL, BEIR folder, CSV/TSV, Parquet).")
@click.option("--local", "local_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_DEMO_INDEX, show_default=True, help="Local index folder.")
@click.option("--query", "-q", "queries", multiple=True,
              help="Query to run (repeatable) [default: the three in ingest/sample_queries.jsonl].")
@click.option("-k", "k", default=3, show_default=True, type=click.IntRange(1), help="Hits per query.")
@click.option("--model", default="splade-tiny", show_default=True, help="Model name, HF id or directory.")
@friendly_errors
def demo(corpus: Path, local_dir: Path, queries: tuple[str, ...], k: int, model: str) -> None:
    """Ingest a sample corpus into the local index, search it, and show why each hit matched."""
    result = run_demo(corpus, local_dir=local_dir, queries=queries or None, k=k, model=model)
    r = result.ingest_report
    click.echo(f"ingested {corpus} into the local index {local_dir}: {r.indexed} of {r.read} documents, "
               f"{r.failed_total} failed ({r.docs_per_s:.0f} docs/s, model {r.model}, {r.max_length} tokens)")
    click.echo("each hit: rank, score, id, title; then the query tokens that matched most (query x document weight)")
    for query, hits in result.results:
        click.echo(f"\n{query!r}")
        for h in hits:
            click.echo(f"  {h.rank}. {h.score:7.3f}  {h.id:<10} {(h.title or '')[:50]}")
            why = "  ".join(f"{c.token} {c.contribution:.2f}" for c in (h.explanation or [])[:4])
            click.echo(f"     {'':7}  why: {why}")
    click.echo(f"\nnext: spladekit search \"your question\" --local {local_dir} --explain   (spladekit --help)")
