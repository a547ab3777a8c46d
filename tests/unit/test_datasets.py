"""The test collections in ``datasets/`` are what ``datasets/README.md`` says: checksums, sizes and counts."""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path

import pytest

from spladekit.datasets import load_beir

ROOT = Path(__file__).resolve().parents[2] / "datasets"
README = ROOT / "README.md"
MAX_BYTES = 5 * 1024 * 1024


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checksums(readme: Path) -> dict[str, str]:
    """``relative path -> sha256`` from the ``sha256sum``-style lines of a README's code blocks."""
    return {m.group(2): m.group(1) for m in re.finditer(r"^([0-9a-f]{64})  (\S+)$", readme.read_text(), re.M)}


def _table() -> dict[str, dict[str, int]]:
    """``collection -> {documents, queries, judgments}`` from the README's table (its only one)."""
    lines = [line for line in README.read_text().splitlines() if line.startswith("|")]
    header, _separator, *body = ([c.strip() for c in line.strip("|").split("|")] for line in lines)
    rows: dict[str, dict[str, int]] = {}
    for cells in body:
        row = dict(zip(header, cells, strict=True))
        counts = ("documents", "queries", "judgments")
        rows[row["collection"].strip("`")] = {k: int(row[k].replace(",", "")) for k in counts}
    return rows


def _data_files() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file() and p.name != "README.md"}


def test_every_data_file_has_the_checksum_the_readme_states():
    listed = _checksums(README)
    assert listed, "no sha256 lines found in datasets/README.md"
    assert set(listed) == _data_files(), "datasets/README.md and the files in datasets/ list different files"
    wrong = {name: _sha256(ROOT / name) for name, sha in listed.items() if _sha256(ROOT / name) != sha}
    assert not wrong, f"sha256 differs from datasets/README.md: {wrong}"


def test_each_collection_readme_agrees_with_the_index():
    listed = _checksums(README)
    for collection in _table():
        own = _checksums(ROOT / collection / "README.md")
        assert own, f"{collection}/README.md has no sha256 block"
        for name, sha in own.items():
            assert listed[f"{collection}/{name}"] == sha, f"{collection}/README.md disagrees on {name}"


def test_data_files_stay_small():
    big = {name: (ROOT / name).stat().st_size for name in _data_files() if (ROOT / name).stat().st_size > MAX_BYTES}
    assert not big, f"files over 5 MB do not belong in the repository: {big}"


def test_table_names_every_collection_folder():
    folders = {p.name for p in ROOT.iterdir() if p.is_dir()}
    assert set(_table()) == folders


@pytest.mark.parametrize("collection", sorted(_table()))
def test_collection_loads_with_the_stated_counts(collection):
    expected = _table()[collection]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dropped judgment or query would warn
        ds = load_beir(ROOT / collection)
    assert not ds.exclusions.any()
    got = {"documents": len(ds.corpus), "queries": len(ds.queries),
           "judgments": sum(len(docs) for docs in ds.qrels.values())}
    assert got == expected
