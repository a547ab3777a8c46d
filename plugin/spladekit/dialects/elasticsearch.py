"""Elasticsearch 8.11+: ``sparse_vector`` (server core), boosted ``term`` queries, elasticsearch-py 8.

- Query: ``term`` on the ``sparse_vector`` field with ``boost = q_t`` (``SparseVectorFieldType.termQuery`` is
  a linear FeatureField query). The ``sparse_vector`` query itself needs the ML plugin, which the integ-test
  distribution lacks; ``rank_features`` needs mapper-extras, which Elasticsearch 8/9 test zips do not ship.
- Index: Elasticsearch 9 leaves ``sparse_vector`` values out of ``_source`` by default; spladekit reads them
  back (explanations, parity), so indexes are created with ``index.mapping.exclude_source_vectors: false``.
- The integ-test distribution has no ``GET /`` endpoint (405) but names itself in ``X-elastic-product``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spladekit.dialects.base import EngineSpec


class ElasticsearchSpec(EngineSpec):
    name = "elasticsearch"
    title = "Elasticsearch"
    sparse_type = "sparse_vector"
    version = "8.19.8"
    java21_from = 9
    distribution = "org.elasticsearch.distribution.integ-test-zip:elasticsearch"
    docker_image = f"docker.elastic.co/elasticsearch/elasticsearch:{version}"
    config_file = "elasticsearch.yml"
    launcher = "bin/elasticsearch"
    java_home_env = "ES_JAVA_HOME"
    conf_env = "ES_PATH_CONF"
    env_prefix = "ES_"
    whoami_path = "/_security/_authenticate"
    client_package = "elasticsearch"
    client_module = "elasticsearch"

    def node_settings(self) -> dict[str, Any]:
        # A local test node: no TLS, no users. Never expose it beyond 127.0.0.1.
        return {"xpack.security.enabled": False}

    def launch_env(self, java_home: Path, conf_dir: Path, tmp_dir: Path) -> dict[str, str]:
        # Elasticsearch reads only ES_JAVA_HOME, and keeps its JNA/temp files in ES_TMPDIR.
        return {**super().launch_env(java_home, conf_dir, tmp_dir), "ES_TMPDIR": str(tmp_dir)}

    def recognizes(self, headers: Mapping[str, str], info: Mapping[str, Any]) -> bool:
        if (headers.get("X-elastic-product") or "").lower() == "elasticsearch":
            return True
        version = info.get("version", {}) if isinstance(info.get("version"), dict) else {}
        return bool(version.get("number")) and version.get("distribution") in (None, "elasticsearch")

    def clause(self, field: str, feature: str, weight: float) -> dict[str, Any]:
        return {"term": {field: {"value": feature, "boost": weight}}}

    def connect(self, url: str, creds: Any, timeout: float) -> Any:
        es = self.client_lib()
        kwargs: dict[str, Any] = {"request_timeout": timeout, "verify_certs": creds.verify_certs}
        if creds.ca_certs:
            kwargs["ca_certs"] = creds.ca_certs
        if creds.api_key:
            kwargs["api_key"] = creds.api_key
        elif creds.user is not None:
            kwargs["basic_auth"] = (creds.user, creds.password or "")
        if not creds.verify_certs:
            kwargs["ssl_show_warn"] = False
        return es.Elasticsearch(self.hosts(url), **kwargs)

    def error_types(self) -> tuple[type[BaseException], ...]:
        es = self.client_lib()
        return (es.ApiError, es.TransportError)

    def create_index(self, client: Any, index: str, body: Mapping[str, Any]) -> None:
        # Elasticsearch 8 does not know exclude_source_vectors and refuses the index: create it without.
        index_settings = dict(body["settings"].get("index", {}))
        index_settings["mapping"] = {**index_settings.get("mapping", {}), "exclude_source_vectors": False}
        settings = {**body["settings"], "index": index_settings}
        try:
            client.indices.create(index=index, settings=settings, mappings=body["mappings"])
        except self.client_lib().BadRequestError as exc:
            if "exclude_source_vectors" not in str(exc):
                raise
            client.indices.create(index=index, settings=body["settings"], mappings=body["mappings"])

    def search(self, client: Any, index: str, body: Mapping[str, Any], **params: Any) -> dict[str, Any]:
        return dict(client.search(index=index, body=dict(body), **params).body)

    def mget(self, client: Any, index: str, ids: list[str]) -> dict[str, Any]:
        return dict(client.mget(index=index, ids=ids).body)


SPEC = ElasticsearchSpec()
