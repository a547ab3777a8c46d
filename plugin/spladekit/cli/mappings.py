"""``spladekit mappings --engine X``: print the index template (the source of mappings/<engine>.json)."""

from __future__ import annotations

import click

from spladekit.cli._common import friendly_errors


@click.command()
@click.option(
    "--engine",
    type=click.Choice(["opensearch", "elasticsearch"]),
    required=True,
    help="Which engine's template.",
)
@click.option("--shards", type=click.IntRange(1), default=1, show_default=True, help="Primary shards.")
@click.option("--replicas", type=click.IntRange(0), default=0, show_default=True,
              help="Replicas of each shard (1 on a cluster of two or more data nodes: spladekit ingest's default).")
@friendly_errors
def mappings(engine: str, shards: int, replicas: int) -> None:
    """Print the index-creation JSON (settings, mappings, _meta) for ENGINE."""
    from spladekit.mappings import mapping_json

    click.echo(mapping_json(engine, shards=shards, replicas=replicas), nl=False)
