"""``spladekit serve``: a query service for apps in any language, and a relevance playground in the browser.

A thin skin over the library calls the CLI makes (the ``serve`` extra: FastAPI, uvicorn, prometheus-client):

- :mod:`~spladekit.serve.service`: :class:`Service`, one :class:`spladekit.search.Searcher` (backend plus query
  encoder, checked once), the operator's :class:`Limits`, and the endpoints' work as library calls;
- :mod:`~spladekit.serve.batcher`: :class:`MicroBatcher`, concurrent requests' texts in one encoder call;
- :mod:`~spladekit.serve.app`: the FastAPI app (errors as one line and a status, bearer token, metrics);
- :mod:`~spladekit.serve.schemas`: the request and response bodies (strict: unknown fields are refused);
- ``static/``: the playground, plain HTML and JavaScript served by the app.

From Python::

    from spladekit.serve import Service, create_app, run
    service = Service.open(local_dir="ix")           # or engine_url=..., index=..., connect={...}
    run(service, host="127.0.0.1", port=8080)        # uvicorn; Ctrl-C or SIGTERM ends it gracefully

docs/serve.md describes the endpoints, the playground and the measured throughput.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

from spladekit.serve.app import create_app
from spladekit.serve.batcher import MicroBatcher
from spladekit.serve.service import Limits, RequestRefused, Service

__all__ = ["Limits", "MicroBatcher", "RequestRefused", "Service", "create_app", "run"]


def run(service: Service, *, host: str = "127.0.0.1", port: int = 8080, shutdown_timeout: float = 30.0,
        keep_alive: float = 65.0, access_log: bool = False, log_level: str = "info", **uvicorn_options: Any) -> None:
    """Serve ``service`` with uvicorn until SIGINT/SIGTERM: then no new connection is taken, requests in flight
    get up to ``shutdown_timeout`` seconds to finish, and the encoder's queued work is done before it stops.

    ``keep_alive``: seconds an idle client connection stays open. Longer than a load balancer's idle timeout
    (60 s on the common ones), so that the service never closes a connection the balancer is about to reuse
    (uvicorn's 5 s default lets a busy client's next request meet a closing socket)."""
    config = uvicorn.Config(create_app(service), host=host, port=port, access_log=access_log, log_level=log_level,
                            timeout_graceful_shutdown=shutdown_timeout, timeout_keep_alive=keep_alive,
                            **uvicorn_options)
    _Server(config).run()


class _Server(uvicorn.Server):
    """uvicorn's server, except that a graceful stop on SIGTERM/SIGINT ends the process with status 0: uvicorn
    raises the signal again once it has stopped, so that the process would die by it (status -15)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
