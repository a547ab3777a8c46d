"""Elasticsearch 8.11+: ``sparse_vector`` (server core), boosted ``term`` queries, elasticsearch-py 8.

- Query: ``term`` on the ``sparse_vector`` field with ``boost = q_t`` (``SparseVectorFieldType.termQuery`` is
  a linear FeatureField query). The ``sparse_vector`` query itself needs the ML plugin, which the integ-test
  distribution lacks; ``rank_features`` needs mapper-extras, which Elasticsearch 8/9 test zips do not ship.
- Index: Elasticsearch 9 leaves ``sparse_vector`` values out of ``_source`` by default; spladekit reads them
  back (explanations, parity), so indexes are created with ``index.mapping.exclude_source_vectors: false``.
- The integ-test distribution has no ``GET /`` endpoint (405) but names itself in ``X-elastic-product``.
- Security: x-pack security ships in the integ-test zip (module ``x-pack-security``). A secured node gets TLS from
  PEM files on HTTP and transport, and the built-in superuser ``elastic`` takes its password from
  ``bootstrap.password`` in the node's keystore (``bin/elasticsearch-keystore add -x``). Roles, users and API keys
  are the ``_security`` REST API; ``_security/user/_has_privileges`` checks an ingest's privileges up front.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spladekit.dialects.base import Access, EngineSpec, NodeAdmin, ToolRunner
from spladekit.errors import EngineError, InputError

#: Index privileges of the test roles (:meth:`ElasticsearchSpec.put_role`).
_ROLE_PRIVILEGES = {
    "ingest": ["create_index", "write", "view_index_metadata"],
    "search": ["read", "view_index_metadata"],
}
#: What ``spladekit ingest`` needs on an existing index: write documents (``index``), read ``_meta``.
_INGEST_PRIVILEGES = ["index", "view_index_metadata"]
#: How long put_user waits for the node to load a file-based user and its roles.
_RELOAD_TIMEOUT = 60.0


def _read_roles(path: Path) -> dict[str, Any]:
    """The roles of a roles.yml written by :meth:`ElasticsearchSpec.put_role`: one ``name: {json}`` line each
    (Elasticsearch parses the file one top-level block at a time, so each role keeps to its line)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    roles = {}
    for line in lines:
        name, sep, body = line.partition(": ")
        if sep and not line.startswith(("#", " ")):
            try:
                roles[name] = json.loads(body)
            except ValueError:
                continue
    return roles


def _read_pairs(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in lines if ":" in line and not line.startswith("#"))


def _pbkdf2(password: str, cost: int = 10_000) -> str:
    """Elasticsearch's ``{PBKDF2}`` password hash (PBKDF2-HMAC-SHA512, 32-byte salt and key), which every realm
    reads whatever its own hashing setting."""
    salt = os.urandom(32)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, cost, 32)
    return f"{{PBKDF2}}{cost}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def _wait_for_user(user: NodeAdmin, conf: Path, roles: Sequence[str]) -> None:
    """Until the node authenticates the new user and grants it what its file-based roles say."""
    defined = _read_roles(conf / "roles.yml")
    wanted = [grant for role in roles for grant in defined.get(role, {}).get("indices", [])]
    deadline = time.monotonic() + _RELOAD_TIMEOUT
    while True:
        try:
            if set(user("GET", "/_security/_authenticate").get("roles", [])) >= set(roles) and all(
                    user("POST", "/_security/user/_has_privileges", {"index": [g]})["has_all_requested"]
                    for g in wanted):
                return
        except EngineError:
            pass
        if time.monotonic() > deadline:
            raise EngineError(f"the node did not load the file-based user and roles ({', '.join(roles)}) from "
                              f"{conf} within {_RELOAD_TIMEOUT:.0f} s")
        time.sleep(0.3)


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
    api_key_scheme = "ApiKey"
    admin_user = "elastic"

    def node_settings(self) -> dict[str, Any]:
        # A local test node: no TLS, no users, unless secured (security_settings). Never expose it beyond 127.0.0.1.
        return {"xpack.security.enabled": False}

    # ------------------------------------------------------------------------------------------ security
    def security_settings(self, node_dn: str, admin_dn: str) -> dict[str, Any]:
        tls = {"key": "certs/node-key.pem", "certificate": "certs/node.pem",
               "certificate_authorities": ["certs/ca.pem"]}
        settings: dict[str, Any] = {"xpack.security.enabled": True}
        for layer in ("http", "transport"):
            settings[f"xpack.security.{layer}.ssl.enabled"] = True
            settings.update({f"xpack.security.{layer}.ssl.{k}": v for k, v in tls.items()})
        # Nodes of one cluster trust each other's certificate by its CA; host names are not checked between them.
        settings["xpack.security.transport.ssl.verification_mode"] = "certificate"
        # File-based users and roles (put_user, put_role) are picked up within a second.
        settings["resource.reload.interval.high"] = "1s"
        return settings

    def prepare_security(self, conf: Path, password: str, run_tool: ToolRunner) -> None:
        # The built-in superuser's password, read once at start-up while the security index has none.
        if not (conf / "elasticsearch.keystore").is_file():
            run_tool(["bin/elasticsearch-keystore", "create"], None)
        run_tool(["bin/elasticsearch-keystore", "add", "--force", "--stdin", "bootstrap.password"], password)

    def put_role(self, admin: NodeAdmin, name: str, index: str, access: Access) -> None:
        # File-based (config/roles.yml): the integ-test zip cannot create the security index (see the module doc).
        roles = _read_roles(admin.conf / "roles.yml")
        # manage_own_api_key: the user may make API keys that act as itself (create_api_key)
        roles[name] = {"cluster": ["manage_own_api_key"],
                       "indices": [{"names": [index], "privileges": _ROLE_PRIVILEGES[access]}]}
        admin.write_config("roles.yml", "".join(f"{k}: {json.dumps(v)}\n" for k, v in roles.items()))

    def put_user(self, admin: NodeAdmin, name: str, password: str, roles: Sequence[str]) -> None:
        # The file realm (config/users, config/users_roles), which needs no security index; the node reloads both
        # files within resource.reload.interval.high (1 s on spladekit's secured nodes).
        users = {k: v for k, v in _read_pairs(admin.conf / "users").items() if k != name}
        users[name] = _pbkdf2(password)
        admin.write_config("users", "".join(f"{k}:{v}\n" for k, v in users.items()))
        by_role = {r: [u for u in us.split(",") if u and u != name]
                   for r, us in _read_pairs(admin.conf / "users_roles").items()}
        for role in roles:
            by_role.setdefault(role, []).append(name)
        admin.write_config("users_roles", "".join(f"{r}:{','.join(us)}\n" for r, us in by_role.items() if us))
        _wait_for_user(admin.as_user(name, password), admin.conf, roles)

    def create_api_key(self, admin: NodeAdmin, name: str, *, seconds: int | None = None) -> str:
        body: dict[str, Any] = {"name": name}
        if seconds is not None:
            body["expiration"] = f"{int(seconds)}s"
        try:
            return str(admin("POST", "/_security/api_key", body)["encoded"])
        except EngineError as exc:
            if "pattern_capture" not in str(exc):
                raise
            raise EngineError(
                f"{self.title} could not store an API key: API keys live in the security index, whose mapping needs "
                "the analysis-common module (its pattern_capture filter), and the integ-test distribution does not "
                "ship that module. Against a full distribution (Docker image, tar.gz) API keys work") from None

    def invalidate_api_key(self, admin: NodeAdmin, key: str) -> None:
        try:
            key_id = base64.b64decode(key, validate=True).decode().split(":", 1)[0]
        except ValueError:
            raise InputError("not an Elasticsearch API key (base64 of id:key, the 'encoded' value)") from None
        admin("DELETE", "/_security/api_key", {"ids": [key_id]})

    def missing_write_privileges(self, client: Any, index: str) -> list[str]:
        es = self.client_lib()
        try:
            resp = client.security.has_privileges(index=[{"names": [index], "privileges": _INGEST_PRIVILEGES}])
        except es.ApiError as exc:
            if exc.meta.status in (401, 403):
                raise
            return []  # security is off (the endpoint refuses to run): nothing to check
        granted = dict(getattr(resp, "body", resp)).get("index", {}).get(index, {})
        return [p for p in _INGEST_PRIVILEGES if not granted.get(p)]

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
        kwargs: dict[str, Any] = {"request_timeout": timeout}
        if url.startswith("https"):  # the client refuses TLS options for http:// (the request then says why)
            kwargs["verify_certs"] = creds.verify_certs
            if creds.ca_certs:
                kwargs["ca_certs"] = creds.ca_certs
            if not creds.verify_certs:
                kwargs["ssl_show_warn"] = False
        if creds.api_key:
            kwargs["api_key"] = creds.api_key
        elif creds.user is not None:
            kwargs["basic_auth"] = (creds.user, creds.password or "")
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
