"""The ``spladekit`` command: a thin skin over the library, one library call per verb.

Each verb lives in a small module of this package and is registered here; library errors
(:class:`spladekit.errors.SpladekitError`) become ``click.ClickException`` with the fix spelled out.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

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
    ("spladekit.cli.prune", "index_prune"),
    ("spladekit.cli.exchange", "export_vectors"),
    ("spladekit.cli.serve", "serve"),
    ("spladekit.cli.train", "train"),
    ("spladekit.cli.doctor", "doctor"),
]


#: click >= 8.2 raises this for a group called without a command (its message is the whole help text).
_NO_ARGS: tuple[type[BaseException], ...] = tuple(
    t for t in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if t is not None)


class OneLineErrors(click.Group):
    """Every error is one line on stderr (``Error: ...``, a usage error naming the verb's ``--help``) and an
    exit status: 2 for a usage error, the exception's own otherwise. Never a traceback for a user's mistake."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            # Without standalone mode click returns what ctx.exit(code) asked for instead of exiting.
            result = super().main(*args, **kwargs)
        except _NO_ARGS as exc:  # `spladekit` alone, or a group without its command: the help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "spladekit"
            click.echo(f"Error: {' '.join(exc.format_message().split())} (see: {where} --help)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_HELP)
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
