"""``spladekit serve``: the query service and the playground (docs/serve.md)."""

from __future__ import annotations

import errno
import ipaddress
import socket
from pathlib import Path
from typing import Any

import click

from spladekit.cli._common import connect_kwargs, connection_options, friendly_errors


def _read_token(path: Path | None) -> str | None:
    if path is None:
        return None
    token = path.read_text(encoding="utf-8").strip()
    if not token or len(token.split()) != 1:
        raise click.BadParameter(f"{path} must hold one token (one word, no spaces); it holds "
                                 f"{'nothing' if not token else 'several words'}", param_hint="--token-file")
    return token


def _check_port(host: str, port: int) -> None:
    """A taken port as one line now, rather than as uvicorn's log after the model has loaded."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise click.BadParameter(f"cannot resolve {host!r}: {exc.strerror}", param_hint="--host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(f"port {port} on {host} is taken; pick another with --port") from None
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command("serve")
@click.option("--engine", "engine_url", metavar="URL", help="Serve this engine's index (needs --index).")
@click.option("--index", "index_name", metavar="NAME", help="Engine index to serve.")
@click.option("--local", "local_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Serve this local index [default: $SPLADEKIT_INDEX or ./.spladekit/index without --engine].")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; then use --token-file).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--model", default=None, help="Query encoder [default: the index's model, else splade-tiny].")
@click.option("--max-length", type=click.IntRange(8), default=None,
              help="Tokens of a text the encoder reads [default: the model's own].")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Require 'Authorization: Bearer TOKEN' on /v1/* and /metrics, TOKEN being this file's content.")
@click.option("--max-batch", default=32, show_default=True, type=click.IntRange(1),
              help="Texts per encoder call when concurrent requests are micro-batched.")
@click.option("--batch-wait-ms", default=2.0, show_default=True, type=click.FloatRange(0),
              help="Longest a request waits for others to share its encoder call (only while more are arriving).")
@click.option("--no-batching", is_flag=True,
              help="Each request calls the encoder itself, overlapping the others (for comparison).")
@click.option("--max-text-chars", default=10_000, show_default=True, type=click.IntRange(1),
              help="Longest text (query or document) a request may send, in characters.")
@click.option("--max-texts", default=64, show_default=True, type=click.IntRange(1),
              help="Most texts one /v1/encode request may send.")
@click.option("--max-k", default=1000, show_default=True, type=click.IntRange(1),
              help="Most hits one search may ask for (and the largest two-phase window).")
@click.option("--max-body-bytes", default=1 << 20, show_default=True, type=click.IntRange(1),
              help="Largest request body, in bytes.")
@click.option("--shutdown-timeout", default=30.0, show_default=True, type=click.FloatRange(0),
              help="On SIGTERM/Ctrl-C: seconds requests in flight get to finish.")
@click.option("--keep-alive-timeout", default=65.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="Seconds an idle client connection stays open (keep it above your load balancer's idle timeout).")
@click.option("--access-log", is_flag=True, help="Log every request (method, path, status) to stderr.")
@connection_options
@friendly_errors
def serve(engine_url: str | None, index_name: str | None, local_dir: Path | None, host: str, port: int,
          model: str | None, max_length: int | None, token_file: Path | None, max_batch: int, batch_wait_ms: float,
          no_batching: bool, max_text_chars: int, max_texts: int, max_k: int, max_body_bytes: int,
          shutdown_timeout: float, keep_alive_timeout: float, access_log: bool, connection: dict[str, Any]) -> None:
    """Serve encoding, search and engine request bodies over HTTP (JSON, OpenAPI at /docs), with a relevance
    playground at / that shows SPLADE, BM25 and hybrid side by side.

    \b
    spladekit serve --local .spladekit/index --port 8080
    spladekit serve --engine http://127.0.0.1:9200 --index docs --token-file token.txt
    """
    from spladekit import paths
    from spladekit.errors import missing_extra

    try:
        from spladekit.serve import Limits, Service, run
    except ImportError as exc:
        raise missing_extra(exc.name or "fastapi", "serve") from None

    if engine_url and local_dir:
        raise click.UsageError("give --engine URL --index NAME or --local DIR, not both")
    if engine_url and not index_name:
        raise click.UsageError("--engine needs --index NAME")
    if index_name and not engine_url:
        raise click.UsageError("--index needs --engine URL")
    token = _read_token(token_file)
    _check_port(host, port)
    if engine_url is None and local_dir is None:
        local_dir = paths.default_local_index()
    limits = Limits(max_text_chars=max_text_chars, max_texts=max_texts, max_k=max_k, max_body_bytes=max_body_bytes)
    connect = connect_kwargs(connection) if engine_url is not None else {}
    service = Service.open(engine_url=engine_url, index=index_name, local_dir=local_dir, model=model,
                           max_length=max_length, connect=connect, limits=limits, batching=not no_batching,
                           max_batch=max_batch, max_wait_ms=batch_wait_ms, token=token)
    if token is None and not _loopback(host):
        click.secho(f"WARNING: serving on {host} without --token-file: anyone who can reach port {port} can use "
                    "the service", fg="red", err=True)
    index = service.index_info()
    where = "the local index" if index["backend"] == "local" else \
        f"index {index['name']!r} on {index['backend']} at {index['url']}"
    click.echo(f"spladekit: serving {where} with model {service.searcher.model} on http://{host}:{port} "
               f"(playground /, API docs /docs; Ctrl-C stops)", err=True)
    run(service, host=host, port=port, shutdown_timeout=shutdown_timeout, keep_alive=keep_alive_timeout,
        access_log=access_log, log_level="info" if access_log else "warning")
