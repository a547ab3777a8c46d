"""``spladekit index-local CORPUS``: encode a corpus into the embedded local index."""

from __future__ import annotations

import json
import sys

import click

from spladekit.cli._common import friendly_errors


@click.command("index-local")
@click.argument("corpus", type=click.Path(exists=True))
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Index folder (default $SPLADEKIT_INDEX or ./.spladekit/index); an index there is updated.")
@click.option("--model", default="splade-tiny", show_default=True, help="Model name, HF id or exported folder.")
@click.option("--mode", type=click.Choice(["lucene", "exact"]), default="lucene", show_default=True,
              help="lucene: weights as the engines store them (scores match OpenSearch/Elasticsearch); "
                   "exact: the model's float32 weights.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "beir"]), default=None,
              help="Input format (default: from the name; a folder is BEIR).")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Texts per encoder call.")
@click.option("--threads", type=int, default=None, help="Encoder threads (default: all cores).")
@click.option("--reorder", is_flag=True,
              help="Reorder the rows by recursive graph bisection before saving (faster exact search on large "
                   "indexes; about a minute per million documents).")
@click.option("--silent", is_flag=True, help="No progress bar.")
@friendly_errors
def index_local(corpus: str, output: str | None, model: str, mode: str, fmt: str | None, batch_size: int,
                threads: int | None, reorder: bool, silent: bool) -> None:
    """Encode CORPUS (JSONL with _id/id, title, text; or a BEIR folder) into a local index; print a JSON summary."""
    from spladekit.local.build import build_local_index
    from spladekit.paths import default_local_index

    bar = None
    if not silent:
        from tqdm import tqdm

        bar = tqdm(unit="doc", desc="index-local", file=sys.stderr, dynamic_ncols=True)
    try:
        summary = build_local_index(
            corpus, output or default_local_index(), model=model, mode=mode, format=fmt, batch_size=batch_size,
            threads=threads, reorder=reorder, progress=None if bar is None else (lambda n: bar.update(n - bar.n)),
        )
    finally:
        if bar is not None:
            bar.close()
    click.echo(json.dumps(summary, indent=2))
