"""``spladekit export-vectors INDEX --format anserini|jsonl -o DIR``: a local index's vectors for Anserini and PISA."""

from __future__ import annotations

import json
from pathlib import Path

import click

from spladekit.cli._common import friendly_errors


@click.command("export-vectors")
@click.argument("index", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["anserini", "jsonl"]), default="anserini", show_default=True,
              help="anserini: JsonVectorCollection, integer weights round(w x --scale), zeros dropped; jsonl: the "
                   "float32 weights the index scores with.")
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write docs/docs.jsonl, the query files and export.json into.")
@click.option("--queries", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Queries to encode and export too (BEIR queries.jsonl, or qid<TAB>text).")
@click.option("--model", default=None, help="Query encoder [default: the index's model or model card].")
@click.option("--inference-free", is_flag=True,
              help="Encode --queries without a transformer (the card's table, or IDF from the index).")
@click.option("--scale", default=100.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="--format anserini: integer weight = round(weight x SCALE).")
@friendly_errors
def export_vectors(index: Path, fmt: str, output: Path, queries: Path | None, model: str | None,
                   inference_free: bool, scale: float) -> None:
    """Write the local index at INDEX (and --queries) as Anserini JsonVectorCollection or float JSONL files.

    Prints export.json: the counts and the Anserini and pyterrier-pisa commands that index and search them.
    """
    from spladekit.exchange import export_vectors as run_export

    manifest = run_export(index, output, format=fmt, queries=queries, model=model, inference_free=inference_free,
                          scale=scale)
    click.echo(json.dumps(manifest, indent=2))
