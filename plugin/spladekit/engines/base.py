"""What both engines share: connecting, engine detection, credentials, and the index protocol.

:class:`EngineIndex` holds all the logic; the per-engine subclasses only build their client and spell the
few calls whose keywords differ. Credentials live in the client only: URLs in messages have their user
info removed, and errors never repeat request headers.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np

from spladekit.errors import EngineError, InputError
from spladekit.features import FeatureNames
from spladekit.mappings import SPARSE_FIELD, mapping
from spladekit.query import Query, build_query
from spladekit.vectors import SparseVector

ENGINE_NAMES: tuple[str, ...] = ("opensearch", "elasticsearch")


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

    def headers(self) -> dict[str, str]:
        if self.api_key:
            return {"Authorization": f"ApiKey {self.api_key}"}
        if self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        return {}


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """(URL without user info, user, password), splitting at the LAST ``@`` of the URL by hand:
    ``urlsplit`` cuts an unencoded password holding ``#``, ``?`` or ``/`` and would put part of it in errors.

    >>> split_userinfo("http://bob:p#w@127.0.0.1:9200")
    ('http://127.0.0.1:9200', 'bob', 'p#w')
    """
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
    """
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


def detect_engine(url: str, creds: Credentials = Credentials(), timeout: float = 10.0) -> str:
    """Which engine answers at ``url``: from ``GET /`` (or the ``X-elastic-product`` header).

    Elasticsearch's integ-test distribution lacks the root endpoint (``GET /`` answers 405) but, like every
    Elasticsearch 8, names itself in the ``X-elastic-product`` response header.
    """
    req = urllib.request.Request(url.rstrip("/") + "/", headers=creds.headers())
    ctx = None
    if url.startswith("https"):
        ctx = ssl.create_default_context(cafile=creds.ca_certs)
        if not creds.verify_certs:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    headers: Mapping[str, str]
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:  # noqa: S310
            headers, body = resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        headers, body = exc.headers, b""
        if exc.code in (401, 403):
            raise EngineError(
                f"{safe_url(url)} refused the credentials (HTTP {exc.code}); check user/password or api_key"
            ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EngineError(
            f"cannot reach an engine at {safe_url(url)} ({reason}); start one with "
            f"'spladekit engine start --engine opensearch' (or elasticsearch), or check the URL"
        ) from None
    if (headers.get("X-elastic-product") or "").lower() == "elasticsearch":
        return "elasticsearch"
    try:
        info = json.loads(body or b"{}")
    except ValueError:
        info = {}
    version = info.get("version", {}) if isinstance(info, dict) else {}
    if version.get("distribution") == "opensearch" or "opensearch" in str(info.get("tagline", "")).lower():
        return "opensearch"
    if version.get("number"):
        return "elasticsearch"
    raise EngineError(
        f"{safe_url(url)} does not look like OpenSearch or Elasticsearch; pass engine='opensearch' or "
        f"'elasticsearch' explicitly"
    )


class Hit(NamedTuple):
    """One search hit: document id, engine score (float32, as Lucene computed it), and ``_source``."""

    id: str
    score: np.float32
    source: dict[str, Any]


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


class EngineIndex:
    """One index on one engine. Create it from the generated mapping, bulk-index, search with a vector."""

    engine: str = ""

    def __init__(self, client: Any, index: str, url: str, names: FeatureNames | None = None) -> None:
        if not index or index != index.lower() or index.startswith(("_", "-", "+")):
            raise InputError(f"index name {index!r} must be lower-case and not start with _, - or +")
        self.client = client
        self.index = index
        self.url = url
        self.names = names
        self.field = SPARSE_FIELD
        #: The last query sent by :meth:`search_vector` (body, pruned vector, notes about pruning).
        self.last_query: Query | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({safe_url(self.url)!r}, index={self.index!r})"

    # ----------------------------------------------------------------------------- engine-specific calls
    def _create(self, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _mget(self, ids: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    def _helpers(self) -> Any:
        raise NotImplementedError

    def _error_types(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError

    # ----------------------------------------------------------------------------- shared
    def _fail(self, what: str, exc: BaseException) -> EngineError:
        status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
        info = getattr(exc, "info", None) or getattr(exc, "body", None)
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
        if "maxClauseCount" in reason:
            reason += "; the query has too many terms: prune it (max_clauses=..., top_k=... in search_vector)"
        elif "index_not_found" in reason:
            reason += "; create it first (ingest creates it from the mapping)"
        return EngineError(
            f"{self.engine} at {safe_url(self.url)} failed to {what} on index {self.index!r}"
            + (f" (HTTP {status})" if isinstance(status, int) else "")
            + f": {reason}"
        )

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._error_types() as exc:
            raise self._fail(what, exc) from None

    def search(self, query_text: str, **options: Any) -> list[Any]:
        """Search with text: SPLADE (default), ``mode="bm25"`` or ``"hybrid"``, ``two_phase``, ``explain``...
        (see :class:`spladekit.search.Searcher`); the query encoder is the index's model, kept per index."""
        from spladekit.search import search_engine_index

        return search_engine_index(self, query_text, **options)

    def search_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Send any search request body (BM25 ``match``, rescore, hybrid halves) and return the engine's
        response; failures come out as :class:`EngineError` naming the engine, index and reason."""
        return self._call("search", self._search, dict(body))

    def exists(self) -> bool:
        return bool(self._call("check the index exists", self.client.indices.exists, index=self.index))

    def create(self, meta: Mapping[str, Any], exist_ok: bool = True) -> bool:
        """Create the index from the generated mapping with ``meta`` as ``_meta``; False if it existed.

        An existing index with a different model in its ``_meta`` is an error even with ``exist_ok``: its
        vectors would not match this model's queries.
        """
        if self.exists():
            if not exist_ok:
                raise EngineError(f"index {self.index!r} already exists on {safe_url(self.url)}; delete it first")
            current = self.meta() or {}
            for key in ("model", "model_sha256", "feature_names"):
                if key in meta and key in current and current[key] != meta[key]:
                    raise EngineError(
                        f"index {self.index!r} was built with {key}={current[key]!r}, not {meta[key]!r}; "
                        f"use another index name or delete it (its vectors belong to the other model)"
                    )
            return False
        self._call("create the index", self._create, mapping(self.engine, meta))
        return True

    def meta(self) -> dict[str, Any] | None:
        """The index's ``_meta`` (None if the index does not exist or has none)."""
        if not self.exists():
            return None
        resp = self._call("read the mapping", self.client.indices.get_mapping, index=self.index)
        body = dict(getattr(resp, "body", resp))
        for entry in body.values():
            meta = entry.get("mappings", {}).get("_meta")
            return dict(meta) if meta else None
        return None

    def count(self) -> int:
        return int(self._call("count documents", self.client.count, index=self.index)["count"])

    def refresh(self) -> None:
        self._call("refresh", self.client.indices.refresh, index=self.index)

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

        helpers = self._helpers()
        results = helpers.streaming_bulk(
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

    def search_vector(
        self,
        vec: SparseVector,
        k: int = 10,
        *,
        names: FeatureNames | None = None,
        **options: Any,
    ) -> list[Hit]:
        """Top-``k`` hits for a query vector (scores as the engine computed them, float32).

        ``options`` go to :func:`spladekit.query.build_query` (``from_``, ``top_k``, ``min_weight``,
        ``ratio``, ``max_clauses``, ``filter``, ``source``). What pruning did is in ``self.last_query.notes``.
        """
        q = build_query(vec, self._require_names(names), self.engine, self.field, size=k, **options)
        self.last_query = q
        resp = self._call("search", self._search, q.body)
        return [Hit(h["_id"], np.float32(h["_score"]), h.get("_source") or {}) for h in resp["hits"]["hits"]]

    def get_vectors(self, ids: Sequence[str], *, names: FeatureNames | None = None) -> dict[str, SparseVector]:
        """The stored sparse vectors of ``ids`` read back from ``_source`` (missing ids are left out)."""
        names = self._require_names(names)
        return {i: names.from_features(f) for i, f in self.get_features(ids).items()}

    def get_features(self, ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Like :meth:`get_vectors` but the raw {feature name: weight} from ``_source``."""
        resp = self._call("get documents", self._mget, [str(i) for i in ids])
        return {d["_id"]: d["_source"].get(self.field, {}) for d in resp["docs"] if d.get("found")}
