"""Real engine nodes for integration tests: each engine starts once per session on a free port.

Under ``CI=true`` an engine that cannot start fails the run; locally the tests that need it skip with the
reason (the one-paragraph error from spladekit.engines.node). ``SPLADEKIT_OPENSEARCH_URL`` /
``SPLADEKIT_ELASTICSEARCH_URL`` point the tests at an already running node instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from _support import RAY_MARKER, end_marked, marked_pids, skip_or_fail

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("SPLADEKIT_CACHE", str(REPO / ".cache"))


@dataclass
class RunningEngine:
    """What a test needs from a node: its URL and engine name (and the Node when this session started it)."""

    engine: str
    url: str
    node: object | None = None


def _engine_fixture(engine: str, ci: bool) -> Iterator[RunningEngine]:
    url = os.environ.get(f"SPLADEKIT_{engine.upper()}_URL")
    if url:
        yield RunningEngine(engine, url)
        return
    from spladekit.engines import node as nodes
    from spladekit.errors import EngineError

    data_dir = Path(tempfile.mkdtemp(prefix=f"spladekit-test-{engine}-"))
    try:
        n = nodes.start(engine, data_dir=data_dir)
    except EngineError as exc:
        shutil.rmtree(data_dir, ignore_errors=True)
        skip_or_fail(f"{engine} node could not start: {exc}")
    try:
        yield RunningEngine(engine, n.url, n)
    finally:
        n.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def default_encoder():
    """The real default model (splade-tiny), exported to ONNX once and loaded once per session."""
    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.errors import ModelError

    try:
        return SpladeEncoder.load()
    except (ModelError, ImportError) as exc:
        skip_or_fail(f"the default model is not available: {exc}")


@pytest.fixture(scope="session")
def opensearch(ci: bool) -> Iterator[RunningEngine]:
    yield from _engine_fixture("opensearch", ci)


@pytest.fixture(scope="session")
def elasticsearch(ci: bool) -> Iterator[RunningEngine]:
    yield from _engine_fixture("elasticsearch", ci)


@pytest.fixture(params=["opensearch", "elasticsearch"])
def engine(request: pytest.FixtureRequest) -> RunningEngine:
    """Each test using this runs once per engine."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def index_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique index name for this test; afterwards only that index is deleted, on the engines used."""
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"sk-test-{stem}-{uuid.uuid4().hex[:8]}"
    yield name
    from spladekit.engines import connect

    for fixture in ("opensearch", "elasticsearch"):
        if fixture in request.fixturenames:
            running = request.getfixturevalue(fixture)
            try:
                connect(running.url, name, engine=running.engine).delete_index()
            except Exception as exc:  # noqa: BLE001 (cleanup must not hide the test's own result)
                print(f"could not delete test index {name} on {running.url}: {exc}")


# --------------------------------------------------------------------------------------------- Ray

#: The ports Ray's worker processes listen on (``ray start --min-worker-port/--max-worker-port``); the head's own
#: ports are picked outside them.
RAY_WORKER_PORTS = (10002, 19999)


@dataclass
class RayCluster:
    """A local Ray cluster (``ray start --head``) on free ports, in its own temporary folder."""

    address: str
    client_address: str  # ray://127.0.0.1:PORT (Ray Client)
    temp_dir: Path
    marker: str
    token: str
    process: subprocess.Popen | None = None
    log: list[str] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of this cluster's processes and of a driver that joins it (``--ray ADDRESS`` or
        ``RAY_ADDRESS``): its own token (not the user's ~/.ray/auth_token, which other clusters may share)."""
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
        # A Ray Client driver's server process must come up within 30 s by default: not on a busy 2-core machine.
        return {**env, RAY_MARKER: self.marker, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token,
                "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "300", "PYTHONPATH": str(REPO / "plugin"), **extra}

    def pids(self, title: str = "") -> list[int]:
        """This cluster's processes (those started under its marker), optionally only those whose title starts
        with ``title`` (Ray names an actor's process ``ray::ClassName``)."""
        return marked_pids(self.marker, title)


@pytest.fixture(scope="session")
def ray_cluster(ci: bool) -> Iterator[RayCluster]:
    """A 2-CPU Ray head on this machine for the distributed-ingest tests, started once per session."""
    from spladekit.engines.node import free_port

    ray_exe = Path(sys.executable).parent / "ray"
    if not ray_exe.is_file():
        skip_or_fail("the ray extra is not installed (pip install 'spladekit[ray]'): no `ray` command")
    # Short: Ray's unix sockets live under it (at most 107 bytes a path).
    temp_dir = Path(tempfile.mkdtemp(prefix="skray-", dir="/tmp"))
    marker = uuid.uuid4().hex
    # Ray's workers take ports from their own range (10002-19999 by default); a port picked here inside it stopped
    # the head in a CI run ("worker_ports is trying to use a port number ... used by other components").
    lo, hi = RAY_WORKER_PORTS

    def outside_worker_ports() -> int:
        while lo <= (picked := free_port()) <= hi:
            pass
        return picked

    port = outside_worker_ports()
    ports = {name: outside_worker_ports() for name in (
        "ray-client-server-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
        "metrics-export-port", "node-manager-port", "object-manager-port")}
    cmd = [str(ray_exe), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
           "--num-cpus=2", "--num-gpus=0", f"--temp-dir={temp_dir}", "--include-dashboard=false",
           "--disable-usage-stats", f"--object-store-memory={256 << 20}",
           f"--min-worker-port={lo}", f"--max-worker-port={hi}",
           *(f"--{name}={value}" for name, value in ports.items())]
    cluster = RayCluster(f"127.0.0.1:{port}", f"ray://127.0.0.1:{ports['ray-client-server-port']}", temp_dir, marker,
                         uuid.uuid4().hex + uuid.uuid4().hex)
    process = cluster.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                                 env=cluster.env(), start_new_session=True)
    started = threading.Event()

    def follow() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            cluster.log.append(line.rstrip())
            if "Ray runtime started" in line:
                started.set()

    threading.Thread(target=follow, daemon=True).start()
    try:
        deadline = time.monotonic() + 180
        while not started.wait(0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                skip_or_fail("a local Ray cluster could not start: " + " | ".join(cluster.log[-15:]))
        yield cluster
    finally:
        process.terminate()  # `ray start --block` stops the processes it started
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        end_marked(marker)
        shutil.rmtree(temp_dir, ignore_errors=True)
