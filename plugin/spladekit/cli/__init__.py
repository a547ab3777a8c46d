"""The ``spladekit`` command: a thin skin over the library, one library call per verb.

Each verb lives in a small module of this package and is registered here; library errors
(:class:`spladekit.errors.SpladekitError`) become ``click.ClickException`` with the fix spelled out.
"""

from __future__ import annotations

import importlib
import logging

import click

from spladekit import __version__
from spladekit.cli._common import EXIT_HELP

# (module, attribute) of every command or group; imported when the CLI starts.
_COMMANDS = [
    ("spladekit.cli.model", "model"),
    ("spladekit.cli.engine", "engine"),
    ("spladekit.cli.mappings", "mappings"),
    ("spladekit.cli.encode", "export"),
    ("spladekit.cli.encode", "encode"),
    ("spladekit.cli.demo", "demo"),
    ("spladekit.cli.eval", "eval_"),
    ("spladekit.cli.ingest", "ingest"),
    ("spladekit.cli.search", "search"),
    ("spladekit.cli.parity", "parity"),
    ("spladekit.cli.train", "train"),
    ("spladekit.cli.doctor", "doctor"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_HELP)
@click.version_option(__version__, prog_name="spladekit")
def main() -> None:
    """SPLADE learned-sparse retrieval for OpenSearch, Elasticsearch and an embedded local index."""
    # What the library says on its logger (e.g. "exported splade-tiny to ONNX in 9.8 s") goes to stderr as one
    # line; the library itself never configures logging.
    log = logging.getLogger("spladekit")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("spladekit: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


for _module, _attr in _COMMANDS:
    main.add_command(getattr(importlib.import_module(_module), _attr))
