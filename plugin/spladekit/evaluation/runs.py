"""Runs: every query against one system through :class:`spladekit.search.Searcher`, timed one query at a time.

A system is a searcher and a mode: SPLADE on the local index or an engine (``search_vector`` with the query
already encoded, so the latency is the search alone; encoding is reported apart), BM25 (``search_bm25``) or
hybrid (``search`` with ``mode="hybrid"``, the very request ``spladekit search --hybrid -k K`` sends, fused by
:func:`spladekit.fusion.fuse`). The result is a run ``{qid: {docid: score}}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from spladekit.evaluation.trec import Run
from spladekit.hits import Hit
from spladekit.search import Searcher
from spladekit.vectors import SparseVector


@dataclass
class SystemRun:
    """One system's answers to every query, with what it cost."""

    name: str
    run: Run
    latencies_ms: list[float] = field(default_factory=list)
    query_terms: list[int] | None = None
    info: dict = field(default_factory=dict)

    def latency_p50_ms(self) -> float | None:
        return float(np.percentile(self.latencies_ms, 50)) if self.latencies_ms else None

    def mean_query_terms(self) -> float | None:
        return float(np.mean(self.query_terms)) if self.query_terms else None


def timed_run(name: str, qids: list[str], search: Callable[[str], list[Hit]], *, progress: bool = False) -> SystemRun:
    """Call ``search(qid)`` for each query one at a time, so the latency is per query."""
    out = SystemRun(name, {})
    for qid in tqdm(qids, desc=name, unit="q", disable=not progress, leave=False):
        t0 = time.perf_counter()
        hits = search(qid)
        out.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
        out.run[qid] = {h.id: h.score for h in hits}
    return out


def run_splade(name: str, searcher: Searcher, vectors: Mapping[str, SparseVector], k: int, *,
               progress: bool = False) -> SystemRun:
    """Exact SPLADE with the query vectors already encoded. A query with no term left (inference-free queries whose
    tokens no document holds) is unanswered, which scores 0, as any unanswered query."""
    out = timed_run(name, list(vectors), lambda q: searcher.search_vector(vectors[q], k=k) if len(vectors[q]) else [],
                    progress=progress)
    out.query_terms = [len(v) for v in vectors.values()]
    return out


def run_bm25(name: str, searcher: Searcher, queries: Mapping[str, str], k: int, *, progress: bool = False) -> SystemRun:
    return timed_run(name, list(queries), lambda q: searcher.search_bm25(queries[q], k=k), progress=progress)


def run_hybrid(name: str, searcher: Searcher, queries: Mapping[str, str], vectors: Mapping[str, SparseVector],
               k: int, *, fusion: str, alpha: float = 0.5, progress: bool = False, **options: Any) -> SystemRun:
    """Hybrid fusion exactly as ``spladekit search --hybrid`` does it, with the query vectors already encoded."""
    out = timed_run(name, list(queries), lambda q: searcher.search(queries[q], vector=vectors[q], k=k, mode="hybrid",
                                                                   fusion=fusion, alpha=alpha, **options),
                    progress=progress)
    out.info.update({"fusion": fusion, **({"alpha": alpha} if fusion == "weighted" else {}), **options})
    return out
