"""Small adapters between evaluation and the layers it sits on (engines, encoder, local index).

Kept here, not in those layers, so evaluation can follow their interfaces without editing them.
"""

from __future__ import annotations

import numpy as np


def hits_of(result) -> tuple[list[str], list[float]]:
    """(ids, scores) from what a search returned: an ``(ids, scores)`` pair, a list of hits (objects with
    ``id``/``score`` or dicts with ``_id``/``_score``), or a raw engine response."""
    if isinstance(result, dict) and "hits" in result:
        result = result["hits"]["hits"]
    if isinstance(result, tuple) and len(result) == 2:
        ids, scores = result
        return [str(i) for i in ids], [float(s) for s in np.asarray(scores, dtype=np.float64).tolist()]
    ids: list[str] = []
    scores: list[float] = []
    for h in result:
        if isinstance(h, dict):
            ids.append(str(h.get("_id", h.get("id"))))
            scores.append(float(h.get("_score", h.get("score"))))
        elif hasattr(h, "id"):
            ids.append(str(h.id))
            scores.append(float(h.score))
        else:
            did, score = h
            ids.append(str(did))
            scores.append(float(score))
    return ids, scores


def bm25_body(text: str, k: int) -> dict:
    """The BM25 request ``spladekit search --mode bm25`` sends (``match`` on ``text``), ids and scores only."""
    from spladekit.search import bm25_body as search_bm25_body

    return search_bm25_body(text, k=k, source=False)


def _client_and_name(engine_index):
    client = getattr(engine_index, "client", None)
    name = getattr(engine_index, "index", None)
    if client is None or not isinstance(name, str):
        raise TypeError("the engine index exposes no client/index pair for a raw search")
    return client, name


def bm25_search(engine_index, text: str, k: int) -> tuple[list[str], list[float]]:
    """BM25 on an engine index: :func:`bm25_body` sent with ``EngineIndex.search_body`` (engine errors come out
    as :class:`~spladekit.errors.EngineError`)."""
    return hits_of(engine_index.search_body(bm25_body(text, k)))


def store_bytes(engine_index) -> int | None:
    """Primary store size of an engine index in bytes (``_stats/store``), None when it cannot be read."""
    try:
        client, name = _client_and_name(engine_index)
        stats = client.indices.stats(index=name, metric="store")
        stats = dict(getattr(stats, "body", stats))
        return int(stats["indices"][name]["primaries"]["store"]["size_in_bytes"])
    except Exception:  # cost is informative only; never fail an evaluation for it
        return None


def folder_bytes(path) -> int:
    from pathlib import Path

    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
