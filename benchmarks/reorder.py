"""BP reordering benchmark: time of :func:`spladekit.local.reorder.bp_order` and the order's quality.

Corpora: the npl documents encoded with the default model (cached by ``benchmarks/local_index.py``) and an
N-document tiling of them (copies; :func:`local_index.tile`). Quality: the average log2 d-gap of the inverted
index (BP's objective) before and after; on the tiling also the number of distinct original documents in a
block of 64 rows (before: 64; ideal: 1-2, as each document has ~N/11,429 copies). Prints JSON.

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/reorder.py [--docs 1000000] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_index import VOCAB, npl_vectors, tile  # noqa: E402
from spladekit.local.reorder import bp_order, log_gap_cost  # noqa: E402
from spladekit.vectors import SparseBatch  # noqa: E402

BLOCK = 64


def originals_per_block(original: np.ndarray) -> float:
    """Average number of distinct original documents in each block of ``BLOCK`` consecutive rows."""
    n = original.shape[0] // BLOCK * BLOCK
    blocks = np.sort(original[:n].reshape(-1, BLOCK), axis=1)
    return float(np.mean(1 + np.count_nonzero(np.diff(blocks, axis=1), axis=1)))


def measure(name: str, offsets: np.ndarray, ids: np.ndarray, threads: list[int], original: np.ndarray | None,
            **kwargs: int) -> dict:
    row: dict = {"corpus": name, "docs": int(offsets.shape[0] - 1), "postings": int(ids.shape[0]), **kwargs}
    row["log2_gap_before"] = round(log_gap_cost(offsets, ids, VOCAB), 4)
    if original is not None:
        row["originals_per_block_before"] = originals_per_block(original)
    order = None
    for t in threads:
        started = time.perf_counter()
        got = bp_order(offsets, ids, VOCAB, threads=t, **kwargs)
        row[f"seconds_{t}_threads"] = round(time.perf_counter() - started, 2)
        if order is not None and not np.array_equal(order, got):
            raise AssertionError(f"{name}: the order with {t} threads differs")
        order = got
        print(json.dumps(row), file=sys.stderr, flush=True)
    row["log2_gap_after"] = round(log_gap_cost(offsets, ids, VOCAB, order), 4)
    if original is not None:
        row["originals_per_block_after"] = originals_per_block(original[order])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000, help="size of the tiled corpus (0: skip it)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--leaf-size", type=int, default=16)
    parser.add_argument("--skip-npl", action="store_true")
    args = parser.parse_args()
    kwargs = {"iterations": args.iterations, "leaf_size": args.leaf_size}
    data = npl_vectors("splade-tiny")
    docs = SparseBatch(data["doc_offsets"], data["doc_ids"], data["doc_weights"])
    started = time.perf_counter()
    for t in args.threads:  # compile (or load) every variant first
        bp_order(docs.offsets[:65], docs.ids[:docs.offsets[64]], VOCAB, leaf_size=4, threads=t)
    rows = [{"warmup_s": round(time.perf_counter() - started, 2), "cpus": os.cpu_count(),
             "machine": platform.processor() or platform.machine()}]
    if not args.skip_npl:
        rows.append(measure("npl", docs.offsets, docs.ids, args.threads, None, **kwargs))
    if args.docs:
        tiled, _ = tile(docs, [str(i) for i in range(len(docs))], args.docs)
        original = np.arange(args.docs) % len(docs)
        rows.append(measure(f"npl-tiled-{args.docs}", tiled.offsets, tiled.ids, args.threads, original, **kwargs))
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
