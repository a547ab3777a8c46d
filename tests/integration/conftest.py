"""Real engine nodes for integration tests: each engine starts once per session on a free port.

Under ``CI=true`` an engine that cannot start fails the run; locally the tests that need it skip with the
reason (the one-paragraph error from spladekit.engines.node). ``SPLADEKIT_OPENSEARCH_URL`` /
``SPLADEKIT_ELASTICSEARCH_URL`` point the tests at an already running node instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from _support import skip_or_fail

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
