"""OpenSearch and Elasticsearch behind one small protocol (:class:`EngineIndex`); client imports are lazy.

Usage (needs a running engine)::

    from spladekit.engines import connect
    from spladekit.mappings import index_meta

    idx = connect("http://127.0.0.1:9200", "docs", names=encoder.names)  # engine detected from GET /
    idx.create(index_meta("splade-tiny", sha256))
    for ok, doc_id, info in idx.bulk_index((d.id, idx.source(d.vec, text=d.text)) for d in docs): ...
    idx.refresh()
    hits = idx.search_vector(query_vec, k=10)  # [Hit(id, score: float32, source)]

Node management (fetch, start, stop test nodes without Docker) is in :mod:`spladekit.engines.node`.
"""

from __future__ import annotations

from spladekit.engines.base import (
    ENGINE_NAMES,
    BulkResult,
    Credentials,
    EngineIndex,
    Hit,
    detect_engine,
    safe_url,
    split_url,
)
from spladekit.features import FeatureNames

__all__ = [
    "ENGINE_NAMES",
    "BulkResult",
    "Credentials",
    "EngineIndex",
    "Hit",
    "connect",
    "detect_engine",
    "safe_url",
]


def connect(
    url: str,
    index: str,
    *,
    engine: str | None = None,
    user: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    ca_certs: str | None = None,
    verify_certs: bool = True,
    names: FeatureNames | None = None,
    timeout: float = 60.0,
) -> EngineIndex:
    """An :class:`EngineIndex` for ``index`` on the engine at ``url`` (detected from ``GET /`` if not given).

    Credentials may be given as arguments or in the URL (``https://user:pass@host:9200``); they go to the
    client only and never appear in error messages. ``names`` (the model's FeatureNames) is used by
    :meth:`EngineIndex.search_vector` and :meth:`EngineIndex.source`.
    """
    clean, url_user, url_password = split_url(url)
    creds = Credentials(
        user=user if user is not None else url_user,
        password=password if password is not None else url_password,
        api_key=api_key,
        ca_certs=ca_certs,
        verify_certs=verify_certs,
    )
    if engine is None:
        engine = detect_engine(clean, creds)
    if engine == "opensearch":
        from spladekit.engines.opensearch import OpenSearchIndex

        return OpenSearchIndex.connect(clean, index, creds, names, timeout)
    if engine == "elasticsearch":
        from spladekit.engines.elasticsearch import ElasticsearchIndex

        return ElasticsearchIndex.connect(clean, index, creds, names, timeout)
    raise ValueError(f"unknown engine {engine!r}; valid engines: {', '.join(ENGINE_NAMES)}")
