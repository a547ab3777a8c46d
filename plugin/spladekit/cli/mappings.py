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
@click.option("--replicas", type=click.IntRange(0), default=None,
              help="Replicas of each shard [default: 0 on one data node, 1 on two or more (auto_expand_replicas "
                   "0-1), as spladekit ingest creates].")
@friendly_errors
def mappings(engine: str, shards: int, replicas: int | None) -> None:
    """Print the index-creation JSON (settings, mappings, _meta) for ENGINE."""
    from spladekit.mappings import AUTO_REPLICAS, mapping_json

    click.echo(mapping_json(engine, shards=shards, replicas=AUTO_REPLICAS if replicas is None else replicas), nl=False)
