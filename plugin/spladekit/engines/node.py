"""Fetch, start and stop single-node OpenSearch / Elasticsearch test nodes without Docker.

The engines publish test distributions ("integ-test zips", no bundled JDK) to Maven Central; :func:`fetch`
copies them with ``mvn dependency:copy`` into ``$SPLADEKIT_CACHE/engines`` and unpacks them once. OpenSearch's
zip lacks ``mapper-extras`` (``rank_features``), so its client jar is installed as a module next to
``transport-netty4``. :func:`start` runs one node on 127.0.0.1 with a 512 MB heap as an unprivileged user
(neither engine runs as root), waits for yellow health with a bounded timeout and returns a :class:`Node`.

Every node lives in one folder (``data_dir``): ``config/`` (a copy of the distribution's, plus our settings),
``data/``, ``logs/``, ``node.pid`` and ``node.json``. Starting again on the same folder restarts the node on
its data. Errors are one paragraph: what failed, the node's log tail, and the Docker alternative.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spladekit import dialects
from spladekit.dialects import EngineSpec
from spladekit.dialects.base import Access
from spladekit.engines import security as tls
from spladekit.engines.security import Security
from spladekit.errors import EngineError
from spladekit.paths import engines_dir

#: The Maven plugin used for ``dependency:copy`` (needs no POM).
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
#: The unprivileged account nodes run as when spladekit runs as root.
NODE_USER = "spladekit"
HEAP = "512m"
#: Bounded waits (seconds): a node on 2 busy cores takes 15-40 s; never wait forever.
START_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
FETCH_TIMEOUT = 900.0
MIN_JAVA = 17
#: Where distributions install JDKs; searched after $SPLADEKIT_JAVA_HOME, $JAVA_HOME and PATH.
JVM_DIRS = [Path("/usr/lib/jvm")]

_DOCKER_HINT = (
    "If you have Docker, run the engine from docker/ instead: "
    "docker compose -f docker/compose.{engine}.yml up -d (see docker/README.md)."
)


def _spec(engine: str | EngineSpec) -> EngineSpec:
    return dialects.get(engine)


def _hint(engine: str) -> str:
    return _DOCKER_HINT.format(engine=engine)


# --------------------------------------------------------------------------------------------- tools


def find_java(min_major: int = MIN_JAVA) -> Path:
    """A Java home with Java >= ``min_major``: ``$SPLADEKIT_JAVA_HOME``, ``$JAVA_HOME``, ``java`` on PATH, then
    the JDKs under /usr/lib/jvm (17 first, then 21, then any other)."""
    candidates: list[Path] = []
    for var in ("SPLADEKIT_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(var):
            candidates.append(Path(os.environ[var]))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    for jvm_dir in JVM_DIRS:
        if jvm_dir.is_dir():
            preferred = sorted(jvm_dir.glob("java-17-*")) + sorted(jvm_dir.glob("java-21-*"))
            candidates += preferred + sorted(p for p in jvm_dir.iterdir() if p.is_dir() and p not in preferred)
    tried = []
    for home in candidates:
        java = home / "bin" / "java"
        if not java.is_file():
            tried.append(f"{home} (no bin/java)")
            continue
        major = _java_major(java)
        if major is not None and major >= min_major:
            return home
        tried.append(f"{home} (Java {major})")
    raise EngineError(
        f"no Java >= {min_major} found (tried: {', '.join(tried) or 'JAVA_HOME unset and no java on PATH'}). "
        f"Install a JDK {min_major} or newer (e.g. apt-get install openjdk-{min_major}-jdk-headless) or point "
        f"SPLADEKIT_JAVA_HOME at one. {_DOCKER_HINT.format(engine='opensearch')}"
    )


def _java_major(java: Path) -> int | None:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def find_mvn() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise EngineError(
            "mvn (Apache Maven) is not on PATH; spladekit fetches the engine test distributions from Maven "
            "Central with it. Install it (e.g. apt-get install maven). " + _DOCKER_HINT.format(engine="opensearch")
        )
    return mvn


# --------------------------------------------------------------------------------------------- fetch


def home_dir(engine: str) -> Path:
    """Where the unpacked distribution of ``engine`` lives (it may not exist yet)."""
    spec = _spec(engine)
    return engines_dir() / f"{spec.name}-{spec.release()}"


def _mvn_copy(artifact: str, dest: Path, engine: str) -> Path:
    mvn = find_mvn()
    _, name, release, kind = artifact.split(":")
    target = dest / f"{name}-{release}.{kind}"
    if target.is_file():
        return target
    # Copy into a private folder and move into place, so a concurrent fetch never sees a partial file.
    private = Path(tempfile.mkdtemp(prefix=".mvn-", dir=dest))
    try:
        return _mvn_copy_into(mvn, artifact, private, target, engine)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _mvn_copy_into(mvn: str, artifact: str, private: Path, target: Path, engine: str) -> Path:
    cmd = [mvn, "-q", "-B", f"{MAVEN_DEPENDENCY_PLUGIN}:copy", f"-DoutputDirectory={private}", f"-Dartifact={artifact}"]
    env = dict(os.environ)
    with contextlib.suppress(EngineError):
        env.setdefault("JAVA_HOME", str(find_java()))
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=FETCH_TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        raise EngineError(
            f"mvn did not finish fetching {artifact} within {FETCH_TIMEOUT:.0f} s; check access to Maven "
            f"Central (or a mirror in ~/.m2/settings.xml). {_hint(engine)}"
        ) from None
    copied = private / target.name
    if out.returncode != 0 or not copied.is_file():
        tail = _tail_text(out.stdout + out.stderr, 15)
        raise EngineError(
            f"mvn could not fetch {artifact} (exit {out.returncode}); check access to Maven Central. "
            f"mvn said: {tail} {_hint(engine)}"
        )
    os.replace(copied, target)
    return target


def fetch(engine: str, *, force: bool = False, secure: bool = False) -> Path:
    """Download (once) and unpack the pinned distribution of ``engine``; returns its home folder.

    ``secure``: the distribution a secured node runs (:func:`secure_home`; the same folder when the engine's
    security ships with it)."""
    if secure:
        return secure_home(engine, force=force)
    spec = _spec(engine)
    home = home_dir(engine)
    if home.is_dir() and (home / ".spladekit-complete").is_file() and not force:
        return home
    downloads = engines_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    dist_artifact, extras = spec.artifacts()
    archive = _mvn_copy(dist_artifact, downloads, engine)
    jars = [_mvn_copy(a, downloads, engine) for a in extras]
    staging = Path(tempfile.mkdtemp(prefix=f".{engine}-", dir=engines_dir()))
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(staging)
            # zipfile drops the executable bits; restore them from the archive's unix modes.
            for info in zf.infolist():
                mode = info.external_attr >> 16
                if mode:
                    os.chmod(staging / info.filename, mode & 0o7777)
        (top,) = [p for p in staging.iterdir() if p.is_dir()]
        if jars:
            spec.install_modules(top, jars)
        _put_in_place(top, home, {"version": spec.release()}, force=force)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return home


def secure_home(engine: str, *, force: bool = False) -> Path:
    """The distribution a secured node runs: the plain one when security ships with it (Elasticsearch), else a
    copy of it (hard links) with the dialect's security plugin installed, ``<engine>-<version>-secure`` (OpenSearch).
    The plain distribution is never changed: nodes without security keep running from it."""
    spec = _spec(engine)
    base = fetch(engine, force=force)
    plugins = spec.security_artifacts()
    if not plugins:
        return base
    home = base.with_name(base.name + "-secure")
    if (home / ".spladekit-complete").is_file() and not force:
        return home
    downloads = engines_dir() / "downloads"
    zips = [_mvn_copy(a, downloads, engine) for a in plugins]
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=engines_dir()))
    try:
        top = staging / home.name
        shutil.copytree(base, top, symlinks=True, copy_function=_link_or_copy, ignore=shutil.ignore_patterns(
            ".spladekit-complete"))
        java_home = find_java(spec.java_needed())
        env = {k: v for k, v in os.environ.items() if not k.startswith(_launcher_prefixes())}
        env.update(JAVA_HOME=str(java_home), **spec.launch_env(java_home, top / "config", Path(staging)))
        spec.install_security(top, zips, _tool_runner(top, env, None, engine))
        _put_in_place(top, home, {"version": spec.release(), "secure": True}, force=force)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return home


def _put_in_place(top: Path, home: Path, record: dict[str, Any], *, force: bool) -> None:
    """Mark the distribution unpacked at ``top`` complete and move it to ``home`` (a complete ``home`` is replaced
    only with ``force``: running nodes may use that folder)."""
    _make_world_readable(top)
    (top / ".spladekit-complete").write_text(json.dumps(record) + "\n")
    if home.exists() and (force or not (home / ".spladekit-complete").is_file()):
        shutil.rmtree(home)
    if not home.exists():
        top.rename(home)


def _launcher_prefixes() -> tuple[str, ...]:
    return ("JAVA_", *(s.env_prefix for s in dialects.specs().values()))


def _tool_runner(home: Path, env: Mapping[str, str], owner: tuple[int, int] | None, engine: str) -> Any:
    """``run_tool(argv, stdin)`` for the dialects: one of the distribution's ``bin/`` tools, as the node user."""

    def run_tool(argv: list[str] | tuple[str, ...], stdin: str | None) -> None:
        cmd = [str(home / argv[0]), *argv[1:]]
        try:
            out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=dict(env), timeout=300,
                                 cwd=str(home), user=owner[0] if owner else None, group=owner[1] if owner else None,
                                 extra_groups=[] if owner else None)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EngineError(f"could not run {argv[0]} of {engine}: {exc}. {_hint(engine)}") from None
        if out.returncode != 0:
            raise EngineError(f"{argv[0]} {' '.join(argv[1:2])} failed (exit {out.returncode}): "
                              f"{_tail_text(out.stdout + out.stderr, 8)} {_hint(engine)}")

    return run_tool


def _make_world_readable(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            os.chmod(p, os.stat(p).st_mode | 0o755)
        for f in filenames:
            p = os.path.join(dirpath, f)
            os.chmod(p, os.stat(p).st_mode | 0o444)
    os.chmod(root, os.stat(root).st_mode | 0o755)


def _traversable_by_others(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents) if p.exists())


#: Set to put node folders (and, as root, the mirrored distributions) somewhere else.
NODE_DIR_ENV = "SPLADEKIT_NODE_DIR"
#: Where node folders go as root when the cache sits under a folder the node user cannot enter.
SYSTEM_NODE_DIR = Path("/var/lib/spladekit")


def node_user_can_reach(path: Path) -> bool:
    """Whether the account nodes run as can enter ``path`` (always, when spladekit does not run as root)."""
    return os.geteuid() != 0 or _traversable_by_others(Path(path).resolve())


def shared_root() -> Path:
    """The folder node data and (as root) the node's copy of a distribution live under.

    ``$SPLADEKIT_NODE_DIR`` if set; else ``$SPLADEKIT_CACHE/engines`` when the node user can enter it (always
    for a normal user, whose nodes run as themselves); else, as root with a cache under a private home (mode
    700, the default ``/root/.cache``), :data:`SYSTEM_NODE_DIR`, created with mode 755.
    """
    env = os.environ.get(NODE_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    cache = engines_dir()
    if node_user_can_reach(cache):
        return cache
    return SYSTEM_NODE_DIR


def node_root() -> Path:
    """Where ``spladekit engine start`` puts a node's folder when no ``--data-dir`` is given."""
    return shared_root() / "nodes"


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def runtime_home(engine: str, home: Path, owner: tuple[int, int] | None) -> Path:
    """The distribution folder the node user can actually reach.

    The cache often sits under a folder only its owner may enter (a clone inside ``mktemp -d``, a home
    directory with mode 700); the unprivileged node user could then not launch ``bin/opensearch``. In that
    case the distribution is mirrored once (hard links where possible) into a shared folder under the
    system temp directory and started from there.
    """
    if owner is None or _traversable_by_others(home):
        return home
    shared = shared_root() / "mirror"
    if not _traversable_by_others(shared.parent):
        shared = Path(tempfile.gettempdir()) / "spladekit-engines"
    shared.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(shared, 0o755)
    target = shared / home.name
    if (target / ".spladekit-complete").is_file():
        return target
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=shared))
    try:
        mirror = staging / home.name
        shutil.copytree(home, mirror, symlinks=True, copy_function=_link_or_copy)
        _make_world_readable(mirror)
        os.chmod(staging, 0o755)
        if not (target / ".spladekit-complete").is_file():
            shutil.rmtree(target, ignore_errors=True)
            mirror.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# --------------------------------------------------------------------------------------------- start


#: The lowest port :func:`free_port` picks (below the kernel's range for outgoing connections).
LOW_PORT = 10000


def _outgoing_ports() -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (Linux; 32768-60999 when unknown)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the range the kernel gives outgoing
    connections: a free port from that range can be taken by any outgoing connection (a cluster's own nodes open
    dozens to each other while they start) before the node that was given it binds it."""
    low, _ = _outgoing_ports()
    if low - LOW_PORT >= 1000:
        for _ in range(200):
            port = random.randrange(LOW_PORT, low)
            if not port_in_use(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    """True when something listens on 127.0.0.1:``port`` (TIME_WAIT leftovers of a killed node do not count,
    as the engines bind with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _node_user() -> tuple[int, int] | None:
    """(uid, gid) to run nodes as; None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(NODE_USER)
    except KeyError:
        useradd = shutil.which("useradd")
        if not useradd:
            raise EngineError(
                f"running as root, and neither engine runs as root; create an unprivileged user named "
                f"{NODE_USER!r} (useradd is missing here) or run spladekit as a normal user."
            ) from None
        out = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", NODE_USER],
            capture_output=True,
            text=True,
            timeout=60,
        )
        try:  # another process may have created it at the same moment: that is fine too
            entry = pwd.getpwnam(NODE_USER)
        except KeyError:
            raise EngineError(
                f"could not create the unprivileged user {NODE_USER!r} that nodes run as (useradd said: "
                f"{out.stderr.strip()}); create it yourself or run spladekit as a normal user."
            ) from None
    return entry.pw_uid, entry.pw_gid


def _yaml_value(value: Any) -> str:
    # JSON scalars and lists are valid YAML flow values.
    return json.dumps(value)


@dataclass
class Node:
    """A running engine node started by :func:`start` (a single node) or :func:`start_cluster` (a member of a
    :class:`Cluster`: ``cluster_dir`` is then the cluster's folder)."""

    engine: str
    port: int
    data_dir: Path
    pid: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_in: float = 0.0
    #: TLS certificates and the superuser's password of a secured node (None: security off).
    security: Security | None = None
    #: The member's name in its cluster, the launcher's process group, the folder of its :class:`Cluster`.
    name: str = "node-1"
    pgid: int | None = None
    cluster_dir: Path | None = None

    @property
    def url(self) -> str:
        if self.security is not None:
            return f"https://{_url_host(self.security.host())}:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def credentials(self) -> dict[str, Any]:
        """``connect``/``ingest``/``search`` keyword arguments that log in as the superuser of a secured node
        (``{}`` when security is off)."""
        if self.security is None:
            return {}
        return {"user": _spec(self.engine).admin_user, "password": self.security.password(),
                "ca_certs": str(self.security.ca)}

    def admin(self) -> Admin:
        """This secured node as its superuser: what the dialects' ``put_role``, ``put_user``, ``create_api_key``
        take (``node.admin()("GET", "/_cluster/health")`` sends one request)."""
        if self.security is None:
            raise EngineError(f"the {self.engine} node on port {self.port} runs without security; start it with "
                              "security=True (spladekit engine start --secure)")
        spec = _spec(self.engine)
        return Admin(self.url, tls.ssl_context(self.security.ca), tls.basic(spec.admin_user, self.security.password()),
                     self.data_dir / "config", _node_user())

    # The dialect's security calls, on this node (see EngineSpec.put_role and the others).
    def put_role(self, name: str, index: str, access: Access) -> None:
        """Role ``name``: what spladekit needs on ``index`` to ``ingest`` (write, no read) or to ``search``."""
        _spec(self.engine).put_role(self.admin(), name, index, access)

    def put_user(self, name: str, password: str, roles: list[str]) -> None:
        """User ``name`` with ``password`` and ``roles`` (usable when this returns)."""
        _spec(self.engine).put_user(self.admin(), name, password, roles)

    def create_api_key(self, name: str, *, user: str | None = None, password: str | None = None,
                       seconds: int | None = None) -> str:
        """An API key acting as ``user`` (default: the superuser), valid ``seconds`` (default: the engine's)."""
        admin = self.admin() if user is None else self.admin().as_user(user, password or "")
        return _spec(self.engine).create_api_key(admin, name, seconds=seconds)

    def invalidate_api_key(self, key: str) -> None:
        _spec(self.engine).invalidate_api_key(self.admin(), key)

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / "console.log"

    def alive(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            return False
        return _pid_alive(self.pid)

    def log_tail(self, lines: int = 25) -> str:
        return _log_tail(self.data_dir, lines)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Graceful stop (SIGTERM to the engine JVM), SIGKILL after ``timeout`` seconds."""
        _terminate(self.pid, self.process, timeout)
        if self.process is None and self.pgid and self.pgid != self.pid and _pid_alive(self.pgid):
            _terminate(self.pgid, None, 10.0)  # the launcher of a node this process did not start
        _clear_state(self.engine, self.port, self.data_dir)

    def kill(self) -> None:
        """SIGKILL the node (and its launcher): a crash, for recovery tests. Restart with ``start(data_dir=...)``."""
        pgid = self.process.pid if self.process is not None else self.pgid
        for target in (self.pid, pgid):
            if target and target > 0:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(target, signal.SIGKILL)
        if pgid and pgid > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        _wait_dead(self.pid, self.process, 30.0)
        # The JVM's sockets can outlive the pid check by a moment (seen once with Elasticsearch's two-JVM
        # launcher): wait, bounded, until the port is free, so that a restart on it right away works.
        deadline = time.monotonic() + 30.0
        while port_in_use(self.port) and time.monotonic() < deadline:
            time.sleep(0.2)
        _clear_state(self.engine, self.port, self.data_dir)

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Admin:
    """A secured node administered over HTTPS (the dialects' ``NodeAdmin``): requests as one user, and the
    node's config folder for file-based users and roles."""

    def __init__(self, url: str, context: Any, headers: Mapping[str, str], conf: Path,
                 owner: tuple[int, int] | None) -> None:
        self.url, self.context, self.headers = url, context, dict(headers)
        self.conf, self.owner = conf, owner

    def __repr__(self) -> str:
        return f"Admin({self.url!r})"

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = tls.request(self.url, method, path, body, headers=self.headers, context=self.context)
        if status >= 400:
            reason = answer.get("error", answer) if isinstance(answer, dict) else answer
            raise EngineError(f"{method} {path} on {self.url} answered HTTP {status}: {json.dumps(reason)[:400]}")
        return answer

    def as_user(self, user: str, password: str) -> Admin:
        return Admin(self.url, self.context, tls.basic(user, password), self.conf, self.owner)

    def write_config(self, name: str, text: str) -> None:
        path = self.conf / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o600)
        if self.owner is not None:
            os.chown(tmp, *self.owner)
        os.replace(tmp, path)  # whole or not at all: the node reloads the file when it changes


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # unknown: never signal a process group (0) or every process (-1)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited; only its parent has not collected it yet
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def _wait_dead(pid: int, process: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            process.poll()
        if not _pid_alive(pid) and (process is None or process.poll() is not None):
            return True
        time.sleep(0.2)
    return False


def _terminate(pid: int, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    if pid <= 0 and process is None:
        return
    if pid > 0:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    if process is not None and process.pid != pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, signal.SIGTERM)
    if not _wait_dead(pid, process, timeout):
        if pid > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        _wait_dead(pid, process, 30.0)


def _tail_text(text: str, lines: int) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())


def _log_tail(data_dir: Path, lines: int = 25) -> str:
    log = data_dir / "logs" / "console.log"
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return f"(no log at {log})"
    # Keep the lines that say why: the first fatal ones (a failed bind, the cause of a crash: a shutdown that
    # follows can log many more exceptions), the last errors and exceptions, then the last lines.
    all_lines = text.splitlines()
    fatal = [ln for ln in all_lines if re.search(r"fatal|BindException|already in use|Caused by", ln, re.I)][:3]
    interesting = [ln for ln in all_lines if re.search(r"ERROR|Exception|FATAL|error:", ln) and ln not in fatal][-8:]
    room = max(lines - len(fatal) - len(interesting), 5)
    tail = [ln for ln in all_lines if ln not in interesting and ln not in fatal][-room:]
    picked = fatal + interesting + tail
    return _tail_text("\n".join(picked), len(picked))


def _state_dir() -> Path:
    return engines_dir() / "run"


def _state_file(engine: str, port: int) -> Path:
    return _state_dir() / f"{engine}-{port}.json"


def _write_state(node: Node, pgid: int) -> None:
    _state_dir().mkdir(parents=True, exist_ok=True)
    state = {"engine": node.engine, "port": node.port, "pid": node.pid, "pgid": pgid, "data_dir": str(node.data_dir)}
    if node.security is not None:  # where the CA and the password file are: no secret in the state file
        state |= {"url": node.url, "security": str(node.security.folder)}
    if node.cluster_dir is not None:
        state |= {"name": node.name, "cluster_dir": str(node.cluster_dir)}
    _state_file(node.engine, node.port).write_text(json.dumps(state) + "\n")
    (node.data_dir / "node.json").write_text(json.dumps(state) + "\n")


def _clear_state(engine: str, port: int, data_dir: Path) -> None:
    with contextlib.suppress(OSError):
        _state_file(engine, port).unlink()
    with contextlib.suppress(OSError):
        (data_dir / "node.json").unlink()


def _config_yaml(engine: str, port: int, transport_port: int, data_dir: Path, settings: Mapping[str, Any],
                 topology: Mapping[str, Any] | None = None) -> str:
    """The node's config file. ``topology``: cluster name, node name and discovery (default: a single node)."""
    single = {"cluster.name": f"spladekit-{engine}", "node.name": "node-1", "discovery.type": "single-node"}
    base: dict[str, Any] = {
        **(topology if topology is not None else single),
        "network.host": "127.0.0.1",
        "http.port": port,
        "transport.port": transport_port,
        "path.data": str(data_dir / "data"),
        "path.logs": str(data_dir / "logs"),
        # Test machines are often nearly full; watermarks would make indexes read-only mid-test.
        "cluster.routing.allocation.disk.threshold_enabled": False,
    }
    base.update(_spec(engine).node_settings())
    base.update(settings)
    lines = [f"# written by spladekit for a local test node on 127.0.0.1:{port}"]
    lines += [f"{k}: {_yaml_value(v)}" for k, v in base.items()]
    return "\n".join(lines) + "\n"


def _prepare_dir(engine: str, home: Path, data_dir: Path, config: str, owner: tuple[int, int] | None) -> None:
    conf = data_dir / "config"
    for sub in ("data", "logs"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    if not conf.is_dir():
        shutil.copytree(home / "config", conf)
        # jvm.options names logs/ and data/ relative to the distribution home, which the node user cannot
        # write (and which several nodes share): point them into this node's folder.
        opts = conf / "jvm.options"
        text = opts.read_text()
        text = re.sub(r"(file=|ErrorFile=)logs/", rf"\g<1>{data_dir}/logs/", text)
        text = re.sub(r"HeapDumpPath=data\b", f"HeapDumpPath={data_dir}/data", text)
        opts.write_text(text)
    (conf / _spec(engine).config_file).write_text(config)
    (conf / "jvm.options.d").mkdir(exist_ok=True)
    # Always set the heap: otherwise it is sized from the machine's RAM.
    (conf / "jvm.options.d" / "spladekit-heap.options").write_text(f"-Xms{HEAP}\n-Xmx{HEAP}\n")
    with contextlib.suppress(OSError):
        (data_dir / "logs" / "console.log").unlink()
    with contextlib.suppress(OSError):
        (data_dir / "node.pid").unlink()
    if owner is not None:
        os.chown(data_dir, *owner)
        for dirpath, dirnames, filenames in os.walk(data_dir):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), *owner, follow_symlinks=False)
        # The node user must be able to reach its folder.
        parent = data_dir.parent
        while parent != parent.parent:
            mode = os.stat(parent).st_mode
            if not mode & 0o001:
                raise EngineError(
                    f"the node user {NODE_USER!r} cannot enter {parent}; choose a data_dir under a folder "
                    f"others can traverse (e.g. /tmp) or chmod o+x {parent}."
                )
            parent = parent.parent


def _http_json(url: str, timeout: float, headers: Mapping[str, str] | None = None, context: Any = None) -> Any:
    req = urllib.request.Request(url, headers=dict(headers or {}))
    with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310 (local URL we built)
        return json.loads(resp.read().decode("utf-8"))


def _secure_probe(spec: EngineSpec, security: Security | None, *, bootstrapped: bool) -> tuple[dict[str, str], Any]:
    """(headers, TLS context) for the node's own health checks: none without security; as the superuser, or
    with the admin certificate while the dialect has not made the superuser yet."""
    if security is None:
        return {}, None
    if spec.admin_by_certificate() and not bootstrapped:
        return {}, tls.ssl_context(security.ca, client_cert=security.admin_cert)
    return tls.basic(spec.admin_user, security.password()), tls.ssl_context(security.ca)


def _check_port(engine: str, port: int | None) -> int:
    """``port`` (a free one when None), refused with the fix when something listens there."""
    if port is None:
        return free_port()
    if not 0 < int(port) < 65536:
        raise ValueError(f"port must be in 1..65535, got {port}")
    if port_in_use(port):
        raise EngineError(
            f"port {port} on 127.0.0.1 is already taken (another node or program listens there); stop it "
            f"(spladekit engine stop --engine {engine} --port {port}) or pick another with --port. {_hint(engine)}"
        )
    return int(port)


def start(
    engine: str,
    port: int | None = None,
    settings: Mapping[str, Any] | None = None,
    data_dir: str | Path | None = None,
    *,
    timeout: float = START_TIMEOUT,
    security: bool | Security | None = None,
) -> Node:
    """Start a single node of ``engine`` on 127.0.0.1 and wait for yellow health.

    ``port``: the HTTP port (a free one when None). ``settings``: extra node settings written to the config
    file (e.g. ``{"thread_pool.write.queue_size": 1}``). ``data_dir``: the node's folder; a new temporary one
    when None, the same folder again to restart a stopped or killed node on its data. Several nodes of one
    cluster: :func:`start_cluster`.

    ``security``: True for a secured node (HTTPS and TLS between nodes with certificates made for it, users, the
    superuser's password made for it: :mod:`spladekit.engines.security`, kept in ``data_dir/security``), or a
    :class:`~spladekit.engines.security.Security` made by the caller. ``Node.url`` is then ``https://``,
    ``Node.credentials()`` logs in as the superuser and ``Node.admin()`` administers it.
    """
    spec = _spec(engine)
    port = _check_port(spec.name, port)
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix=f"spladekit-{spec.name}-{port}-"))
    t0 = time.monotonic()
    node = _launch(spec, port, free_port(), Path(data_dir), settings or {}, security=security)
    try:
        _wait_ready(node, timeout)
        if node.security is not None:
            _bootstrap_security(node, t0 + timeout)
    except BaseException:
        node.kill()
        raise
    node.started_in = time.monotonic() - t0
    _write_state(node, node.pgid or node.pid)
    return node


def _launch(spec: EngineSpec, port: int, transport_port: int, data_dir: Path, settings: Mapping[str, Any],
            topology: Mapping[str, Any] | None = None, *, name: str = "node-1", cluster_dir: Path | None = None,
            security: bool | Security | None = None) -> Node:
    """Write the node's folder and launch it; returns at once (the caller waits with :func:`_wait_ready`)."""
    engine = spec.name
    java_home = find_java(spec.java_needed())
    owner = _node_user()
    home = runtime_home(engine, fetch(engine, secure=bool(security)), owner)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    sec = tls.make(data_dir / "security") if security is True else (security or None)
    if sec is not None:
        settings = {**spec.security_settings(sec.node_dn, sec.admin_dn), **settings}
    config = _config_yaml(engine, port, transport_port, data_dir, settings, topology)
    _prepare_dir(engine, home, data_dir, config, owner)

    pid_file = data_dir / "node.pid"
    # The launchers read JAVA_* and their own prefixed variables (heap, options): start from none of the
    # caller's, so that the node gets exactly the settings written above.
    env = {k: v for k, v in os.environ.items() if not k.startswith(_launcher_prefixes())}
    env["HOME"] = str(data_dir)
    env["JAVA_HOME"] = str(java_home)
    tmp = data_dir / "tmp"
    tmp.mkdir(exist_ok=True)
    if owner:
        os.chown(tmp, *owner)
    env.update(spec.launch_env(java_home, data_dir / "config", tmp))
    if sec is not None:
        _prepare_security(spec, sec, data_dir / "config", _tool_runner(home, env, owner, engine), owner)
    cmd = [str(home / spec.launcher), "-p", str(pid_file)]

    with open(data_dir / "logs" / "console.log", "ab") as log:
        if owner:
            os.fchown(log.fileno(), *owner)
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=data_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=owner[0] if owner else None,
                group=owner[1] if owner else None,
                extra_groups=[] if owner else None,
            )
        except OSError as exc:
            raise EngineError(f"could not launch {cmd[0]}: {exc}. {_hint(engine)}") from exc

    node = Node(engine, port, data_dir, proc.pid, proc, security=sec, name=name, pgid=proc.pid,
                cluster_dir=cluster_dir)
    _write_state(node, proc.pid)
    return node


def _prepare_security(spec: EngineSpec, sec: Security, conf: Path, run_tool: Any,
                      owner: tuple[int, int] | None) -> None:
    """The node's copy of its TLS files (both engines read them from the config folder only) and what the
    dialect writes before start-up (keystore, security plugin files), all owned by the node user."""
    certs = conf / "certs"
    certs.mkdir(exist_ok=True)
    for name in tls.NODE_FILES:
        shutil.copyfile(sec.path(name), certs / name)
    if owner is not None:
        for path in (certs, *certs.iterdir()):
            os.chown(path, *owner)
    spec.prepare_security(conf, sec.password(), run_tool)
    if owner is not None:
        for dirpath, dirnames, filenames in os.walk(conf):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), *owner, follow_symlinks=False)
    for path in certs.iterdir():
        os.chmod(path, 0o600)


def _bootstrap_security(node: Node, deadline: float) -> None:
    """Let the dialect make the superuser (OpenSearch: through the admin certificate), retrying while the
    security index initialises, then check that the superuser's password is accepted."""
    spec = _spec(node.engine)
    sec = node.security
    if sec is None:
        return
    headers, context = _secure_probe(spec, sec, bootstrapped=False)
    admin = Admin(node.url, context, headers, node.data_dir / "config", _node_user())
    while True:
        try:
            spec.bootstrap_security(admin, sec.password())
            headers, context = _secure_probe(spec, sec, bootstrapped=True)
            _http_json(f"{node.url}/_cluster/health", 10, headers, context)
            return
        except (EngineError, urllib.error.URLError, OSError, ValueError) as exc:
            if time.monotonic() > deadline:
                raise EngineError(
                    f"the secured {node.engine} node on port {node.port} started, but its security setup did not "
                    f"finish ({exc}); it was stopped. Its log ({node.log_path}) ends with: "
                    f"{_log_tail(node.data_dir)}"
                ) from None
            time.sleep(1.0)


def _wait_ready(node: Node, timeout: float, nodes: int = 1, watch: list[Node] | None = None) -> None:
    """Wait until ``node`` answers yellow (or green) health in a cluster of at least ``nodes`` nodes; a node of
    ``watch`` (the other members being launched) that dies ends the wait with its own log."""
    proc = node.process
    if proc is None:
        raise EngineError("internal error: _wait_ready needs the node's process")
    pid_file = node.data_dir / "node.pid"
    deadline = time.monotonic() + timeout
    members = f"&wait_for_nodes=%3E%3D{nodes}" if nodes > 1 else ""  # ">=N", URL-encoded
    health = f"{node.url}/_cluster/health?wait_for_status=yellow{members}&timeout=2s"
    headers, context = _secure_probe(_spec(node.engine), node.security, bootstrapped=False)
    while True:
        for n in [node, *(watch or [])]:
            if n.process is not None and n.process.poll() is not None:
                who = f"node {n.name} of the cluster" if n.cluster_dir is not None else "node"
                raise EngineError(
                    f"the {n.engine} {who} died during start-up (exit {n.process.returncode}) on port {n.port}; "
                    f"its log ({n.log_path}) ends with: {_log_tail(n.data_dir)} {_hint(n.engine)}"
                )
        if pid_file.is_file() and node.pid == proc.pid:
            with contextlib.suppress(ValueError, OSError):
                node.pid = int(pid_file.read_text().strip())
        try:
            answer = _http_json(health, 5, headers, context)
            if answer.get("status") in ("yellow", "green") and not answer.get("timed_out"):
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            joined = "" if nodes == 1 else f" in a cluster of {nodes} nodes"
            raise EngineError(
                f"the {node.engine} node on port {node.port} was not healthy (yellow){joined} after {timeout:.0f} s; "
                f"it was stopped. Its log ({node.log_path}) ends with: {_log_tail(node.data_dir)} "
                f"{_hint(node.engine)}"
            )
        time.sleep(0.5)


# --------------------------------------------------------------------------------------------- clusters

#: Bounded wait for a whole cluster: N JVMs start at once on the same cores.
CLUSTER_START_TIMEOUT = 420.0
#: The file in a cluster's folder that records its layout (names, ports), so that it restarts on its data.
CLUSTER_FILE = "cluster.json"


@dataclass
class Cluster:
    """N nodes of one cluster on 127.0.0.1, started by :func:`start_cluster` (each node: its own folder
    ``node-i/`` under :attr:`data_dir`, its own heap, HTTP port and transport port; every node is master-eligible
    and holds data).

    ``nodes[i].kill()`` SIGKILLs one member and :meth:`start_node` restarts it on its data; :meth:`stop` stops
    them all; ``start_cluster(engine, data_dir=cluster.data_dir)`` restarts the whole cluster on its data.
    :attr:`url` (every node's URL, comma-separated) is what ``--engine`` and :func:`spladekit.engines.connect`
    take, so that a client fails over to another node when one dies.
    """

    engine: str
    name: str
    data_dir: Path
    nodes: list[Node]
    transport_ports: list[int]
    settings: dict[str, Any] = field(default_factory=dict)
    started_in: float = 0.0

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated (the ``--engine`` value for a client that knows all nodes)."""
        return ",".join(self.urls)

    def alive(self) -> list[bool]:
        return [n.alive() for n in self.nodes]

    def health(self, query: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """``_cluster/health`` from the first node that answers (``query``: e.g. ``wait_for_status=green``)."""
        last: BaseException | None = None
        for n in self.nodes:
            if not n.alive():
                continue
            try:
                return dict(_http_json(f"{n.url}/_cluster/health?{query}", timeout=timeout))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = exc
        raise EngineError(f"no node of the {self.engine} cluster {self.name!r} answers ({last or 'none running'}); "
                          f"start it with spladekit.engines.node.start_cluster(..., data_dir={str(self.data_dir)!r})")

    def wait_for(self, status: str = "green", nodes: int | None = None, timeout: float = 180.0) -> dict[str, Any]:
        """Wait (bounded) until the cluster's health is ``status`` (or better) with ``nodes`` members (default:
        the live ones); returns the health."""
        if status not in ("yellow", "green"):
            raise ValueError(f"status must be yellow or green, got {status!r}")
        want = nodes if nodes is not None else sum(self.alive())
        deadline = time.monotonic() + timeout
        query = f"wait_for_status={status}&wait_for_nodes={want}&wait_for_no_initializing_shards=true&timeout=5s"
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                health = self.health(query, timeout=15.0)
                if not health.get("timed_out"):
                    return health
            except EngineError:
                pass
            time.sleep(0.5)
        raise EngineError(f"the {self.engine} cluster {self.name!r} did not reach {status} with {want} nodes within "
                          f"{timeout:.0f} s (last health: {health.get('status')}, {health.get('number_of_nodes')} "
                          f"nodes, {health.get('unassigned_shards')} unassigned shards)")

    def start_node(self, i: int, *, timeout: float = START_TIMEOUT) -> Node:
        """Start member ``i`` again on its data (after :meth:`Node.kill` or :meth:`Node.stop`) and wait until it
        has joined the cluster."""
        old = self.nodes[i]
        if old.alive():
            raise EngineError(f"node {old.name} of the {self.engine} cluster {self.name!r} is still running "
                              f"(pid {old.pid}); stop or kill it first")
        layout = _read_layout(self.data_dir)
        t0 = time.monotonic()
        node = _launch_member(_spec(self.engine), self.data_dir, layout, i, _check_port(self.engine, old.port))
        try:
            _wait_ready(node, timeout, nodes=len(self.nodes))
        except BaseException:
            node.kill()
            raise
        node.started_in = time.monotonic() - t0
        _write_state(node, node.pgid or node.pid)
        self.nodes[i] = node
        return node

    def kill(self) -> None:
        """SIGKILL every node (a crash of the whole cluster); restart with ``start_cluster(data_dir=...)``."""
        for n in self.nodes:
            n.kill()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every node gracefully (SIGTERM to all at once, SIGKILL after ``timeout`` seconds)."""
        _stop_nodes(self.nodes, timeout)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read_layout(cluster_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((cluster_dir / CLUSTER_FILE).read_text()))
    except (OSError, ValueError) as exc:
        raise EngineError(f"{cluster_dir} holds no spladekit cluster ({CLUSTER_FILE} unreadable: {exc}); give the "
                          "folder start_cluster created, or a new one") from None


def _write_layout(cluster_dir: Path, layout: Mapping[str, Any]) -> None:
    tmp = cluster_dir / f".{CLUSTER_FILE}.tmp"
    tmp.write_text(json.dumps(layout, indent=1) + "\n")
    os.replace(tmp, cluster_dir / CLUSTER_FILE)


def _launch_member(spec: EngineSpec, cluster_dir: Path, layout: Mapping[str, Any], i: int, port: int) -> Node:
    members = layout["nodes"]
    seeds = [f"127.0.0.1:{m['transport_port']}" for m in members]
    initial = None if layout.get("bootstrapped") else [m["name"] for m in members]
    me = members[i]
    topology = spec.cluster_settings(layout["name"], me["name"], seeds, initial)
    if port_in_use(me["transport_port"]):
        raise EngineError(f"transport port {me['transport_port']} of node {me['name']} (cluster {layout['name']!r}) "
                          "is taken by another program; stop it, or start the cluster in a new folder")
    return _launch(spec, port, me["transport_port"], cluster_dir / me["name"], layout.get("settings", {}), topology,
                   name=me["name"], cluster_dir=cluster_dir)


def _free_ports(n: int, first: int | None, engine: str) -> list[int]:
    """``n`` HTTP ports: ``first``, ``first + 1``, ... (each checked), or any free ones."""
    if first is None:
        ports: list[int] = []
        while len(ports) < n:
            p = free_port()
            if p not in ports:
                ports.append(p)
        return ports
    if first + n - 1 > 65535:
        raise ValueError(f"ports {first}..{first + n - 1} go beyond 65535; pick a lower --port")
    return [_check_port(engine, first + i) for i in range(n)]


def start_cluster(
    engine: str,
    nodes: int = 3,
    port: int | None = None,
    settings: Mapping[str, Any] | None = None,
    data_dir: str | Path | None = None,
    *,
    timeout: float = CLUSTER_START_TIMEOUT,
) -> Cluster:
    """Start ``nodes`` nodes of one ``engine`` cluster on 127.0.0.1 and wait until all have joined (yellow).

    Discovery: every node lists every member's transport address (``discovery.seed_hosts`` on loopback); on the
    first start the members are the initial master nodes. Each node has its own folder ``data_dir/node-i``, a
    512 MB heap, HTTP port ``port + i`` (free ports when ``port`` is None) and a transport port recorded in
    ``data_dir/cluster.json``. ``data_dir`` again (after :meth:`Cluster.stop`, a crash or :meth:`Cluster.kill`)
    restarts the cluster on its data, with the same names and ports. ``settings``: extra settings for every node.
    """
    spec = _spec(engine)
    if nodes < 2:
        raise ValueError(f"a cluster needs nodes >= 2, got {nodes}; one node: spladekit.engines.node.start")
    cluster_dir = Path(data_dir).resolve() if data_dir is not None else None
    if cluster_dir is not None and (cluster_dir / CLUSTER_FILE).is_file():
        layout = _read_layout(cluster_dir)
        members = layout["nodes"]
        if layout.get("engine") != spec.name or len(members) != nodes:
            raise EngineError(f"{cluster_dir} holds a {len(members)}-node {layout.get('engine')} cluster, not a "
                              f"{nodes}-node {spec.name} one; start it with --engine {layout.get('engine')} --nodes "
                              f"{len(members)}, or give another --data-dir")
        if port is not None and port != members[0]["port"]:
            raise EngineError(f"the cluster in {cluster_dir} listens on port {members[0]['port']} (+1 per node); "
                              f"start it with --port {members[0]['port']}, or give another --data-dir")
        if settings is not None:
            layout["settings"] = dict(settings)
        ports = [_check_port(spec.name, m["port"]) for m in members]
    else:
        ports = _free_ports(nodes, port, spec.name)
        transports: list[int] = []
        while len(transports) < nodes:
            p = free_port()
            if p not in transports and p not in ports:
                transports.append(p)
        layout = {
            "engine": spec.name,
            "name": f"spladekit-{spec.name}-{ports[0]}",
            "version": spec.release(),
            "bootstrapped": False,
            "settings": dict(settings or {}),
            "nodes": [{"name": f"node-{i + 1}", "port": p, "transport_port": t}
                      for i, (p, t) in enumerate(zip(ports, transports, strict=True))],
        }
        if cluster_dir is None:
            cluster_dir = Path(tempfile.mkdtemp(prefix=f"spladekit-{spec.name}-cluster-{ports[0]}-"))
    cluster_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(cluster_dir, 0o755)  # the node user enters it to reach its node folder
    _write_layout(cluster_dir, layout)

    t0 = time.monotonic()
    launched: list[Node] = []
    try:
        for i, p in enumerate(ports):
            launched.append(_launch_member(spec, cluster_dir, layout, i, p))
        deadline = time.monotonic() + timeout
        for n in launched:
            _wait_ready(n, max(1.0, deadline - time.monotonic()), nodes=nodes, watch=launched)
    except BaseException:
        for n in launched:
            n.kill()
        raise
    elapsed = time.monotonic() - t0
    for n in launched:
        n.started_in = elapsed
        _write_state(n, n.pgid or n.pid)
    if not layout.get("bootstrapped"):
        # The cluster has formed: later starts must not name initial master nodes again (a second bootstrap).
        _write_layout(cluster_dir, {**layout, "bootstrapped": True})
    return Cluster(spec.name, layout["name"], cluster_dir, launched,
                   [m["transport_port"] for m in layout["nodes"]], dict(layout.get("settings", {})), elapsed)


def _stop_nodes(nodes: list[Node], timeout: float) -> None:
    # SIGTERM to all at once: stopping one by one would make the rest elect a new master each time.
    for n in nodes:
        for target in {n.pid, n.process.pid if n.process is not None else 0}:
            if target > 0:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(target, signal.SIGTERM)
    for n in nodes:
        n.stop(timeout)


# --------------------------------------------------------------------------------------------- stop/status


def _read_state(engine: str, port: int) -> dict[str, Any] | None:
    try:
        return json.loads(_state_file(engine, port).read_text())
    except (OSError, ValueError):
        return None


def running(engine: str, port: int) -> Node | None:
    """The node spladekit started for ``engine`` on ``port`` (``spladekit engine start``, or another process),
    with its security when it has some; None when none runs there."""
    engine = _spec(engine).name
    state = _read_state(engine, port)
    if not state or not _pid_alive(int(state["pid"])):
        return None
    sec = tls.load(state["security"]) if state.get("security") else None
    return Node(engine, port, Path(state["data_dir"]), int(state["pid"]), security=sec)


def _cluster_dir_of(engine: str, port: int) -> Path | None:
    """The folder of the cluster spladekit started with a node on ``port`` (None: no such cluster)."""
    state = _read_state(engine, port)
    if state is not None:
        return Path(state["cluster_dir"]) if state.get("cluster_dir") else None
    # That node's state is gone (it was killed or stopped alone): ask its fellow members' state files.
    for path in sorted(_state_dir().glob(f"{engine}-*.json")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            cluster_dir = json.loads(path.read_text()).get("cluster_dir")
            if cluster_dir and port in [m["port"] for m in _read_layout(Path(cluster_dir))["nodes"]]:
                return Path(cluster_dir)
    return None


def attach(engine: str, port: int) -> Cluster:
    """The cluster spladekit started (``spladekit engine start --nodes N``) with a node on ``port``, from its
    state files: kill, restart or stop its members from Python."""
    cluster = cluster_at(engine, port)
    if cluster is None:
        raise EngineError(f"no {engine} cluster started by spladekit has a node on port {port}; start one with "
                          f"spladekit engine start --engine {engine} --nodes 3 --port {port}")
    return cluster


def cluster_at(engine: str, port: int) -> Cluster | None:
    """Like :func:`attach`, but None when ``port`` is not a node of a cluster spladekit started."""
    engine = _spec(engine).name
    cluster_dir = _cluster_dir_of(engine, port)
    if cluster_dir is None:
        return None
    layout = _read_layout(cluster_dir)
    members = []
    for m in layout["nodes"]:
        state = _read_state(engine, m["port"]) or {}
        pid = int(state.get("pid") or 0)
        with contextlib.suppress(ValueError, OSError):
            pid = int((cluster_dir / m["name"] / "node.pid").read_text().strip()) if pid else 0
        members.append(Node(engine, m["port"], cluster_dir / m["name"], pid, name=m["name"],
                            pgid=int(state.get("pgid") or 0) or None, cluster_dir=cluster_dir))
    return Cluster(engine, layout["name"], cluster_dir, members, [m["transport_port"] for m in layout["nodes"]],
                   dict(layout.get("settings", {})))


def stop(engine: str, port: int, *, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the node spladekit started for ``engine`` on ``port`` (by its pid file), or every node of the cluster
    it belongs to. False if none ran."""
    engine = _spec(engine).name
    cluster = cluster_at(engine, port)
    if cluster is not None:
        alive = any(cluster.alive())
        cluster.stop(timeout)
        return alive
    state = _read_state(engine, port)
    if state is None:
        return False
    data_dir = Path(state["data_dir"])
    pid = int(state["pid"])
    with contextlib.suppress(ValueError, OSError):
        pid = int((data_dir / "node.pid").read_text().strip())
    alive = _pid_alive(pid)
    if alive:
        _terminate(pid, None, timeout)
        pgid = int(state.get("pgid") or 0)
        if pgid and _pid_alive(pgid):
            _terminate(pgid, None, 10.0)
    _clear_state(engine, port, data_dir)
    return alive


def cluster_status(cluster: Cluster) -> dict[str, Any]:
    """The cluster's health and every node: name, port, pid, running, elected master, version, heap."""
    info: dict[str, Any] = {"engine": cluster.engine, "cluster": cluster.name, "url": cluster.url,
                            "data_dir": str(cluster.data_dir), "running": any(cluster.alive())}
    seen: dict[str, dict[str, Any]] = {}
    try:
        health = cluster.health()
        info |= {k: health.get(k) for k in ("status", "number_of_nodes", "active_shards", "unassigned_shards")}
        info["health"] = info.pop("status")
        live = next(n for n in cluster.nodes if n.alive())
        rows = _http_json(f"{live.url}/_cat/nodes?format=json&h=name,master,version,heap.current,heap.max,"
                          "ram.current", timeout=5)
        seen = {r["name"]: r for r in rows}
    except (EngineError, StopIteration, urllib.error.URLError, OSError, ValueError):
        info["health"] = None
    info["nodes"] = []
    for n in cluster.nodes:
        row = seen.get(n.name, {})
        info["nodes"].append({"name": n.name, "port": n.port, "url": n.url, "pid": n.pid or None,
                              "running": n.alive(), "in_cluster": bool(row), "master": row.get("master") == "*",
                              "version": row.get("version"), "heap": row.get("heap.current"),
                              "heap_max": row.get("heap.max"), "data_dir": str(n.data_dir)})
    return info


def status(engine: str, port: int, *, url: str | None = None, user: str | None = None, password: str | None = None,
           api_key: str | None = None, ca_certs: str | None = None, verify_certs: bool = True) -> dict[str, Any]:
    """What is known about ``engine`` on ``port``: the recorded node (if any), whether it answers, its health.

    A secured node started by spladekit is asked as its superuser, over HTTPS with its own CA; credentials given
    here (``user``/``password``, ``api_key``, ``ca_certs``, ``verify_certs``) are used instead, and ``url``
    (e.g. ``https://localhost:9200``) replaces the recorded one. ``auth`` in the answer says why a node that runs
    did not report its health (``refused`` for HTTP 401/403, ``tls`` for a certificate problem)."""
    spec = _spec(engine)
    engine = spec.name
    cluster = cluster_at(engine, port)
    if cluster is not None:
        return cluster_status(cluster)
    state = _read_state(engine, port) or {}
    info: dict[str, Any] = {"engine": engine, "port": port, "url": f"http://127.0.0.1:{port}", **state}
    if url is not None:
        info["url"] = url.rstrip("/")
    pid = state.get("pid")
    info["running"] = bool(pid) and _pid_alive(int(pid))
    sec = tls.load(state["security"]) if state.get("security") else None
    headers, context = _secure_probe(spec, sec, bootstrapped=True)
    if user is not None or api_key is not None:
        headers = ({"Authorization": f"{spec.api_key_scheme} {api_key}"} if api_key is not None
                   else tls.basic(user or "", password or ""))
    if ca_certs is not None or not verify_certs or (context is None and info["url"].startswith("https")):
        context = tls.ssl_context(ca_certs, verify=verify_certs)
    base = info["url"]
    try:
        info["health"] = _http_json(f"{base}/_cluster/health", 3, headers, context).get("status")
        # Not GET /: Elasticsearch's integ-test distribution has no root endpoint.
        nodes = _http_json(f"{base}/_nodes/_local?filter_path=nodes.*.version", 3, headers, context)
        info["version"] = next(iter(nodes.get("nodes", {}).values()), {}).get("version")
    except urllib.error.HTTPError as exc:
        info.setdefault("health", None)
        if exc.code == 401:
            info["auth"] = "refused (HTTP 401): wrong user or password, or an unknown or expired API key"
        elif exc.code == 403:
            info["auth"] = "refused (HTTP 403): the user may not read the cluster's health (a monitor privilege)"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        info.setdefault("health", None)
        if isinstance(getattr(exc, "reason", exc), ssl.SSLError):
            info["auth"] = f"tls: {getattr(exc, 'reason', exc)}"
    return info
