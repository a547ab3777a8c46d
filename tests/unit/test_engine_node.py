"""Node management error paths, without starting a JVM: every failure is one clear paragraph, never a hang.

Fake ``java``, ``mvn`` and engine launch scripts stand in for the real ones.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from _support import skip_or_fail
from spladekit.cli import main
from spladekit.engines import node
from spladekit.errors import EngineError


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def world_dir() -> Iterator[Path]:
    # Nodes run as an unprivileged user when we are root: it must be able to enter this folder.
    d = Path(tempfile.mkdtemp(prefix="spladekit-unit-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fake_java(world_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = world_dir / "jdk"
    _script(home / "bin" / "java", "echo 'openjdk version \"17.0.9\" 2023-10-17' >&2")
    monkeypatch.setenv("SPLADEKIT_JAVA_HOME", str(home))
    return home


@pytest.fixture
def cache(world_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    c = world_dir / "cache"
    c.mkdir()
    monkeypatch.setenv("SPLADEKIT_CACHE", str(c))
    return c


def _fake_distribution(cache: Path, engine: str, launcher_body: str) -> Path:
    home = node.home_dir(engine)
    (home / "config").mkdir(parents=True)
    (home / "config" / "jvm.options").write_text("-Xlog:gc*:file=logs/gc.log\n")
    _script(home / "bin" / engine, launcher_body)
    (home / ".spladekit-complete").write_text("{}")
    for p in [home, *home.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if p.is_dir() else 0))
    return home


@pytest.mark.parametrize("call", [node.fetch, node.home_dir, lambda e: node.start(e), lambda e: node.stop(e, 1)])
def test_bad_engine_name_lists_valid_ones(call) -> None:
    with pytest.raises(ValueError, match="valid engines: elasticsearch, opensearch"):
        call("solr")


def test_cli_rejects_bad_engine() -> None:
    result = CliRunner().invoke(main, ["engine", "start", "--engine", "solr"])
    assert result.exit_code != 0 and "opensearch" in result.output


def test_missing_java(world_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLADEKIT_JAVA_HOME", str(world_dir / "nowhere"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(world_dir))
    monkeypatch.setattr(node, "JVM_DIRS", [world_dir / "no-jvms"])
    with pytest.raises(EngineError, match=r"no Java >= 17 found.*SPLADEKIT_JAVA_HOME.*docker compose"):
        node.find_java()


def test_java_too_old(world_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = world_dir / "jdk11"
    _script(old / "bin" / "java", "echo 'openjdk version \"11.0.2\" 2019-01-15' >&2")
    monkeypatch.setenv("SPLADEKIT_JAVA_HOME", str(old))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(world_dir))
    monkeypatch.setattr(node, "JVM_DIRS", [])
    with pytest.raises(EngineError, match=r"Java 11"):
        node.find_java()


def test_java_found(fake_java: Path) -> None:
    assert node.find_java() == fake_java


def test_newer_engine_majors_need_java_21(world_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jvms = world_dir / "jvms"
    for name, version in (("java-17-openjdk", "17.0.9"), ("temurin-25-jdk", "25.0.1")):
        _script(jvms / name / "bin" / "java", f"echo 'openjdk version \"{version}\" 2025-10-21' >&2")
    for var in ("SPLADEKIT_JAVA_HOME", "JAVA_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", str(world_dir))
    monkeypatch.setattr(node, "JVM_DIRS", [jvms])
    assert node.find_java() == jvms / "java-17-openjdk"  # the pinned releases: 17 first
    assert node.find_java(21) == jvms / "temurin-25-jdk"
    with pytest.raises(EngineError, match=r"no Java >= 26 found.*Java 17.*Java 25"):
        node.find_java(26)


def test_version_override_moves_artifacts_home_and_java(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spladekit import dialects

    opensearch, elasticsearch = dialects.get("opensearch"), dialects.get("elasticsearch")
    assert opensearch.java_needed() == elasticsearch.java_needed() == 17
    assert node.home_dir("opensearch").name == f"opensearch-{opensearch.version}"
    monkeypatch.setenv("SPLADEKIT_OPENSEARCH_VERSION", "3.3.2")
    monkeypatch.setenv("SPLADEKIT_ELASTICSEARCH_VERSION", "9.2.4")
    assert node.home_dir("opensearch").name == "opensearch-3.3.2"
    assert opensearch.artifacts() == ("org.opensearch.distribution.integ-test-zip:opensearch:3.3.2:zip",
                                      ("org.opensearch.plugin:mapper-extras-client:3.3.2:jar",))
    assert elasticsearch.artifacts()[0].endswith(":elasticsearch:9.2.4:zip")
    assert opensearch.java_needed() == elasticsearch.java_needed() == 21
    assert opensearch.version == "2.19.4"  # the pins themselves do not move
    monkeypatch.setenv("SPLADEKIT_OPENSEARCH_VERSION", "latest")
    with pytest.raises(EngineError, match=r"SPLADEKIT_OPENSEARCH_VERSION='latest' is not a release number"):
        node.home_dir("opensearch")


def test_missing_mvn(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(cache))
    with pytest.raises(EngineError, match=r"mvn .* not on PATH.*apt-get install maven.*docker compose"):
        node.fetch("opensearch")


def test_mvn_failure_shows_its_output(cache: Path, world_dir: Path, fake_java: Path, monkeypatch) -> None:
    _script(world_dir / "bin" / "mvn", "echo '[ERROR] Could not resolve artifact: no route to host'; exit 1")
    monkeypatch.setenv("PATH", f"{world_dir / 'bin'}:/usr/bin:/bin")
    with pytest.raises(EngineError, match=r"mvn could not fetch .*Could not resolve artifact.*docker"):
        node.fetch("elasticsearch")


def test_port_taken() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert node.port_in_use(port)
        with pytest.raises(EngineError, match=rf"port {port} .* already taken.*--port.*docker compose"):
            node.start("opensearch", port=port)


def test_free_port_is_free() -> None:
    assert not node.port_in_use(node.free_port())


def test_node_dying_at_start_shows_log_tail(cache: Path, fake_java: Path, world_dir: Path) -> None:
    _fake_distribution(cache, "opensearch", "echo 'starting'; echo 'ERROR: unknown setting [bogus.setting]'; exit 3")
    with pytest.raises(EngineError) as info:
        node.start("opensearch", data_dir=world_dir / "node", timeout=30)
    msg = str(info.value)
    assert "died during start-up (exit 3)" in msg
    assert "unknown setting [bogus.setting]" in msg
    assert "docker compose -f docker/compose.opensearch.yml" in msg
    assert "\n" not in msg


def test_start_timeout_is_bounded_and_kills_the_node(cache: Path, fake_java: Path, world_dir: Path) -> None:
    _fake_distribution(cache, "elasticsearch", 'echo $$ > "$ES_PATH_CONF/../launcher.pid"; exec sleep 120')
    with pytest.raises(EngineError, match=r"not healthy \(yellow\) after 2 s; it was stopped"):
        node.start("elasticsearch", data_dir=world_dir / "node", timeout=2)
    pid = int((world_dir / "node" / "launcher.pid").read_text())
    assert not node._pid_alive(pid)
    assert node.stop("elasticsearch", 1) is False


def test_written_config(cache: Path, fake_java: Path, world_dir: Path) -> None:
    _fake_distribution(cache, "elasticsearch", "exit 1")
    with pytest.raises(EngineError):
        node.start(
            "elasticsearch",
            port=node.free_port(),
            data_dir=world_dir / "n",
            settings={"thread_pool.write.queue_size": 1},
        )
    yml = (world_dir / "n" / "config" / "elasticsearch.yml").read_text()
    for line in (
        'discovery.type: "single-node"',
        'network.host: "127.0.0.1"',
        "xpack.security.enabled: false",
        "cluster.routing.allocation.disk.threshold_enabled: false",
        "thread_pool.write.queue_size: 1",
    ):
        assert line in yml
    assert "-Xmx512m" in (world_dir / "n" / "config" / "jvm.options.d" / "spladekit-heap.options").read_text()
    assert f"file={world_dir / 'n'}/logs/gc.log" in (world_dir / "n" / "config" / "jvm.options").read_text()
    if os.geteuid() == 0:
        assert (world_dir / "n" / "data").stat().st_uid != 0


def test_status_and_stop_without_a_node(cache: Path) -> None:
    port = node.free_port()
    assert node.stop("opensearch", port) is False
    info = node.status("opensearch", port)
    assert info["running"] is False and info["health"] is None


def test_cli_start_on_taken_port_is_one_paragraph() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        result = CliRunner().invoke(main, ["engine", "start", "--engine", "elasticsearch", "--port", str(port)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: port ") and "already taken" in result.output
    assert result.output.count("\n") == 1


def test_cli_status_and_stop_without_a_node(cache: Path) -> None:
    port = node.free_port()
    out = CliRunner().invoke(main, ["engine", "status", "--engine", "opensearch", "--port", str(port)])
    assert out.exit_code == 0 and json.loads(out.output)["running"] is False
    out = CliRunner().invoke(main, ["engine", "stop", "--engine", "opensearch", "--port", str(port)])
    assert out.exit_code == 0 and "no opensearch node" in out.output


def test_distribution_under_a_private_folder_is_mirrored_where_the_node_user_can_reach_it(tmp_path, monkeypatch):
    private = tmp_path / "private"
    home = private / "cache" / "opensearch-0.0.0"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "opensearch").write_text("#!/bin/sh\n")
    (home / ".spladekit-complete").write_text("{}\n")
    private.chmod(0o700)
    # pytest's tmp_path lives under a private folder itself: the shared side goes directly under /tmp.
    shared_tmp = Path(tempfile.mkdtemp(prefix="spladekit-test-shared-", dir="/tmp"))
    shared_tmp.chmod(0o1777)
    monkeypatch.setenv(node.NODE_DIR_ENV, str(shared_tmp))
    owner = (os.getuid(), os.getgid())
    assert not node._traversable_by_others(home)
    try:
        _check_mirror(home, shared_tmp, owner)
    finally:
        shutil.rmtree(shared_tmp, ignore_errors=True)


def _check_mirror(home: Path, shared_tmp: Path, owner: tuple[int, int]) -> None:
    mirrored = node.runtime_home("opensearch", home, owner)
    assert mirrored == shared_tmp / "mirror" / "opensearch-0.0.0"
    assert (mirrored / "bin" / "opensearch").read_text() == "#!/bin/sh\n"
    assert node._traversable_by_others(mirrored / "bin")
    assert os.stat(mirrored / "bin" / "opensearch").st_mode & 0o004
    assert node.runtime_home("opensearch", home, owner) == mirrored  # mirrored once
    assert node.runtime_home("opensearch", home, None) == home  # not root: the user's own folder is fine


def test_node_folders_default_where_the_node_user_can_reach_them(tmp_path, monkeypatch):
    monkeypatch.delenv(node.NODE_DIR_ENV, raising=False)
    private = tmp_path / "home"
    (private / "cache").mkdir(parents=True)
    private.chmod(0o700)
    monkeypatch.setenv("SPLADEKIT_CACHE", str(private / "cache"))
    monkeypatch.setattr(node.os, "geteuid", lambda: 0)  # as root: the node runs as another user
    assert node.shared_root() == node.SYSTEM_NODE_DIR
    assert node.node_root() == node.SYSTEM_NODE_DIR / "nodes"
    private.chmod(0o755)
    tmp_path.chmod(0o755)
    if node._traversable_by_others(private / "cache"):  # pytest's own base folder may still be private
        assert node.shared_root() == (private / "cache" / "engines").resolve()
    monkeypatch.setattr(node.os, "geteuid", lambda: 1000)  # a normal user: nodes run as that user
    private.chmod(0o700)
    assert node.shared_root() == (private / "cache" / "engines").resolve()
    monkeypatch.setenv(node.NODE_DIR_ENV, str(tmp_path / "nodes-here"))
    assert node.node_root() == (tmp_path / "nodes-here" / "nodes").resolve()


# --------------------------------------------------------------------------------------------- clusters

#: A stand-in node for the cluster plumbing: reads its config, writes its pid file, answers health and _cat/nodes
#: for a cluster of as many nodes as it has seed hosts, stops on SIGTERM.
FAKE_NODE = r'''
import json, os, re, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
conf = open(sys.argv[1]).read()
port = int(re.search(r"^http\.port: (\d+)", conf, re.M).group(1))
seeds = json.loads(re.search(r"^discovery\.seed_hosts: (.*)$", conf, re.M).group(1))
open(sys.argv[2], "w").write(str(os.getpid()))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        n = len(seeds)
        if self.path.startswith("/_cat/nodes"):
            body = [{"name": f"node-{i + 1}", "master": "*" if i == 0 else "-", "version": "0.0.0",
                     "heap.current": "1mb", "heap.max": "512mb", "ram.current": "1mb"} for i in range(n)]
        else:
            body = {"status": "green", "timed_out": False, "number_of_nodes": n, "number_of_data_nodes": n,
                    "active_shards": 0, "unassigned_shards": 0}
        data = json.dumps(body).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
HTTPServer(("127.0.0.1", port), H).serve_forever()
'''


def _python_for_nodes() -> str:
    """An interpreter the node user can run (as root, nodes run as an unprivileged user)."""
    import sys

    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        path = Path(candidate).resolve()
        if path.is_file() and node.node_user_can_reach(path.parent):
            return str(path)
    skip_or_fail("no Python interpreter the node user can run (needed for the stand-in nodes)")
    raise AssertionError  # not reached


@pytest.fixture
def fake_cluster_dist(cache: Path, fake_java: Path, world_dir: Path) -> Path:
    script = world_dir / "fake_node.py"
    script.write_text(FAKE_NODE)
    script.chmod(0o644)
    return _fake_distribution(cache, "opensearch",
                              f'exec {_python_for_nodes()} {script} "$OPENSEARCH_PATH_CONF/opensearch.yml" "$2"')


def _consecutive_free_ports(n: int) -> int:
    for _ in range(50):
        first = node.free_port()
        if first + n < 65536 and not any(node.port_in_use(first + i) for i in range(n)):
            return first
    raise AssertionError("no run of free ports")


def _yml(c: node.Cluster, i: int) -> str:
    return (c.nodes[i].data_dir / "config" / "opensearch.yml").read_text()


def test_cluster_start_status_kill_restart_stop(fake_cluster_dist: Path, world_dir: Path) -> None:
    folder = world_dir / "cluster"
    c = node.start_cluster("opensearch", nodes=3, data_dir=folder, timeout=60)
    try:
        assert len(set(c.urls)) == 3 and all(c.alive()) and c.url == ",".join(c.urls)
        seeds = [f"127.0.0.1:{t}" for t in c.transport_ports]
        for i in range(3):
            yml = _yml(c, i)
            assert f'node.name: "node-{i + 1}"' in yml and f'cluster.name: "{c.name}"' in yml
            assert f"discovery.seed_hosts: {json.dumps(seeds)}" in yml and "discovery.type" not in yml
            # First start: the members elect the first master (OpenSearch's name for the setting).
            assert 'cluster.initial_cluster_manager_nodes: ["node-1", "node-2", "node-3"]' in yml
            assert f"transport.port: {c.transport_ports[i]}" in yml and f"http.port: {c.nodes[i].port}" in yml
        assert json.loads((folder / "cluster.json").read_text())["bootstrapped"] is True

        info = node.status("opensearch", c.nodes[2].port)
        assert info["cluster"] == c.name and info["health"] == "green" and info["number_of_nodes"] == 3
        assert [n["master"] for n in info["nodes"]] == [True, False, False]

        c.nodes[1].kill()
        assert c.alive() == [True, False, True]
        # The killed node's port still leads to its cluster, and shows it down.
        info = node.status("opensearch", c.nodes[1].port)
        assert info["cluster"] == c.name and [n["running"] for n in info["nodes"]] == [True, False, True]
        with pytest.raises(EngineError, match="still running"):
            c.start_node(0)
        restarted = c.start_node(1, timeout=60)
        assert restarted.alive() and restarted.data_dir == folder / "node-2"
        assert "initial_cluster_manager_nodes" not in _yml(c, 1)  # a formed cluster is not bootstrapped again

        attached = node.attach("opensearch", c.nodes[0].port)
        assert [n.pid for n in attached.nodes] == [n.pid for n in c.nodes] and attached.name == c.name
        out = CliRunner().invoke(main, ["engine", "status", "--engine", "opensearch", "--port", str(c.nodes[0].port)])
        assert out.exit_code == 0 and [n["name"] for n in json.loads(out.output)["nodes"]] == ["node-1", "node-2",
                                                                                              "node-3"]
        out = CliRunner().invoke(main, ["engine", "stop", "--engine", "opensearch", "--port", str(c.nodes[2].port)])
        assert out.exit_code == 0 and f"stopped opensearch cluster {c.name}" in out.output
        assert c.alive() == [False, False, False]
    finally:
        c.stop()

    again = node.start_cluster("opensearch", nodes=3, data_dir=folder, timeout=60)  # the whole cluster, same data
    try:
        assert [n.port for n in again.nodes] == [n.port for n in c.nodes]
        assert again.transport_ports == c.transport_ports and again.name == c.name
        assert all("initial_cluster_manager_nodes" not in _yml(again, i) for i in range(3))
    finally:
        again.stop()
    with pytest.raises(EngineError, match="holds a 3-node opensearch cluster.*--nodes 3"):
        node.start_cluster("opensearch", nodes=2, data_dir=folder)
    with pytest.raises(EngineError, match=f"listens on port {c.nodes[0].port}"):
        node.start_cluster("opensearch", nodes=3, port=c.nodes[0].port + 7, data_dir=folder)
    with pytest.raises(ValueError, match="nodes >= 2"):
        node.start_cluster("opensearch", nodes=1)


def test_cli_starts_a_cluster_on_consecutive_ports(fake_cluster_dist: Path, world_dir: Path) -> None:
    first = _consecutive_free_ports(3)
    out = CliRunner().invoke(main, ["engine", "start", "--engine", "opensearch", "--nodes", "3", "--port", str(first),
                                    "--data-dir", str(world_dir / "cli-cluster"), "--timeout", "60"])
    try:
        assert out.exit_code == 0, out.output
        urls = ",".join(f"http://127.0.0.1:{first + i}" for i in range(3))
        assert "3 nodes, health green" in out.output and f"clients: --engine {urls}" in out.output
        assert "(elected master)" in out.output
    finally:
        stopped = CliRunner().invoke(main, ["engine", "stop", "--engine", "opensearch", "--port", str(first + 1)])
    assert stopped.exit_code == 0 and "stopped opensearch cluster" in stopped.output
    assert all(not node.port_in_use(first + i) for i in range(3))


def test_a_member_dying_at_start_stops_the_others_and_names_its_log(cache: Path, fake_java: Path,
                                                                    world_dir: Path) -> None:
    body = ('case "$OPENSEARCH_PATH_CONF" in *node-2*) echo "ERROR: bogus setting on node-2"; exit 3;; esac\n'
            'echo $$ > "$OPENSEARCH_PATH_CONF/../launcher.pid"; exec sleep 120')
    _fake_distribution(cache, "opensearch", body)
    with pytest.raises(EngineError) as info:
        node.start_cluster("opensearch", nodes=3, data_dir=world_dir / "c", timeout=20)
    msg = str(info.value)
    assert "\n" not in msg and "node node-2 of the cluster died during start-up (exit 3)" in msg
    assert "bogus setting on node-2" in msg
    for name in ("node-1", "node-3"):
        pid = int((world_dir / "c" / name / "launcher.pid").read_text())
        assert not node._pid_alive(pid)
    # Never formed: the next start still names the initial master nodes.
    assert json.loads((world_dir / "c" / "cluster.json").read_text())["bootstrapped"] is False


def test_free_ports_stay_out_of_the_range_of_outgoing_connections() -> None:
    low, _ = node._outgoing_ports()
    ports = {node.free_port() for _ in range(20)}
    if low - node.LOW_PORT >= 1000:
        assert all(node.LOW_PORT <= p < low for p in ports)
    assert len(ports) > 1 and not any(node.port_in_use(p) for p in ports)


def test_the_log_tail_keeps_the_first_fatal_line_before_a_long_shutdown(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    noise = [f"[WARN ] send message failed java.util.concurrent.RejectedExecutionException: terminated {i}"
             for i in range(40)]
    (tmp_path / "logs" / "console.log").write_text("\n".join(
        ["[INFO ] starting", "[ERROR][o.e.b.Elasticsearch] fatal exception while booting",
         "java.net.BindException: Address already in use", *noise, "ERROR: Elasticsearch died, exit code 1"]) + "\n")
    tail = node._log_tail(tmp_path)
    assert tail.index("BindException: Address already in use") < tail.index("died, exit code 1")
