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
    """Run OpenSearch / Elasticsearch test nodes or clusters on 127.0.0.1 (fetched from Maven Central)."""


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
@click.option("--nodes", type=click.IntRange(1, 9), default=1, show_default=True,
              help="Nodes of one cluster (discovery on loopback; each node its own folder, 512 MB heap and port: "
                   "--port, --port + 1, ...).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="HTTP port on 127.0.0.1 of the (first) node (default 9200).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Node (or cluster) folder; the same folder again restarts it on its data.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Seconds to wait for yellow health [default: 180, 420 for a cluster].")
@friendly_errors
def start(engine: str, nodes: int, port: int | None, data_dir: str | None, timeout: float | None) -> None:
    """Start a node or a cluster (512 MB heap per node, security off, 127.0.0.1 only) and wait until healthy."""
    from spladekit.engines import node
    port = _port(engine, port)
    if nodes == 1:
        if data_dir is None:
            data_dir = str(node.node_root() / f"{engine}-{port}")
        n = node.start(engine, port=port, data_dir=data_dir, timeout=timeout or node.START_TIMEOUT)
        click.echo(f"{engine} is up at {n.url} (pid {n.pid}, {n.started_in:.1f} s, data in {n.data_dir})")
        return
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
@friendly_errors
def status(engine: str, port: int | None) -> None:
    """Print what is known about the node on that port (JSON); for a cluster, its health and every node."""
    from spladekit.engines import node

    click.echo(json.dumps(node.status(engine, _port(engine, port)), indent=2))
