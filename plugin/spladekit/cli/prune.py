"""``spladekit index-prune DIR --top-postings N -o OUT``: term-centric static pruning of a local index."""

from __future__ import annotations

import json
from pathlib import Path

import click

from spladekit.cli._common import friendly_errors


@click.command("index-prune")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--top-postings", type=click.IntRange(1), required=True,
              help="Keep each term's N highest-weighted postings (the term-centric rule of the static pruning "
                   "study); documents and ids are kept.")
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the pruned index (never the source: pruning drops postings for good).")
@friendly_errors
def index_prune(directory: Path, top_postings: int, output: Path) -> None:
    """Write a copy of the local index at DIRECTORY keeping only each term's --top-postings best postings.

    Prints what changed as JSON. Search the result like any local index; ingest refuses to add to it.
    """
    from spladekit.local.index import prune_index

    click.echo(json.dumps(prune_index(directory, output, top_postings=top_postings), indent=2))
