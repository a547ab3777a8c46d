"""Hybrid fusion of a SPLADE and a BM25 ranking, done on the client identically for every backend.

- **RRF** (reciprocal rank fusion, Cormack et al. 2009): ``score(d) = sum_i 1 / (k + rank_i(d))`` with
  ``k = 60`` and ranks from 1; a document absent from a ranking contributes nothing for it.
- **weighted**: each ranking's scores are min-max normalised to [0, 1] over the hits it returned (all 1.0
  when they are equal), then ``alpha * norm_splade(d) + (1 - alpha) * norm_bm25(d)``; absent counts 0.

Each side contributes ``max(k, window)`` hits (:data:`HYBRID_WINDOW` = 100 by default), whether the caller
is ``spladekit search --hybrid``, the Python API or ``spladekit eval`` (which asks for ``k`` = its run
depth). Ranks are by score descending, ties by document id; fused ties are broken by document id.

>>> a = {"q": {"x": 3.0, "y": 1.0}}
>>> b = {"q": {"y": 10.0, "z": 5.0}}
>>> {d: round(s, 5) for d, s in rrf([a, b])["q"].items()}
{'y': 0.03252, 'x': 0.01639, 'z': 0.01613}
>>> weighted_sum([a, b], [0.5, 0.5])["q"]
{'x': 0.5, 'y': 0.5, 'z': 0.0}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from spladekit.hits import Hit

#: RRF's constant from Cormack, Clarke and Buettcher (SIGIR 2009); also the engines' default.
RRF_K = 60
#: Hits each side of a hybrid search contributes to the fusion (at least k).
HYBRID_WINDOW = 100
FUSIONS: tuple[str, ...] = ("rrf", "weighted")

#: query id -> {document id: score}
Run = dict[str, dict[str, float]]


def ranked(hits: Mapping[str, float]) -> list[tuple[str, float]]:
    """Hits by score descending, ties by document id."""
    return sorted(hits.items(), key=lambda h: (-h[1], h[0]))


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


def weighted_sum(runs: Sequence[Mapping[str, Mapping[str, float]]], weights: Sequence[float],
                 depth: int | None = None) -> Run:
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


def fuse(splade: Sequence[Hit], bm25: Sequence[Hit], *, k: int, fusion: str = "rrf", alpha: float = 0.5) -> list[Hit]:
    """The top ``k`` of a SPLADE and a BM25 hit list fused by ``fusion`` (``rrf`` or ``weighted``)."""
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    by_id = {h.id: h for h in bm25}
    by_id.update({h.id: h for h in splade})  # the SPLADE hit carries the explanation
    s_run = {"q": {h.id: h.score for h in splade}}
    b_run = {"q": {h.id: h.score for h in bm25}}
    fused = (rrf([s_run, b_run], k=RRF_K, depth=k) if fusion == "rrf"
             else weighted_sum([s_run, b_run], [alpha, 1.0 - alpha], depth=k))["q"]
    s_rank = {h.id: h.rank for h in splade}
    b_rank = {h.id: h.rank for h in bm25}
    out = []
    for rank, (doc, score) in enumerate(fused.items(), start=1):
        src = by_id[doc]
        out.append(Hit(doc, float(score), rank, title=src.title, text=src.text,
                       components={"splade": s_run["q"].get(doc), "splade_rank": s_rank.get(doc),
                                   "bm25": b_run["q"].get(doc), "bm25_rank": b_rank.get(doc)},
                       explanation=src.explanation if doc in s_rank else None))
    return out
