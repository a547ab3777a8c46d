"""Shared test fixtures: where the real datasets are, and whether we run under CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _support import in_ci, skip_or_fail

REPO = Path(__file__).resolve().parent.parent
__all__ = ["REPO", "find_datasets_dir", "in_ci", "skip_or_fail"]


def find_datasets_dir() -> Path:
    """``$SPLADEKIT_DATASETS`` or ``<repo>/datasets`` (the BEIR-format test collections kept in the repository)."""
    env = os.environ.get("SPLADEKIT_DATASETS")
    return Path(env) if env else REPO / "datasets"


@pytest.fixture(scope="session")
def ci() -> bool:
    return in_ci()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The folder holding the real BEIR datasets (cranfield, npl, ...); a wrong ``$SPLADEKIT_DATASETS`` fails."""
    path = find_datasets_dir()
    if not path.is_dir():
        pytest.fail(f"SPLADEKIT_DATASETS={path} is not a folder (unset it to use <repo>/datasets)", pytrace=False)
    return path
