"""Choose fine-tuning settings on a dev split of the TRAINING queries, then train the final models.

Run where a GPU is (or patiently on a CPU). For each split folder made by ``spladekit.training.make_split``:

1. carve a dev split out of its training queries (seeded, same no-leak rule); the test queries are never read;
2. mine hard negatives once with the base model (spladekit's ONNX encoder + local index);
3. train each candidate setting on train-minus-dev, score it on dev with sentence-transformers'
   SparseInformationRetrievalEvaluator (nDCG@10, active dims), keep the best dev nDCG@10;
4. train the chosen setting on all training queries and save the model under OUT/<collection>.

Prints one JSON object (every candidate's dev scores, the choice) and writes it to OUT/sweep.json.

    python benchmarks/train_sweep.py --base DIR --out OUT SPLIT_DIR [SPLIT_DIR ...] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from spladekit.datasets import load_beir
from spladekit.training.data import Pair
from spladekit.training.negatives import mine_hard_negatives
from spladekit.training.split import split_queries, title_pairs
from spladekit.training.train import TrainConfig, build_model, train_model

CANDIDATES = [
    # (learning rate, epochs, hard negatives, title pseudo-queries, lambda_q, lambda_d)
    # earlier rounds (benchmarks/results/train_sweep_round*.json) tried 3 mined negatives, title
    # pseudo-queries and lambda 5e-4/3e-4 (mixed on dev; FLOPS shrank documents 216 -> ~75 terms)
    (2e-4, 4, 0, False, 0.0, 0.0),
    (2e-4, 4, 0, False, 1e-6, 1e-6),
    (2e-4, 4, 0, False, 1e-5, 1e-5),
    (2e-4, 4, 0, False, 5e-5, 3e-5),
    (5e-5, 4, 0, False, 1e-6, 1e-6),
    (2e-4, 4, 0, True, 1e-6, 1e-6),
    (2e-4, 4, 0, True, 5e-5, 3e-5),
]


def dev_scores(model_dir: Path, ds, qids: list[str], device: str) -> dict:
    from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator

    model = build_model(model_dir, max_length=256, device=device)
    ev = SparseInformationRetrievalEvaluator(
        queries={q: ds.queries[q] for q in qids},
        corpus={d: doc.full_text() for d, doc in ds.corpus.items()},
        relevant_docs={q: {d for d, r in ds.qrels[q].items() if r > 0} for q in qids},
        ndcg_at_k=[10], mrr_at_k=[10], accuracy_at_k=[1], precision_recall_at_k=[100],
        map_at_k=[100], show_progress_bar=False, batch_size=64, name="dev",
    )
    res = ev(model)
    pick = {}
    for key, val in res.items():
        for want in ("ndcg@10", "recall@100", "query_active_dims", "corpus_active_dims"):
            if key.endswith(want) and "dot" in key or key.endswith(want) and "active" in want:
                pick[want] = round(float(val), 4)
    return pick


def pairs_for(ds, qids: list[str]) -> list[Pair]:
    return [Pair(ds.queries[q], ds.corpus[d].full_text(), qid=q, pid=d)
            for q in qids for d, r in ds.qrels[q].items() if r > 0 and ds.corpus[d].full_text().strip()]


def pack(model_dir: Path, prefix: Path, chunk: int = 15 << 20) -> None:
    """A tar of the model folder (checkpoints left out), cut into chunks a small transfer limit accepts."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for f in sorted(model_dir.iterdir()):
            if f.is_file():
                tar.add(f, arcname=f"{model_dir.name}/{f.name}")
    data = buf.getvalue()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(data), chunk):
        Path(f"{prefix}.tar.{i // chunk}").write_bytes(data[i:i + chunk])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("splits", nargs="+", type=Path)
    ap.add_argument("--base", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--candidates", type=int, nargs="*", help="Indices into CANDIDATES to try (default: all).")
    ap.add_argument("--select", choices=["global", "per-collection"], default="global",
                    help="One setting for all collections (best mean dev gain) or the best per collection.")
    ap.add_argument("--pack", type=Path, help="Also write each final model as a tar in 15 MiB chunks here.")
    args = ap.parse_args()
    report: dict = {"base": args.base, "device": args.device, "batch_size": args.batch_size, "seed": args.seed,
                    "candidates": [list(c) for c in CANDIDATES], "select": args.select, "collections": {}}
    tried = [i for i in range(len(CANDIDATES)) if not args.candidates or i in args.candidates]
    need_negatives = any(CANDIDATES[i][2] for i in tried)
    finals = {}
    for split_dir in args.splits:
        name = split_dir.name
        t0 = time.time()
        ds = load_beir(split_dir, "train")
        dv = split_queries({q: ds.queries[q] for q in ds.qrels}, test_fraction=0.3, seed=args.seed + 1)
        docs = {d: doc.full_text() for d, doc in ds.corpus.items() if doc.full_text().strip()}
        all_pairs = pairs_for(ds, dv.train + dv.test)
        titles = title_pairs(ds.corpus, seed=args.seed)
        mined, titles_mined = {}, []
        if need_negatives:
            mined = {(p.qid, p.pid): p for p in mine_hard_negatives(all_pairs, args.base, 3, corpus=docs,
                                                                    seed=args.seed)}
            titles_mined = mine_hard_negatives(titles, args.base, 3, corpus=docs, seed=args.seed) if titles else []
        entry: dict = {"train_queries": len(ds.qrels), "dev_queries": len(dv.test), "pairs": len(all_pairs),
                       "title_pairs": len(titles), "mining_s": round(time.time() - t0, 1), "runs": []}
        entry["base_dev"] = dev_scores(Path(args.base), ds, dv.test, args.device)
        print(name, "base", entry["base_dev"], file=sys.stderr, flush=True)

        def run(cand, qids, out_dir, ds=ds, mined=mined, titles=titles, titles_mined=titles_mined, name=name):
            lr, epochs, negs, use_titles, lq, ld = cand
            pairs = [mined[(p.qid, p.pid)] if negs else p for p in pairs_for(ds, qids)]
            if use_titles:
                pairs += titles_mined if negs else titles
            config = TrainConfig(epochs=epochs, batch_size=args.batch_size, learning_rate=lr, lambda_q=lq,
                                 lambda_d=ld, hard_negatives=negs, seed=args.seed, device=args.device,
                                 save_steps=10_000)
            return train_model(pairs, args.base, out_dir, config, silent=True, base_name="splade-tiny",
                               extra_record={"collection": name, "title_pairs": use_titles,
                                             "train_query_ids": qids})

        for i in tried:
            t1 = time.time()
            out = run(CANDIDATES[i], dv.train, Path("/tmp/sweep") / name / f"c{i}")
            scores = dev_scores(out, ds, dv.test, args.device)
            entry["runs"].append({"candidate": i, "dev": scores, "seconds": round(time.time() - t1, 1)})
            print(name, i, CANDIDATES[i], scores, file=sys.stderr, flush=True)
        entry["chosen"] = max(entry["runs"], key=lambda r: (r["dev"].get("ndcg@10", 0.0),
                                                             r["dev"].get("recall@100", 0.0)))["candidate"]
        finals[name] = (run, dv.train + dv.test)
        report["collections"][name] = entry

    if args.select == "global":  # one setting for every collection: the best mean dev nDCG@10 gain over base
        def gain(i: int) -> float:
            return sum(next(r["dev"]["ndcg@10"] for r in e["runs"] if r["candidate"] == i) - e["base_dev"]["ndcg@10"]
                       for e in report["collections"].values()) / len(report["collections"])
        report["mean_dev_gain"] = {i: round(gain(i), 4) for i in tried}
        best = max(tried, key=gain)
        for entry in report["collections"].values():
            entry["chosen"] = best
    for name, (run, qids) in finals.items():
        t2 = time.time()
        run(CANDIDATES[report["collections"][name]["chosen"]], qids, args.out / name)
        report["collections"][name]["final_seconds"] = round(time.time() - t2, 1)
        if args.pack:
            pack(args.out / name, args.pack / name)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
