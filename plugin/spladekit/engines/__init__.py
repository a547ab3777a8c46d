"""Connecting to OpenSearch and Elasticsearch: :func:`connect` gives an :class:`EngineIndex` for one index.

What differs between the engines is in their dialects (:mod:`spladekit.dialects`); client libraries are the
``engines`` extra, imported when a client is made. Usage (needs a running engine)::

    from spladekit.engines import connect
    from spladekit.schema import SCHEMA

    idx = connect("http://127.0.0.1:9200", "docs", names=encoder.names)  # engine detected from GET /
    idx.create(SCHEMA.meta(encoder.identity()))
    for ok, doc_id, info in idx.bulk_index((d.id, idx.source(d.vec, text=d.text)) for d in docs): ...
    idx.refresh()

Searching goes through :class:`spladekit.search.Searcher`; node management (fetch, start, stop test nodes
without Docker) is in :mod:`spladekit.engines.node`.
"""

from __future__ import annotations

from spladekit import dialects
from spladekit.engines.base import (
    BulkResult,
    Credentials,
    EngineIndex,
    check_index_name,
    detect_engine,
    safe_url,
    split_url,
)
from spladekit.features import FeatureNames

__all__ = ["BulkResult", "Credentials", "EngineIndex", "connect", "detect_engine", "safe_url"]


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
    :meth:`EngineIndex.source` and :meth:`EngineIndex.get_vectors`.
    """
    check_index_name(index)  # before any request: a bad name is the caller's mistake, not the network's
    clean, url_user, url_password = split_url(url)
    creds = Credentials(
        user=user if user is not None else url_user,
        password=password if password is not None else url_password,
        api_key=api_key,
        ca_certs=ca_certs,
        verify_certs=verify_certs,
    )
    spec = dialects.get(engine if engine is not None else detect_engine(clean, creds))
    return EngineIndex(spec, spec.connect(clean, creds, timeout), index, clean, names)
