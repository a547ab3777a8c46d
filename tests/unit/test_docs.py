"""The documentation runs: every README/docs block marked ``<!-- runnable -->`` is run here as a user would
(the default model, the local index, no engine; engine blocks run in tests/integration/test_docs_engines.py),
every verb has help and is documented, and nothing points outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import click
import pytest

from _support import REPO, doc_blocks, run_block
from spladekit.cli import main

BLOCKS = doc_blocks("local")


def test_there_are_runnable_blocks():
    assert len(BLOCKS) >= 1 and any(f == "README.md" for f, _, _ in BLOCKS)


@pytest.mark.parametrize(("where", "line", "code"), BLOCKS, ids=[f"{f}:{n}" for f, n, _ in BLOCKS])
def test_runnable_block(where: str, line: int, code: str, tmp_path: Path):
    out = run_block(code, tmp_path)
    assert out.returncode == 0, f"{where}:{line} failed\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert "Traceback" not in out.stderr


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        out.append((prefix + name, cmd))
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, prefix + name + " "))
    return out


def test_every_verb_has_help_and_is_documented():
    docs = "\n".join(p.read_text(encoding="utf-8") for p in [REPO / "README.md", *(REPO / "docs").glob("*.md")])
    for name, cmd in _commands(main):
        assert (cmd.help or "").strip(), f"spladekit {name} has no help text"
        assert f"spladekit {name}" in docs, f"spladekit {name} is not mentioned in README.md or docs/"
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert (param.help or "").strip() or param.name in ("help",), f"spladekit {name} {param.opts}: no help"


#: The sibling folder of the development machines (spelled in two pieces so this file does not name it itself).
SIBLING = r"\.\./" + r"shared\b"


def test_nothing_points_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files", "README.md", "docs", "tests", "scripts", ".ci", "plugin",
                              "benchmarks/*.py", "ingest", "datasets", "pyproject.toml"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in tracked:
        path = REPO / name
        if path == Path(__file__) or not path.is_file() or path.suffix in (".jsonl", ".tsv", ".png"):
            continue
        if re.search(SIBLING, path.read_text(encoding="utf-8", errors="replace")):
            offenders.append(name)
    assert offenders == [], f"these name a folder outside the repository, which a user's clone lacks: {offenders}"
