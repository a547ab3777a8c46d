"""OpenSearch: ``rank_features`` field (mapper-extras), ``rank_feature`` linear queries, opensearch-py."""

from __future__ import annotations

from typing import Any

from spladekit.engines.base import Credentials, EngineIndex
from spladekit.errors import missing_extra
from spladekit.features import FeatureNames


def _client_module() -> Any:
    try:
        import opensearchpy
    except ImportError:
        raise missing_extra("opensearch-py", "engines") from None
    return opensearchpy


class OpenSearchIndex(EngineIndex):
    engine = "opensearch"

    @classmethod
    def connect(
        cls, url: str, index: str, creds: Credentials, names: FeatureNames | None = None, timeout: float = 60.0
    ) -> OpenSearchIndex:
        osp = _client_module()
        kwargs: dict[str, Any] = {"timeout": timeout, "verify_certs": creds.verify_certs}
        if creds.ca_certs:
            kwargs["ca_certs"] = creds.ca_certs
        if creds.api_key:
            kwargs["headers"] = creds.headers()
        elif creds.user is not None:
            kwargs["http_auth"] = (creds.user, creds.password or "")
        if not creds.verify_certs:
            kwargs["ssl_show_warn"] = False
        return cls(osp.OpenSearch(hosts=[url], **kwargs), index, url, names)

    def _create(self, body: dict[str, Any]) -> None:
        self.client.indices.create(index=self.index, body=body)

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.search(index=self.index, body=body)

    def _mget(self, ids: list[str]) -> dict[str, Any]:
        return self.client.mget(index=self.index, body={"ids": ids})

    def _helpers(self) -> Any:
        _client_module()
        import opensearchpy.helpers

        return opensearchpy.helpers

    def _error_types(self) -> tuple[type[BaseException], ...]:
        osp = _client_module()
        return (osp.exceptions.OpenSearchException,)
