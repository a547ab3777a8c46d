"""What training the query side buys: ``spladekit train`` (shared), ``--separate-query-encoder`` and
``--inference-free`` on the same pairs, small enough for a 2-core CPU, scored on held-out test queries.

A collection is split with :func:`spladekit.training.make_split` (half its queries for training, seed 13, no
test query or judgment in the training pairs); the three models start from splade-tiny with one setting and
train on the training pairs. Each is evaluated with :func:`spladekit.evaluation.evaluate` on the test queries
(local index, lucene mode), beside the untrained base model with its own queries and with inference-free IDF
queries (no training at all), and the inference-free model's document encoder with IDF queries instead of its
learned table (what the table adds). Prints one JSON object.

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/train_query_side.py --collection cranfield \\
        --out benchmarks/results/train_query_side_cranfield.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from spladekit.encoder.card import read_card
from spladekit.evaluation import evaluate
from spladekit.training import make_split, train

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("SPLADEKIT_DATASETS", REPO / "datasets"))
MEASURES = ["nDCG@10", "R@100", "RR@10"]


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def log(msg: str) -> None:
    print(f"[train_query_side {time.strftime('%H:%M:%S')}] {msg}", flush=True, file=sys.stderr)


def score(split: Path, model: str, *, inference_free: bool = False) -> dict:
    rep = evaluate(split, model=model, metrics=MEASURES, split="test", local_mode="lucene", k=100,
                   inference_free=inference_free)
    s = rep.systems[0]
    return {"model": model, "inference_free": inference_free, **{m: round(s.metrics[m], 4) for m in MEASURES},
            "mean_query_terms": round(s.cost["mean_query_terms"] or 0.0, 1),
            "mean_doc_terms": round(s.cost["mean_doc_terms"], 1), "encode_p50_ms": s.cost.get("encode_p50_ms"),
            "queries": rep.n_queries}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--collection", default="cranfield")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--query-lr", type=float, default=1e-2)
    ap.add_argument("--lambda-q", type=float, default=5e-5)
    ap.add_argument("--lambda-d", type=float, default=3e-5)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--work", type=Path, default=None, help="keep the split and models here (default: temporary)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="spladekit-train-query-side-"))
    split = work / f"{args.collection}-split"
    if not (split / "split.json").is_file():
        make_split(DATASETS / args.collection, split, test_fraction=0.5, seed=13)
    record = json.loads((split / "split.json").read_text())
    result: dict = {"collection": args.collection, "started": datetime.now(UTC).isoformat(timespec="seconds"),
                    "load_start": load(), "train_queries": len(record["train_queries"]),
                    "test_queries": len(record["test_queries"]), "settings": {
                        k: v for k, v in vars(args).items() if k not in ("work", "out")}, "models": {}, "systems": {}}
    pairs = split / "train_pairs.jsonl"
    for side in ("shared", "separate", "inference-free"):
        out = work / f"model-{side}"
        if not (out / "spladekit_training.json").is_file():
            log(f"training {side} (load {load()})")
            t0 = time.perf_counter()
            train(pairs, "splade-tiny", out, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                  lambda_q=args.lambda_q, lambda_d=args.lambda_d, max_length=args.max_length, query_side=side,
                  query_lr=args.query_lr, silent=True)
            seconds = time.perf_counter() - t0
        else:
            seconds = None
        rec = json.loads((out / "spladekit_training.json").read_text())
        result["models"][side] = {"dir": str(out), "global_step": rec["global_step"],
                                  "train_loss": round(rec["train_loss"], 4), "pairs": rec["pairs"],
                                  "seconds": round(seconds, 1) if seconds else None}
    log(f"evaluating (load {load()})")
    systems = result["systems"]
    systems["base"] = score(split, "splade-tiny")
    systems["base, inference-free IDF"] = score(split, "splade-tiny", inference_free=True)
    systems["trained shared"] = score(split, str(work / "model-shared"))
    systems["trained separate query encoder"] = score(split, str(work / "model-separate"))
    systems["trained inference-free (learned table)"] = score(split, str(work / "model-inference-free"))
    doc_only = read_card(work / "model-inference-free").document_model
    systems["trained inference-free document encoder, IDF queries"] = score(split, doc_only, inference_free=True)
    result["load_end"] = load()
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
