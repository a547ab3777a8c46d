"""``spladekit engine fetch|start|stop|status``: local OpenSearch / Elasticsearch test nodes without Docker."""

from __future__ import annotations

import json

import click

from spladekit.cli._common import friendly_errors

_ENGINE = click.option(
    "--engine",
    "engine",
    type=click.Choice(["opensearch", "elasticsearch"]),
    required=True,
    help="Which engine.",
)
_DEFAULT_PORTS = {"opensearch": 9200, "elasticsearch": 9200}


def _port(engine: str, port: int | None) -> int:
    return port if port is not None else _DEFAULT_PORTS[engine]


@click.group()
def engine() -> None:
    """Run single-node OpenSearch / Elasticsearch test nodes on 127.0.0.1 (fetched from Maven Central)."""


@engine.command()
@_ENGINE
@click.option("--force", is_flag=True, help="Download and unpack again.")
@friendly_errors
def fetch(engine: str, force: bool) -> None:
    """Download the pinned test distribution with mvn into $SPLADEKIT_CACHE/engines.

    Another release: set SPLADEKIT_OPENSEARCH_VERSION or SPLADEKIT_ELASTICSEARCH_VERSION (fetch and start).
    """
    from spladekit.engines import node

    click.echo(str(node.fetch(engine, force=force)))


@engine.command()
@_ENGINE
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="HTTP port on 127.0.0.1 (default 9200).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Node folder (restart on it).")
@click.option("--timeout", type=click.FloatRange(min=1), default=180.0, show_default=True,
              help="Seconds to wait for yellow health.")
@friendly_errors
def start(engine: str, port: int | None, data_dir: str | None, timeout: float) -> None:
    """Start a node (512 MB heap, security off, 127.0.0.1 only) and wait until it is healthy."""
    from spladekit.engines import node
    port = _port(engine, port)
    if data_dir is None:
        data_dir = str(node.node_root() / f"{engine}-{port}")
    n = node.start(engine, port=port, data_dir=data_dir, timeout=timeout)
    click.echo(f"{engine} is up at {n.url} (pid {n.pid}, {n.started_in:.1f} s, data in {n.data_dir})")


@engine.command()
@_ENGINE
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="HTTP port of the node (default 9200).")
@friendly_errors
def stop(engine: str, port: int | None) -> None:
    """Stop the node started by 'spladekit engine start' on that port."""
    from spladekit.engines import node

    port = _port(engine, port)
    if node.stop(engine, port):
        click.echo(f"stopped {engine} on port {port}")
    else:
        click.echo(f"no {engine} node started by spladekit is running on port {port}")


@engine.command()
@_ENGINE
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="HTTP port of the node (default 9200).")
@friendly_errors
def status(engine: str, port: int | None) -> None:
    """Print what is known about the node on that port (JSON)."""
    from spladekit.engines import node

    click.echo(json.dumps(node.status(engine, _port(engine, port)), indent=2))
