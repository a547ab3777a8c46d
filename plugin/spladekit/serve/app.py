"""The HTTP skin of :class:`spladekit.serve.service.Service`: a FastAPI app (OpenAPI at ``/openapi.json``, Swagger UI
at ``/docs``) with versioned JSON endpoints, the playground at ``/``, ``/healthz`` and ``/metrics``.

Every answer that is not a success is a JSON object ``{"error": "one line"}`` with a 4xx or 5xx status; no
request can make the service print a stack trace into a response:

====================================================  =========================================================
what                                                  status
====================================================  =========================================================
the body is not JSON, or not an object                400
an unknown field, a wrong type, a value out of range  422 (the line names the field, and for an unknown field,
                                                      the valid ones)
a text or a body over the limit, too many texts       413
a POST body not sent as application/json              415
the library refuses the request (empty query, BM25    400 (the library's own message, which names the fix)
on an index without text, a filter the local index
cannot apply)
missing or wrong bearer token                         401
the engine refused the request (HTTP 4xx from it)     400
the engine cannot be reached, or the service is       503
shutting down
the engine failed otherwise                           502
a bug                                                 500 (the line carries a request id; the log has the rest)
====================================================  =========================================================

The engine's credentials never reach a response or the log: the library's messages show URLs without user info
(:func:`spladekit.engines.safe_url`), and the service logs nothing else about the connection.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import typing
import uuid
from collections.abc import Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from spladekit import __version__
from spladekit.errors import EngineError, InputError, SpladekitError
from spladekit.serve.batcher import BatcherClosed, Ticket
from spladekit.serve.schemas import (
    EncodeRequest,
    EncodeResponse,
    ErrorResponse,
    QueryRequest,
    QueryResponse,
    SearchRequest,
    SearchResponse,
)
from spladekit.serve.service import ENCODING, RequestRefused, Service

STATIC = Path(__file__).resolve().parent / "static"
#: Longest error line sent back (a validation error over many fields is cut, never split over lines).
MAX_ERROR = 500
#: The endpoints that need the bearer token when the service has one; /healthz, the playground's files and the
#: OpenAPI document stay open (the page asks for the token and sends it with its API calls).
PROTECTED_PREFIXES = ("/v1/", "/metrics")
BODY_MODELS: dict[str, type[BaseModel]] = {"/v1/encode": EncodeRequest, "/v1/search": SearchRequest,
                                           "/v1/query": QueryRequest}
#: The page's headers: nothing but the service's own files may run or load there.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

log = logging.getLogger("spladekit.serve")

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]],
                                                                                      Awaitable[None]]],
                   Awaitable[None]]


def _line(text: object) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 1] + "…"


def error(status: int, reason: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": _line(reason)}, status_code=status, headers=headers)


def engine_status(exc: EngineError) -> int:
    """The status for an engine failure: the engine refused the request (its 4xx) -> 400; unreachable -> 503;
    anything else -> 502 (a bad gateway: the service is fine, the engine behind it is not)."""
    text = str(exc)
    if "cannot reach" in text or "(HTTP 503)" in text:
        return 503
    if "(HTTP 4" in text and "(HTTP 401)" not in text and "(HTTP 403)" not in text and "(HTTP 429)" not in text:
        return 400
    return 502


def status_of(exc: BaseException) -> int:
    if isinstance(exc, RequestRefused):
        return exc.status
    if isinstance(exc, BatcherClosed):
        return 503
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, EngineError):
        return engine_status(exc)
    if isinstance(exc, ValueError):
        return 422
    return 500


async def answer(work: Awaitable[dict[str, Any]], request_id: str) -> Response:
    """Run an endpoint's work; its result as JSON, or the error as one line with its status."""
    try:
        return JSONResponse(await work)
    except (SpladekitError, ValueError, BatcherClosed) as exc:
        status = status_of(exc)
        if status >= 500:
            log.warning("request %s: %s", request_id, _line(exc))
        return error(status, exc)
    except Exception:  # noqa: BLE001 (a bug: one line out, the traceback into the log)
        log.exception("request %s failed", request_id)
        return error(500, f"internal error (request {request_id}); the service's log has the details")


# ---------------------------------------------------------------------------------------------- validation


def _models_in(annotation: Any) -> Iterable[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _fields_at(model: type[BaseModel] | None, path: Iterable[Any]) -> list[str] | None:
    """The field names of the model at ``path`` inside ``model`` (for "unknown field; valid fields: ...")."""
    for key in path:
        if model is None or not isinstance(key, str) or key not in model.model_fields:
            return None
        model = next(iter(_models_in(model.model_fields[key].annotation)), None)
    return None if model is None else list(model.model_fields)


def _clean(model: type[BaseModel] | None, loc: Iterable[Any]) -> list[Any]:
    """The location of an error as the client wrote it: field names and list positions, without the names
    pydantic gives the branches of a union (``two_phase.TwoPhaseOptions.window`` is ``two_phase.window``)."""
    out: list[Any] = []
    for key in loc:
        if isinstance(key, int):
            out.append(key)
        elif model is not None and key in model.model_fields:
            out.append(key)
            model = next(iter(_models_in(model.model_fields[key].annotation)), None)
    return out


def describe(errors: list[dict[str, Any]], path: str) -> tuple[int, str]:
    """(status, one line) for pydantic/FastAPI validation errors of a request body."""
    parts: dict[str, list[str]] = {}
    status = 422
    model = BODY_MODELS.get(path)
    cleaned = []
    for err in errors:
        loc = [x for x in err.get("loc", ()) if x != "body"]
        if err.get("type") == "extra_forbidden" and loc:  # the last key is the unknown field itself
            cleaned.append(([*_clean(model, loc[:-1]), loc[-1]], err))
        else:
            cleaned.append((_clean(model, loc), err))
    locs = [tuple(loc) for loc, _ in cleaned]
    for loc, err in cleaned:
        if any(len(other) > len(loc) and other[:len(loc)] == tuple(loc) for other in locs):
            continue  # a union branch that failed at the top, where another failed deeper: keep the deeper one
        where = ".".join(str(x) for x in loc)
        kind = err.get("type", "")
        if kind == "json_invalid":
            return 400, f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')}); send a " \
                        "JSON object"
        if kind == "missing" and not loc:
            return 400, "the body is empty; send a JSON object (see /openapi.json)"
        if kind in ("model_attributes_type", "dict_type", "model_type") and not loc:
            return 400, "the body must be a JSON object (see /openapi.json)"
        if kind == "extra_forbidden":
            valid = _fields_at(model, loc[:-1])
            parts.setdefault(f"unknown field {where!r}" + (f" (valid fields: {', '.join(valid)})" if valid else ""),
                             [])
        elif kind == "missing":
            parts.setdefault(f"{where}: required", [])
        else:  # several branches of a union that failed at one place: "where: A or B"
            parts.setdefault(f"{where}:" if where else "", []).append(str(err.get("msg", kind)))
    line = "; ".join(f"{head} {' or '.join(msgs)}".strip() for head, msgs in parts.items())
    return status, line or "invalid request"


# ---------------------------------------------------------------------------------------------- middleware


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than this service's limit of {limit} bytes "
                              "(spladekit serve --max-body-bytes)")


class Guard:
    """Outermost layer of every HTTP request: request id, bearer token, body size, the batcher's ticket,
    metrics, and a last one-line answer for anything that escapes."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service = self.service
        metrics = service.metrics
        path = scope.get("path", "")
        endpoint = metrics.endpoint(path)
        request_id = uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 500, "sent": False}

        async def send_wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        async def reply(response: Response) -> None:
            await response(scope, receive, send_wrapped)

        ticket: Ticket | None = None
        metrics.in_flight.inc()
        try:
            if service.token is not None and path.startswith(PROTECTED_PREFIXES) and not self._authorized(scope):
                await reply(error(401, "missing or wrong bearer token: send 'Authorization: Bearer TOKEN' with the "
                                       "token this service was started with (spladekit serve --token-file)",
                                  {"WWW-Authenticate": 'Bearer realm="spladekit"'}))
                return
            limit = service.limits.max_body_bytes
            length = _header(scope, b"content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                await reply(error(413 if length.isdigit() else 400, BodyTooLarge(limit).detail if length.isdigit()
                                  else "the Content-Length header is not a number"))
                return
            if scope.get("method") == "POST" and path in BODY_MODELS:
                ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
                if ctype != "application/json" and not ctype.endswith("+json"):
                    await reply(error(415, f"send the body as JSON with 'Content-Type: application/json' (got "
                                           f"{ctype or 'no content type'!r})"))
                    return
            if path in ENCODING and scope.get("method") == "POST":
                ticket = service.batcher.expect()
                state["ticket"] = ticket
            await self.app(scope, _limited(receive, limit), send_wrapped)
        except asyncio.CancelledError:  # shutting down, and this request ran past the graceful-shutdown timeout
            # uvicorn cancels it to stop; the client still gets a status it can act on. Nothing waits for this
            # task's result, so the cancellation ends here.
            status["code"] = 503
            if not status["sent"]:
                await reply(error(503, "the service stopped before this request finished (it ran past spladekit "
                                       "serve --shutdown-timeout); send it again"))
        except Exception:  # noqa: BLE001 (whatever escapes the app: one line, the traceback into the log)
            log.exception("request %s failed", request_id)
            if not status["sent"]:
                await reply(error(500, f"internal error (request {request_id}); the service's log has the details"))
        finally:
            if ticket is not None:
                ticket.release()
            metrics.in_flight.dec()
            metrics.observe(endpoint, int(status["code"]), time.perf_counter() - started)

    def _authorized(self, scope: dict[str, Any]) -> bool:
        got = _header(scope, b"authorization") or ""
        scheme, _, token = got.partition(" ")
        want = self.service.token or ""
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), want.encode())


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _limited(receive: Any, limit: int) -> Any:
    seen = 0

    async def wrapped() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return wrapped


# ---------------------------------------------------------------------------------------------- the app


def create_app(service: Service) -> FastAPI:
    """The ASGI app for ``service`` (started and closed by the app's lifespan: run it with uvicorn)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        service.start()
        try:
            yield
        finally:
            service.close()  # the queued encoder work is finished first
            log.info("stopped %s", _where(service))

    app = FastAPI(
        title="spladekit", version=__version__, lifespan=lifespan, redoc_url=None,
        description="SPLADE encoding, search and engine request bodies, the same as the spladekit CLI's. Errors "
                    "are {\"error\": \"one line\"} with a 4xx/5xx status. Send 'Authorization: Bearer TOKEN' to "
                    "/v1/* and /metrics when the service was started with --token-file.",
    )
    errors = {400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}, 413: {"model": ErrorResponse},
              422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}}

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        status, reason = describe(list(exc.errors()), request.url.path)
        return error(status, reason)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        reason = exc.detail
        if exc.status_code == 404:
            reason = f"no such endpoint: {request.url.path} (see /openapi.json)"
        elif exc.status_code == 405:
            reason = f"{request.method} is not allowed on {request.url.path}"
        return error(exc.status_code, reason, dict(exc.headers or {}))

    def rid(request: Request) -> str:
        return str(request.state.request_id) if hasattr(request.state, "request_id") else "-"

    def ticket(request: Request) -> Ticket | None:
        return getattr(request.state, "ticket", None)

    @app.post("/v1/encode", response_model=None, responses={200: {"model": EncodeResponse}, **errors},
              summary="Terms and weights of texts (spladekit encode)")
    async def encode(body: EncodeRequest, request: Request) -> Response:
        return await answer(service.encode(body, ticket(request)), rid(request))

    @app.post("/v1/search", response_model=None, responses={200: {"model": SearchResponse}, **errors},
              summary="Hits, scores and explanations (spladekit search)")
    async def search(body: SearchRequest, request: Request) -> Response:
        return await answer(service.search(body, ticket(request)), rid(request))

    @app.post("/v1/query", response_model=None, responses={200: {"model": QueryResponse}, **errors},
              summary="The engine request bodies spladekit search would send")
    async def query(body: QueryRequest, request: Request) -> Response:
        return await answer(service.query(body, ticket(request)), rid(request))

    @app.get("/v1/info", summary="Model, index, the search modes this backend runs, limits")
    async def info() -> dict[str, Any]:
        return service.info()

    @app.get("/healthz", response_model=None, summary="Model loaded, index answering (200), else 503")
    async def healthz(request: Request) -> Response:
        try:
            healthy, report = await service.health()
        except Exception:  # noqa: BLE001
            log.exception("request %s: health check failed", rid(request))
            return error(503, "the health check failed; the service's log has the details")
        return JSONResponse(report, status_code=200 if healthy else 503)

    @app.get("/metrics", response_model=None, summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type=service.metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard, service=service)  # type: ignore[arg-type]
    return app


def _where(service: Service) -> str:
    index = service.index_info()
    if index["backend"] == "local":
        return "the local index"
    return f"index {index['name']!r} on {index['backend']} at {index['url']}"
