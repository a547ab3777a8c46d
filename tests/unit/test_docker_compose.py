"""docker/compose.*.yml: the pinned versions, 127.0.0.1 ports, security off said out loud; ``config`` if possible."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from spladekit import dialects

REPO = Path(__file__).resolve().parents[2]
ENGINES = list(dialects.names())
DOCKER_IMAGES = {name: spec.docker_image for name, spec in dialects.specs().items()}


def _compose_command() -> list[str] | None:
    """``docker compose`` (plugin) or ``docker-compose`` (standalone), whichever works; None if neither."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cmd in candidates:
        try:
            if subprocess.run([*cmd, "version"], capture_output=True, timeout=30).returncode == 0:
                return cmd
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


@pytest.mark.parametrize("engine", ENGINES)
def test_compose_file_pins_our_version_on_loopback(engine: str) -> None:
    text = (REPO / "docker" / f"compose.{engine}.yml").read_text()
    assert f"image: {DOCKER_IMAGES[engine]}\n" in text
    assert "LOCAL DEVELOPMENT ONLY" in text
    ports = [ln.strip() for ln in text.splitlines() if ln.strip().startswith('- "') and ":9200" in ln]
    assert ports and all(p.startswith('- "127.0.0.1:') for p in ports)


@pytest.mark.parametrize("engine", ENGINES)
def test_compose_config_validates(engine: str) -> None:
    cmd = _compose_command()
    if cmd is None:
        pytest.skip(reason="no Docker client with compose here (docker compose, docker-compose); files checked as text")
    path = REPO / "docker" / f"compose.{engine}.yml"
    out = subprocess.run([*cmd, "-f", str(path), "config"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert DOCKER_IMAGES[engine] in out.stdout
    assert "127.0.0.1" in out.stdout
