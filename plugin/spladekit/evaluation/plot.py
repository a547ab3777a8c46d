"""Per-query comparison plot: system A minus system B on one measure, one bar per query, sorted.

Uses matplotlib's Agg backend (no display needed) through the object API, so it never changes the
caller's global backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np


def per_query_delta(
    a: Mapping[str, Mapping[str, float]], b: Mapping[str, Mapping[str, float]], measure: str
) -> list[tuple[str, float]]:
    """(query id, a - b) over the queries both hold, sorted by the difference (ties by query id).

    >>> per_query_delta({"1": {"m": 0.5}, "2": {"m": 0.1}}, {"1": {"m": 0.2}, "2": {"m": 0.3}}, "m")
    [('2', -0.2), ('1', 0.3)]
    """
    common = sorted(set(a) & set(b))
    deltas = [(q, round(float(a[q][measure]) - float(b[q][measure]), 12)) for q in common]
    return sorted(deltas, key=lambda x: (x[1], x[0]))


def plot_delta(
    a: Mapping[str, Mapping[str, float]],
    b: Mapping[str, Mapping[str, float]],
    path: str | Path,
    *,
    measure: str = "nDCG@10",
    label_a: str = "SPLADE",
    label_b: str = "BM25",
    title: str | None = None,
) -> Path:
    """Write a small PNG: bars of ``a - b`` per query, sorted, green where A wins and red where B wins."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("matplotlib is not installed; pip install 'spladekit[dev]' (or pip install "
                          "matplotlib)") from exc

    deltas = per_query_delta(a, b, measure)
    values = np.array([d for _, d in deltas], dtype=float)
    fig = Figure(figsize=(6.4, 3.0), dpi=100)
    ax = fig.add_subplot()
    colors = np.where(values > 0, "#2a9d55", np.where(values < 0, "#c8443b", "#999999"))
    ax.bar(np.arange(len(values)), values, width=1.0, color=colors, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.6)
    wins, losses = int((values > 0).sum()), int((values < 0).sum())
    ax.set_xlabel(f"queries, sorted ({wins} better, {losses} worse, {len(values) - wins - losses} tied)")
    ax.set_ylabel(f"Δ {measure}")
    ax.set_xlim(-0.5, max(len(values), 1) - 0.5)
    ax.set_ylim(-1.0, 1.0)
    ax.set_title(title or f"{label_a} − {label_b}, {measure} per query", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
