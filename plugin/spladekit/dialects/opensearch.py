"""OpenSearch: ``rank_features`` (the mapper-extras module), linear ``rank_feature`` queries, opensearch-py.

- Query: ``rank_feature`` on ``<field>.<feature>`` with ``linear: {}`` and ``boost = q_t``. The default
  function is ``saturation``, which is not a dot product, so ``linear`` is always spelled out. The query splits
  the field path on its last dot: feature names never contain one (``spladekit.features`` escapes it).
- Distribution: the integ-test zip ships only the transport modules; ``rank_features`` lives in mapper-extras,
  whose client jar is installed as a module with a plugin descriptor (see :meth:`OpenSearchSpec.install_modules`).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spladekit.dialects.base import EngineSpec
from spladekit.errors import EngineError


class OpenSearchSpec(EngineSpec):
    name = "opensearch"
    title = "OpenSearch"
    sparse_type = "rank_features"
    version = "2.19.4"
    java21_from = 3
    distribution = "org.opensearch.distribution.integ-test-zip:opensearch"
    docker_image = f"opensearchproject/opensearch:{version}"
    config_file = "opensearch.yml"
    launcher = "bin/opensearch"
    java_home_env = "OPENSEARCH_JAVA_HOME"
    conf_env = "OPENSEARCH_PATH_CONF"
    env_prefix = "OPENSEARCH_"
    # OpenSearch 2 renamed "master" to "cluster manager"; the old name still works but logs a deprecation.
    initial_masters_setting = "cluster.initial_cluster_manager_nodes"
    whoami_path = "/_plugins/_security/authinfo"
    client_package = "opensearch-py"
    client_module = "opensearchpy"

    def artifacts(self) -> tuple[str, tuple[str, ...]]:
        v = self.release()
        return f"{self.distribution}:{v}:zip", (f"org.opensearch.plugin:mapper-extras-client:{v}:jar",)

    def install_modules(self, home: Path, jars: list[Path]) -> None:
        """mapper-extras as a module: its jar plus a plugin descriptor. PluginInfo rejects unknown keys, and
        ``opensearch.version`` must equal the node's version exactly."""
        (jar,) = jars
        release = self.release()
        # The plugin class is MapperExtrasPlugin in 2.19 (not MapperExtrasModulePlugin): read it from the jar.
        with zipfile.ZipFile(jar) as zf:
            classes = [n for n in zf.namelist() if re.fullmatch(r"org/opensearch/index/mapper/\w*Plugin\.class", n)]
        if len(classes) != 1:
            raise EngineError(f"{jar} has no single org.opensearch.index.mapper.*Plugin class (found {classes})")
        classname = classes[0][: -len(".class")].replace("/", ".")
        module = home / "modules" / "mapper-extras"
        module.mkdir(parents=True, exist_ok=True)
        shutil.copy2(jar, module / jar.name)
        (module / "plugin-descriptor.properties").write_text(
            "name=mapper-extras\n"
            "description=Adds advanced field mappers (rank_features, rank_feature); installed by spladekit\n"
            f"version={release}\n"
            f"opensearch.version={release}\n"
            "java.version=11\n"
            f"classname={classname}\n"
            "extended.plugins=\n"
            "has.native.controller=false\n"
        )

    def recognizes(self, headers: Mapping[str, str], info: Mapping[str, Any]) -> bool:
        version = info.get("version", {}) if isinstance(info.get("version"), dict) else {}
        return version.get("distribution") == "opensearch" or "opensearch" in str(info.get("tagline", "")).lower()

    def clause(self, field: str, feature: str, weight: float) -> dict[str, Any]:
        return {"rank_feature": {"field": f"{field}.{feature}", "boost": weight, "linear": {}}}

    def connect(self, url: str, creds: Any, timeout: float) -> Any:
        osp = self.client_lib()
        kwargs: dict[str, Any] = {"timeout": timeout, "verify_certs": creds.verify_certs}
        if creds.ca_certs:
            kwargs["ca_certs"] = creds.ca_certs
        if creds.api_key:
            kwargs["headers"] = creds.headers()
        elif creds.user is not None:
            kwargs["http_auth"] = (creds.user, creds.password or "")
        if not creds.verify_certs:
            kwargs["ssl_show_warn"] = False
        return osp.OpenSearch(hosts=self.hosts(url), **kwargs)

    def error_types(self) -> tuple[type[BaseException], ...]:
        return (self.client_lib().exceptions.OpenSearchException,)


SPEC = OpenSearchSpec()
