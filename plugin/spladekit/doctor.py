"""``spladekit doctor``: check the installation and report each item as ok / missing / warn, with the fix.

:func:`run_checks` runs every check and returns a :class:`Report`. A check never raises: what it finds wrong
becomes a :class:`Check` whose ``fix`` says what to run. Presence of optional packages is read with
``importlib.util.find_spec`` and ``importlib.metadata`` so that the doctor stays fast: only the torch check
imports torch (when the ``export`` extra is there), and Ray is probed in a subprocess (``--ray``), whose
global state and log noise stay out of this process and whose hang a timeout can end.

Exit rule (:attr:`Report.ok`): a check with status ``missing`` fails the run only when it is *needed*:

- always: Python, the core packages, a writable cache, the default model (pinned sha256) and its encoder;
- with ``engines=True`` (``--engines``): Java, Maven (while a distribution is still to fetch), the engine
  distributions, the node folders and the node user, and the ``engines`` extra;
- with ``engine_url`` (``--engine URL``): that the engine answers and accepts the credentials, and the
  ``engines`` extra (Java and the distributions are not needed to talk to a running engine);
- with ``ray_address`` (``--ray``): the ``ray`` extra and the cluster answering.

Anything else missing (another extra, Java without ``--engines``) is reported but does not fail the run;
``warn`` (no CUDA device, a red cluster) never does.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spladekit import __version__, dialects, models, paths
from spladekit.encoder import CONFIG_NAME, EXPORT_REVISION
from spladekit.engines import node
from spladekit.engines.base import Credentials, detect_engine, safe_url, split_url, split_urls, tls_context
from spladekit.errors import EngineError, InputError, ModelError

OK, MISSING, WARN = "ok", "missing", "warn"
MIN_PYTHON = (3, 11)

#: (distribution, import name, minimum) of the core dependencies; mirrors pyproject.toml (a unit test checks).
CORE: tuple[tuple[str, str, str], ...] = (
    ("numpy", "numpy", "1.26"),
    ("onnxruntime", "onnxruntime", "1.18"),
    ("tokenizers", "tokenizers", "0.19"),
    ("numba", "numba", "0.60"),
    ("click", "click", "8.1"),
    ("tqdm", "tqdm", "4.66"),
    ("ir_measures", "ir_measures", "0.3.7"),
    ("zstandard", "zstandard", "0.22"),
)
#: The optional extras in the same form; mirrors pyproject.toml's optional-dependencies.
EXTRAS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "export": (("torch", "torch", "2.2"), ("transformers", "transformers", "4.45"), ("onnx", "onnx", "1.16"),
               ("safetensors", "safetensors", "0.4")),
    "engines": (("opensearch-py", "opensearchpy", "2.6"), ("elasticsearch", "elasticsearch", "8.15"),
                ("trustme", "trustme", "1.1"), ("cryptography", "cryptography", "42")),
    "train": (("torch", "torch", "2.2"), ("transformers", "transformers", "4.45"),
              ("sentence-transformers", "sentence_transformers", "5.1"), ("datasets", "datasets", "2.19"),
              ("accelerate", "accelerate", "1.0")),
    "ray": (("ray", "ray", "2.40"),),
    "serve": (("fastapi", "fastapi", "0.115"), ("uvicorn", "uvicorn", "0.30"),
              ("prometheus-client", "prometheus_client", "0.20")),
}
ENGINE_TIMEOUT = 10.0
#: Connecting a Ray driver takes a few seconds even when all is well; an unreachable head can retry for
#: minutes, so the probe is bounded.
RAY_TIMEOUT = 45.0


@dataclass(frozen=True)
class Check:
    """One line of the report. ``needed``: whether ``missing`` here fails the run (see the module docstring)."""

    name: str
    status: str
    detail: str
    fix: str = ""
    needed: bool = False

    @property
    def failed(self) -> bool:
        return self.status == MISSING and self.needed


@dataclass
class Report:
    """All checks, in the order they ran."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing needed is missing."""
        return not self.failures

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.failed]

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def get(self, name: str) -> Check:
        """The check called ``name`` (KeyError if none ran)."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """``{"ok": bool, "checks": [{"name", "status", "detail", "fix", "needed"}]}`` for ``--json``."""
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}

    def table(self) -> str:
        """One line per check: status, name, detail, and the fix for what is not ok; then a summary line."""
        width = max((len(c.name) for c in self.checks), default=0)
        lines = []
        for c in self.checks:
            line = f"{c.status:<7}  {c.name:<{width}}  {c.detail}"
            if c.status == MISSING and not c.needed:
                line += " [optional here]"
            if c.fix and c.status != OK:
                line += f" -> fix: {c.fix}"
            lines.append(line)
        if self.ok:
            optional = sum(c.status == MISSING for c in self.checks)
            warns = sum(c.status == WARN for c in self.checks)
            lines.append(f"everything needed is ok ({optional} optional item(s) missing, {warns} warning(s))")
        else:
            lines.append(f"needed but missing: {', '.join(c.name for c in self.failures)} (exit status 1)")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------- helpers


def _at_least(version: str, minimum: str) -> bool:
    """Whether the release ``version`` is ``minimum`` or newer (leading numbers only; suffixes are ignored).

    >>> _at_least("2.5.1+cu121", "2.2"), _at_least("1.24.4", "1.26"), _at_least("unknown", "1.0")
    (True, False, True)
    """

    def nums(text: str) -> tuple[int, ...]:
        m = re.match(r"\d+(?:\.\d+)*", text)
        return tuple(int(p) for p in m.group(0).split(".")) if m else ()

    have, want = nums(version), nums(minimum)
    return not have or have >= want


def _present(module: str) -> bool:
    # find_spec locates a top-level module without importing it (importing torch alone takes seconds).
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _dist_version(dist: str, module: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        pass
    # The same module may come from another distribution (onnxruntime-gpu provides onnxruntime).
    for other in importlib.metadata.packages_distributions().get(module, []):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(other)
    return None


def _packages(spec: Iterable[tuple[str, str, str]]) -> tuple[list[str], list[str], list[str]]:
    """(found as 'name version', absent names, too old as 'name version < min') for ``spec``."""
    found, absent, old = [], [], []
    for dist, module, minimum in spec:
        if not _present(module):
            absent.append(dist)
            continue
        version = _dist_version(dist, module) or "version unknown"
        if _at_least(version, minimum):
            found.append(f"{dist} {version}")
        else:
            old.append(f"{dist} {version} < {minimum}")
    return found, absent, old


def _first_clause(exc: BaseException) -> str:
    # Library messages are "what went wrong; what to do": the report keeps the fix in its own column.
    return str(exc).split("; ")[0]


def _guarded(name: str, fn: Callable[..., list[Check]], *args: Any, **kwargs: Any) -> list[Check]:
    """Run one check; a bug or an odd environment in it becomes a warning line, never a traceback."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the doctor must report, not crash
        return [Check(name, WARN, f"the check itself failed ({type(exc).__name__}: {exc})",
                      "report this as a spladekit bug, with the output of 'spladekit doctor --json'")]


# --------------------------------------------------------------------------------------------- core


def check_python() -> list[Check]:
    version = ".".join(str(p) for p in sys.version_info[:3])
    want = ".".join(str(p) for p in MIN_PYTHON)
    if sys.version_info[:2] >= MIN_PYTHON:
        return [Check("python", OK, f"{version} at {sys.executable}", needed=True)]
    return [Check("python", MISSING, f"{version} at {sys.executable} is older than {want}",
                  f"install Python {want} or newer and spladekit into it", needed=True)]


def check_spladekit() -> list[Check]:
    where = Path(__file__).resolve().parent
    return [Check("spladekit", OK, f"{__version__} at {where}", needed=True)]


def check_core() -> list[Check]:
    checks = []
    for dist, module, minimum in CORE:
        found, absent, old = _packages([(dist, module, minimum)])
        if found:
            checks.append(Check(dist, OK, found[0].removeprefix(f"{dist} "), needed=True))
        elif absent:
            checks.append(Check(dist, MISSING, "not installed", f"pip install '{dist}>={minimum}'", needed=True))
        else:
            checks.append(Check(dist, MISSING, f"{old[0]} is too old", f"pip install -U '{dist}>={minimum}'",
                                needed=True))
    return checks


def check_cache() -> list[Check]:
    root = paths.cache_dir()
    source = "$SPLADEKIT_CACHE" if os.environ.get("SPLADEKIT_CACHE") else "the default; set $SPLADEKIT_CACHE to move it"
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    fix = f"set SPLADEKIT_CACHE to a folder you can write, or make {probe} writable"
    if not probe.is_dir():
        return [Check("cache", MISSING, f"{root}: {probe} is not a folder", fix, needed=True)]
    # os.access is no proof (root on a read-only mount): write a file for real.
    try:
        fd, tmp = tempfile.mkstemp(prefix=".spladekit-doctor-", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        return [Check("cache", MISSING, f"{root} is not writable ({exc.strerror or exc})", fix, needed=True)]
    if probe != root:
        return [Check("cache", OK, f"{root} ({source}); created on first use", needed=True)]
    return [Check("cache", OK, f"{root} ({source}), writable", needed=True)]


def check_model() -> list[Check]:
    name = f"model {models.DEFAULT_MODEL}"
    directory = models.default_dir()
    if not directory.is_dir():
        return [Check(name, MISSING, f"not fetched (expected at {directory})",
                      f"spladekit model fetch {models.DEFAULT_MODEL}", needed=True)]
    try:
        models.verify_model_dir(directory, models.DEFAULT_SHA256)
    except ModelError as exc:
        return [Check(name, MISSING, _first_clause(exc), f"spladekit model fetch {models.DEFAULT_MODEL} --force",
                      needed=True)]
    return [Check(name, OK, f"{directory} (sha256 {models.DEFAULT_SHA256[:12]}... matches the pin)", needed=True)]


def check_encoder() -> list[Check]:
    """The exported ONNX encoder of the default model: what encoding actually runs (models.onnx_dir)."""

    name = f"encoder {models.DEFAULT_MODEL}"
    target = paths.cache_dir() / "onnx" / models.DEFAULT_MODEL
    revision = None
    with contextlib.suppress(OSError, ValueError, AttributeError):
        revision = json.loads((target / CONFIG_NAME).read_text(encoding="utf-8")).get("export_revision")
    if revision == EXPORT_REVISION:
        return [Check(name, OK, f"ONNX export at {target}", needed=True)]
    why = "not exported yet" if revision is None else f"exported by another spladekit (revision {revision})"
    if all(_present(module) for _, module, _ in EXTRAS["export"]):
        return [Check(name, OK, f"{why}; the first encode exports it into {target} (export extra present)",
                      needed=True)]
    return [Check(name, MISSING, f"{why}, and exporting needs the export extra",
                  "pip install 'spladekit[export]' (then any encode exports it once), or copy an exported "
                  f"encoder to {target}", needed=True)]


def check_extras(needed: Iterable[str] = ()) -> list[Check]:
    wanted = set(needed)
    checks = []
    for extra, spec in EXTRAS.items():
        found, absent, old = _packages(spec)
        name = f"extra {extra}"
        if not absent and not old:
            checks.append(Check(name, OK, ", ".join(found), needed=extra in wanted))
            continue
        problems = ([f"not installed: {', '.join(absent)}"] if absent else []) + (
            [f"too old: {', '.join(old)}"] if old else [])
        upgrade = "-U " if old and not absent else ""
        checks.append(Check(name, MISSING, "; ".join(problems), f"pip install {upgrade}'spladekit[{extra}]'",
                            needed=extra in wanted))
    return checks


def check_onnxruntime() -> list[Check]:
    if not _present("onnxruntime"):
        return []  # the core-package line already says how to install it
    import onnxruntime

    providers = list(onnxruntime.get_available_providers())
    # Azure's provider calls a remote endpoint; only a local accelerator's provider changes where encoding runs.
    local = [p for p in providers if p not in ("CPUExecutionProvider", "AzureExecutionProvider")]
    note = "" if local else " (encoding runs on CPU)"
    return [Check("onnxruntime providers", OK, ", ".join(providers) + note)]


def check_torch() -> list[Check]:
    """torch's version, its CUDA devices and bf16; only when torch is installed (this imports it)."""
    if not _present("torch"):
        return []  # the export/train extra lines say how to install it
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - a broken torch install raises all sorts of errors
        return [Check("torch", WARN, f"installed but fails to import ({type(exc).__name__}: {exc})",
                      "pip install --force-reinstall 'spladekit[export]'")]
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    checks = [Check("torch", OK, f"{torch.__version__} ({build})")]
    if not torch.cuda.is_available():
        checks.append(Check("cuda", WARN, "no CUDA device: the torch backend runs on CPU",
                            "nothing to do for search and ingest (onnxruntime); a GPU speeds up export and training"))
        return checks
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    devices = f"{len(names)} device(s): {', '.join(names)}"
    if torch.cuda.is_bf16_supported():
        checks.append(Check("cuda", OK, f"{devices}; bf16 supported"))
    else:
        checks.append(Check("cuda", WARN, f"{devices}; no bf16", "train with fp16 or fp32 on this GPU"))
    return checks


# --------------------------------------------------------------------------------------------- engine tooling


def check_engine_tooling(needed: bool) -> list[Check]:
    """Java, Maven, the fetched distributions, node folders and user for ``spladekit engine start``."""
    checks: list[Check] = []
    homes: dict[int, Path | EngineError] = {}
    for engine, spec in dialects.specs().items():
        try:
            major = spec.java_needed()
        except EngineError as exc:
            checks.append(Check(f"java ({engine})", MISSING, _first_clause(exc),
                                f"unset or fix {spec.version_env}", needed=needed))
            continue
        if major not in homes:
            try:
                homes[major] = node.find_java(major)
            except EngineError as exc:
                homes[major] = exc
        found = homes[major]
        if isinstance(found, Path):
            checks.append(Check(f"java ({engine})", OK, f"Java >= {major} at {found}", needed=needed))
        else:
            checks.append(Check(f"java ({engine})", MISSING, f"no Java >= {major} found",
                                f"apt-get install openjdk-{major}-jdk-headless (or point SPLADEKIT_JAVA_HOME at a "
                                f"JDK {major}+); or run the engine with Docker (docker/README.md)", needed=needed))
    dists = [_check_distribution(engine, needed) for engine in dialects.names()]
    to_fetch = any(d.status != OK for d in dists)
    try:
        mvn = node.find_mvn()
        checks.append(Check("maven", OK, mvn, needed=needed and to_fetch))
    except EngineError:
        why = "to fetch the engine distributions" if to_fetch else "only to fetch them again (both are fetched)"
        checks.append(Check("maven", MISSING, f"mvn is not on PATH; it is needed {why}",
                            "apt-get install maven (or install Apache Maven and put mvn on PATH)",
                            needed=needed and to_fetch))
    checks += dists
    checks += check_node_folders(needed)
    checks += check_node_user(needed)
    return checks


def _check_distribution(engine: str, needed: bool) -> Check:
    spec = dialects.get(engine)
    name = f"distribution {engine}"
    try:
        release, home = spec.release(), node.home_dir(engine)
    except EngineError as exc:
        return Check(name, MISSING, _first_clause(exc), f"unset or fix {spec.version_env}", needed=needed)
    if (home / ".spladekit-complete").is_file():
        return Check(name, OK, f"{engine} {release} at {home}", needed=needed)
    what = "incompletely unpacked" if home.exists() else "not fetched"
    return Check(name, MISSING, f"{engine} {release} {what} (expected at {home})",
                 f"spladekit engine fetch --engine {engine}" + (" --force" if home.exists() else ""), needed=needed)


def check_node_folders(needed: bool = False) -> list[Check]:
    """Where ``spladekit engine start`` puts node folders, why there, and whether the node user reaches it."""
    cache = paths.engines_dir()
    root = node.node_root()
    if os.environ.get(node.NODE_DIR_ENV):
        why = f"from ${node.NODE_DIR_ENV}"
    elif os.geteuid() != 0:
        why = "under the cache: nodes run as you"
    elif node.shared_root() == cache:
        why = f"under the cache: running as root, nodes run as {node.NODE_USER!r}, who can enter {cache}"
    else:
        why = (f"running as root, nodes run as {node.NODE_USER!r}, who cannot enter the cache {cache} (a folder "
               f"above it lacks o+x, like a mode-700 home), so node data and the node's copy of each distribution "
               f"go to {node.SYSTEM_NODE_DIR}; set ${node.NODE_DIR_ENV} to choose another folder")
    name = "node folders"
    if not node.node_user_can_reach(root):
        return [Check(name, MISSING, f"{root} ({why}): {node.NODE_USER!r} cannot enter it",
                      f"chmod o+x the folders above {root}, or set {node.NODE_DIR_ENV} to a folder under /tmp",
                      needed=needed)]
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        return [Check(name, MISSING, f"{root} ({why}): cannot create it ({probe} is not writable)",
                      f"mkdir -p {root} with the right owner, or set {node.NODE_DIR_ENV} to a writable folder",
                      needed=needed)]
    return [Check(name, OK, f"{root} ({why})", needed=needed)]


def check_node_user(needed: bool = False) -> list[Check]:
    if os.geteuid() != 0:
        return [Check("node user", OK, f"nodes run as you (uid {os.geteuid()})", needed=needed)]
    try:
        entry = pwd.getpwnam(node.NODE_USER)
    except KeyError:
        if shutil.which("useradd"):
            return [Check("node user", OK, f"running as root: nodes will run as {node.NODE_USER!r}, created with "
                                           "useradd on the first engine start", needed=needed)]
        return [Check("node user", MISSING, f"running as root, and no user {node.NODE_USER!r} to run nodes as "
                                            "(neither engine runs as root; useradd is missing)",
                      f"create an unprivileged user named {node.NODE_USER!r}, or run spladekit as a normal user",
                      needed=needed)]
    return [Check("node user", OK, f"running as root: nodes run as {node.NODE_USER!r} (uid {entry.pw_uid})",
                  needed=needed)]


# --------------------------------------------------------------------------------------------- a running engine


def _get(base: str, path: str, creds: Any, timeout: float, api_key_scheme: str = "ApiKey") -> tuple[int, Any]:
    """(HTTP status, JSON body or None) of ``GET base+path``; connection errors propagate."""
    req = urllib.request.Request(base + path, headers=creds.headers(api_key_scheme))
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=tls_context(base, creds)) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, None


def _engine_version(base: str, creds: Any, timeout: float, scheme: str) -> str:
    status, body = _get(base, "/", creds, timeout, scheme)
    if status == 200 and isinstance(body, dict):
        number = (body.get("version") or {}).get("number")
        if number:
            return str(number)
    # Elasticsearch's integ-test distribution has no root endpoint (405).
    status, body = _get(base, "/_nodes/_local?filter_path=nodes.*.version", creds, timeout, scheme)
    if status == 200 and isinstance(body, dict):
        return str(next(iter((body.get("nodes") or {}).values()), {}).get("version") or "version unknown")
    return "version unknown"


_CRED_FIX = "check --user and $SPLADEKIT_ENGINE_PASSWORD (or --api-key)"


def check_engine(url: str, *, user: str | None = None, password: str | None = None, api_key: str | None = None,
                 ca_certs: str | None = None, verify_certs: bool = True,
                 timeout: float = ENGINE_TIMEOUT) -> list[Check]:
    """Kind and version, cluster health, and whether the credentials are accepted, of the engine at ``url``
    (each node of a comma-separated list, in turn).

    Secrets go into request headers only; every message names the URL without its user info.
    """
    nodes = split_urls(url)
    if len(nodes) > 1:
        return [c for one in nodes for c in check_engine(one, user=user, password=password, api_key=api_key,
                                                         ca_certs=ca_certs, verify_certs=verify_certs,
                                                         timeout=timeout)]
    try:
        base, url_user, url_password = split_url(url)
    except InputError as exc:
        # A URL without a scheme keeps its user info in the message (safe_url needs the scheme to find it).
        userinfo = url.rpartition("@")[0].partition("://")[2] or url.rpartition("@")[0]
        detail = str(exc).replace(userinfo + "@", "") if userinfo else str(exc)
        return [Check("engine", MISSING, detail, "give a URL like http://127.0.0.1:9200", needed=True)]
    creds = Credentials(user=user if user is not None else url_user,
                        password=password if password is not None else url_password,
                        api_key=api_key, ca_certs=ca_certs, verify_certs=verify_certs)
    shown = safe_url(base)
    try:
        kind = detect_engine(base, creds, timeout=timeout)
    except EngineError as exc:
        text = str(exc)
        if "refused the credentials" in text:
            return [Check("engine", OK, f"answers at {shown}", needed=True),
                    Check("engine credentials", MISSING, _first_clause(exc), _CRED_FIX, needed=True)]
        if "cannot reach" in text:
            return [Check("engine", MISSING, _first_clause(exc), "start one with 'spladekit engine start --engine "
                          "opensearch' (or elasticsearch), or check the URL", needed=True)]
        if "TLS" in text or "HTTPS" in text:  # untrusted or misnamed certificate, or the wrong scheme
            detail, _, fix = text.partition("): ")
            return [Check("engine", MISSING, detail + ")", fix.split("; ")[0], needed=True)]
        return [Check("engine", MISSING, _first_clause(exc),
                      "point --engine at an OpenSearch or Elasticsearch URL", needed=True)]
    scheme = dialects.get(kind).api_key_scheme
    try:
        version = _engine_version(base, creds, timeout, scheme)
        health_status, health = _get(base, "/_cluster/health", creds, timeout, scheme)
        auth_status, auth = _get(base, dialects.get(kind).whoami_path, creds, timeout, scheme)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return [Check("engine", MISSING, f"{kind} at {shown} stopped answering ({reason})",
                      "check that the engine is up (spladekit engine status --engine E)", needed=True)]
    checks = [Check("engine", OK, f"{kind} {version} at {shown}", needed=True)]
    checks.append(_health_check(health_status, health))
    checks.append(_credentials_check(auth_status, auth, creds, health_status))
    return checks


def _health_check(status: int, body: Any) -> Check:
    if status == 200 and isinstance(body, dict):
        colour = body.get("status")
        detail = f"{colour} ({body.get('number_of_nodes', '?')} node(s), cluster {body.get('cluster_name', '?')})"
        if colour in ("green", "yellow"):
            return Check("engine health", OK, detail, needed=True)
        return Check("engine health", WARN, detail, "see GET /_cluster/allocation/explain for the unassigned shards")
    if status == 401:
        return Check("engine health", MISSING, "GET /_cluster/health: HTTP 401 (credentials refused)", _CRED_FIX,
                     needed=True)
    return Check("engine health", WARN, f"GET /_cluster/health answered HTTP {status}",
                 "give a user with the cluster 'monitor' privilege to see the health")


def _credentials_check(status: int, body: Any, creds: Any, health_status: int) -> Check:
    given = creds.user is not None or bool(creds.api_key)
    if status == 401 or health_status == 401:
        return Check("engine credentials", MISSING, "refused (HTTP 401)", _CRED_FIX, needed=True)
    if status == 200 and isinstance(body, dict):
        who = body.get("user_name") or body.get("username") or "?"
        return Check("engine credentials", OK, f"accepted: authenticated as {who!r}", needed=True)
    if status == 403:
        return Check("engine credentials", OK, "accepted (this user may not read its own auth info)", needed=True)
    # No security plugin (a local test node): the authentication endpoint is absent or refuses to run.
    if given:
        return Check("engine credentials", OK, "security is off: the engine does not check credentials",
                     needed=True)
    return Check("engine credentials", OK, "none needed (security is off)", needed=True)


# --------------------------------------------------------------------------------------------- ray

# Run in a subprocess: ray.init changes process-wide state and logs a lot; a timeout can end a hung connect.
_RAY_PROBE = """
import json, sys
import ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
try:
    res = ray.cluster_resources()
    alive = [n for n in ray.nodes() if n.get("Alive")]
    print(json.dumps({"version": ray.__version__, "nodes": len(alive), "cpus": res.get("CPU", 0),
                      "gpus": res.get("GPU", 0)}))
finally:
    ray.shutdown()
"""


def check_ray(address: str, timeout: float = RAY_TIMEOUT) -> list[Check]:
    name = "ray cluster"
    if not _present("ray"):
        return [Check(name, MISSING, f"cannot check {address}: the ray extra is not installed",
                      "pip install 'spladekit[ray]'", needed=True)]
    start_fix = ("start one with 'ray start --head' (or check the address: host:6379, ray://host:10001, "
                 "or auto for a cluster on this machine)")
    try:
        out = subprocess.run([sys.executable, "-c", _RAY_PROBE, address], capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return [Check(name, MISSING, f"no answer from Ray at {address} within {timeout:.0f} s", start_fix,
                      needed=True)]
    lines = out.stdout.strip().splitlines()
    try:
        info = json.loads(lines[-1]) if out.returncode == 0 and lines else None
    except ValueError:
        info = None
    if not isinstance(info, dict):
        errors = [ln.strip() for ln in out.stderr.splitlines() if re.match(r"\w*(Error|Exception)\b", ln.strip())]
        reason = errors[-1] if errors else (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
        return [Check(name, MISSING, f"cannot connect to Ray at {address} ({reason[:300]})", start_fix,
                      needed=True)]
    detail = (f"Ray {info.get('version')} at {address}: {info.get('nodes')} node(s), {info.get('cpus'):g} CPU(s), "
              f"{info.get('gpus'):g} GPU(s)")
    return [Check(name, OK, detail, needed=True)]


# --------------------------------------------------------------------------------------------- all together


def run_checks(engine_url: str | None = None, ray_address: str | None = None, engines: bool = False, *,
               user: str | None = None, password: str | None = None, api_key: str | None = None,
               ca_certs: str | None = None, verify_certs: bool = True, timeout: float = ENGINE_TIMEOUT,
               ray_timeout: float = RAY_TIMEOUT) -> Report:
    """Run every check; see the module docstring for what each option adds and for the exit rule.

    ``user``/``password``/``api_key``/``ca_certs``/``verify_certs``: the credentials for ``engine_url``, as
    :func:`spladekit.engines.connect` takes them (credentials in the URL work too).
    """
    needed_extras = (["engines"] if engines or engine_url else []) + (["ray"] if ray_address else [])
    checks: list[Check] = []
    steps: list[tuple[str, Callable[..., list[Check]], tuple[Any, ...], dict[str, Any]]] = [
        ("python", check_python, (), {}),
        ("spladekit", check_spladekit, (), {}),
        ("core packages", check_core, (), {}),
        ("cache", check_cache, (), {}),
        (f"model {models.DEFAULT_MODEL}", check_model, (), {}),
        (f"encoder {models.DEFAULT_MODEL}", check_encoder, (), {}),
        ("extras", check_extras, (needed_extras,), {}),
        ("onnxruntime providers", check_onnxruntime, (), {}),
        ("torch", check_torch, (), {}),
        ("engine tooling", check_engine_tooling, (engines,), {}),
    ]
    if engine_url is not None:
        auth = {"user": user, "password": password, "api_key": api_key, "ca_certs": ca_certs,
                "verify_certs": verify_certs, "timeout": timeout}
        steps.append(("engine", check_engine, (engine_url,), auth))
    if ray_address is not None:
        steps.append(("ray cluster", check_ray, (ray_address, ray_timeout), {}))
    for name, fn, args, kwargs in steps:
        checks += _guarded(name, fn, *args, **kwargs)
    return Report(checks)


__all__ = ["MISSING", "OK", "WARN", "Check", "Report", "run_checks"]
