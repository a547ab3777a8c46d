"""Encoding at scale: single-process ingest vs Ray workers, the torch backend vs ONNX, low precisions vs float32.

Prints one JSON object (and writes it to ``--out``). Parts (``--parts``, all CPU parts by default):

- ``scale``: the same ``--docs`` real documents (cranfield, then npl) ingested into the local index by
  ``spladekit ingest`` in one process (ONNX on all cores, and on one thread) and with ``--ray`` on 1 and 2 workers
  (one core each), the contenders alternating over ``--rounds``; docs/s of the whole job (actor start-up
  included) and from the first document written to the last ("steady"; for Ray it counts blocks the workers
  finished before the first one reached the driver, so it runs high on short jobs), scaling efficiency per core
  (docs/s of W workers / (W x one worker)). Ray is started once, before the rounds (its start-up is reported
  apart), as a long job would see it.
- ``backends``: the encoder alone on the same texts in memory, ONNX vs torch float32, both on all cores (or
  ``--threads``), with their agreement (identical term sets, max abs difference).
- ``precision``: torch float32 / bfloat16 / float16 on a real collection (``--collection``, cranfield by
  default): per-document term-set overlap (Jaccard) against float32, top-10 overlap of exact search over the
  collection's queries (each precision with its own query vectors), nDCG@10 of each.
- ``gpu`` (``--device cuda``): torch bfloat16 / float16 / float32 on the GPU vs sentence-transformers
  ``SparseEncoder`` on the same GPU, same documents, alternating; where the time goes (tokenize, copy in, model,
  pooling, copy out; the device synchronized between phases, in a separate run); the FLOPs per document from the
  model's shapes and the fraction of the GPU's measured bfloat16 matmul peak. Targets (issue 15): bfloat16 >= 10x
  sentence-transformers' docs/s, and >= 20,000 docs/s for splade-tiny at max_length 256.

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/ingest_scale.py --docs 2000 \\
        --out benchmarks/results/ingest_scale.json
    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/ingest_scale.py --device cuda --parts gpu --docs 20000 \\
        --max-length 256 --out benchmarks/results/ingest_scale_gpu.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from encode import flops_per_token  # noqa: E402  (the FLOPs of a text from the model's shapes, one place)


def datasets_dir() -> Path:
    env = os.environ.get("SPLADEKIT_DATASETS")
    return Path(env) if env else REPO / "datasets"


def load_rows(n: int) -> list[dict]:
    """``n`` real documents: cranfield, then npl, then dbpedia-entity-sub5k (repeated, with new ids, past them)."""
    rows: list[dict] = []
    sources = ("cranfield", "npl", "dbpedia-entity-sub5k")
    lap = 0
    while len(rows) < n:
        for name in sources:
            with open(datasets_dir() / name / "corpus.jsonl", encoding="utf-8") as f:
                for line in islice(f, n - len(rows)):
                    row = json.loads(line)
                    rows.append({"_id": f"{name}-{lap}-{row['_id']}", "title": row.get("title", ""),
                                 "text": row["text"]})
            if len(rows) >= n:
                break
        lap += 1
    return rows


def text_of(row: dict) -> str:
    return f"{row['title']} {row['text']}".strip()


def load() -> float:
    return round(os.getloadavg()[0], 2)


# --------------------------------------------------------------------------------------------------- scale


def part_scale(args: argparse.Namespace, rows: list[dict], work: Path) -> dict:
    import ray

    from spladekit.ingest import ingest

    corpus = work / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cpus = os.cpu_count() or 1
    t = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR,
             log_to_driver=False)
    ray_start = time.perf_counter() - t

    def job(name: str, r: int, **options) -> dict:
        marks: list[float] = []

        def progress(n: int) -> None:
            marks.append(time.perf_counter())

        started = time.perf_counter()
        report = ingest(corpus, local_dir=work / f"{name}-{r}", checkpoint=work / f"{name}-{r}.cp.json",
                        progress=progress, **options)
        seconds = time.perf_counter() - started
        steady = (report.indexed - 1) / (marks[-1] - marks[0]) if len(marks) > 1 else 0.0
        print(f"round {r} {name}: {report.docs_per_s} docs/s (steady {steady:.1f}), load {load()}",
              file=sys.stderr, flush=True)
        return {"docs_per_s": report.docs_per_s, "steady_docs_per_s": round(steady, 1),
                "seconds": round(seconds, 2), "indexed": report.indexed, "workers": report.workers,
                "load": load()}

    contenders = {
        "single_process_onnx": {},
        "single_process_onnx_1_thread": {"threads": 1},
        "ray_1_worker": {"ray": True, "workers": 1, "ray_block": args.ray_block},
        "ray_2_workers": {"ray": True, "workers": 2, "ray_block": args.ray_block},
    }
    runs: dict[str, list[dict]] = {name: [] for name in contenders}
    try:
        names = list(contenders)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                runs[name].append(job(name, r, **contenders[name]))
    finally:
        ray.shutdown()
    out: dict = {"docs": len(rows), "cpus": cpus, "ray_block": args.ray_block,
                 "ray_start_seconds": round(ray_start, 2), "contenders": {}}
    for name, done in runs.items():
        out["contenders"][name] = {
            "docs_per_s": round(statistics.median(d["docs_per_s"] for d in done), 1),
            "steady_docs_per_s": round(statistics.median(d["steady_docs_per_s"] for d in done), 1),
            "runs": done,
        }
    c = out["contenders"]
    for key in ("docs_per_s", "steady_docs_per_s"):
        one, two = c["ray_1_worker"][key], c["ray_2_workers"][key]
        out[f"scaling_efficiency_2_workers_{key}"] = round(two / (2 * one), 3) if one else None
        out[f"ray_2_workers_vs_single_process_{key}"] = round(two / c["single_process_onnx"][key], 3)
        out[f"ray_2_workers_vs_single_process_1_thread_{key}"] = round(
            two / c["single_process_onnx_1_thread"][key], 3)
    return out


# --------------------------------------------------------------------------------------------------- backends


def agreement(a: list, b: list) -> dict:
    same = sum(np.array_equal(x.ids, y.ids) for x, y in zip(a, b, strict=True))
    worst = max((float(np.abs(x.weights - y.weights).max(initial=0.0)) for x, y in zip(a, b, strict=True)
                 if np.array_equal(x.ids, y.ids)), default=0.0)
    return {"identical_term_sets": round(same / len(a), 4), "max_abs_difference": worst}


def part_backends(args: argparse.Namespace, rows: list[dict]) -> dict:
    from spladekit.encoder.runtime import SpladeEncoder

    texts = [text_of(r) for r in rows]
    threads = args.threads
    encoders = {"onnx": SpladeEncoder.load(args.model, max_length=args.max_length, threads=threads),
                "torch_float32": SpladeEncoder.load(args.model, backend="torch", max_length=args.max_length,
                                                    threads=threads)}
    for enc in encoders.values():
        enc.encode_documents(texts[:64])  # warm-up
    times: dict[str, list[float]] = {n: [] for n in encoders}
    vectors: dict[str, list] = {}
    names = list(encoders)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t = time.perf_counter()
            vectors[name] = encoders[name].encode_documents(texts)
            times[name].append(time.perf_counter() - t)
            print(f"round {r} {name}: {len(texts) / times[name][-1]:.1f} docs/s, load {load()}", file=sys.stderr,
                  flush=True)
    out = {"docs": len(texts), "threads": encoders["onnx"].threads, "load": load(), "contenders": {}}
    for name in names:
        out["contenders"][name] = {"docs_per_s": round(len(texts) / statistics.median(times[name]), 1),
                                   "seconds": [round(t, 2) for t in times[name]]}
    c = out["contenders"]
    out["torch_vs_onnx"] = round(c["torch_float32"]["docs_per_s"] / c["onnx"]["docs_per_s"], 3)
    out["agreement"] = agreement(vectors["torch_float32"], vectors["onnx"])
    return out


# --------------------------------------------------------------------------------------------------- precision


def part_precision(args: argparse.Namespace) -> dict:
    import ir_measures

    from spladekit.datasets import load_beir
    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.local.index import LocalIndex

    data = load_beir(datasets_dir() / args.collection)  # the judged queries, their qrels
    ids = list(data.corpus)[: args.precision_docs or None]
    texts = [data.corpus[i].full_text() for i in ids]
    qids = list(data.queries)
    ndcg10 = ir_measures.nDCG @ 10
    results: dict[str, dict] = {}
    top: dict[str, list[set[str]]] = {}
    vectors: dict[str, list] = {}
    for dtype in ("float32", "bfloat16", "float16"):
        enc = SpladeEncoder.load(args.model, backend="torch", dtype=dtype, max_length=args.max_length)
        t = time.perf_counter()
        vectors[dtype] = enc.encode_documents(texts)
        seconds = time.perf_counter() - t
        index = LocalIndex(mode="exact")
        index.add(ids, vectors[dtype])
        hits = index.search_many(enc.encode_queries([data.queries[q] for q in qids]), k=10)
        run = {q: {d: float(s) for d, s in zip(found, scores, strict=True)}
               for q, (found, scores) in zip(qids, hits, strict=True)}
        top[dtype] = [set(run[q]) for q in qids]
        ndcg = ir_measures.calc_aggregate([ndcg10], data.qrels, run)[ndcg10]
        results[dtype] = {"docs_per_s": round(len(texts) / seconds, 1), "nDCG@10": round(float(ndcg), 4),
                          "terms_per_doc": round(float(np.mean([len(v) for v in vectors[dtype]])), 1),
                          "load": load()}
        print(f"{dtype}: {results[dtype]}", file=sys.stderr, flush=True)
    for dtype in ("bfloat16", "float16"):
        jaccard = np.array([len(np.intersect1d(a.ids, b.ids)) / len(np.union1d(a.ids, b.ids))
                            if len(a) or len(b) else 1.0  # two empty vectors (an empty document) agree
                            for a, b in zip(vectors[dtype], vectors["float32"], strict=True)])
        overlap = np.array([len(a & b) / max(1, len(b)) for a, b in zip(top[dtype], top["float32"], strict=True)])
        results[dtype]["term_set_jaccard_vs_float32"] = {
            "mean": round(float(jaccard.mean()), 4), "p5": round(float(np.percentile(jaccard, 5)), 4),
            "min": round(float(jaccard.min()), 4), "identical_fraction": round(float((jaccard == 1).mean()), 4)}
        results[dtype]["top10_overlap_vs_float32"] = {"mean": round(float(overlap.mean()), 4),
                                                      "min": round(float(overlap.min()), 4),
                                                      "identical_fraction": round(float((overlap == 1).mean()), 4)}
    return {"collection": args.collection, "docs": len(texts), "queries": len(qids),
            "max_length": args.max_length, "device": "cpu", "dtypes": results}


# --------------------------------------------------------------------------------------------------- gpu


def bf16_peak(device: str) -> float:
    """Best-of-5 TFLOP/s of an 8192^3 bfloat16 matmul on ``device`` (the peak the fraction is taken of)."""
    import torch

    n = 8192 if device == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    a @ b
    sync()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e12


def part_gpu(args: argparse.Namespace, rows: list[dict]) -> dict:
    import torch
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import MLMTransformer, SpladePooling

    from spladekit import models
    from spladekit.encoder import store
    from spladekit.encoder.runtime import SpladeEncoder

    device = args.device
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    texts = [text_of(r) for r in rows]
    model_dir = models.resolve_model(args.model)
    shapes = SpladeEncoder.load(store.onnx_dir(args.model)).info  # hidden size, layers, ... for the FLOPs
    contenders = {}
    encoders = {}
    for dtype in ("bfloat16", "float16", "float32"):
        enc = SpladeEncoder.load(args.model, backend="torch", device=device, dtype=dtype, max_length=args.max_length)
        encoders[dtype] = enc
        contenders[f"spladekit_torch_{dtype}"] = enc.encode_documents
    st = SparseEncoder(modules=[MLMTransformer(str(model_dir), max_seq_length=args.max_length),
                                SpladePooling(pooling_strategy="max")], device=device)
    contenders["sentence_transformers"] = lambda t: st.encode_document(t, batch_size=args.st_batch_size,
                                                                       show_progress_bar=False)
    for fn in contenders.values():
        fn(texts[:512])
        sync()
    times: dict[str, list[float]] = {n: [] for n in contenders}
    names = list(contenders)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t = time.perf_counter()
            contenders[name](texts)
            sync()
            times[name].append(time.perf_counter() - t)
            print(f"round {r} {name}: {len(texts) / times[name][-1]:.0f} docs/s", file=sys.stderr, flush=True)
    bf16 = encoders["bfloat16"]
    seq = np.array([len(e.ids) for e in bf16._tokenizer.encode_batch(texts)], dtype=np.int64)
    flops_doc = float(flops_per_token(shapes, seq).mean())
    peak = bf16_peak(device)
    out: dict = {"docs": len(texts), "device": device, "max_length": args.max_length,
                 "gpu": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor(),
                 "tokens_per_doc_mean": round(float(seq.mean()), 1), "gflop_per_doc": round(flops_doc / 1e9, 4),
                 "bf16_matmul_peak_tflops": round(peak, 1), "contenders": {}}
    for name in names:
        dps = len(texts) / statistics.median(times[name])
        out["contenders"][name] = {"docs_per_s": round(dps, 1), "seconds": [round(t, 3) for t in times[name]],
                                   "tflops": round(dps * flops_doc / 1e12, 2),
                                   "fraction_of_bf16_peak": round(dps * flops_doc / 1e12 / peak, 4)}
    c = out["contenders"]
    out["bfloat16_vs_sentence_transformers"] = round(c["spladekit_torch_bfloat16"]["docs_per_s"]
                                                     / c["sentence_transformers"]["docs_per_s"], 2)
    out["targets"] = {"bfloat16 >= 10x sentence-transformers": out["bfloat16_vs_sentence_transformers"] >= 10,
                      ">= 20,000 docs/s (bfloat16)": c["spladekit_torch_bfloat16"]["docs_per_s"] >= 20000}
    # Where the time goes: tokenizing apart, then the device phases with synchronization between them.
    timed = SpladeEncoder.load(args.model, backend="torch", device=device, dtype="bfloat16",
                               max_length=args.max_length, timing=True)
    t = time.perf_counter()
    prepared = timed.tokenize(texts)
    tokenize = time.perf_counter() - t
    t = time.perf_counter()
    timed.encode_prepared(prepared)
    sync()
    total = time.perf_counter() - t
    phases = {k.removeprefix("seconds_"): v for k, v in timed.last_stats.to_dict().items() if k.startswith("seconds_")}
    out["time_split_bfloat16"] = {"tokenize_s": round(tokenize, 3),
                                  **{f"{k}_s": round(v, 3) for k, v in phases.items()},
                                  "encode_total_s": round(total, 3), "batches": timed.last_stats.batches,
                                  "padding_waste": round(timed.last_stats.padding_waste, 4),
                                  "note": "the device synchronized between phases (no overlap): slower than the "
                                          "contenders' runs above"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="splade-tiny")
    parser.add_argument("--docs", type=int, default=2000, help="documents for scale, backends and gpu (>= 2,000)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=None, help="tokens per window [the model's own]")
    parser.add_argument("--ray-block", type=int, default=128, help="lines per Ray task in the scale part")
    parser.add_argument("--threads", type=int, default=None, help="backends: threads of both encoders [all cores]")
    parser.add_argument("--collection", default="cranfield", help="precision: the collection with qrels")
    parser.add_argument("--precision-docs", type=int, default=0, help="precision: the first N documents (0: all)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--st-batch-size", type=int, default=128, help="gpu: sentence-transformers' batch size")
    parser.add_argument("--parts", default=None, help="comma-separated: scale,backends,precision,gpu "
                                                      "[cpu: the first three; cuda: gpu]")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    parts = (args.parts or ("gpu" if args.device == "cuda" else "scale,backends,precision")).split(",")
    rows = load_rows(args.docs)
    result: dict = {"benchmark": "ingest_scale", "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_at_start": load()},
                    "model": args.model, "docs": len(rows)}
    with tempfile.TemporaryDirectory(prefix="ingest-scale-") as tmp:
        for part in parts:
            started = load()
            if part == "scale":
                result["scale"] = part_scale(args, rows, Path(tmp))
            elif part == "backends":
                result["backends"] = part_backends(args, rows)
            elif part == "precision":
                result["precision"] = part_precision(args)
            elif part == "gpu":
                result["gpu"] = part_gpu(args, rows)
            else:
                sys.exit(f"unknown part {part!r}")
            result[part]["load_at_start"], result[part]["load_at_end"] = started, load()
    result["machine"]["load_at_end"] = load()
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
