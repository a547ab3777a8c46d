"""Runs: every query against one backend, timed, as ``{qid: {docid: score}}``; and client-side fusion.

Backends: the local index (SPLADE), an engine index (SPLADE via ``search_vector``, BM25 via a ``match``
query on the ``text`` field). Hybrid runs are fused here, on the client, from two finished runs:

- **RRF** (reciprocal rank fusion, Cormack et al. 2009): ``score(d) = sum_i 1 / (k + rank_i(d))`` with
  ``k = 60`` and ranks from 1; a document absent from a run contributes nothing for it.
- **weighted sum**: each run's scores for a query are min-max normalised to [0, 1] (all 1.0 when they are
  equal), then ``score(d) = sum_i w_i * norm_i(d)``; a document absent from a run contributes 0 for it.

Ranks inside a run are by score descending, ties by document id, the order :func:`write_run` writes.
``spladekit search --mode hybrid`` fuses its two hit lists with these same functions.

>>> a = {"q": {"x": 3.0, "y": 1.0}}
>>> b = {"q": {"y": 10.0, "z": 5.0}}
>>> {d: round(s, 5) for d, s in rrf([a, b])["q"].items()}
{'y': 0.03252, 'x': 0.01639, 'z': 0.01613}
>>> weighted_sum([a, b], [0.5, 0.5])["q"]
{'x': 0.5, 'y': 0.5, 'z': 0.0}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from spladekit.evaluation.datasets import Run
from spladekit.vectors import SparseVector

#: RRF's constant from Cormack, Clarke and Buettcher (SIGIR 2009); also the engines' default.
RRF_K = 60


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


def ranked(hits: Mapping[str, float]) -> list[tuple[str, float]]:
    """Hits by score descending, ties by document id."""
    return sorted(hits.items(), key=lambda h: (-h[1], h[0]))


def timed_run(
    name: str,
    queries: Mapping[str, object],
    search: Callable[[object], tuple[Sequence[str], Sequence[float]]],
    *,
    progress: bool = False,
) -> SystemRun:
    """Call ``search(query)`` for each query one at a time, so the latency is per query."""
    from tqdm.auto import tqdm

    out = SystemRun(name, {})
    for qid, query in tqdm(queries.items(), desc=name, unit="q", disable=not progress, leave=False):
        t0 = time.perf_counter()
        ids, scores = search(query)
        out.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
        out.run[qid] = {str(d): float(s) for d, s in zip(ids, scores, strict=True)}
    return out


def run_local(
    index, query_vectors: Mapping[str, SparseVector], k: int, *, name: str = "splade-local", progress: bool = False
) -> SystemRun:
    """SPLADE on a :class:`~spladekit.local.index.LocalIndex`."""
    out = timed_run(name, query_vectors, lambda v: index.search(v, k=k), progress=progress)
    out.query_terms = [len(v) for v in query_vectors.values()]
    return out


def run_engine_splade(
    engine_index, query_vectors: Mapping[str, SparseVector], k: int, *, name: str, progress: bool = False
) -> SystemRun:
    """SPLADE on an engine index through ``EngineIndex.search_vector``."""
    from spladekit.evaluation.adapters import hits_of

    def search(v: SparseVector) -> tuple[list[str], list[float]]:
        return hits_of(engine_index.search_vector(v, k=k, source=False))

    out = timed_run(name, query_vectors, search, progress=progress)
    out.query_terms = [len(v) for v in query_vectors.values()]
    return out


def run_engine_bm25(
    engine_index, queries: Mapping[str, str], k: int, *, name: str, progress: bool = False
) -> SystemRun:
    """BM25 on an engine index: a ``match`` query on the ``text`` field (the engine's default similarity)."""
    from spladekit.evaluation.adapters import bm25_search

    return timed_run(name, queries, lambda text: bm25_search(engine_index, text, k), progress=progress)


def rrf(runs: Sequence[Mapping[str, Mapping[str, float]]], k: int = RRF_K, depth: int | None = None) -> Run:
    """Reciprocal rank fusion of several runs (see the module docstring)."""
    if k < 0:
        raise ValueError(f"RRF k must be >= 0, got {k}")
    fused: Run = {}
    for qid in sorted({q for r in runs for q in r}):
        scores: dict[str, float] = {}
        for r in runs:
            for rank, (did, _) in enumerate(ranked(r.get(qid, {})), 1):
                scores[did] = scores.get(did, 0.0) + 1.0 / (k + rank)
        fused[qid] = _top(scores, depth)
    return fused


def weighted_sum(
    runs: Sequence[Mapping[str, Mapping[str, float]]], weights: Sequence[float], depth: int | None = None
) -> Run:
    """Weighted sum of per-query min-max normalised scores (see the module docstring)."""
    if len(weights) != len(runs):
        raise ValueError(f"one weight per run: got {len(weights)} weights for {len(runs)} runs")
    fused: Run = {}
    for qid in sorted({q for r in runs for q in r}):
        scores: dict[str, float] = {}
        for r, w in zip(runs, weights, strict=True):
            hits = r.get(qid, {})
            if not hits:
                continue
            lo, hi = min(hits.values()), max(hits.values())
            for did, s in hits.items():
                norm = (s - lo) / (hi - lo) if hi > lo else 1.0
                scores[did] = scores.get(did, 0.0) + w * norm
        fused[qid] = _top(scores, depth)
    return fused


def _top(scores: dict[str, float], depth: int | None) -> dict[str, float]:
    hits = ranked(scores)
    return dict(hits[:depth] if depth is not None else hits)
