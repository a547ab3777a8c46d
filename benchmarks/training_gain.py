"""Proof of gain for ``spladekit train``: base vs fine-tuned SPLADE vs BM25 on held-out test queries.

For a split folder made by :func:`spladekit.training.make_split` (its ``qrels/test.tsv`` holds only queries
the fine-tuned model never saw), this runs :func:`spladekit.evaluation.evaluate` on the local index with the
base model and with the fine-tuned one, and scores a BM25 run with the same :func:`evaluate_runs` (same
ir_measures code, same judgments). BM25 comes from ``bm25s`` (Lucene variant, k1=1.2, b=0.75, English stop
words, no stemming, on title + text) as a stand-in for an engine ``match`` query: this session had no engine
port of its own. Prints one JSON object.

    python benchmarks/training_gain.py --split SPLIT_DIR --tuned MODEL_DIR [--base splade-tiny] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from spladekit.datasets import load_beir
from spladekit.evaluation import evaluate, evaluate_runs
from spladekit.evaluation.runs import SystemRun

MEASURES = ["nDCG@10", "R@100", "RR@10", "AP"]


def bm25_run(split_dir: Path, k: int = 1000) -> tuple[SystemRun, object]:
    import bm25s
    import numpy as np

    ds = load_beir(split_dir, "test")
    ids = list(ds.corpus)
    retriever = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    retriever.index(bm25s.tokenize([ds.corpus[i].full_text() for i in ids], stopwords="en", show_progress=False),
                    show_progress=False)
    qids = list(ds.queries)
    tokens = bm25s.tokenize([ds.queries[q] for q in qids], stopwords="en", show_progress=False)
    t0 = time.perf_counter()
    docs, scores = retriever.retrieve(tokens, k=min(k, len(ids)), show_progress=False, n_threads=1)
    elapsed = (time.perf_counter() - t0) * 1000 / max(1, len(qids))
    run = {q: {ids[int(d)]: float(s) for d, s in zip(docs[i], scores[i], strict=True) if s > 0}
           for i, q in enumerate(qids)}
    return SystemRun("bm25s", run, latencies_ms=[elapsed] * len(qids),
                     info={"k1": 1.2, "b": 0.75, "method": "lucene", "bm25s": bm25s.__version__,
                           "numpy": np.__version__}), ds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", type=Path, required=True)
    ap.add_argument("--tuned", required=True)
    ap.add_argument("--base", default="splade-tiny")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    split = json.loads((args.split / "split.json").read_text())
    training = json.loads((Path(args.tuned) / "spladekit_training.json").read_text())
    held_out = set(split["test_queries"])
    trained_on = set(training.get("train_query_ids") or split["train_queries"])
    if held_out & trained_on:
        raise SystemExit(f"leak: {len(held_out & trained_on)} test queries were trained on")

    result: dict = {"collection": args.split.name, "split_seed": split["seed"],
                    "test_queries": len(split["test_queries"]), "train_queries": len(trained_on),
                    "tuned_config": training["config"], "systems": {}}
    for label, model in (("base", args.base), ("fine-tuned", args.tuned)):
        out = args.out / label if args.out else None
        rep = evaluate(args.split, model=model, metrics=MEASURES, out_dir=out, split="test", local_mode="lucene")
        s = rep.systems[0]
        result["systems"][label] = {"model": str(model), **{m: round(s.metrics[m], 4) for m in MEASURES},
                                    "mean_query_terms": round(s.cost["mean_query_terms"], 1),
                                    "mean_doc_terms": round(s.cost["mean_doc_terms"], 1),
                                    "queries": rep.n_queries}
    bm, ds = bm25_run(args.split)
    rep = evaluate_runs(ds, [bm], measures=MEASURES)
    s = rep.systems[0]
    result["systems"]["bm25s"] = {**{m: round(s.metrics[m], 4) for m in MEASURES}, "queries": rep.n_queries}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
