"""Shared test fixtures: where the real datasets are, and whether we run under CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def in_ci() -> bool:
    """True under CI (``CI=true``): a missing engine or model must fail the run, not skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip with a visible reason locally; fail under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this must not be skipped)", pytrace=False)
    pytest.skip(reason=reason)


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
