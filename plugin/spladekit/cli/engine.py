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
    """Run OpenSearch / Elasticsearch test nodes or clusters on 127.0.0.1 (fetched from Maven Central)."""


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
@click.option("--nodes", type=click.IntRange(1, 9), default=1, show_default=True,
              help="Nodes of one cluster (discovery on loopback; each node its own folder, 512 MB heap and port: "
                   "--port, --port + 1, ...).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="HTTP port on 127.0.0.1 of the (first) node (default 9200).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Node (or cluster) folder; the same folder again restarts it on its data.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Seconds to wait for yellow health [default: 180, 420 for a cluster].")
@click.option("--secure", is_flag=True,
              help="Security on: HTTPS (and TLS between nodes) with a CA and certificates made for this node, the "
                   "superuser's password made for it; both kept in the node folder's security/ (restarts reuse "
                   "them).")
@click.option("--cert-host", "cert_hosts", multiple=True, metavar="NAME",
              help="With --secure: a host name or IP address the node certificate is issued for (repeatable; "
                   "default 127.0.0.1 and localhost). The first one is the host of the URL printed.")
@friendly_errors
def start(engine: str, nodes: int, port: int | None, data_dir: str | None, timeout: float | None, secure: bool,
          cert_hosts: tuple[str, ...]) -> None:
    """Start a node or a cluster (512 MB heap per node, 127.0.0.1 only; security off unless --secure) and wait
    until it is healthy."""
    from pathlib import Path

    from spladekit import dialects
    from spladekit.engines import node
    from spladekit.engines import security as tls

    if cert_hosts and not secure:
        raise click.UsageError("--cert-host applies to --secure only")
    if secure and nodes > 1:
        raise click.UsageError("--secure starts one node; a secured cluster (--nodes 2 or more) is not supported")
    port = _port(engine, port)
    if nodes > 1:
        _start_cluster(engine, nodes, port, data_dir, timeout)
        return
    if data_dir is None:
        data_dir = str(node.node_root() / f"{engine}-{port}")
    security = tls.make(Path(data_dir) / "security", hosts=cert_hosts) if cert_hosts else secure or None
    n = node.start(engine, port=port, data_dir=data_dir, timeout=timeout or node.START_TIMEOUT, security=security)
    click.echo(f"{engine} is up at {n.url} (pid {n.pid}, {n.started_in:.1f} s, data in {n.data_dir})")
    if n.security is not None:
        user, ca = dialects.get(engine).admin_user, n.security.ca
        # The password itself is never printed (terminal scroll-back, CI logs): it stays in its file.
        click.echo(f"security on: TLS certificate signed by the CA {ca}; superuser {user!r}, password in "
                   f"{n.security.password_file}\n"
                   f"  export SPLADEKIT_ENGINE_PASSWORD=\"$(cat {n.security.password_file})\"\n"
                   f"  spladekit search \"...\" --engine {n.url} --index NAME --user {user} --ca-certs {ca}")


def _start_cluster(engine: str, nodes: int, port: int, data_dir: str | None, timeout: float | None) -> None:
    from spladekit.engines import node

    if data_dir is None:
        data_dir = str(node.node_root() / f"{engine}-{port}-cluster")
    c = node.start_cluster(engine, nodes=nodes, port=port, data_dir=data_dir,
                           timeout=timeout or node.CLUSTER_START_TIMEOUT)
    info = node.cluster_status(c)
    click.echo(f"{engine} cluster {c.name} is up: {len(c.nodes)} nodes, health {info['health']} "
               f"({c.started_in:.1f} s, data in {c.data_dir})")
    for n in info["nodes"]:
        click.echo(f"  {n['name']}  {n['url']}  pid {n['pid']}" + ("  (elected master)" if n["master"] else ""))
    click.echo(f"clients: --engine {c.url}")


@engine.command()
@_ENGINE
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="HTTP port of the node, or of any node of a cluster (default 9200).")
@friendly_errors
def stop(engine: str, port: int | None) -> None:
    """Stop the node started by 'spladekit engine start' on that port (every node, for a cluster)."""
    from spladekit.engines import node

    port = _port(engine, port)
    cluster = node.cluster_at(engine, port)
    if cluster is not None:
        alive = [n.port for n in cluster.nodes if n.alive()]
        cluster.stop()
        click.echo(f"stopped {engine} cluster {cluster.name} (nodes on ports {', '.join(map(str, alive))})" if alive
                   else f"no node of {engine} cluster {cluster.name} was running")
    elif node.stop(engine, port):
        click.echo(f"stopped {engine} on port {port}")
    else:
        click.echo(f"no {engine} node started by spladekit is running on port {port}")


@engine.command()
@_ENGINE
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="HTTP port of the node, or of any node of a cluster (default 9200).")
@click.option("--url", default=None, metavar="URL",
              help="Ask the node at this URL (e.g. https://localhost:9200) instead of the one recorded at start.")
@connection_options
@friendly_errors
def status(engine: str, port: int | None, url: str | None, connection: dict[str, Any]) -> None:
    """Print what is known about the node on that port (JSON); for a cluster, its health and every node.

    A secured node started by 'spladekit engine start --secure' is asked as its superuser with its own CA;
    --user/--api-key/--ca-certs/--insecure ask with those instead.
    """
    from spladekit.engines import node

    given = connection.get("user") is not None or connection.get("api_key") is not None
    auth = connect_kwargs(connection, with_timeout=False) if given or connection.get("ca_certs") or connection.get(
        "insecure") else {}
    click.echo(json.dumps(node.status(engine, _port(engine, port), url=url, **auth), indent=2))
