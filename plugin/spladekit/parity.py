"""Engine vs local index parity: the same query vectors on both must give the same top-k and the same scores.

The local index in ``lucene`` mode is the float32 reference (:mod:`spladekit.lucene`: FeatureField
quantization, float32 clause products, double sum cast to float32). For each query:

- the engine's top-k ``(id, score)``, and the local index's top-k;
- the reference score of every engine hit (the local index searched with a filter on the engine's ids), and
  ``max |engine score - reference score|``: any difference at all fails the query;
- the top-k agree when the engine's list of scores equals the reference top-k's list of scores (same
  length, same values rank by rank) and every engine hit carries its reference score. Documents with equal
  scores may then differ in identity (ties at the k-th place, or ties ordered differently): a tie is a set,
  and either engine may return any member of it. ``overlap@k`` (shared ids / reference hits) is reported
  beside, for information.

>>> from spladekit.local.index import LocalIndex
>>> local = LocalIndex(mode="lucene")
>>> local.add(["a", "b", "c"], [SparseVector.from_dict({1: 1.0}), SparseVector.from_dict({1: 1.0}),
...                             SparseVector.from_dict({2: 0.5})])
>>> q = SparseVector.from_dict({1: 2.0, 2: 1.0})
>>> r = compare_query("q1", [("b", 2.0)], local, q, k=1)   # a and b tie: either is right
>>> r.ok, r.overlap, r.max_score_diff
(True, 0.0, 0.0)
>>> compare_query("q1", [("c", 0.5)], local, q, k=1).problems
['top-1 differs beyond ties: engine scores [0.5], reference [2.0]']
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from spladekit.engines import EngineIndex, connect, routing
from spladekit.errors import EngineError, InputError
from spladekit.local.index import LocalIndex
from spladekit.query import TwoPhase, prepare
from spladekit.readers import read_queries
from spladekit.search import Searcher, check_query_encoder
from spladekit.vectors import SparseVector

#: What a parity report says about itself (bumped when its keys change).
REPORT_FORMAT = "spladekit-parity-v1"


@dataclass
class QueryParity:
    """One query's comparison; ``ok`` is False with the reasons in ``problems``."""

    qid: str
    n_terms: int
    engine: list[tuple[str, float]]
    local: list[tuple[str, float]]
    overlap: float
    max_score_diff: float
    ok: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class ParityReport:
    """All queries of one parity run and the verdict (``ok``: every query agrees)."""

    engine: str
    index: str
    local_dir: str | None
    k: int
    model: str | None
    queries: list[QueryParity]
    mode: str = "exact"
    shards: int = 1

    @property
    def n_ok(self) -> int:
        return sum(q.ok for q in self.queries)

    @property
    def ok(self) -> bool:
        return self.n_ok == len(self.queries)

    def summary(self) -> dict[str, Any]:
        n = len(self.queries)
        return {
            "queries": n,
            "agree": self.n_ok,
            "parity": self.n_ok / n if n else 1.0,
            "mean_overlap_at_k": float(np.mean([q.overlap for q in self.queries])) if n else 1.0,
            "max_score_diff": max((q.max_score_diff for q in self.queries), default=0.0),
            "ok": self.ok,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "engine": self.engine,
            "index": self.index,
            "local_dir": self.local_dir,
            "k": self.k,
            "mode": self.mode,
            "shards": self.shards,
            "model": self.model,
            "summary": self.summary(),
            "failures": [q.qid for q in self.queries if not q.ok],
            "per_query": [asdict(q) for q in self.queries],
        }

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path


def compare_query(
    qid: str, engine_hits: Sequence[tuple[str, float]], local: Any, vec: SparseVector, k: int,
    allowed: Sequence[str] | None = None,
) -> QueryParity:
    """Compare one query's engine hits with the reference local index (see the module docstring); ``allowed``
    restricts the reference top-k to those ids (a two-phase plan's first pass)."""
    e_ids = [str(i) for i, _ in engine_hits]
    e_scores = np.asarray([s for _, s in engine_hits], dtype=np.float32)
    l_ids, l_scores = local.search(vec, k=k, filter_ids=allowed)
    problems: list[str] = []
    # The reference score of each engine hit: the local index restricted to the engine's ids.
    ref: dict[str, float] = {}
    if e_ids:
        r_ids, r_scores = local.search(vec, k=len(e_ids), filter_ids=e_ids)
        ref = dict(zip(r_ids, r_scores.tolist(), strict=True))
    diffs = [abs(float(s) - ref.get(i, 0.0)) for i, s in zip(e_ids, e_scores.tolist(), strict=True)]
    max_diff = max(diffs, default=0.0)
    unknown = [i for i in e_ids if i not in ref]
    if unknown:
        problems.append(f"engine hits unknown to the local index or scoring 0 there: {unknown[:5]}")
    wrong = [(i, float(s), ref[i]) for i, s in zip(e_ids, e_scores.tolist(), strict=True)
             if i in ref and float(s) != ref[i]]
    if wrong:
        problems.append(f"{len(wrong)} score(s) differ from the float32 reference, e.g. "
                        f"{wrong[0][0]}: engine {wrong[0][1]!r} vs reference {wrong[0][2]!r}")
    if len(e_ids) != len(set(e_ids)):
        problems.append("the engine returned a document twice")
    if e_scores.size > 1 and np.any(e_scores[1:] > e_scores[:-1]):
        problems.append("engine hits are not sorted by score")
    if len(e_scores) != len(l_scores) or not np.array_equal(np.sort(e_scores)[::-1], l_scores):
        problems.append(f"top-{k} differs beyond ties: engine scores {e_scores.tolist()[:5]}, "
                        f"reference {l_scores.tolist()[:5]}")
    overlap = len(set(e_ids) & set(l_ids)) / len(l_ids) if l_ids else (1.0 if not e_ids else 0.0)
    return QueryParity(
        qid=qid,
        n_terms=len(vec),
        engine=[(i, float(s)) for i, s in zip(e_ids, e_scores.tolist(), strict=True)],
        local=[(i, float(s)) for i, s in zip(l_ids, l_scores.tolist(), strict=True)],
        overlap=overlap,
        max_score_diff=max_diff,
        ok=not problems,
        problems=problems,
    )


def shard_partition(engine_index: EngineIndex, local: LocalIndex) -> list[list[str]] | None:
    """The local index's ids grouped by the engine index's shard that holds each (None for one shard), checked
    against the engine's count per shard.

    A two-phase search rescores the top ``window`` first-pass hits of each shard, so its reference must take the
    first pass per shard too (:mod:`spladekit.engines.routing`).
    """
    shards, routing_shards = engine_index.routing()
    if shards == 1:
        return None
    parts = routing.partition(local.ids(), shards, routing_shards)
    engine_counts = engine_index.shard_counts()
    if engine_counts != [len(p) for p in parts]:
        raise EngineError(
            f"index {engine_index.index!r} holds {engine_counts} documents per shard, but routing the local index's "
            f"ids by _id gives {[len(p) for p in parts]}: the indexes hold other documents, or the engine index was "
            "written with custom routing; two-phase parity needs the engine's shards: compare in exact mode (drop "
            "--two-phase), or rebuild both indexes from the same corpus with spladekit ingest")
    return parts


def run_parity(
    engine: Searcher,
    local: LocalIndex,
    query_vectors: Mapping[str, SparseVector],
    *,
    k: int = 10,
    two_phase: TwoPhase | None = None,
    local_dir: str | None = None,
    model: str | None = None,
    progress: bool = False,
) -> ParityReport:
    """Search every query vector on the engine (exact SPLADE, or ``two_phase``) and compare with ``local``.

    ``engine`` is a :class:`~spladekit.search.Searcher` on the engine index (the requests any search sends);
    ``local`` must be a ``lucene``-mode :class:`~spladekit.local.index.LocalIndex` holding the same document
    vectors. A query over the bool clause limit is pruned first (:func:`spladekit.query.prepare`) and both
    sides see the pruned vector. With ``two_phase`` the reference is the same plan on the local index: its
    first pass, then the full query over those ids; on an engine index of several shards the first pass takes
    the top ``window`` of each shard, as the engine's per-shard rescore does (:func:`shard_partition`).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if getattr(local, "mode", "lucene") != "lucene":
        raise InputError(
            f"parity needs a local index in 'lucene' mode (the engines' float32 arithmetic); this one is in "
            f"{local.mode!r} mode: rebuild it with spladekit ingest --local DIR --local-mode lucene"
        )
    idx = engine.engine_index
    shards = idx.shard_count() if idx is not None else 1  # a search: all a search-only user may do
    partition = shard_partition(idx, local) if two_phase is not None and idx is not None and shards > 1 else None
    results = []
    for qid, vec in tqdm(query_vectors.items(), desc="parity", unit="q", disable=not progress):
        vec = vec.positive()
        if len(vec) == 0:
            results.append(QueryParity(str(qid), 0, [], [], 1.0, 0.0, True, ["empty query vector: skipped"]))
            continue
        sent, _ = prepare(vec)
        hits = engine.search_vector(sent, k=k, two_phase=two_phase or False)
        allowed = None
        if two_phase is not None:
            first = two_phase.first_pass(sent)
            if partition is None:
                allowed, _ = local.search(first, k=two_phase.window)
            else:
                allowed = [i for part in partition for i in local.search(first, k=two_phase.window, filter_ids=part)[0]]
        results.append(compare_query(str(qid), [(h.id, h.score) for h in hits], local, sent, k, allowed))
    return ParityReport(engine.engine or "", idx.index if idx is not None else "", local_dir, k, model, results,
                        mode="two-phase" if two_phase is not None else "exact", shards=shards)


def parity(
    *,
    engine_url: str,
    index: str,
    local_dir: str | Path,
    queries: str | Path | Mapping[str, str],
    k: int = 10,
    two_phase: TwoPhase | None = None,
    model: str | None = None,
    report: str | Path | None = None,
    progress: bool = False,
    **connect_options: Any,
) -> ParityReport:
    """Encode the queries once, run them on the engine index and the local index, compare; write ``report``.

    The encoder is the index's model (from the local index's metadata) unless ``model`` is given; both
    indexes are checked to hold that model's vectors.
    """
    local_searcher = Searcher(local_dir=local_dir, model=model)
    texts = dict(queries) if isinstance(queries, Mapping) else read_queries(queries)
    encoder = local_searcher.encoder
    engine_searcher = Searcher(engine_index=connect(engine_url, index, **connect_options), encoder=encoder)
    check_query_encoder(engine_searcher.meta, encoder, engine_searcher.where)
    vectors = dict(zip(texts, encoder.encode_queries(list(texts.values())), strict=True))
    assert local_searcher.local is not None
    result = run_parity(engine_searcher, local_searcher.local, vectors, k=k, two_phase=two_phase,
                        local_dir=str(local_dir), model=local_searcher.model, progress=progress)
    if report is not None:
        result.write(report)
    return result
