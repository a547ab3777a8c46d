"""``spladekit engine fetch|start|stop|status``: local OpenSearch / Elasticsearch test nodes without Docker."""

from __future__ import annotations

import json
from typing import Any

import click

from spladekit.cli._common import connect_kwargs, connection_options, friendly_errors

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
@click.option("--secure", is_flag=True,
              help="Also what 'engine start --secure' runs (OpenSearch: a copy with its security plugin).")
@friendly_errors
def fetch(engine: str, force: bool, secure: bool) -> None:
    """Download the pinned test distribution with mvn into $SPLADEKIT_CACHE/engines.

    Another release: set SPLADEKIT_OPENSEARCH_VERSION or SPLADEKIT_ELASTICSEARCH_VERSION (fetch and start).
    """
    from spladekit.engines import node

    click.echo(str(node.fetch(engine, force=force)))
    if secure:
        click.echo(str(node.fetch(engine, force=force, secure=True)))


@engine.command()
@_ENGINE
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="HTTP port on 127.0.0.1 (default 9200).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Node folder (restart on it).")
@click.option("--timeout", type=click.FloatRange(min=1), default=180.0, show_default=True,
              help="Seconds to wait for yellow health.")
@click.option("--secure", is_flag=True,
              help="Security on: HTTPS (and TLS between nodes) with a CA and certificates made for this node, the "
                   "superuser's password made for it; both kept in the node folder's security/ (restarts reuse "
                   "them).")
@click.option("--cert-host", "cert_hosts", multiple=True, metavar="NAME",
              help="With --secure: a host name or IP address the node certificate is issued for (repeatable; "
                   "default 127.0.0.1 and localhost). The first one is the host of the URL printed.")
@friendly_errors
def start(engine: str, port: int | None, data_dir: str | None, timeout: float, secure: bool,
          cert_hosts: tuple[str, ...]) -> None:
    """Start a node (512 MB heap, 127.0.0.1 only; security off unless --secure) and wait until it is healthy."""
    from pathlib import Path

    from spladekit import dialects
    from spladekit.engines import node
    from spladekit.engines import security as tls

    if cert_hosts and not secure:
        raise click.UsageError("--cert-host applies to --secure only")
    port = _port(engine, port)
    if data_dir is None:
        data_dir = str(node.node_root() / f"{engine}-{port}")
    security = tls.make(Path(data_dir) / "security", hosts=cert_hosts) if cert_hosts else secure or None
    n = node.start(engine, port=port, data_dir=data_dir, timeout=timeout, security=security)
    click.echo(f"{engine} is up at {n.url} (pid {n.pid}, {n.started_in:.1f} s, data in {n.data_dir})")
    if n.security is not None:
        user, ca = dialects.get(engine).admin_user, n.security.ca
        # The password itself is never printed (terminal scroll-back, CI logs): it stays in its file.
        click.echo(f"security on: TLS certificate signed by the CA {ca}; superuser {user!r}, password in "
                   f"{n.security.password_file}\n"
                   f"  export SPLADEKIT_ENGINE_PASSWORD=\"$(cat {n.security.password_file})\"\n"
                   f"  spladekit search \"...\" --engine {n.url} --index NAME --user {user} --ca-certs {ca}")


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
@click.option("--url", default=None, metavar="URL",
              help="Ask the node at this URL (e.g. https://localhost:9200) instead of the one recorded at start.")
@connection_options
@friendly_errors
def status(engine: str, port: int | None, url: str | None, connection: dict[str, Any]) -> None:
    """Print what is known about the node on that port (JSON).

    A secured node started by 'spladekit engine start --secure' is asked as its superuser with its own CA;
    --user/--api-key/--ca-certs/--insecure ask with those instead.
    """
    from spladekit.engines import node

    given = connection.get("user") is not None or connection.get("api_key") is not None
    auth = connect_kwargs(connection, with_timeout=False) if given or connection.get("ca_certs") or connection.get(
        "insecure") else {}
    click.echo(json.dumps(node.status(engine, _port(engine, port), url=url, **auth), indent=2))
