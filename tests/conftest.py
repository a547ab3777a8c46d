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


def find_datasets_dir() -> Path | None:
    """``$SPLADEKIT_DATASETS`` or ``<repo>/../shared/datasets`` (BEIR-format folders), if it exists."""
    env = os.environ.get("SPLADEKIT_DATASETS")
    path = Path(env) if env else REPO.parent / "shared" / "datasets"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def ci() -> bool:
    return in_ci()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The folder holding the real BEIR datasets (cranfield, npl, ...)."""
    path = find_datasets_dir()
    if path is None:
        skip_or_fail("no datasets folder: set SPLADEKIT_DATASETS or place them in ../shared/datasets")
    return path  # type: ignore[return-value]
