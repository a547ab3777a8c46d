"""Offline recall of two-phase first passes: which query tokens, and how large a rescore window, would reach
recall@10 >= 0.98 against exact SPLADE, without an engine.

The corpus is the query benchmark's (``benchmarks/query.py --tile N``): npl's vectors tiled to N documents with
each weight scaled by a factor in [0.95, 1.05], stored as Lucene's FeatureField keeps them
(``spladekit.lucene.quantize``), so the scores are the engines' up to float32 summation order. For each
npl query, exact scores over all N documents (scipy CSC, float32), then for each first pass the top ``window``
documents by first-pass score, rescored exactly: recall@10 is the share of the exact top 10 (a hit tying the
exact 10th score counts) that the rescored window holds, as ``benchmarks/query.py`` measures it on the engines.

First passes:

- ``topK``: the K largest query weights (``TwoPhase(top_k=K)``);
- ``massM``: the fewest largest weights holding a fraction M of the query's weight (``TwoPhase(mass=M)``), chosen
  by ``spladekit.query.prune`` itself;
- ``boundK``: the K largest ``q_t * max_d d_t`` (a token's largest possible contribution) instead of ``q_t``;
- ``docM``: every query token, but against documents cut to their M largest weights (a pruned second field).

``postings`` is the first pass's share of the postings the full query touches (sum of the chosen tokens'
document frequencies over the full query's, against the pruned documents for ``docM``): a rough cost proxy;
engine latency is measured by ``benchmarks/query.py``. ``exact_top10_distinct_originals``: how many different npl
documents the exact top 10 are copies of (1 = ten near-copies of one document, ranked by the +-5 % noise).

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/two_phase_recall.py [--docs 1000000]

Prints JSON to stdout and writes it to ``benchmarks/results/two_phase_recall.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from query import local_bench, write_report  # benchmarks/query.py: this folder is the script's sys.path[0]
from spladekit import lucene
from spladekit.query import prune
from spladekit.vectors import SparseBatch, SparseVector

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 30522
K = 10
WINDOWS = (100, 200, 300, 500)


def recall_at_windows(exact: np.ndarray, first: np.ndarray) -> dict[int, float]:
    """Share of the exact top 10 (ties at the 10th score included) in the exact top 10 of each first-pass window."""
    kth = np.partition(exact, -K)[-K]
    order = np.argsort(-first, kind="stable")
    out = {}
    for w in WINDOWS:
        rescored = np.sort(exact[order[:w]])[::-1][:K]
        out[w] = float(np.sum(rescored >= kth)) / K
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "two_phase_recall.json")
    args = ap.parse_args()

    bench = local_bench()
    data = bench.npl_vectors("splade-tiny")
    docs = SparseBatch(data["doc_offsets"], data["doc_ids"], data["doc_weights"])
    keys = [str(k) for k in data["doc_keys"]]
    queries = SparseBatch(data["q_offsets"], data["q_ids"], data["q_weights"])
    tiled, _ = bench.tile(docs, keys, args.docs)
    started = time.perf_counter()
    values = lucene.quantize(tiled.weights.astype(np.float32))
    matrix = sp.csr_matrix((values, tiled.ids, tiled.offsets), shape=(args.docs, VOCAB)).tocsc()
    df = np.diff(matrix.indptr)
    bound = np.zeros(VOCAB, np.float32)
    nonempty = df > 0
    bound[nonempty] = np.maximum.reduceat(matrix.data, matrix.indptr[:-1][nonempty])

    # Documents cut to their M largest weights, for the docM first passes.
    lengths = np.diff(tiled.offsets)
    row = np.repeat(np.arange(args.docs), lengths)
    rank = np.empty(len(values), np.int64)
    rank[np.lexsort((-values, row))] = np.arange(len(values)) - np.repeat(tiled.offsets[:-1], lengths)
    doc_cut = {}
    for m in (32, 64):
        keep = rank < m
        offsets = np.concatenate([[0], np.cumsum(np.minimum(lengths, m))])
        doc_cut[m] = sp.csr_matrix((values[keep], tiled.ids[keep], offsets), shape=(args.docs, VOCAB)).tocsc()
    setup_s = time.perf_counter() - started

    def scores(mat, vec: SparseVector) -> np.ndarray:
        return np.asarray(mat[:, vec.ids] @ vec.weights.astype(np.float32)).ravel()

    strategies = {}
    for k in (6, 8, 10, 12):
        strategies[f"top{k}"] = lambda v, k=k: (matrix, prune(v, top_k=k, max_clauses=None)[0])
    for m in (0.6, 0.7, 0.75, 0.8):
        strategies[f"mass{m:g}"] = lambda v, m=m: (matrix, prune(v, mass=m, max_clauses=None)[0])
    for k in (8, 10):
        def by_bound(v: SparseVector, k: int = k):
            keep = np.lexsort((v.ids, -(v.weights * bound[v.ids])))[:k]
            return matrix, SparseVector(v.ids[keep], v.weights[keep])
        strategies[f"bound{k}"] = by_bound
    for m, mat in doc_cut.items():
        strategies[f"doc{m}"] = lambda v, mat=mat: (mat, v)

    rows: dict[str, dict] = {name: {"recall": {w: [] for w in WINDOWS}, "tokens": [], "postings": []}
                             for name in strategies}
    originals_in_top = []  # distinct npl documents among the exact top 10 (tiled row r copies npl row r % n)
    for i in range(len(queries)):
        vec = queries[i].positive()
        exact = scores(matrix, vec)
        top = np.argpartition(-exact, K)[:K]
        originals_in_top.append(len(np.unique(top % len(keys))))
        full_postings = float(df[vec.ids].sum())
        for name, choose in strategies.items():
            mat, first = choose(vec)
            for w, r in recall_at_windows(exact, scores(mat, first)).items():
                rows[name]["recall"][w].append(r)
            rows[name]["tokens"].append(len(first))
            rows[name]["postings"].append(float(np.diff(mat.indptr)[first.ids].sum()) / full_postings)

    report = {
        "benchmark": "two_phase_recall",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "docs": args.docs, "queries": len(queries), "k": K, "setup_s": round(setup_s, 1),
        "mean_query_terms": float(np.mean(queries.nnz())),
        "exact_top10_distinct_originals": {"mean": float(np.mean(originals_in_top)),
                                           "queries_with_1": int(np.sum(np.asarray(originals_in_top) == 1))},
        "first_passes": {
            name: {
                "mean_tokens": round(float(np.mean(r["tokens"])), 2),
                "postings_share": round(float(np.mean(r["postings"])), 3),
                **{f"recall@10_window{w}": round(float(np.mean(v)), 4) for w, v in r["recall"].items()},
            }
            for name, r in rows.items()
        },
    }
    write_report(report, args.out)


if __name__ == "__main__":
    main()
