"""Secured test nodes: throw-away TLS certificates, an admin password, and a small admin HTTP client.

:func:`make` writes, into one folder, a CA made on the spot (``trustme``), a node certificate for the node's host
names (used for HTTP and for the transport layer between nodes), an admin client certificate (OpenSearch's
security plugin lets only a certificate named in ``plugins.security.authcz.admin_dn`` change its configuration) and
a random password for the engine's superuser. Nothing here is committed or fixed: every secured node gets its
own. The folder is the node's (mode 700 files), so a restart on the same data finds the same certificates and
password. What each engine does with them (settings, keystore, security plugin files) is in its dialect.

:func:`request` is the one HTTP call used to start, probe and administer a secured node (urllib, JSON in and
out, TLS verified against the folder's CA); it never puts a secret in an error message.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spladekit.errors import EngineError, missing_extra

#: The host names a secured node's certificate is issued for, unless told otherwise.
DEFAULT_HOSTS = ("127.0.0.1", "localhost")
CA, NODE_CERT, NODE_KEY = "ca.pem", "node.pem", "node-key.pem"
ADMIN_CERT, ADMIN_KEY = "admin.pem", "admin-key.pem"
PASSWORD_FILE = "admin-password"
INFO_FILE = "security.json"
#: Files the node reads (copied into its config folder: both engines read TLS files from there only).
NODE_FILES = (CA, NODE_CERT, NODE_KEY)


@dataclass(frozen=True)
class Security:
    """The certificates and superuser password of one secured node; ``repr`` shows no secret."""

    folder: Path
    hosts: tuple[str, ...]
    node_dn: str
    admin_dn: str

    def path(self, name: str) -> Path:
        return self.folder / name

    @property
    def ca(self) -> Path:
        """The CA bundle a client passes as ``ca_certs`` (``--ca-certs``)."""
        return self.folder / CA

    @property
    def password_file(self) -> Path:
        return self.folder / PASSWORD_FILE

    @property
    def admin_cert(self) -> tuple[Path, Path]:
        """(certificate, key) of the admin client certificate."""
        return self.folder / ADMIN_CERT, self.folder / ADMIN_KEY

    def password(self) -> str:
        """The superuser's password (read from its file, mode 600, in the node folder)."""
        return self.password_file.read_text(encoding="utf-8").strip()

    def host(self) -> str:
        """The host name a client uses to reach the node: the first one the certificate names."""
        return self.hosts[0]


def load(folder: str | Path) -> Security | None:
    """The :class:`Security` written by :func:`make` into ``folder``; None when there is none."""
    folder = Path(folder)
    try:
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not all((folder / f).is_file() for f in (*NODE_FILES, ADMIN_CERT, ADMIN_KEY, PASSWORD_FILE)):
        return None
    return Security(folder, tuple(info["hosts"]), info["node_dn"], info["admin_dn"])


def make(folder: str | Path, hosts: Sequence[str] = DEFAULT_HOSTS, password: str | None = None) -> Security:
    """Certificates and a password for a secured node, in ``folder``; the ones already there when it holds them
    (a restart on the same data). ``hosts``: the names and IP addresses the node certificate is valid for."""
    folder = Path(folder)
    found = load(folder)
    if found is not None:
        return found
    if not hosts:
        raise ValueError("a secured node needs at least one host name for its certificate (e.g. 127.0.0.1)")
    try:  # the engines extra: only a secured test node needs certificates made on the spot
        import trustme
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        raise missing_extra("trustme", "engines") from None

    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    ca = trustme.CA(organization_name="spladekit test CA", key_type=trustme.KeyType.RSA)
    node = ca.issue_cert(*hosts, common_name="spladekit-node", organization_name="spladekit",
                         organization_unit_name="node", key_type=trustme.KeyType.RSA)
    admin = ca.issue_cert("spladekit-admin", common_name="spladekit-admin", organization_name="spladekit",
                          organization_unit_name="admin", key_type=trustme.KeyType.RSA)

    def pkcs8(leaf: Any) -> bytes:
        # OpenSearch's security plugin reads PKCS#8 keys only; trustme writes the traditional form.
        key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def dn(leaf: Any) -> str:
        return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).subject.rfc4514_string()

    files = {
        CA: ca.cert_pem.bytes(),
        NODE_CERT: node.cert_chain_pems[0].bytes(),
        NODE_KEY: pkcs8(node),
        ADMIN_CERT: admin.cert_chain_pems[0].bytes(),
        ADMIN_KEY: pkcs8(admin),
        # Letters and digits only: any shell, YAML file or URL carries it unquoted.
        PASSWORD_FILE: (password or new_password()).encode() + b"\n",
    }
    for name, data in files.items():
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    info = {"hosts": list(hosts), "node_dn": dn(node), "admin_dn": dn(admin)}
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return Security(folder, tuple(hosts), info["node_dn"], info["admin_dn"])


def new_password(length: int = 24) -> str:
    """A random password of letters and digits, with at least one of each kind (password rules of the engines)."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.islower() for c in pw) and any(c.isupper() for c in pw) and any(c.isdigit() for c in pw):
            return pw


def ssl_context(ca_certs: str | Path | None, *, verify: bool = True,
                client_cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """A client TLS context: the CA bundle (system roots when None), hostname checked unless ``verify`` is off."""
    ctx = ssl.create_default_context(cafile=str(ca_certs) if ca_certs else None)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        ctx.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    return ctx


def basic(user: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header of HTTP basic auth."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def request(url: str, method: str, path: str, body: Mapping[str, Any] | Sequence[Any] | str | None = None, *,
            headers: Mapping[str, str] | None = None, context: ssl.SSLContext | None = None,
            timeout: float = 30.0) -> tuple[int, Any]:
    """``(HTTP status, parsed JSON or None)`` of one request; HTTP errors are returned, not raised.

    ``body``: JSON (a mapping or list) or NDJSON text. Connection and TLS failures raise :class:`EngineError`
    naming the URL (never the headers).
    """
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        if isinstance(body, str):
            data, hdrs["Content-Type"] = body.encode(), "application/x-ndjson"
        else:
            data, hdrs["Content-Type"] = json.dumps(body).encode(), "application/json"
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310 (URL we built)
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise EngineError(f"{method} {url}{path} failed: {getattr(exc, 'reason', exc)}") from None
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, None
