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
@friendly_errors
def mappings(engine: str) -> None:
    """Print the index-creation JSON (settings, mappings, _meta) for ENGINE."""
    from spladekit.mappings import mapping_json

    click.echo(mapping_json(engine), nl=False)
