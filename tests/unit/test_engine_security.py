"""Security without an engine: the certificates a secured test node gets, the one-line errors of TLS trouble and
refused credentials (against local HTTPS servers made with those certificates), the write-privilege probes, and
what each dialect writes for a secured node. The real secured nodes are tests/integration/test_security.py."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _support import need, send_json
from spladekit import dialects
from spladekit.cli import main
from spladekit.engines import Credentials, connect, detect_engine
from spladekit.engines import security as tls
from spladekit.engines.base import EngineIndex, auth_error
from spladekit.errors import EngineError

x509 = need("cryptography.x509", "the test certificates are read with cryptography (the engines extra)")


# ----------------------------------------------------------------------------------------------- certificates


def test_make_writes_a_fresh_ca_node_and_admin_certificate(tmp_path: Path) -> None:
    sec = tls.make(tmp_path / "s", hosts=("localhost", "127.0.0.1"))
    assert stat.S_IMODE(os.stat(sec.folder).st_mode) == 0o700
    for name in (tls.CA, tls.NODE_CERT, tls.NODE_KEY, tls.ADMIN_CERT, tls.ADMIN_KEY, tls.PASSWORD_FILE):
        assert stat.S_IMODE(os.stat(sec.path(name)).st_mode) == 0o600, name
    # OpenSearch reads PKCS#8 keys only
    assert sec.path(tls.NODE_KEY).read_text().startswith("-----BEGIN PRIVATE KEY-----")
    ca = x509.load_pem_x509_certificate(sec.ca.read_bytes())
    node = x509.load_pem_x509_certificate(sec.path(tls.NODE_CERT).read_bytes())
    admin = x509.load_pem_x509_certificate(sec.path(tls.ADMIN_CERT).read_bytes())
    assert node.issuer == ca.subject == admin.issuer
    names = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sec.node_dn == node.subject.rfc4514_string() and sec.admin_dn == admin.subject.rfc4514_string()
    assert sec.node_dn != sec.admin_dn and sec.host() == "localhost"
    password = sec.password()
    assert len(password) == 24 and password.isalnum() and password not in repr(sec)
    # a restart on the same folder keeps everything; another node gets its own CA and password
    again = tls.make(tmp_path / "s")
    assert again == sec and again.password() == password
    other = tls.make(tmp_path / "t")
    assert other.ca.read_bytes() != sec.ca.read_bytes() and other.password() != password
    with pytest.raises(ValueError, match="host name"):
        tls.make(tmp_path / "u", hosts=())


def test_new_passwords_mix_letters_and_digits() -> None:
    pws = {tls.new_password() for _ in range(50)}
    assert len(pws) == 50
    assert all(any(c.isdigit() for c in p) and any(c.isupper() for c in p) and any(c.islower() for c in p)
               for p in pws)


# ----------------------------------------------------------------------------------------------- TLS errors


def _server(handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext | None) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _ElasticLike(BaseHTTPRequestHandler):
    """Answers like a secured Elasticsearch: 401 with its reason unless the password is right, else 405 (the
    integ-test zip has no GET /) naming the product."""

    password = "right-password-1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.headers.get("Authorization") == "Basic " + base64.b64encode(
                f"elastic:{self.password}".encode()).decode():
            self._send(405, {"error": "Incorrect HTTP method"}, {"X-elastic-product": "Elasticsearch"})
        else:
            self._send(401, {"error": {"root_cause": [{
                "type": "security_exception", "reason": "unable to authenticate with provided credentials",
                "additional_unsuccessful_credentials": "API key: api key [abc] has expired"}]}, "status": 401}, {})

    def _send(self, status: int, body: dict, headers: dict[str, str]) -> None:
        send_json(self, status, body, headers)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tls.Security:
    return tls.make(tmp_path_factory.mktemp("certs") / "s", hosts=("localhost",))


@pytest.fixture
def https_port(certs: tls.Security) -> Iterator[int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.path(tls.NODE_CERT), certs.path(tls.NODE_KEY))
    yield from _server(_ElasticLike, ctx)


@pytest.fixture
def http_port() -> Iterator[int]:
    yield from _server(_ElasticLike, None)


def _creds(ca: Path | None = None, verify: bool = True, password: str = _ElasticLike.password) -> Credentials:
    return Credentials(user="elastic", password=password, ca_certs=str(ca) if ca else None, verify_certs=verify)


def test_tls_is_verified_with_the_ca_given(certs: tls.Security, https_port: int) -> None:
    assert detect_engine(f"https://localhost:{https_port}", _creds(certs.ca)) == "elasticsearch"
    assert detect_engine(f"https://127.0.0.1:{https_port}", _creds(verify=False)) == "elasticsearch"


def test_untrusted_certificate_names_ca_certs(https_port: int) -> None:
    with pytest.raises(EngineError, match="is not trusted .*--ca-certs FILE.*--insecure"):
        detect_engine(f"https://localhost:{https_port}", _creds())


def test_host_name_mismatch_names_the_host(certs: tls.Security, https_port: int) -> None:
    with pytest.raises(EngineError, match="not valid for the host name '127.0.0.1'"):
        detect_engine(f"https://127.0.0.1:{https_port}", _creds(certs.ca))


def test_http_against_https_and_back(certs: tls.Security, https_port: int, http_port: int) -> None:
    with pytest.raises(EngineError, match=f"serves HTTPS.*use https://localhost:{https_port}"):
        detect_engine(f"http://localhost:{https_port}", _creds())
    with pytest.raises(EngineError, match=f"does not speak TLS.*use http://127.0.0.1:{http_port}"):
        detect_engine(f"https://127.0.0.1:{http_port}", _creds(certs.ca))


@pytest.mark.parametrize("engine", dialects.names())
def test_client_errors_name_the_same_fixes(engine: str, certs: tls.Security, https_port: int) -> None:
    """With the engine given there is no detection: the client library's errors get the same messages."""
    need(dialects.get(engine).client_module, f"the {engine} client library (the engines extra)")
    cases = [
        (f"https://localhost:{https_port}", _creds(), "is not trusted"),
        (f"https://127.0.0.1:{https_port}", _creds(certs.ca), "not valid for the host name '127.0.0.1'"),
        (f"http://localhost:{https_port}", _creds(certs.ca), "serves HTTPS"),
    ]
    for url, creds, needle in cases:
        idx = connect(url, "docs", engine=engine, user=creds.user, password=creds.password, ca_certs=creds.ca_certs,
                      timeout=5)
        with pytest.raises(EngineError, match=needle):
            idx.count()


def test_refused_credentials_say_why_and_what_to_change(certs: tls.Security, https_port: int) -> None:
    with pytest.raises(EngineError) as info:
        detect_engine(f"https://localhost:{https_port}", _creds(certs.ca, password="wrong-password-2"))
    text = str(info.value)
    assert "refused the credentials (HTTP 401: unable to authenticate" in text and "has expired" in text
    assert "$SPLADEKIT_ENGINE_PASSWORD" in text and "--api-key" in text and "wrong-password-2" not in text
    forbidden = str(auth_error("https://u:p4ss@h:9200", 403, "no permissions for [indices:data/read/search]",
                               "search on index 'docs'"))
    assert "accepted the credentials but refused to search on index 'docs' (HTTP 403: no permissions" in forbidden
    assert "p4ss" not in forbidden


class _OpenSearchLike(BaseHTTPRequestHandler):
    """OpenSearch's security plugin: bearer tokens only; this user may not read GET / but may read authinfo."""

    def do_GET(self) -> None:  # noqa: N802
        if self.headers.get("Authorization") != "Bearer tok-1":
            status, body = 401, b"Unauthorized"
        elif self.path == "/_plugins/_security/authinfo":
            status, body = 200, b'{"user_name": "ingester"}'
        else:
            status, body = 403, b'{"error": {"root_cause": [{"reason": "no permissions for [cluster:monitor/main]"}]}}'
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_api_key_in_each_dialects_spelling_and_403_on_root() -> None:
    for port in _server(_OpenSearchLike, None):
        assert detect_engine(f"http://127.0.0.1:{port}", Credentials(api_key="tok-1")) == "opensearch"
        with pytest.raises(EngineError, match="HTTP 401"):
            detect_engine(f"http://127.0.0.1:{port}", Credentials(api_key="tok-2"))


# ----------------------------------------------------------------------------------------------- privileges


class _Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status
        self.info = {"error": {"root_cause": [{"type": "security_exception", "reason": "no permissions"}]}}


class _Spec:
    """A dialect whose probe and refresh answer what a test says."""

    name = "fake"
    missing: list[str] = []

    def error_types(self) -> tuple[type[BaseException], ...]:
        return (_Refused,)

    def missing_write_privileges(self, client: Any, index: str) -> list[str]:
        return list(self.missing)


class _Indices:
    def refresh(self, index: str) -> None:
        raise _Refused(403)


class _Client:
    indices = _Indices()


def test_check_write_names_the_missing_privileges() -> None:
    spec = _Spec()
    idx = EngineIndex(spec, _Client(), "docs", "https://bob:pw@h:9200")  # type: ignore[arg-type]
    idx.check_write()  # nothing missing
    spec.missing = ["index", "view_index_metadata"]
    with pytest.raises(EngineError, match="may not ingest into index 'docs' .*index, view_index_metadata.*"
                                          "nothing was encoded"):
        idx.check_write()
    # a user who may write but not refresh: the engine refreshes by itself
    assert idx.refresh(required=False) is False
    with pytest.raises(EngineError, match="HTTP 403"):
        idx.refresh()


class _Bulk:
    """opensearch-py's client as the OpenSearch probe uses it."""

    def __init__(self, exists: bool, answer: Any) -> None:
        self.calls: list[Any] = []
        self.answer = answer
        outer = self

        class Indices:
            def exists(self, index: str) -> bool:
                return exists

        self.indices = Indices()
        self.outer = outer

    def bulk(self, body: list) -> dict:
        self.calls.append(body)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def test_opensearch_probe_writes_nothing() -> None:
    osp = need("opensearchpy", "the OpenSearch client library (the engines extra)")
    spec = dialects.get("opensearch")
    conflict = {"items": [{"index": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}}]}
    client = _Bulk(True, conflict)
    assert spec.missing_write_privileges(client, "docs") == []
    action = client.calls[0][0]["index"]
    assert action["if_seq_no"] == 0 and action["if_primary_term"] == 1 and client.calls[0][1] == {}
    forbidden = {"items": [{"index": {"status": 403, "error": {"type": "security_exception"}}}]}
    assert spec.missing_write_privileges(_Bulk(True, forbidden), "docs") == ["indices:data/write/index"]
    refused = osp.exceptions.AuthorizationException(403, "security_exception", {})
    assert "indices:data/write/bulk" in spec.missing_write_privileges(_Bulk(True, refused), "docs")
    missing_index = _Bulk(False, conflict)
    assert spec.missing_write_privileges(missing_index, "docs") == [] and missing_index.calls == []


# ----------------------------------------------------------------------------------------------- dialect files


class _Admin:
    """A NodeAdmin over a config folder; requests answer as a node that loaded every file at once."""

    def __init__(self, conf: Path) -> None:
        self.conf = conf
        self.requests: list[tuple[str, str]] = []

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        self.requests.append((method, path))
        if path == "/_security/_authenticate":
            users_roles = (self.conf / "users_roles").read_text()
            return {"roles": [line.split(":")[0] for line in users_roles.splitlines()]}
        return {"has_all_requested": True}

    def as_user(self, user: str, password: str) -> _Admin:
        return self

    def write_config(self, name: str, text: str) -> None:
        (self.conf / name).write_text(text)


def test_elasticsearch_users_and_roles_are_files_it_reads(tmp_path: Path) -> None:
    spec = dialects.get("elasticsearch")
    (tmp_path / "roles.yml").write_text("# the distribution's file: comments only\n")
    admin = _Admin(tmp_path)
    spec.put_role(admin, "ingest-docs", "docs", "ingest")
    spec.put_role(admin, "search-docs", "docs", "search")
    spec.put_user(admin, "ingester", "pw-one-1A", ["ingest-docs"])
    spec.put_user(admin, "searcher", "pw-two-2B", ["search-docs"])
    spec.put_user(admin, "ingester", "pw-three-3C", ["ingest-docs", "search-docs"])  # replaced, not added
    roles = [line.split(": ", 1) for line in (tmp_path / "roles.yml").read_text().splitlines()]
    assert [r[0] for r in roles] == ["ingest-docs", "search-docs"]  # one line each: ES parses role by role
    assert json.loads(roles[0][1])["indices"][0] == {
        "names": ["docs"], "privileges": ["create_index", "write", "view_index_metadata"]}
    users = dict(line.split(":", 1) for line in (tmp_path / "users").read_text().splitlines())
    assert sorted(users) == ["ingester", "searcher"]
    # {PBKDF2}cost$salt$key, PBKDF2-HMAC-SHA512: recomputed here from the password
    cost, salt, key = users["ingester"].removeprefix("{PBKDF2}").split("$")
    assert base64.b64decode(key) == hashlib.pbkdf2_hmac("sha512", b"pw-three-3C", base64.b64decode(salt),
                                                        int(cost), 32)
    assert "pw-three-3C" not in (tmp_path / "users").read_text()
    assert (tmp_path / "users_roles").read_text() == "ingest-docs:ingester\nsearch-docs:searcher,ingester\n"


def test_opensearch_security_files_have_no_demo_user(tmp_path: Path) -> None:
    spec = dialects.get("opensearch")
    folder = tmp_path / "opensearch-security"
    folder.mkdir()
    (folder / "internal_users.yml").write_text("admin:\n  hash: demo\n")  # what the plugin zip ships
    spec.prepare_security(tmp_path, "unused-here", lambda argv, stdin: None)
    users = json.loads((folder / "internal_users.yml").read_text())
    assert users == {"_meta": {"type": "internalusers", "config_version": 2}}
    config = json.loads((folder / "config.yml").read_text())["config"]["dynamic"]
    assert list(config["authc"]) == ["basic_internal_auth_domain"] and config["http"]["anonymous_auth_enabled"] is False
    keys = config["on_behalf_of"]
    assert len(base64.b64decode(keys["signing_key"])) == 64 and len(base64.b64decode(keys["encryption_key"])) == 16
    spec.prepare_security(tmp_path, "unused-here", lambda argv, stdin: None)  # a restart keeps the token keys
    assert json.loads((folder / "config.yml").read_text())["config"]["dynamic"]["on_behalf_of"] == keys
    settings = spec.security_settings("CN=node", "CN=admin")
    assert settings["plugins.security.authcz.admin_dn"] == ["CN=admin"]
    assert settings["plugins.security.nodes_dn"] == ["CN=node"]
    assert all("demo" not in str(v) for v in settings.values())


def test_elasticsearch_keystore_gets_the_password_on_stdin(tmp_path: Path) -> None:
    calls: list[tuple[list[str], str | None]] = []
    dialects.get("elasticsearch").prepare_security(tmp_path, "the-password-9", lambda a, s: calls.append((list(a), s)))
    assert calls[0] == (["bin/elasticsearch-keystore", "create"], None)
    assert calls[1][1] == "the-password-9" and "the-password-9" not in calls[1][0]  # never on a command line


# ----------------------------------------------------------------------------------------------- CLI


def test_engine_start_secure_help_and_usage() -> None:
    result = CliRunner().invoke(main, ["engine", "start", "--engine", "opensearch", "--cert-host", "db.local"])
    assert result.exit_code == 2 and "--cert-host applies to --secure only" in result.stderr
    out = CliRunner().invoke(main, ["engine", "status", "--help"]).output
    for option in ("--user", "--api-key", "--ca-certs", "--insecure", "--url"):
        assert option in out
