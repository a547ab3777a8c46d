"""Talking to an engine: credentials, engine detection, and :class:`EngineIndex`, one index on one engine.

Nothing here is specific to one engine: the client, its error types and the calls whose keywords differ come
from the engine's dialect (:mod:`spladekit.dialects`). Credentials live in the client only: URLs in messages
have their user info removed, and errors never repeat request headers.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

from spladekit import dialects
from spladekit.dialects import EngineSpec
from spladekit.engines.routing import routing_shards
from spladekit.errors import EngineError, InputError
from spladekit.features import FeatureNames
from spladekit.mappings import AUTO_REPLICAS, mapping
from spladekit.schema import SCHEMA
from spladekit.vectors import SparseVector


@dataclass(frozen=True)
class Credentials:
    """How to authenticate; ``repr`` never shows secrets."""

    user: str | None = None
    password: str | None = None
    api_key: str | None = None
    ca_certs: str | None = None
    verify_certs: bool = True

    def __repr__(self) -> str:
        kinds = [k for k in ("user", "password", "api_key") if getattr(self, k)]
        return f"Credentials({', '.join(kinds) or 'none'}, verify_certs={self.verify_certs})"

    def headers(self, api_key_scheme: str = "ApiKey") -> dict[str, str]:
        """The ``Authorization`` header; an API key is sent as ``<api_key_scheme> <key>`` (the dialect's
        :attr:`~spladekit.dialects.EngineSpec.api_key_scheme`)."""
        if self.api_key:
            return {"Authorization": f"{api_key_scheme} {self.api_key}"}
        if self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        return {}


def split_urls(url: str) -> list[str]:
    """The URLs of a comma-separated list (every node of a cluster), split only before a scheme so that a comma
    in a password stays where it is.

    >>> split_urls("http://127.0.0.1:9200,http://127.0.0.1:9201")
    ['http://127.0.0.1:9200', 'http://127.0.0.1:9201']
    >>> split_urls("https://bob:a,b@db.example:9200")
    ['https://bob:a,b@db.example:9200']
    """
    return [u for u in re.split(r",\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)", url.strip()) if u]


def _join(parts: list[tuple[str, str | None, str | None]]) -> tuple[str, str | None, str | None]:
    """One (URLs, user, password) for a list of URLs: the first user info given is the list's."""
    user = next((u for _, u, _ in parts if u is not None), None)
    password = next((p for _, _, p in parts if p is not None), None)
    return ",".join(clean for clean, _, _ in parts), user, password


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """(URL without user info, user, password), splitting at the LAST ``@`` of the URL by hand:
    ``urlsplit`` cuts an unencoded password holding ``#``, ``?`` or ``/`` and would put part of it in errors.
    A comma-separated list of URLs is split URL by URL.

    >>> split_userinfo("http://bob:p#w@127.0.0.1:9200")
    ('http://127.0.0.1:9200', 'bob', 'p#w')
    >>> split_userinfo("http://bob:p,w@127.0.0.1:9200,http://bob:p,w@127.0.0.1:9201")
    ('http://127.0.0.1:9200,http://127.0.0.1:9201', 'bob', 'p,w')
    """
    urls = split_urls(url)
    if len(urls) > 1:
        return _join([split_userinfo(u) for u in urls])
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url, None, None
    userinfo, _, host = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return f"{scheme}://{host}", unquote(user) or None, (unquote(password) if colon else None)


def split_url(url: str) -> tuple[str, str | None, str | None]:
    """(URL without user info, user, password): credentials in a URL move into the client's settings.

    >>> split_url("https://bob:s3cret@example.org:9200/")
    ('https://example.org:9200', 'bob', 's3cret')
    >>> split_url("http://127.0.0.1:9200")
    ('http://127.0.0.1:9200', None, None)
    >>> split_url("http://bob:a/b?c#d@127.0.0.1:9200")
    ('http://127.0.0.1:9200', 'bob', 'a/b?c#d')
    >>> split_url("http://127.0.0.1:9200/, http://127.0.0.1:9201")
    ('http://127.0.0.1:9200,http://127.0.0.1:9201', None, None)
    """
    urls = split_urls(url)
    if len(urls) > 1:
        return _join([split_url(u) for u in urls])
    if "://" not in url:
        raise InputError(f"engine URL {safe_url(url)!r} needs a scheme, e.g. http://127.0.0.1:9200")
    bare, user, password = split_userinfo(url)
    try:
        parts = urlsplit(bare)
        port = parts.port
    except ValueError as exc:
        raise InputError(f"engine URL {bare!r} is not valid ({exc}); expected e.g. http://127.0.0.1:9200") from None
    if parts.scheme not in ("http", "https"):
        raise InputError(f"engine URL scheme must be http or https, got {parts.scheme!r}")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return clean, user, password


def safe_url(url: str) -> str:
    """The URL with any user info removed, for messages.

    >>> safe_url("https://bob:p#w@db.example:9200/x")
    'https://db.example:9200/x'
    """
    return split_userinfo(url)[0]


#: What a user changes when an engine refuses the credentials (HTTP 401).
CREDENTIALS_FIX = "check --user and $SPLADEKIT_ENGINE_PASSWORD, or --api-key"
_TLS_FIX = "--insecure skips the check, for a throw-away test node only"


def auth_error(url: str, status: int, reason: str = "", what: str = "") -> EngineError:
    """The one-line error of an engine that refused a request with HTTP 401 (who you are) or 403 (what you may
    do), with the engine's own reason (user names and key ids; never a secret: the engine never echoes one)."""
    said = f": {reason}" if reason else ""
    if status == 401:
        return EngineError(
            f"{safe_url(url)} refused the credentials (HTTP 401{said}): a wrong user or password, or an unknown, "
            f"expired or invalidated API key; {CREDENTIALS_FIX}")
    doing = f" to {what}" if what else ""
    return EngineError(
        f"{safe_url(url)} accepted the credentials but refused{doing} (HTTP 403{said}): the user or API key lacks "
        "the privilege; grant it to the user's role, or use other credentials (--user, --api-key)")


def _speaks_tls(url: str, timeout: float = 5.0) -> bool:
    """Whether ``host:port`` of ``url`` completes a TLS handshake (certificate not checked: only the protocol)."""
    parts = urlsplit(url)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=parts.hostname):
                return True
    except (OSError, ValueError):
        return False


def connection_error(url: str, reason: object) -> EngineError:
    """The one-line error of a request that got no HTTP answer: an untrusted certificate (names ``--ca-certs``),
    a certificate for another host name, plain HTTP against an HTTPS node and the other way round, or no engine
    listening."""
    text = " ".join(str(reason).split())
    shown = safe_url(url)
    host = urlsplit(shown).hostname or ""
    mismatch = re.search(r"hostname '[^']*' doesn't match", text)  # urllib3's own check (the clients)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text or mismatch:
        if "mismatch" in text or "not valid for" in text or mismatch:
            return EngineError(
                f"the TLS certificate of {shown} is not valid for the host name {host!r} ({_ssl_reason(text)}): "
                "connect with a host name or address the certificate lists (spladekit engine start --secure "
                f"prints the URL to use), or have the certificate reissued for {host!r}; {_TLS_FIX}")
        return EngineError(
            f"the TLS certificate of {shown} is not trusted ({_ssl_reason(text)}): pass --ca-certs FILE, the CA "
            f"bundle (PEM) that signed it (ca_certs=... in Python); {_TLS_FIX}")
    if shown.startswith("https://") and re.search(r"WRONG_VERSION_NUMBER|record layer failure|UNEXPECTED_RECORD|"
                                                  r"packet length too long|unknown protocol", text, re.I):
        return EngineError(f"{shown} does not speak TLS ({_ssl_reason(text)}): use "
                           f"{shown.replace('https://', 'http://', 1)}")
    hung_up = re.search(r"closed|reset|aborted|BadStatusLine|RemoteDisconnected|EOF", text, re.I)
    if shown.startswith("http://") and hung_up and _speaks_tls(shown):  # the port answered, but not in HTTP
        return EngineError(f"{shown} serves HTTPS, not plain HTTP (it closed the connection: {text[:120]}): use "
                           f"{shown.replace('http://', 'https://', 1)} (with --ca-certs for its CA)")
    return EngineError(
        f"cannot reach an engine at {shown} ({text[:300]}); start one with "
        f"'spladekit engine start --engine opensearch' (or elasticsearch), or check the URL")


def _ssl_reason(text: str) -> str:
    """The reason in an OpenSSL message: what follows 'certificate verify failed:', else the [SSL: ...] code."""
    m = (re.search(r"certificate verify failed: ([^(]*)", text) or re.search(r"(hostname '[^']*' doesn't match "
         r"'[^']*')", text) or re.search(r"\[SSL: (\w+)\]", text))
    return m.group(1).strip().rstrip(".") if m else text[:160]


def _error_reason(body: object) -> str:
    """The engine's reason in an error body (Elasticsearch/OpenSearch JSON, or OpenSearch's plain text)."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = json.loads(body or b"null")
        except ValueError:
            body = body.decode("utf-8", "replace").strip()[:200]
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            root = (err.get("root_cause") or [err])[0]
            if isinstance(root, dict):
                extra = root.get("additional_unsuccessful_credentials")
                reason = str(root.get("reason") or "")
                return f"{reason} ({extra})" if extra else reason
        return str(err)[:200]
    return str(body or "")[:200]


def _get(base: str, path: str, headers: Mapping[str, str], ctx: ssl.SSLContext | None,
         timeout: float) -> tuple[int, Mapping[str, str], bytes]:
    req = urllib.request.Request(base + path, headers=dict(headers))
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:  # noqa: S310
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise connection_error(base, getattr(exc, "reason", exc)) from None


def tls_context(url: str, creds: Credentials) -> ssl.SSLContext | None:
    """The TLS context of a urllib request to ``url`` with ``creds`` (None for plain HTTP)."""
    if not url.startswith("https"):
        return None
    ctx = ssl.create_default_context(cafile=creds.ca_certs)
    if not creds.verify_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def detect_engine(url: str, creds: Credentials = Credentials(), timeout: float = 10.0) -> str:
    """Which engine answers at ``url``: the first dialect that recognizes the ``GET /`` response (headers and
    body; Elasticsearch's integ-test distribution answers 405 there but names itself in a header).

    An API key is tried in each dialect's spelling (``ApiKey``, ``Bearer``). A user who may not read ``GET /``
    (HTTP 403) is recognized by the dialect whose who-am-I endpoint answers. Refused credentials, TLS trouble and
    a wrong scheme raise :class:`EngineError` with the fix (:func:`auth_error`, :func:`connection_error`).
    For a list of URLs (a cluster's nodes), the first node that answers tells (a node may be down).
    """
    urls = split_urls(url)
    if len(urls) > 1:
        failure: EngineError | None = None
        for one in urls:
            try:
                return detect_engine(one, creds, timeout)
            except EngineError as exc:
                failure = exc
        assert failure is not None
        raise failure
    base = url.rstrip("/")
    ctx = tls_context(url, creds)
    specs = list(dialects.specs().values())
    variants: list[dict[str, str]] = []
    for spec in specs:
        hdrs = creds.headers(spec.api_key_scheme)
        if hdrs not in variants:
            variants.append(hdrs)
    refused: tuple[int, bytes] | None = None
    for hdrs in variants:
        status, headers, body = _get(base, "/", hdrs, ctx, timeout)
        if status == 401:
            refused = (status, body)
            continue
        if status == 403:
            for spec in specs:
                if spec.recognizes(headers, {}) or (
                        spec.whoami_path and _get(base, spec.whoami_path, hdrs, ctx, timeout)[0] == 200):
                    return spec.name
            refused = (status, body)
            continue
        try:
            info = json.loads(body or b"{}") if 200 <= status < 300 else {}
        except ValueError:
            info = {}
        if not isinstance(info, dict):
            info = {}
        for spec in specs:
            if spec.recognizes(headers, info):
                return spec.name
        raise EngineError(
            f"{safe_url(url)} does not look like any engine spladekit speaks ({', '.join(dialects.names())}); pass "
            f"engine=... explicitly"
        )
    assert refused is not None
    raise auth_error(url, refused[0], _error_reason(refused[1]), "tell which engine it is")


class BulkResult(NamedTuple):
    """One document's outcome in :meth:`EngineIndex.bulk_index`: ok, its id, and the engine's item or error."""

    ok: bool
    id: str
    info: dict[str, Any]

    @property
    def reason(self) -> str:
        """Why a document was rejected, in one line ('' when ok).

        >>> err = {"type": "mapper_parsing_exception", "reason": "failed to parse",
        ...        "caused_by": {"type": "illegal_argument_exception", "reason": "must be > 0"}}
        >>> BulkResult(False, "d1", {"status": 400, "error": err}).reason
        'HTTP 400 mapper_parsing_exception: failed to parse (caused by illegal_argument_exception: must be > 0)'
        """
        if self.ok:
            return ""
        err = self.info.get("error")
        status = self.info.get("status")
        prefix = f"HTTP {status} " if isinstance(status, int) else ""
        if isinstance(err, dict):
            text = f"{err.get('type', 'error')}: {err.get('reason', '')}"
            cause = err.get("caused_by")
            if isinstance(cause, dict):
                text += f" (caused by {cause.get('type', '')}: {cause.get('reason', '')})"
            return prefix + text
        return prefix + str(err or self.info)


def check_index_name(index: str) -> str:
    """Both engines' rules for an index name that spladekit creates or reads: lower case, no leading ``_-+``,
    none of their forbidden characters.

    >>> check_index_name("docs-2026")
    'docs-2026'
    """
    bad = set(' "*\\<|,>/?#:') & set(index or "")
    if not index or index != index.lower() or index.startswith(("_", "-", "+")) or bad or index in (".", ".."):
        raise InputError(f"index name {index!r} is not valid: use lower case, no spaces or any of \\/*?\"<>|,#:, "
                         "not starting with _, - or + (e.g. docs or wiki-2026)")
    return index


#: Seconds before the first repeat of a search that came back from only some shards (doubled each time).
PARTIAL_BACKOFF = 0.25


class EngineIndex:
    """One index on one engine: create it from the generated mapping, bulk-index, read back, send searches.

    Searches are built by :mod:`spladekit.query` and sent with :meth:`search_body`; :class:`spladekit.search.Searcher`
    is the one place that does both.
    """

    #: A search answered by only some shards (a node died under it) is sent again this many times.
    partial_retries = 3

    def __init__(self, spec: EngineSpec, client: Any, index: str, url: str, names: FeatureNames | None = None) -> None:
        check_index_name(index)
        self.spec = spec
        self.client = client
        self.index = index
        self.url = url
        self.names = names
        self.field = SCHEMA.sparse

    @property
    def engine(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"EngineIndex({self.engine!r}, {safe_url(self.url)!r}, index={self.index!r})"

    def _fail(self, what: str, exc: BaseException) -> EngineError:
        status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
        meta = getattr(exc, "meta", None)  # elasticsearch-py 8: ApiError.meta.status
        if not isinstance(status, int) and isinstance(getattr(meta, "status", None), int):
            status = meta.status
        info = getattr(exc, "info", None) or getattr(exc, "body", None)
        if status in (401, 403):
            return auth_error(self.url, status, _error_reason(info), f"{what} on index {self.index!r}")
        if not isinstance(status, int):
            # No HTTP answer: a TLS failure, a wrong scheme, nothing listening (the transport's error text).
            return connection_error(self.url, exc)
        reason = ""
        if isinstance(info, dict):
            err = info.get("error", info)
            if isinstance(err, dict):
                root = (err.get("root_cause") or [err])[0]
                reason = f"{root.get('type', '')}: {root.get('reason', '')}"
            else:
                reason = str(err)
        if not reason:
            # The clients were given URLs without user info, so their messages carry no secrets.
            reason = f"{type(exc).__name__}: {exc}"
        if "maxClauseCount" in reason or "too_many_clauses" in reason:
            reason += "; the query has too many terms: prune it (max_clauses=..., --prune-top-k N)"
        elif "index_not_found" in reason:
            reason += "; create it first (spladekit ingest creates it from the mapping)"
        return EngineError(
            f"{self.engine} at {safe_url(self.url)} failed to {what} on index {self.index!r}"
            + (f" (HTTP {status})" if isinstance(status, int) else "")
            + f": {reason}"
        )

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self.spec.error_types() as exc:
            raise self._fail(what, exc) from None

    def search_body(self, body: Mapping[str, Any], search_type: str | None = None) -> dict[str, Any]:
        """Send a search request body (built by :mod:`spladekit.query`, with its ``search_type``) and return the
        engine's response; failures come out as :class:`EngineError` naming the engine, index and reason."""
        params = {"search_type": search_type} if search_type else {}
        for attempt in range(self.partial_retries + 1):
            resp = self._call("search", self.spec.search, self.client, self.index, dict(body), **params)
            if not (resp.get("_shards") or {}).get("failed"):
                return resp
            if attempt < self.partial_retries:
                time.sleep(PARTIAL_BACKOFF * 2**attempt)
        self._check_shards(resp)
        return resp

    def _check_shards(self, resp: Mapping[str, Any]) -> None:
        """A response from only some shards would silently miss documents: refuse it. (The client already retried
        a request refused by a dead node on another; a shard copy lost between the query and the fetch phase fails
        the shard, and :meth:`search_body` sends the search again, :attr:`partial_retries` times.)"""
        shards = resp.get("_shards") or {}
        if not shards.get("failed"):
            return
        reasons = sorted({str((f.get("reason") or {}).get("type") if isinstance(f.get("reason"), dict)
                              else f.get("reason")) for f in shards.get("failures") or []})
        raise EngineError(
            f"{self.engine} at {safe_url(self.url)} answered from {shards.get('successful')} of {shards.get('total')} "
            f"shards of index {self.index!r} ({', '.join(reasons) or 'no reason given'}): the hits would be "
            "incomplete; check the cluster (GET _cluster/health): a shard without a live copy needs its node back, "
            "and an index with replicas (--replicas 1) survives the loss of a node")

    def exists(self) -> bool:
        return bool(self._call("check the index exists", self.client.indices.exists, index=self.index))

    def mapping(self) -> dict[str, Any]:
        """The index's mapping as the engine reports it (``{index: {"mappings": ...}}``)."""
        resp = self._call("read the mapping", self.client.indices.get_mapping, index=self.index)
        return dict(getattr(resp, "body", resp))

    def field_type(self, field: str) -> str | None:
        """The mapped type of ``field`` (None when the index has no such field)."""
        for entry in self.mapping().values():
            props = entry.get("mappings", {}).get("properties", {})
            if field in props:
                return props[field].get("type", "object")
        return None

    def create(self, meta: Mapping[str, Any], *, shards: int = 1, replicas: int | str = AUTO_REPLICAS) -> bool:
        """Create the index from the generated mapping with ``meta`` as ``_meta``; False if it existed (its
        ``_meta`` is then the caller's to check, :func:`spladekit.schema.check_identity`). ``replicas``: default
        0 on one data node, 1 on two or more (:data:`spladekit.mappings.AUTO_REPLICAS`)."""
        if self.exists():
            return False
        body = mapping(self.spec, meta, shards=shards, replicas=replicas)
        self._call("create the index", self.spec.create_index, self.client, self.index, body)
        return True

    def data_nodes(self) -> int:
        """How many data nodes the cluster has now (``_cluster/health``)."""
        health = self._call("read the cluster health", self.client.cluster.health)
        return int(dict(getattr(health, "body", health))["number_of_data_nodes"])

    def shards(self) -> tuple[int, int]:
        """(primary shards, replicas) of the existing index."""
        resp = self._call("read the index settings", self.client.indices.get_settings, index=self.index)
        settings = next(iter(dict(getattr(resp, "body", resp)).values()))["settings"]["index"]
        return int(settings["number_of_shards"]), int(settings["number_of_replicas"])

    def shard_count(self) -> int:
        """Primary shards of the existing index, from a search that returns nothing (``_shards.total``: a search
        reads one copy of every shard), so that a user who may only search can tell."""
        resp = self.search_body({"size": 0, "query": {"match_all": {}}, "track_total_hits": False})
        return int(resp["_shards"]["total"])

    def routing(self) -> tuple[int, int]:
        """(primary shards, routing shards) of the existing index: which shard holds a document follows from its
        id and these two (:func:`spladekit.engines.routing.shard_of`). From the cluster's metadata; for a user
        without the cluster monitor privilege, the shard count of :meth:`shard_count` and the routing shards
        both engines derive from it when the index is created (:func:`~spladekit.engines.routing.routing_shards`,
        right unless the index was created with ``index.number_of_routing_shards``)."""
        try:
            resp = self._call("read the index metadata", self.client.cluster.state, metric="metadata",
                              index=self.index)
        except EngineError:
            shards = self.shard_count()
            return shards, routing_shards(shards)
        meta = dict(getattr(resp, "body", resp))["metadata"]["indices"][self.index]
        shards = int(meta["settings"]["index"]["number_of_shards"])
        return shards, int(meta.get("routing_num_shards") or shards)

    def shard_counts(self) -> list[int]:
        """Documents per primary shard (searchable ones: call :meth:`refresh` first)."""
        n, _ = self.routing()
        return [int(self._call("count documents", self.client.count, index=self.index,
                               preference=f"_shards:{i}")["count"]) for i in range(n)]

    def check_write(self) -> None:
        """Raise :class:`EngineError` naming the missing privileges when the credentials may not ingest into this
        (existing) index: write documents and read its ``_meta``. Nothing is written (the dialect's probe)."""
        missing = self._call("check the write privileges", self.spec.missing_write_privileges, self.client,
                             self.index)
        if missing:
            raise EngineError(
                f"{safe_url(self.url)}: the user or API key may not ingest into index {self.index!r} (missing "
                f"privileges: {', '.join(missing)}); nothing was encoded or sent. Grant them to the user's role on "
                "that index, or use other credentials (--user, --api-key)")

    def meta(self) -> dict[str, Any] | None:
        """The index's ``_meta`` (None if the index does not exist or has none)."""
        if not self.exists():
            return None
        for entry in self.mapping().values():
            meta = entry.get("mappings", {}).get("_meta")
            return dict(meta) if meta else None
        return None

    def count(self) -> int:
        return int(self._call("count documents", self.client.count, index=self.index)["count"])

    def refresh(self, *, required: bool = True) -> bool:
        """Make what was indexed searchable now. ``required=False``: a user who may write but not refresh (HTTP
        403) is fine, the engine refreshes on its own within ``index.refresh_interval``; returns whether it ran."""
        try:
            self._call("refresh", self.client.indices.refresh, index=self.index)
        except EngineError as exc:
            if required or "(HTTP 403" not in str(exc):
                raise
            return False
        return True

    def store_bytes(self) -> int:
        """Primary store size in bytes (``_stats/store``)."""
        stats = self._call("read index stats", self.client.indices.stats, index=self.index, metric="store")
        stats = dict(getattr(stats, "body", stats))
        return int(stats["indices"][self.index]["primaries"]["store"]["size_in_bytes"])

    def delete_index(self) -> bool:
        """Delete this index (only this one); False if it did not exist."""
        if not self.exists():
            return False
        self._call("delete the index", self.client.indices.delete, index=self.index)
        return True

    def _require_names(self, names: FeatureNames | None) -> FeatureNames:
        names = names or self.names
        if names is None:
            raise InputError("feature names are needed: pass names=FeatureNames... to connect() or this call")
        return names

    def source(self, vec: SparseVector, *, names: FeatureNames | None = None, **fields: Any) -> dict[str, Any]:
        """The ``_source`` of one document: the sparse field as {feature name: weight} plus ``fields``."""
        src = {self.field: self._require_names(names).to_features(vec)}
        src.update({k: v for k, v in fields.items() if v is not None})
        return src

    def bulk_index(
        self,
        docs: Iterable[tuple[str, Mapping[str, Any]]],
        *,
        chunk_size: int = 500,
        max_chunk_bytes: int = 20 * 1024 * 1024,
        max_retries: int = 3,
        initial_backoff: float = 1.0,
        max_backoff: float = 30.0,
    ) -> Iterator[BulkResult]:
        """Index ``(doc_id, source)`` pairs; yields one :class:`BulkResult` per document, in order sent.

        The id becomes ``_id``, so re-running overwrites instead of duplicating. Built on
        ``helpers.streaming_bulk`` with retries on 429 (full queues) and without raising: a rejected
        document is a result with ``ok=False`` and the engine's reason in ``info``. Does not refresh.
        """
        if chunk_size < 1 or max_chunk_bytes < 1 or max_retries < 0:
            raise ValueError("chunk_size and max_chunk_bytes must be >= 1 and max_retries >= 0")

        def actions() -> Iterator[dict[str, Any]]:
            for doc_id, src in docs:
                yield {"_op_type": "index", "_index": self.index, "_id": str(doc_id), "_source": src}

        results = self.spec.helpers().streaming_bulk(
            self.client,
            actions(),
            chunk_size=chunk_size,
            max_chunk_bytes=max_chunk_bytes,
            max_retries=max_retries,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            raise_on_error=False,
            raise_on_exception=False,
        )
        for ok, item in results:
            op = next(iter(item.values())) if isinstance(item, dict) and item else {}
            yield BulkResult(bool(ok), str(op.get("_id", "")), op)

    def get_vectors(self, ids: Sequence[str], *, names: FeatureNames | None = None) -> dict[str, SparseVector]:
        """The stored sparse vectors of ``ids`` read back from ``_source`` (missing ids are left out)."""
        names = self._require_names(names)
        return {i: names.from_features(f) for i, f in self.get_features(ids).items()}

    def get_features(self, ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Like :meth:`get_vectors` but the raw {feature name: weight} from ``_source``."""
        resp = self._call("get documents", self.spec.mget, self.client, self.index, [str(i) for i in ids])
        return {d["_id"]: d["_source"].get(self.field, {}) for d in resp["docs"] if d.get("found")}
