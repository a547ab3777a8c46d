"""Long documents: quality and cost of the length and the long-text policy, beside sentence-transformers.

For each collection (default: every one in datasets/) and each setting — ``truncate-256``, ``truncate-512``,
``split-256``, ``split-512`` (windows overlapping by a quarter, max-pooled per document) — the corpus is encoded
with the default model (timed: documents per second), indexed in the local index (``exact`` mode) and
evaluated: nDCG@10 and R@100 on the graded judgments (the report's), and nDCG@10 on binary judgments, the
number sentence-transformers' ``SparseInformationRetrievalEvaluator`` computes. In the same run,
sentence-transformers at its default (``SparseEncoder(MLMTransformer(max_seq_length=512), SpladePooling)``,
truncation) through that evaluator; its docs/s covers the evaluator's whole pass (the corpus and the queries).
How many documents each setting truncates (and the tokens dropped) comes from the encoder's own counts.

Prints one JSON object (and writes it to ``--out``):

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/long_documents.py --out benchmarks/results/long_documents.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("SPLADEKIT_DATASETS", REPO / "datasets"))
COLLECTIONS = ("cranfield", "npl", "dbpedia-entity-sub5k", "msmarco-trecdl-sub5k")
SETTINGS = (("truncate", 256), ("truncate", 512), ("split", 256), ("split", 512))
MEASURES = ["nDCG@10", "R@100"]


def log(msg: str) -> None:
    print(f"[long_documents {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ours(dataset_dir: Path, long_text: str, max_length: int) -> dict:
    from spladekit.datasets import load_beir
    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.evaluation import build, compute, evaluate, load_run

    encoder = SpladeEncoder.load("splade-tiny", max_length=max_length, long_text=long_text)
    dataset = load_beir(dataset_dir)
    docs = build.DocVectors(encoder, dataset, rebuild=True)  # encoded here, timed; evaluate() then reuses it
    started = time.perf_counter()
    docs.batch  # noqa: B018 - encode the corpus (timed), cached for the evaluation below
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as out:
        report = evaluate(dataset_dir, encoder=encoder, local_mode="exact", k=100, metrics=MEASURES, out_dir=out,
                          max_length=max_length, long_text=long_text)
        run = load_run(report.system("splade-local").run_file)
    binary, _ = compute(dataset.binary_qrels(), run, ["nDCG@10"])
    stats = docs.stats
    return {"setting": f"{long_text}-{max_length}", "docs": len(docs.ids), "seconds": round(seconds, 2),
            "docs_per_s": round(len(docs.ids) / seconds, 1), **report["splade-local"],
            "nDCG@10_binary": binary["nDCG@10"], "truncated": stats.truncated,
            "truncated_fraction": round(stats.truncated / max(len(docs.ids), 1), 4),
            "tokens_dropped": stats.tokens_dropped, "windows": stats.windows,
            "mean_doc_terms": docs.mean_terms()}


def sentence_transformers(dataset_dir: Path) -> dict:
    import torch
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator
    from sentence_transformers.sparse_encoder.modules import MLMTransformer, SpladePooling

    from spladekit.datasets import load_beir
    from spladekit.models import resolve_model

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    ds = load_beir(dataset_dir)
    model = SparseEncoder(modules=[MLMTransformer(str(resolve_model("splade-tiny")), max_seq_length=512),
                                   SpladePooling(pooling_strategy="max")], device="cpu")
    corpus = {did: doc.full_text() for did, doc in ds.corpus.items()}
    relevant = {q: {d for d, r in docs.items() if r > 0} for q, docs in ds.qrels.items()}
    evaluator = SparseInformationRetrievalEvaluator(
        ds.queries, corpus, relevant, batch_size=32, write_csv=False, ndcg_at_k=[10], mrr_at_k=[10],
        accuracy_at_k=[1], precision_recall_at_k=[100], map_at_k=[100], show_progress_bar=False)
    started = time.perf_counter()
    scores = evaluator(model)
    seconds = time.perf_counter() - started
    return {"setting": "sentence-transformers-512 (truncate)", "docs": len(corpus), "seconds": round(seconds, 2),
            "docs_per_s_incl_queries": round(len(corpus) / seconds, 1),
            "nDCG@10_binary": scores["dot_ndcg@10"], "R@100_binary": scores["dot_recall@100"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collections", nargs="+", default=list(COLLECTIONS))
    parser.add_argument("--no-st", action="store_true", help="Leave sentence-transformers out.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = {"benchmark": "long_documents", "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_avg_start": os.getloadavg()},
              "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                       text=True).stdout.strip(),
              "collections": {}}
    for name in args.collections:
        rows = []
        for long_text, max_length in SETTINGS:
            log(f"{name}: {long_text}-{max_length}")
            rows.append(ours(DATASETS / name, long_text, max_length))
            log(f"  {rows[-1]['docs_per_s']} docs/s, nDCG@10 {rows[-1]['nDCG@10']:.4f}, truncated "
                f"{rows[-1]['truncated']}")
        if not args.no_st:
            log(f"{name}: sentence-transformers")
            rows.append(sentence_transformers(DATASETS / name))
        result["collections"][name] = rows
    result["machine"]["load_avg_end"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
