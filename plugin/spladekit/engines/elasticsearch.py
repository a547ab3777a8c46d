"""Elasticsearch 8: ``sparse_vector`` field (server core), boosted ``term`` queries, elasticsearch-py 8."""

from __future__ import annotations

from typing import Any

from spladekit.engines.base import Credentials, EngineIndex
from spladekit.errors import missing_extra
from spladekit.features import FeatureNames


def _client_module() -> Any:
    try:
        import elasticsearch
    except ImportError:
        raise missing_extra("elasticsearch", "engines") from None
    return elasticsearch


class ElasticsearchIndex(EngineIndex):
    engine = "elasticsearch"

    @classmethod
    def connect(
        cls, url: str, index: str, creds: Credentials, names: FeatureNames | None = None, timeout: float = 60.0
    ) -> ElasticsearchIndex:
        es = _client_module()
        kwargs: dict[str, Any] = {"request_timeout": timeout, "verify_certs": creds.verify_certs}
        if creds.ca_certs:
            kwargs["ca_certs"] = creds.ca_certs
        if creds.api_key:
            kwargs["api_key"] = creds.api_key
        elif creds.user is not None:
            kwargs["basic_auth"] = (creds.user, creds.password or "")
        if not creds.verify_certs:
            kwargs["ssl_show_warn"] = False
        return cls(es.Elasticsearch(url, **kwargs), index, url, names)

    def _create(self, body: dict[str, Any]) -> None:
        # Elasticsearch 9 leaves sparse_vector values out of _source by default (index.mapping.
        # exclude_source_vectors); explanations and get_vectors read them from _source, so keep them there.
        # Elasticsearch 8 does not know the setting and refuses the index: create it without the setting.
        index_settings = dict(body["settings"].get("index", {}))
        index_settings["mapping"] = {**index_settings.get("mapping", {}), "exclude_source_vectors": False}
        settings = {**body["settings"], "index": index_settings}
        try:
            self.client.indices.create(index=self.index, settings=settings, mappings=body["mappings"])
        except _client_module().BadRequestError as exc:
            if "exclude_source_vectors" not in str(exc):
                raise
            self.client.indices.create(index=self.index, settings=body["settings"], mappings=body["mappings"])

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.search(index=self.index, body=body).body

    def _mget(self, ids: list[str]) -> dict[str, Any]:
        return self.client.mget(index=self.index, ids=ids).body

    def _helpers(self) -> Any:
        _client_module()
        import elasticsearch.helpers

        return elasticsearch.helpers

    def _error_types(self) -> tuple[type[BaseException], ...]:
        es = _client_module()
        return (es.ApiError, es.TransportError)
