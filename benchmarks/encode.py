"""Encoder throughput and query latency: spladekit ONNX vs sentence-transformers vs plain transformers+torch.

Prints one JSON object to stdout (and writes it to ``--out`` when given). Same texts, same process, same
machine; the contenders alternate within every round and medians are reported:

- ``spladekit``: :class:`spladekit.encoder.runtime.SpladeEncoder` (onnxruntime, pooling fused in the graph);
- ``sentence_transformers``: ``SparseEncoder`` built on the same weights (``MLMTransformer`` + ``SpladePooling``);
- ``torch``: plain transformers masked LM + SPLADE max pooling (:class:`TorchSpladeEncoder`, the reference).

Single-query latency: each contender runs the queries one at a time in a block of its own, the contenders
alternating block by block over the rounds (``query_latency``, and its p50 per query collection); the
query-by-query interleaved figure is kept as ``query_latency_interleaved``. The queries are drawn round-robin
from cranfield, npl, dbpedia-entity-sub5k and msmarco-trecdl-sub5k (the results up to
``encode-2000-query-graph.json`` used cranfield's only, the longest of the four at 23 tokens on average).

Also: the machine's measured FP32 GEMM peak (torch and numpy matmul, best of several), FLOPs per document
from the model's shapes and the real token counts, and the fraction of the peak each contender reaches.

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/encode.py --docs 2000 --rounds 3 \
        --out benchmarks/results/encode.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def datasets_dir() -> Path:
    env = os.environ.get("SPLADEKIT_DATASETS")
    return Path(env) if env else REPO / "datasets"


QUERY_SETS = ("cranfield", "npl", "dbpedia-entity-sub5k", "msmarco-trecdl-sub5k")


def load_texts(n_docs: int, n_queries: int,
               query_sets: tuple[str, ...] = QUERY_SETS) -> tuple[list[str], list[tuple[str, str]]]:
    """``n_docs`` documents (cranfield, then dbpedia-entity-sub5k) and ``n_queries`` (collection, query) pairs
    drawn round-robin from ``query_sets``' queries in file order (a collection that runs out drops out):
    cranfield's are long (23 tokens on average), the three others' 9-14."""
    docs: list[str] = []
    for name in ("cranfield", "dbpedia-entity-sub5k", "npl"):
        with open(datasets_dir() / name / "corpus.jsonl", encoding="utf-8") as f:
            for line in islice(f, n_docs - len(docs)):
                row = json.loads(line)
                docs.append(f"{row.get('title', '')} {row['text']}".strip())
        if len(docs) >= n_docs:
            break
    pools = {}
    for name in query_sets:
        with open(datasets_dir() / name / "queries.jsonl", encoding="utf-8") as f:
            pools[name] = [json.loads(line)["text"] for line in f]
    queries: list[tuple[str, str]] = []
    depth = 0
    while len(queries) < n_queries and any(depth < len(p) for p in pools.values()):
        for name, pool in pools.items():
            if depth < len(pool) and len(queries) < n_queries:
                queries.append((name, pool[depth]))
        depth += 1
    return docs, queries


def gemm_peak(threads: int) -> dict[str, float]:
    """Best-of-N FP32 GFLOP/s of a square 2048 matmul (torch, numpy) and of the vocabulary projection shape."""
    import torch

    torch.set_num_threads(threads)
    out: dict[str, float] = {}
    rng = np.random.default_rng(0)

    def best(fn, flops: float, reps: int = 5) -> float:
        fn()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return flops / min(times) / 1e9

    n = 2048
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    out["torch_matmul_2048"] = best(lambda: ta @ tb, 2 * n**3)
    out["numpy_matmul_2048"] = best(lambda: a @ b, 2 * n**3)
    h = torch.randn(4096, 128)
    w = torch.randn(128, 30522)
    out["torch_vocab_projection_4096x128x30522"] = best(lambda: h @ w, 2 * 4096 * 128 * 30522, reps=3)
    out["peak"] = max(out.values())
    return {k: round(v, 1) for k, v in out.items()}


def flops_per_token(info: dict, seq: np.ndarray) -> np.ndarray:
    """Forward FLOPs of each text from the model's shapes: encoder layers, attention, MLM head, projection."""
    h, layers, inter, vocab = info["hidden_size"], info["num_layers"], info["intermediate_size"], info["vocab_size"]
    per_token = layers * (8 * h * h + 4 * h * inter) + 2 * h * h + 2 * h * vocab
    attention = layers * 4 * h * seq.astype(np.float64) ** 2  # QK^T and AV, per text
    return per_token * seq + attention


def percentiles(ms: list[float]) -> dict[str, float]:
    arr = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(arr, 50)), 3), "p95_ms": round(float(np.percentile(arr, 95)), 3),
            "mean_ms": round(float(arr.mean()), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="splade-tiny")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=160, help="queries, round-robin over --query-sets")
    parser.add_argument("--query-sets", default=",".join(QUERY_SETS),
                        help="collections the queries come from (cranfield alone: the earlier results' set)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for every contender (default: all)")
    parser.add_argument("--torch-device", default="cpu", help="device of the torch contenders (cpu or cuda)")
    parser.add_argument("--contenders", default="spladekit,sentence_transformers,torch")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from spladekit import models
    from spladekit.encoder import store
    from spladekit.encoder.pooling import TorchSpladeEncoder
    from spladekit.encoder.runtime import SpladeEncoder, default_threads

    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    docs, labelled = load_texts(args.docs, args.queries, tuple(args.query_sets.split(",")))
    queries = [q for _, q in labelled]
    model_dir = models.resolve_model(args.model)
    onnx_dir = store.onnx_dir(args.model)
    wanted = args.contenders.split(",")

    encoder = SpladeEncoder.load(onnx_dir, threads=threads, batch_size=args.batch_size)
    if encoder.max_length != args.max_length:
        sys.exit(f"{onnx_dir} was exported with max_length {encoder.max_length}, not {args.max_length}")
    reference = TorchSpladeEncoder(model_dir, max_length=args.max_length, device=args.torch_device)

    contenders = {}
    if "spladekit" in wanted:
        contenders["spladekit"] = (lambda texts: encoder.encode_documents(texts),
                                   lambda q: encoder.encode_queries([q]))
    if "sentence_transformers" in wanted:
        from sentence_transformers import SparseEncoder
        from sentence_transformers.sparse_encoder.modules import MLMTransformer, SpladePooling

        st = SparseEncoder(modules=[MLMTransformer(str(model_dir), max_seq_length=args.max_length),
                                    SpladePooling(pooling_strategy="max")], device=args.torch_device)
        contenders["sentence_transformers"] = (
            lambda texts: st.encode_document(texts, batch_size=args.batch_size, show_progress_bar=False),
            lambda q: st.encode_query([q], show_progress_bar=False),
        )
    if "torch" in wanted:
        contenders["torch"] = (lambda texts: reference.encode(texts, batch_size=args.batch_size),
                               lambda q: reference.encode([q]))

    sync = torch.cuda.synchronize if args.torch_device.startswith("cuda") else (lambda: None)
    names = list(contenders)
    for name in names:  # warm-up: first-call allocations, lazy init
        contenders[name][0](docs[: args.batch_size * 2])
        sync()
    times: dict[str, list[float]] = {n: [] for n in names}
    outputs: dict[str, object] = {}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            t = time.perf_counter()
            outputs[name] = contenders[name][0](docs)
            sync()
            times[name].append(time.perf_counter() - t)
            print(f"round {r} {name}: {len(docs) / times[name][-1]:.1f} docs/s", file=sys.stderr, flush=True)
    stats = encoder.last_stats if "spladekit" in names else None
    if stats is None:
        encoder.encode_documents(docs)
        stats = encoder.last_stats

    def one_query(name: str, q: str) -> float:
        t = time.perf_counter()
        contenders[name][1](q)
        sync()
        return (time.perf_counter() - t) * 1e3

    # Single-query latency, two ways. "blocks" (the headline): each contender runs all the queries in a row,
    # the contenders alternating block by block over the rounds (first one rotating). "interleaved": the
    # contenders alternate query by query; each then also pays for the others' thread pools, which keep
    # spinning for a while after a call (torch's OpenMP workers, onnxruntime's intra-op pool) and take the
    # cores the next contender wants, so it measures a mixed workload rather than one encoder's latency.
    for q in queries[:10]:
        for name in names:
            contenders[name][1](q)
    latencies: dict[str, list[float]] = {n: [] for n in names}  # in `queries` order, round after round
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            for q in queries[:10]:  # warm this contender's threads and caches after the previous one
                contenders[name][1](q)
            latencies[name] += [one_query(name, q) for q in queries]
    interleaved: dict[str, list[float]] = {n: [] for n in names}
    for q in queries:
        for name in names:
            interleaved[name].append(one_query(name, q))

    # Token counts after truncation, as the model sees them.
    tok = encoder._tokenizer
    seq = np.array([len(e.ids) for e in tok.encode_batch(docs)], dtype=np.int64)
    query_tokens = {name: [len(tok.encode(q).ids) for c, q in labelled if c == name] for name in QUERY_SETS}
    flops_doc = float(flops_per_token(encoder.info, seq).mean())
    peak = gemm_peak(threads)

    result: dict[str, object] = {
        "benchmark": "encode",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "threads": threads, "torch_device": args.torch_device,
                    "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
        "model": {"name": args.model, "weights_sha256": encoder.info["weights_sha256"],
                  "vocab_blocks": encoder.info.get("vocab_blocks"), "max_length": encoder.max_length},
        "docs": len(docs), "queries": len(queries), "rounds": args.rounds, "batch_size": args.batch_size,
        "query_sets": {name: {"queries": len(t), "tokens_mean": round(float(np.mean(t)), 1)}
                       for name, t in query_tokens.items() if t},
        "tokens_per_doc_mean": round(float(seq.mean()), 1), "docs_truncated": int(stats.truncated),
        "padding_waste_spladekit": round(stats.padding_waste, 4),
        "gflop_per_doc": round(flops_doc / 1e9, 4),
        "gemm_gflops": peak,
        "contenders": {},
    }
    for name in names:
        med = statistics.median(times[name])
        dps = len(docs) / med
        result["contenders"][name] = {
            "docs_per_s": round(dps, 1), "seconds": [round(t, 3) for t in times[name]],
            "gflops": round(dps * flops_doc / 1e9, 1),
            "fraction_of_peak": round(dps * flops_doc / 1e9 / peak["peak"], 3),
            "query_latency": percentiles(latencies[name]),
            "query_latency_p50_by_set": {
                c: percentiles([ms for i, ms in enumerate(latencies[name]) if labelled[i % len(labelled)][0] == c])
                ["p50_ms"] for c in QUERY_SETS if query_tokens[c]},
            "query_latency_interleaved": percentiles(interleaved[name]),
        }
    if "sentence_transformers" in names and "spladekit" in names:
        c = result["contenders"]
        result["speedup_vs_sentence_transformers"] = round(
            c["spladekit"]["docs_per_s"] / c["sentence_transformers"]["docs_per_s"], 2)
    if "torch" in names and "spladekit" in names:
        c = result["contenders"]
        result["speedup_vs_torch"] = round(c["spladekit"]["docs_per_s"] / c["torch"]["docs_per_s"], 2)
        dense = outputs["torch"]
        worst, same = 0.0, 0
        for vec, row in zip(outputs["spladekit"], dense, strict=True):
            want = np.flatnonzero(row > 0)
            same += int(np.array_equal(vec.ids, want))
            if vec.ids.size == want.size:
                worst = max(worst, float(np.abs(vec.weights - row[want]).max(initial=0.0)))
        result["parity_vs_torch"] = {"identical_term_sets": same, "of": len(docs), "max_abs_diff": worst}

    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
