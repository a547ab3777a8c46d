"""``spladekit doctor``: statuses, fixes and the exit rule, without an engine, a download or the network.

A fake cache (a small model whose hash the pin is pointed at, an exported-encoder marker) makes the needed
checks pass anywhere; a fake engine on 127.0.0.1 and a fake ``ray`` package stand in for the real ones.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _support import need
from conftest import REPO, skip_or_fail
from spladekit import dialects, doctor, models
from spladekit.cli import main
from spladekit.encoder import CONFIG_NAME, EXPORT_REVISION
from spladekit.engines import node

PASSWORD, API_KEY = "hunter2-pw", "SECRET-api-key-42"


def _statuses(report: doctor.Report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def _run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["doctor", *args], env=env)


@pytest.fixture
def machine_cache(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real cache of this checkout, as scripts/test.sh sets it (where setup.sh fetched model and engines)."""
    if not os.environ.get("SPLADEKIT_CACHE"):
        monkeypatch.setenv("SPLADEKIT_CACHE", str(REPO / ".cache"))
    if not models.default_dir().is_dir():
        skip_or_fail(f"the default model is not fetched into {models.default_dir()} (run scripts/setup.sh)")
    return models.default_dir().parent.parent


@pytest.fixture
def healthy_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache whose default model passes the (monkeypatched) pin and whose encoder is exported."""
    cache = tmp_path / "cache"
    model = cache / "models" / models.DEFAULT_MODEL
    model.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json"):
        (model / name).write_text("{}")
    (model / "model.safetensors").write_bytes(b"not really weights")
    onnx = cache / "onnx" / models.DEFAULT_MODEL
    onnx.mkdir(parents=True)
    (onnx / CONFIG_NAME).write_text(json.dumps({"export_revision": EXPORT_REVISION}))
    monkeypatch.setenv("SPLADEKIT_CACHE", str(cache))
    monkeypatch.delenv(node.NODE_DIR_ENV, raising=False)
    monkeypatch.setattr(models, "DEFAULT_SHA256", models.sha256_file(model / "model.safetensors"))
    return cache


def _hide_modules(monkeypatch: pytest.MonkeyPatch, *hidden: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name.split(".")[0] in hidden else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


# --------------------------------------------------------------------------------------------- this machine


def test_this_machine_reports_ok(machine_cache: Path) -> None:
    report = doctor.run_checks()
    status = _statuses(report)
    needed = ["python", "spladekit", "numpy", "onnxruntime", "tokenizers", "numba", "click", "tqdm", "cache",
              "model splade-tiny"]
    assert {name: status[name] for name in needed} == {name: "ok" for name in needed}
    assert "sha256" in report.get("model splade-tiny").detail
    assert report.get("onnxruntime providers").status == "ok"
    assert "CPUExecutionProvider" in report.get("onnxruntime providers").detail
    assert {"extra export", "extra engines", "extra train", "extra ray"} <= set(status)
    # No CUDA device is information, never a failure; a missing extra nobody asked for is optional.
    assert status.get("cuda", "warn") in ("ok", "warn")
    assert report.ok and report.exit_code == 0, report.table()
    assert all(c.status in ("ok", "missing", "warn") and (c.status == "ok" or c.fix) for c in report.checks)


def test_engine_tooling_ok_here(machine_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(node.NODE_DIR_ENV, raising=False)
    if not all((node.home_dir(e) / ".spladekit-complete").is_file() for e in dialects.names()):
        skip_or_fail("the engine distributions are not fetched (run scripts/setup.sh --engines)")
    report = doctor.run_checks(engines=True)
    status = _statuses(report)
    for name in ("java (opensearch)", "java (elasticsearch)", "maven", "distribution opensearch",
                 "distribution elasticsearch", "node folders", "node user", "extra engines"):
        assert status[name] == "ok", report.table()
    assert report.ok, report.table()


def test_cli_table_on_this_machine(machine_cache: Path) -> None:
    result = _run()
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert re.match(r"ok\s+python\s+3\.\d+", lines[0])
    assert lines[-1].startswith("everything needed is ok")


# --------------------------------------------------------------------------------------------- missing things


def test_missing_extras_name_the_pip_command(healthy_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_modules(monkeypatch, "ray", "torch")
    report = doctor.run_checks()
    ray, export = report.get("extra ray"), report.get("extra export")
    assert (ray.status, ray.needed) == ("missing", False)
    assert ray.fix == "pip install 'spladekit[ray]'" and "ray" in ray.detail
    assert export.status == "missing" and "torch" in export.detail and "spladekit[export]" in export.fix
    assert "torch" not in _statuses(report) and "cuda" not in _statuses(report)  # torch was not imported
    assert report.ok  # optional extras do not fail the run

    asked = doctor.run_checks(ray_address="auto")
    assert not asked.ok and asked.exit_code == 1
    assert {c.name for c in asked.failures} == {"extra ray", "ray cluster"}
    assert "spladekit[ray]" in asked.get("ray cluster").fix
    result = _run("--ray", "auto")
    assert result.exit_code == 1
    assert "pip install 'spladekit[ray]'" in result.output and "Traceback" not in result.output


def test_missing_core_package_fails(healthy_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_modules(monkeypatch, "numba")
    report = doctor.run_checks()
    check = report.get("numba")
    assert check.status == "missing" and check.needed and check.fix == "pip install 'numba>=0.60'"
    assert report.exit_code == 1


def test_engine_tooling_counts_only_with_engines(healthy_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The fake cache has no distributions: reported missing either way, needed only with --engines.
    report = doctor.run_checks()
    dist = report.get("distribution opensearch")
    assert dist.status == "missing" and not dist.needed
    assert dist.fix == "spladekit engine fetch --engine opensearch"
    assert report.ok
    with_engines = doctor.run_checks(engines=True)
    assert "distribution opensearch" in {c.name for c in with_engines.failures}
    assert with_engines.exit_code == 1


def test_missing_model_is_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLADEKIT_CACHE", str(tmp_path / "empty"))
    report = doctor.run_checks()
    check = report.get("model splade-tiny")
    assert check.status == "missing" and check.fix == "spladekit model fetch splade-tiny"
    assert report.get("cache").status == "ok"  # created on first use
    assert report.exit_code == 1


def test_model_off_the_pin(healthy_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "DEFAULT_SHA256", "0" * 64)
    check = doctor.run_checks().get("model splade-tiny")
    assert check.status == "missing" and "expected" in check.detail
    assert check.fix == "spladekit model fetch splade-tiny --force"


def test_a_failing_check_is_a_line_not_a_traceback(healthy_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[doctor.Check]:
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "check_onnxruntime", broken)
    check = doctor.run_checks().get("onnxruntime providers")
    assert check.status == "warn" and "boom" in check.detail


# --------------------------------------------------------------------------------------------- engines


def test_unreachable_engine(healthy_cache: Path) -> None:
    url = f"http://127.0.0.1:{node.free_port()}"
    result = _run("--engine", url)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    lines = [ln for ln in result.output.splitlines() if re.match(r"\w+\s+engine\b", ln)]
    assert len(lines) == 1 and lines[0].startswith("missing")
    assert url in lines[0] and "spladekit engine start" in lines[0]


class _FakeOpenSearch(BaseHTTPRequestHandler):
    """OpenSearch with its security plugin, accepting one bearer token (what ``--api-key`` sends it)."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server spelling
        if self.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self._send(401, {"error": "unauthorized"})
        bodies = {
            "/": {"version": {"distribution": "opensearch", "number": "2.19.4"}},
            "/_cluster/health": {"status": "green", "number_of_nodes": 1, "cluster_name": "fake"},
            "/_plugins/_security/authinfo": {"user_name": "alice"},
        }
        body = bodies.get(self.path.split("?")[0])
        self._send(200 if body else 404, body or {"error": "no handler"})

    def _send(self, code: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_engine() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenSearch)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_json_engine_report_holds_no_secret(healthy_cache: Path, fake_engine: str) -> None:
    env = {"SPLADEKIT_ENGINE_PASSWORD": PASSWORD}
    result = _run("--engine", fake_engine, "--user", "alice", "--api-key", API_KEY, "--json", env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"ok", "checks"} and data["ok"] is True
    assert all({"name", "status", "detail", "fix"} <= set(c) for c in data["checks"])
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["engine"]["status"] == "ok" and "opensearch 2.19.4" in checks["engine"]["detail"]
    assert checks["engine health"]["status"] == "ok" and "green" in checks["engine health"]["detail"]
    assert checks["engine credentials"]["status"] == "ok" and "alice" in checks["engine credentials"]["detail"]
    assert checks["extra engines"]["needed"] is True
    assert PASSWORD not in result.output and API_KEY not in result.output


def test_refused_credentials(healthy_cache: Path, fake_engine: str) -> None:
    env = {"SPLADEKIT_ENGINE_PASSWORD": PASSWORD}
    url = fake_engine.replace("http://", f"http://bob:{PASSWORD}@")  # credentials in the URL move to headers
    result = _run("--engine", url, "--api-key", "wrong-" + API_KEY, env=env)
    assert result.exit_code == 1, result.output
    assert re.search(r"missing\s+engine credentials .*HTTP 401.*--api-key", result.output)
    assert PASSWORD not in result.output and API_KEY not in result.output


def test_bad_url_hides_its_password(healthy_cache: Path) -> None:
    result = _run("--engine", f"bob:{PASSWORD}@127.0.0.1:9200")
    assert result.exit_code == 1 and "needs a scheme" in result.output
    assert PASSWORD not in result.output


def test_no_password_option() -> None:
    from spladekit.cli.doctor import doctor as command

    assert "doctor" in main.commands
    assert "--password" not in {opt for p in command.params for opt in p.opts}


# --------------------------------------------------------------------------------------------- node folders


def test_root_with_private_cache_puts_nodes_in_the_system_folder(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    monkeypatch.setenv("SPLADEKIT_CACHE", str(private / "cache"))
    monkeypatch.delenv(node.NODE_DIR_ENV, raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    (check,) = doctor.check_node_folders()
    assert str(node.SYSTEM_NODE_DIR) == "/var/lib/spladekit"
    assert check.detail.startswith(str(node.SYSTEM_NODE_DIR / "nodes"))
    assert "cannot enter the cache" in check.detail and node.NODE_DIR_ENV in check.detail
    result = _run()
    (line,) = [ln for ln in result.output.splitlines() if " node folders " in ln]
    assert "/var/lib/spladekit" in line


def test_normal_user_nodes_go_under_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLADEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(node.NODE_DIR_ENV, raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    (check,) = doctor.check_node_folders()
    assert check.status == "ok" and check.detail.startswith(str(tmp_path / "cache" / "engines" / "nodes"))
    assert "nodes run as you" in check.detail


# --------------------------------------------------------------------------------------------- torch and ray


def test_cuda_devices_and_bf16_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = need("torch", "the CUDA check imports torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    cuda = {c.name: c for c in doctor.check_torch()}["cuda"]
    assert cuda.status == "ok" and "Fake GPU" in cuda.detail and "bf16 supported" in cuda.detail
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cuda = {c.name: c for c in doctor.check_torch()}["cuda"]
    assert cuda.status == "warn" and "runs on CPU" in cuda.detail and not cuda.failed


_FAKE_RAY = '''
import time
__version__ = "2.40.0"
def init(address=None, **kwargs):
    if address == "slow":
        time.sleep(60)
    if address != "fake:6379":
        raise ConnectionError(f"Could not find any running Ray instance at {address}")
def cluster_resources():
    return {"CPU": 16.0, "GPU": 1.0}
def nodes():
    return [{"Alive": True}, {"Alive": False}]
def shutdown():
    pass
'''


@pytest.fixture
def fake_ray(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "ray").mkdir(parents=True)
    (site / "ray" / "__init__.py").write_text(_FAKE_RAY)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *sys.path]))
    importlib.invalidate_caches()


def test_ray_cluster_reports_nodes_cpus_gpus(fake_ray: None) -> None:
    (check,) = doctor.check_ray("fake:6379", timeout=60)
    assert check.status == "ok", check.detail
    assert check.detail == "Ray 2.40.0 at fake:6379: 1 node(s), 16 CPU(s), 1 GPU(s)"


def test_unreachable_ray_cluster(fake_ray: None) -> None:
    (check,) = doctor.check_ray("nowhere:6379", timeout=60)
    assert check.status == "missing" and check.needed and "Could not find any running Ray" in check.detail
    assert "ray start --head" in check.fix
    (slow,) = doctor.check_ray("slow", timeout=2)
    assert slow.status == "missing" and "within 2 s" in slow.detail


# --------------------------------------------------------------------------------------------- pyproject


def _requirements(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        m = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9.]+)", spec)
        assert m, spec
        out[m.group(1)] = m.group(2)
    return out


def test_package_tables_mirror_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert _requirements(project["dependencies"]) == {d: m for d, _, m in doctor.CORE}
    extras = project["optional-dependencies"]
    for extra, spec in doctor.EXTRAS.items():
        if extra in extras:  # the ray extra may not be declared yet
            assert _requirements(extras[extra]) == {d: m for d, _, m in spec}, extra
