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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from spladekit.errors import EngineError, missing_extra

#: What a test role allows on one index (:meth:`EngineSpec.put_role`).
Access = Literal["ingest", "search"]


class NodeAdmin(Protocol):
    """A secured node, as the dialects administer it (``spladekit.engines.node.Node.admin()`` makes one)."""

    #: The node's config folder (where file-based users and roles go).
    conf: Path

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        """One request as the superuser (or the user of :meth:`as_user`): the parsed JSON answer; an HTTP error
        raises :class:`spladekit.errors.EngineError`."""

    def as_user(self, user: str, password: str) -> NodeAdmin:
        """The same node, with requests made as ``user``."""

    def write_config(self, name: str, text: str) -> None:
        """Write ``text`` to ``conf/name``, readable by the node's user only."""

#: ``run_tool(argv, stdin)``: run one of the distribution's command-line tools (``bin/...``) for this node, as the
#: node's user, with its Java and config folder; raises :class:`spladekit.errors.EngineError` when it fails.
ToolRunner = Callable[[Sequence[str], str | None], None]


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
    #: How ``--api-key`` goes into the ``Authorization`` header (``ApiKey <key>``, ``Bearer <token>``).
    api_key_scheme: str = "ApiKey"
    #: The superuser of a secured test node (:meth:`security_settings`), whose password the node folder holds.
    admin_user: str = ""

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

    # ------------------------------------------------------------------------------------------ security
    # A secured test node (``spladekit engine start --secure``, ``node.start(..., security=...)``): TLS on HTTP
    # and transport with certificates made for it (``spladekit.engines.security``; the files sit in the node's
    # ``config/certs``), users, and the superuser :attr:`admin_user` with a password made for it.

    def security_artifacts(self) -> tuple[str, ...]:
        """Maven artifacts (plugin zips) a secured node needs on top of :meth:`artifacts` (none: it ships)."""
        return ()

    def install_security(self, home: Path, plugins: Sequence[Path], run_tool: ToolRunner) -> None:
        """Install :meth:`security_artifacts` into ``home``, a copy of the distribution kept for secured nodes."""

    def security_settings(self, node_dn: str, admin_dn: str) -> dict[str, Any]:
        """Node settings that turn security on, with TLS from ``certs/`` of the config folder."""
        raise NotImplementedError(f"{self.title} test nodes cannot be secured by spladekit")

    def prepare_security(self, conf: Path, password: str, run_tool: ToolRunner) -> None:
        """Write what the node reads at start-up besides its settings (a keystore, the security plugin's files)."""

    def admin_by_certificate(self) -> bool:
        """Whether the node is administered with the admin client certificate until :meth:`bootstrap_security`
        has made the superuser (else with the superuser's password from the first request)."""
        return False

    def bootstrap_security(self, admin: NodeAdmin, password: str) -> None:
        """After start-up: make :attr:`admin_user` with ``password`` if the engine has no built-in superuser."""

    def put_role(self, admin: NodeAdmin, name: str, index: str, access: Access) -> None:
        """Create or replace role ``name``: what spladekit needs on ``index`` for ``access``: ``ingest`` (create
        the index, write documents, read its mapping and ``_meta``; no read of documents) or ``search`` (read
        documents and the mapping; no write)."""
        raise NotImplementedError

    def put_user(self, admin: NodeAdmin, name: str, password: str, roles: Sequence[str]) -> None:
        """Create or replace user ``name`` with ``password`` and ``roles``."""
        raise NotImplementedError

    def create_api_key(self, admin: NodeAdmin, name: str, *, seconds: int | None = None) -> str:
        """A new API key (the value ``--api-key`` takes) acting as the user ``admin`` authenticates as, valid for
        ``seconds`` (None: the engine's default)."""
        raise NotImplementedError

    def invalidate_api_key(self, admin: NodeAdmin, key: str) -> None:
        """Invalidate an API key made by :meth:`create_api_key` (an error names the engine's own limit)."""
        raise NotImplementedError

    def missing_write_privileges(self, client: Any, index: str) -> list[str]:
        """The privileges an ingest into existing ``index`` needs that the client's user (or key) lacks; [] when it
        has them or security is off. Nothing is written."""
        return []

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
