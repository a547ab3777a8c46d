"""README/docs blocks marked ``<!-- runnable: engine -->`` run against each real engine: the node's URL replaces
``http://127.0.0.1:9200`` and a test index replaces the blocks' index name."""

from __future__ import annotations

import re

import pytest

from _support import doc_blocks, run_block

pytestmark = pytest.mark.integration

BLOCKS = doc_blocks("engine")


def test_there_are_engine_blocks():
    assert BLOCKS


@pytest.mark.parametrize(("where", "line", "code"), BLOCKS, ids=[f"{f}:{n}" for f, n, _ in BLOCKS])
def test_engine_block(where, line, code, engine, index_name, tmp_path):
    code = code.replace("http://127.0.0.1:9200", engine.url)
    code = re.sub(r"--index docs\b", f"--index {index_name}", code)
    out = run_block(code, tmp_path)
    assert out.returncode == 0, f"{where}:{line} on {engine.engine} failed\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert "Traceback" not in out.stderr
