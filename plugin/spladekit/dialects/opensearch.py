"""OpenSearch: ``rank_features`` (the mapper-extras module), linear ``rank_feature`` queries, opensearch-py.

- Query: ``rank_feature`` on ``<field>.<feature>`` with ``linear: {}`` and ``boost = q_t``. The default
  function is ``saturation``, which is not a dot product, so ``linear`` is always spelled out. The query splits
  the field path on its last dot: feature names never contain one (``spladekit.features`` escapes it).
- Distribution: the integ-test zip ships only the transport modules; ``rank_features`` lives in mapper-extras,
  whose client jar is installed as a module with a plugin descriptor (see :meth:`OpenSearchSpec.install_modules`).
- Security: the security plugin (``org.opensearch.plugin:opensearch-security:<version>.0:zip`` on Maven Central) is
  installed with ``bin/opensearch-plugin install`` into a copy of the distribution kept for secured nodes. Its
  configuration files are written by spladekit (no demo users or certificates): basic auth against the internal
  user database, On-Behalf-Of tokens, no users but the superuser ``admin``, which is made through the REST API with
  the admin client certificate once the node is up. OpenSearch 2.19 has no API keys: ``--api-key`` takes a bearer
  token (an On-Behalf-Of token, or a JWT where a jwt auth domain is configured), sent as ``Authorization: Bearer``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spladekit.dialects.base import Access, EngineSpec, NodeAdmin, ToolRunner
from spladekit.errors import EngineError

_SECURITY_API = "/_plugins/_security/api"
#: Permissions of the test roles (:meth:`OpenSearchSpec.put_role`): bulk, mget and msearch are cluster-level
#: actions in the security plugin; HEAD index is ``indices:admin/get``.
_ROLE_PERMISSIONS: dict[str, dict[str, list[str]]] = {
    "ingest": {"cluster": ["indices:data/write/bulk", "security:obo/create"],
               "index": ["indices:data/write/*", "indices:admin/create", "indices:admin/get",
                         "indices:admin/mappings/get", "indices:admin/mapping/put"]},
    "search": {"cluster": ["cluster_composite_ops_ro", "security:obo/create"],
               "index": ["read", "indices:admin/get", "indices:admin/mappings/get"]},
}
#: On-Behalf-Of tokens live five minutes by default and ten at most (the security plugin 2.19's own limits).
OBO_MAX_SECONDS = 600


def _yaml(doc: Mapping[str, Any]) -> str:
    # JSON is YAML: no YAML library needed, and nothing is left to YAML's implicit typing.
    return json.dumps(doc, indent=2) + "\n"


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
    api_key_scheme = "Bearer"
    admin_user = "admin"

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

    # ------------------------------------------------------------------------------------------ security
    def security_artifacts(self) -> tuple[str, ...]:
        return (f"org.opensearch.plugin:opensearch-security:{self.release()}.0:zip",)

    def install_security(self, home: Path, plugins: Sequence[Path], run_tool: ToolRunner) -> None:
        (plugin,) = plugins
        # --batch grants the permissions the plugin asks for (its policy file) without a prompt.
        run_tool(["bin/opensearch-plugin", "install", "--batch", plugin.resolve().as_uri()], None)

    def security_settings(self, node_dn: str, admin_dn: str) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        for layer in ("transport", "http"):
            settings |= {f"plugins.security.ssl.{layer}.pemcert_filepath": "certs/node.pem",
                         f"plugins.security.ssl.{layer}.pemkey_filepath": "certs/node-key.pem",
                         f"plugins.security.ssl.{layer}.pemtrustedcas_filepath": "certs/ca.pem"}
        return settings | {
            "plugins.security.ssl.http.enabled": True,
            # Nodes of one cluster trust each other by CA and by name (nodes_dn), not by host name.
            "plugins.security.ssl.transport.enforce_hostname_verification": False,
            "plugins.security.nodes_dn": [node_dn],
            "plugins.security.authcz.admin_dn": [admin_dn],
            # The security index is made from config/opensearch-security/*.yml at the first start.
            "plugins.security.allow_default_init_securityindex": True,
            "plugins.security.restapi.roles_enabled": ["all_access"],
            "plugins.security.system_indices.enabled": True,
            "plugins.security.audit.type": "noop",
        }

    def prepare_security(self, conf: Path, password: str, run_tool: ToolRunner) -> None:
        folder = conf / "opensearch-security"
        if not folder.is_dir():
            raise EngineError(f"{folder} is missing: the security plugin is not installed in this node's "
                              "distribution (spladekit engine fetch installs it for secured nodes)")
        meta = {"config_version": 2}
        obo_keys = folder / ".spladekit-obo.json"
        if obo_keys.is_file():  # a restart on the same data keeps its tokens' keys
            obo = json.loads(obo_keys.read_text())
        else:
            obo = {"enabled": True, "signing_key": base64.b64encode(secrets.token_bytes(64)).decode(),
                   "encryption_key": base64.b64encode(secrets.token_bytes(16)).decode()}
            obo_keys.write_text(json.dumps(obo))
            obo_keys.chmod(0o600)
        basic = {"description": "HTTP basic auth against the internal user database", "http_enabled": True,
                 "transport_enabled": True, "order": 0,
                 "http_authenticator": {"type": "basic", "challenge": True},
                 "authentication_backend": {"type": "intern"}}
        files = {
            "config.yml": {"_meta": {"type": "config", **meta}, "config": {"dynamic": {
                "http": {"anonymous_auth_enabled": False},
                "authc": {"basic_internal_auth_domain": basic}, "authz": {}, "on_behalf_of": obo}}},
            # No user at all: the superuser is made through the REST API (bootstrap_security), with its password.
            "internal_users.yml": {"_meta": {"type": "internalusers", **meta}},
            "roles.yml": {"_meta": {"type": "roles", **meta}},
            "roles_mapping.yml": {"_meta": {"type": "rolesmapping", **meta},
                                  "all_access": {"reserved": False, "users": [self.admin_user]}},
            "action_groups.yml": {"_meta": {"type": "actiongroups", **meta}},
            "tenants.yml": {"_meta": {"type": "tenants", **meta}},
            "nodes_dn.yml": {"_meta": {"type": "nodesdn", **meta}},
        }
        for name, doc in files.items():
            (folder / name).write_text(_yaml(doc))

    def admin_by_certificate(self) -> bool:
        return True

    def bootstrap_security(self, admin: NodeAdmin, password: str) -> None:
        admin("PUT", f"{_SECURITY_API}/internalusers/{self.admin_user}",
             {"password": password, "description": "superuser of a spladekit test node"})

    def put_role(self, admin: NodeAdmin, name: str, index: str, access: Access) -> None:
        perms = _ROLE_PERMISSIONS[access]
        admin("PUT", f"{_SECURITY_API}/roles/{name}", {
            "cluster_permissions": perms["cluster"],
            "index_permissions": [{"index_patterns": [index], "allowed_actions": perms["index"]}]})

    def put_user(self, admin: NodeAdmin, name: str, password: str, roles: Sequence[str]) -> None:
        admin("PUT", f"{_SECURITY_API}/internalusers/{name}",
             {"password": password, "opendistro_security_roles": list(roles)})

    def create_api_key(self, admin: NodeAdmin, name: str, *, seconds: int | None = None) -> str:
        # An On-Behalf-Of token of the calling user (who needs the cluster permission security:obo/create):
        # OpenSearch 2.19's nearest thing to an API key. The engine caps its life (OBO_MAX_SECONDS).
        body = {"description": name} | ({} if seconds is None else {"durationSeconds": int(seconds)})
        answer = admin("POST", f"{_SECURITY_API}/generateonbehalfoftoken", body)
        return str(answer["authenticationToken"])

    def invalidate_api_key(self, admin: NodeAdmin, key: str) -> None:
        raise EngineError("OpenSearch 2.19 cannot invalidate an On-Behalf-Of token; it expires on its own (at most "
                          f"{OBO_MAX_SECONDS} s); to cut one short, change the signing key in the security "
                          "configuration")

    def missing_write_privileges(self, client: Any, index: str) -> list[str]:
        # No privilege-check API: a bulk index of a new id that must fail its version check. Authorised, the
        # engine answers 409 and writes nothing; not authorised, 403.
        osp = self.client_lib()
        if not client.indices.exists(index=index):
            return []  # the probe would create it; the index is created (or refused) first
        probe = f"_spladekit_write_probe_{uuid.uuid4().hex}"
        body = [{"index": {"_index": index, "_id": probe, "if_seq_no": 0, "if_primary_term": 1}}, {}]
        try:
            resp = client.bulk(body=body)
        except osp.exceptions.AuthorizationException:
            return ["indices:data/write/bulk", "indices:data/write/index"]
        item = (resp.get("items") or [{}])[0].get("index", {})
        if item.get("status") == 403:
            return ["indices:data/write/index"]
        return []

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
            kwargs["headers"] = creds.headers(self.api_key_scheme)
        elif creds.user is not None:
            kwargs["http_auth"] = (creds.user, creds.password or "")
        if not creds.verify_certs:
            kwargs["ssl_show_warn"] = False
        return osp.OpenSearch(hosts=self.hosts(url), **kwargs)

    def error_types(self) -> tuple[type[BaseException], ...]:
        return (self.client_lib().exceptions.OpenSearchException,)


SPEC = OpenSearchSpec()
