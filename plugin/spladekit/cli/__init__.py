"""The ``spladekit`` command: a thin skin over the library, one library call per verb.

Each verb lives in a small module of this package and is registered here; library errors
(:class:`spladekit.errors.SpladekitError`) become ``click.ClickException`` with the fix spelled out.
"""

from __future__ import annotations

import importlib

import click

from spladekit import __version__

# (module, attribute) of every command or group; imported when the CLI starts.
_COMMANDS = [
    ("spladekit.cli.model", "model"),
    ("spladekit.cli.engine", "engine"),
    ("spladekit.cli.mappings", "mappings"),
    ("spladekit.cli.encode", "export"),
    ("spladekit.cli.encode", "encode"),
    ("spladekit.cli.local", "index_local"),
    ("spladekit.cli.demo", "demo"),
    ("spladekit.cli.eval", "eval_"),
    ("spladekit.cli.ingest", "ingest"),
    ("spladekit.cli.search", "search"),
    ("spladekit.cli.parity", "parity"),
    ("spladekit.cli.train", "train"),
    ("spladekit.cli.doctor", "doctor"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spladekit")
def main() -> None:
    """SPLADE learned-sparse retrieval for OpenSearch, Elasticsearch and an embedded local index."""


for _module, _attr in _COMMANDS:
    main.add_command(getattr(importlib.import_module(_module), _attr))
