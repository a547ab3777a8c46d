"""Node management on real engines: extra settings, SIGKILL, restart on the same data, stop by port."""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request
from pathlib import Path

import pytest

from _support import skip_or_fail
from spladekit.engines import connect, node
from spladekit.errors import EngineError
from spladekit.features import FeatureNames
from spladekit.schema import SCHEMA, ModelIdentity
from spladekit.vectors import SparseVector

pytestmark = pytest.mark.integration


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
def test_kill_and_restart_on_same_data(engine: str, ci: bool) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix=f"spladekit-lifecycle-{engine}-"))
    settings = {"thread_pool.write.queue_size": 1}
    try:
        try:
            n = node.start(engine, settings=settings, data_dir=data_dir)
        except EngineError as exc:
            skip_or_fail(f"{engine} node could not start: {exc}")
        try:
            pools = _get(f"{n.url}/_nodes/_local/settings?filter_path=**.thread_pool")
            assert "'queue_size': '1'" in str(pools)
            names = FeatureNames(["[PAD]", "wing"])
            idx = connect(n.url, "lifecycle", engine=engine, names=names)
            idx.create(SCHEMA.meta(ModelIdentity("m", "0")))
            assert all(r.ok for r in idx.bulk_index([("a", idx.source(SparseVector.from_dict({1: 0.5})))]))
            idx.refresh()
            port = n.port
            n.kill()
            assert not n.alive()
            # The port is usable again right after the kill; a second node on it is refused while this one runs.
            n = node.start(engine, port=port, settings=settings, data_dir=data_dir)
            idx = connect(n.url, "lifecycle", engine=engine, names=names)
            assert idx.count() == 1
            assert idx.meta()["model"] == "m"
            with pytest.raises(EngineError, match="already taken"):
                node.start(engine, port=port)
            assert node.status(engine, port)["running"] is True
        finally:
            stopped = node.stop(engine, n.port)
        assert stopped
        assert not n.alive()
        assert node.status(engine, n.port)["health"] is None
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_engine_start_as_root_with_a_private_cache_needs_no_data_dir(tmp_path, monkeypatch) -> None:
    """The first-five-minutes case: root, the cache under a mode-700 home, `spladekit engine start` with no
    --data-dir. The node folder and the node's copy of the distribution go where the node user can reach them."""
    import os

    from click.testing import CliRunner

    from spladekit.cli import main

    if os.geteuid() != 0:
        pytest.skip(reason="this case is about running as root (as in most containers); not root here")
    home = tmp_path / "root-home"
    cache = home / ".cache" / "spladekit"
    (cache / "engines").mkdir(parents=True)
    source = node.fetch("opensearch")  # the repository cache's unpacked distribution, linked, not downloaded again
    shutil.copytree(source, cache / "engines" / source.name, symlinks=True, copy_function=os.link)
    home.chmod(0o700)
    monkeypatch.setenv("SPLADEKIT_CACHE", str(cache))
    monkeypatch.delenv(node.NODE_DIR_ENV, raising=False)
    port = node.free_port()
    runner = CliRunner()
    try:
        out = runner.invoke(main, ["engine", "start", "--engine", "opensearch", "--port", str(port)])
        assert out.exit_code == 0, out.output
        assert f"data in {node.SYSTEM_NODE_DIR / 'nodes'}" in out.output
        assert node.status("opensearch", port)["health"] in ("green", "yellow")
    finally:
        runner.invoke(main, ["engine", "stop", "--engine", "opensearch", "--port", str(port)])
        shutil.rmtree(node.SYSTEM_NODE_DIR / "nodes" / f"opensearch-{port}", ignore_errors=True)
