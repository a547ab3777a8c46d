"""What an engine must spell out for spladekit: :class:`EngineSpec`, one subclass per engine module.

Everything that differs between OpenSearch and Elasticsearch lives in the engine's module of this package
(``opensearch.py``, ``elasticsearch.py``), the way a SQLAlchemy dialect keeps its database's spelling: the
sparse field's type, how one query term is written, how the index is created, the Python client and its
error types, how the engine names itself in ``GET /``, the test distribution on Maven Central, how a node
is configured and launched, and the Docker image. The rest of spladekit (``engines/``, ``query``,
``mappings``) is generic and never branches on an engine's name.

Client libraries are imported inside the methods that need them: they are the optional ``engines`` extra.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spladekit.errors import EngineError, missing_extra


class EngineSpec:
    """One engine's spelling. Subclasses set the class attributes and override the methods that differ."""

    #: Short name used on the command line and in reports (``--engine opensearch``).
    name: str = ""
    #: Human name for messages.
    title: str = ""
    #: Mapping type of the sparse field; both are Lucene FeatureFields underneath (the score contract).
    sparse_type: str = ""
    #: The release spladekit fetches, tests against and writes in docker/ (newest patch that resolved).
    version: str = ""
    #: First major release that needs Java 21 (the releases before it run on Java 17).
    java21_from: int = 0
    #: Maven ``group:artifact`` of the integ-test distribution (a zip without a bundled JDK).
    distribution: str = ""
    #: Docker image for users who run the engine with Docker (docker/compose.<name>.yml).
    docker_image: str = ""
    #: The node's config file name and launcher, relative to the distribution home.
    config_file: str = ""
    launcher: str = ""
    #: Environment variables the launcher reads for its Java home and config folder.
    java_home_env: str = ""
    conf_env: str = ""
    #: Prefix of the environment variables the launcher reads (left out of the node's environment).
    env_prefix: str = ""
    #: The setting naming the master-eligible nodes of a new cluster's first election (bootstrap only).
    initial_masters_setting: str = "cluster.initial_master_nodes"
    #: Who the credentials authenticate as (the security plugin's endpoint; absent when security is off).
    whoami_path: str = ""
    #: Python package of the client (for the missing-extra message) and its import name.
    client_package: str = ""
    client_module: str = ""

    # ------------------------------------------------------------------------------------------ release
    @property
    def version_env(self) -> str:
        """Set this variable to fetch and start another release (``SPLADEKIT_OPENSEARCH_VERSION``)."""
        return f"SPLADEKIT_{self.name.upper()}_VERSION"

    def release(self) -> str:
        """The release to fetch and start: ``$SPLADEKIT_<ENGINE>_VERSION``, else the pinned :attr:`version`."""
        wanted = os.environ.get(self.version_env)
        if not wanted:
            return self.version
        if not re.fullmatch(r"\d+\.\d+\.\d+", wanted):
            raise EngineError(
                f"{self.version_env}={wanted!r} is not a release number like {self.version}; set it to one "
                f"(or unset it for the pinned {self.version})"
            )
        return wanted

    def java_needed(self) -> int:
        """The oldest Java major version :meth:`release` runs on."""
        return 21 if int(self.release().split(".", 1)[0]) >= self.java21_from else 17

    def artifacts(self) -> tuple[str, tuple[str, ...]]:
        """(distribution, extra module jars) of :meth:`release` as Maven ``group:artifact:version:type``."""
        return f"{self.distribution}:{self.release()}:zip", ()

    def install_modules(self, home: Path, jars: list[Path]) -> None:
        """Install the extra module jars of :meth:`artifacts` into an unpacked distribution at ``home``."""

    # ------------------------------------------------------------------------------------------ node
    def node_settings(self) -> dict[str, Any]:
        """Settings this engine's test node needs on top of the generic ones (engines/node.py)."""
        return {}

    def cluster_settings(self, name: str, node_name: str, seed_hosts: list[str],
                         initial_masters: list[str] | None) -> dict[str, Any]:
        """Discovery settings of one node of a multi-node cluster: its cluster and node names, the transport
        addresses of every member (``discovery.seed_hosts``) and, on the cluster's very first start only, the
        nodes of the first election (``initial_masters``; None once the cluster has formed)."""
        out: dict[str, Any] = {"cluster.name": name, "node.name": node_name, "discovery.seed_hosts": list(seed_hosts)}
        if initial_masters:
            out[self.initial_masters_setting] = list(initial_masters)
        return out

    def launch_env(self, java_home: Path, conf_dir: Path, tmp_dir: Path) -> dict[str, str]:
        """Environment variables the launcher needs (its Java home and config folder)."""
        return {self.java_home_env: str(java_home), self.conf_env: str(conf_dir)}

    # ------------------------------------------------------------------------------------------ detection
    def recognizes(self, headers: Mapping[str, str], info: Mapping[str, Any]) -> bool:
        """Whether ``GET /`` (response headers and parsed body) came from this engine."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------ queries
    def clause(self, field: str, feature: str, weight: float) -> dict[str, Any]:
        """One query term as a should-clause scoring ``weight * decoded stored value`` (a linear FeatureField
        query: the score contract)."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------ client
    def client_lib(self) -> Any:
        """The client library module (``opensearchpy``, ``elasticsearch``); a missing one names the extra."""
        try:
            return importlib.import_module(self.client_module)
        except ImportError:
            raise missing_extra(self.client_package, "engines") from None

    def helpers(self) -> Any:
        """The client's ``helpers`` module (``streaming_bulk``)."""
        self.client_lib()
        return importlib.import_module(f"{self.client_module}.helpers")

    def connect(self, url: str, creds: Any, timeout: float) -> Any:
        """A client for ``url`` (credential-free; a comma-separated list for several nodes, see :meth:`hosts`)
        with ``creds`` (:class:`spladekit.engines.Credentials`)."""
        raise NotImplementedError

    @staticmethod
    def hosts(url: str) -> list[str]:
        """The nodes a client is given: every URL of a comma-separated list. The client spreads requests over
        them and retries a request that failed to connect (a node down) on another."""
        return [u for u in url.split(",") if u]

    def error_types(self) -> tuple[type[BaseException], ...]:
        """Exceptions the client raises for engine and transport errors."""
        raise NotImplementedError

    def create_index(self, client: Any, index: str, body: Mapping[str, Any]) -> None:
        """Create ``index`` from a mapping body (``{"settings", "mappings"}``)."""
        client.indices.create(index=index, body=dict(body))

    def search(self, client: Any, index: str, body: Mapping[str, Any], **params: Any) -> dict[str, Any]:
        """Send a search body (``params``: URL parameters such as ``search_type``); the response as a dict."""
        return _as_dict(client.search(index=index, body=dict(body), **params))

    def mget(self, client: Any, index: str, ids: list[str]) -> dict[str, Any]:
        return _as_dict(client.mget(index=index, body={"ids": ids}))


def _as_dict(resp: Any) -> dict[str, Any]:
    """elasticsearch-py 8 wraps responses in ``ObjectApiResponse``; opensearch-py returns dicts."""
    return dict(getattr(resp, "body", resp))
