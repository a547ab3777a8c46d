"""Local index benchmark: build time, bytes per posting, top-10 latency and throughput, against baselines.

Corpora: (a) npl (datasets/npl) encoded with the default model; (b) an N-document index (default
1,000,000) tiled from those vectors with small weight perturbations (+-5 %, float32). Contenders, run in the
same process on the same vectors and queries, alternating per query so that load from other processes hits
all of them alike:

- ``local-exact`` / ``local-lucene``: :class:`spladekit.local.index.LocalIndex` (numba kernels);
- ``local-exact-bp`` / ``local-lucene-bp``: the same, rows reordered by ``LocalIndex.reorder()`` (recursive graph
  bisection), so that block-max search applies (reorder time reported apart from the build time);
- ``scipy-csr``: doc-major CSR matrix times the dense query vector, then argpartition (exact);
- ``scipy-csc``: term-major CSC, slice the query's columns, multiply, argpartition (exact);
- ``seismic``: ``pyseismic-lsr`` (approximate; two query settings);
- ``bmp``: ``bmp`` block-max pruning over 8-bit integer impacts (its storage: weights scaled to 1..255); with
  ``--bmp-order bp`` also ``bmp-bp``: the documents handed to it in ``bp_order``, as BMP's own pipeline does.

recall@10 is measured against ``local-exact``. Encoded npl vectors are cached under
``$SPLADEKIT_CACHE/bench/``. Prints JSON to stdout and writes it to ``benchmarks/results/local_index.json``.

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/local_index.py [--docs 1000000] [--skip bmp]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spladekit import paths
from spladekit.local.index import LocalIndex
from spladekit.vectors import SparseBatch, SparseVector

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("SPLADEKIT_DATASETS", ROOT / "datasets"))
VOCAB = 30522
K = 10


# --- data ----------------------------------------------------------------------------------------------------


def _read_beir(path: Path) -> tuple[list[str], list[str]]:
    keys, texts = [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            keys.append(str(row["_id"]))
            texts.append(" ".join(p for p in (row.get("title") or "", row.get("text") or "") if p))
    return keys, texts


def npl_vectors(model: str) -> dict[str, np.ndarray]:
    """npl documents and queries encoded with ``model`` (cached as one .npz)."""
    cache = paths.cache_dir() / "bench" / f"npl-{model.replace('/', '_')}.npz"
    if cache.is_file():
        return dict(np.load(cache, allow_pickle=False))
    from spladekit.encoder.runtime import SpladeEncoder

    encoder = SpladeEncoder.load(model)
    doc_keys, doc_texts = _read_beir(DATASETS / "npl" / "corpus.jsonl")
    q_keys, q_texts = _read_beir(DATASETS / "npl" / "queries.jsonl")
    started = time.perf_counter()
    docs = SparseBatch.from_vectors(encoder.encode_documents(doc_texts))
    encode_s = time.perf_counter() - started
    queries = SparseBatch.from_vectors(encoder.encode_queries(q_texts))
    data = {
        "doc_offsets": docs.offsets, "doc_ids": docs.ids, "doc_weights": docs.weights,
        "doc_keys": np.array(doc_keys), "q_offsets": queries.offsets, "q_ids": queries.ids,
        "q_weights": queries.weights, "q_keys": np.array(q_keys),
        "model_sha256": np.array(str(encoder.info.get("weights_sha256"))), "encode_s": np.array(encode_s),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, **data)
    os.replace(tmp, cache)
    return data


def random_vectors(n_docs: int = 11429, n_queries: int = 93, seed: int = 1) -> dict[str, np.ndarray]:
    """Synthetic stand-in with a SPLADE-like shape (Zipf-like terms, ~78 per doc, ~22 per query): dev only."""
    rng = np.random.default_rng(seed)

    def batch(n: int, mean: int) -> SparseBatch:
        vectors = []
        for _ in range(n):
            ids = np.unique(np.minimum(rng.zipf(1.15, int(rng.integers(mean // 2, 3 * mean // 2))), VOCAB) - 1)
            vectors.append(SparseVector(ids, rng.gamma(1.5, 0.5, ids.size).astype(np.float32) + 0.01))
        return SparseBatch.from_vectors(vectors)

    d, q = batch(n_docs, 78), batch(n_queries, 22)
    return {"doc_offsets": d.offsets, "doc_ids": d.ids, "doc_weights": d.weights,
            "doc_keys": np.array([str(i) for i in range(n_docs)]), "q_offsets": q.offsets, "q_ids": q.ids,
            "q_weights": q.weights, "q_keys": np.array([str(i) for i in range(n_queries)]),
            "model_sha256": np.array("random"), "encode_s": np.array(0.0)}


def tile(docs: SparseBatch, keys: list[str], n_docs: int, seed: int = 0) -> tuple[SparseBatch, list[str]]:
    """``n_docs`` documents: copies of ``docs`` with each weight scaled by a factor in [0.95, 1.05]."""
    rng = np.random.default_rng(seed)
    copies = -(-n_docs // len(docs))
    lengths = np.tile(np.diff(docs.offsets), copies)[:n_docs]
    offsets = np.zeros(n_docs + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    nnz = int(offsets[-1])
    ids = np.tile(docs.ids, copies)[:nnz]
    weights = np.tile(docs.weights, copies)[:nnz]
    weights *= (1 + rng.uniform(-0.05, 0.05, nnz)).astype(np.float32)
    out_keys = [f"{k}#{c}" for c in range(copies) for k in keys][:n_docs]
    return SparseBatch(offsets, ids, weights), out_keys


def take(docs: SparseBatch, order: np.ndarray) -> SparseBatch:
    """The documents in the order ``order`` (old row by new row)."""
    lengths = np.diff(docs.offsets)[order]
    offsets = np.zeros(len(order) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    gather = np.repeat(docs.offsets[:-1][order] - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
    return SparseBatch(offsets, docs.ids[gather], docs.weights[gather])


# --- contenders ----------------------------------------------------------------------------------------------


class Local:
    def __init__(self, mode: str, docs: SparseBatch, keys: list[str], reorder: bool = False) -> None:
        self.name = f"local-{mode}" + ("-bp" if reorder else "")
        started = time.perf_counter()
        self.index = LocalIndex(mode=mode)
        self.index.add(keys, docs)
        self.index.merge()
        self.build_s = time.perf_counter() - started
        self.bytes = self.index.nbytes()
        self.postings = self.index.n_postings
        self.facts: dict = {}
        if reorder:
            started = time.perf_counter()
            self.index.reorder()
            reorder_s = time.perf_counter() - started
            started = time.perf_counter()
            block_bytes = self.index.block_max_nbytes()  # built here rather than by the first query
            self.facts = {"reorder_s": reorder_s, "block_lists_s": time.perf_counter() - started,
                          "block_shift": self.index.block_shift, "block_lists_bytes": block_bytes,
                          "block_lists_bytes_per_posting": block_bytes / max(self.postings, 1),
                          "block_max_used": self.index._use_block_max()}
        self.index.search(SparseVector.from_dict({1000: 1.0}))  # compile outside the timings

    def block_fill_share(self, queries: list[SparseVector]) -> float:
        """Share of the queries whose block fill lets them try block-max search (some may still give up)."""
        if not self.facts.get("block_max_used"):
            return 0.0
        from spladekit.local import kernels

        offsets, bm_offsets = self.index._main[0], self.index._block_lists()[0]
        need = kernels.BLOCK_FILL * (1 << self.index.block_shift)
        return float(np.mean([kernels.block_max.block_fill(q.ids, offsets, bm_offsets) >= need for q in queries]))

    def search(self, q: SparseVector) -> tuple[list[str], np.ndarray]:
        return self.index.search(q, k=K)

    def batch(self, queries: list[SparseVector], threads: int) -> list[list[str]]:
        return [r[0] for r in self.index.search_many(queries, k=K, threads=threads)]


def warm_up(docs: SparseBatch, keys: list[str]) -> None:
    """Compile (or load from numba's cache) the build, reorder and search kernels outside the timings."""
    few = SparseBatch.from_vectors(list(docs[:64]))
    for mode in ("exact", "lucene"):
        index = LocalIndex(mode=mode)
        index.add(keys[:64], few)
        index.reorder()
        index.block_max = True
        index.search(few[0])


def _top(scores: np.ndarray, keys: np.ndarray) -> list[str]:
    top = np.argpartition(-scores, K)[:K] if scores.shape[0] > K else np.arange(scores.shape[0])
    top = top[np.lexsort((top, -scores[top]))]
    return keys[top[scores[top] > 0]].tolist()


class ScipyCSR:
    name = "scipy-csr"

    def __init__(self, docs: SparseBatch, keys: np.ndarray) -> None:
        import scipy.sparse as sp

        started = time.perf_counter()
        self.m = sp.csr_matrix((docs.weights, docs.ids, docs.offsets), shape=(len(docs), VOCAB))
        self.build_s = time.perf_counter() - started
        self.bytes = self.m.data.nbytes + self.m.indices.nbytes + self.m.indptr.nbytes
        self.keys = keys
        self.dense = np.zeros(VOCAB, np.float32)

    def search(self, q: SparseVector) -> list[str]:
        self.dense[q.ids] = q.weights
        scores = self.m @ self.dense
        self.dense[q.ids] = 0
        return _top(scores, self.keys)


class ScipyCSC:
    name = "scipy-csc"

    def __init__(self, docs: SparseBatch, keys: np.ndarray) -> None:
        import scipy.sparse as sp

        started = time.perf_counter()
        self.m = sp.csr_matrix((docs.weights, docs.ids, docs.offsets), shape=(len(docs), VOCAB)).tocsc()
        self.build_s = time.perf_counter() - started
        self.bytes = self.m.data.nbytes + self.m.indices.nbytes + self.m.indptr.nbytes
        self.keys = keys

    def search(self, q: SparseVector) -> list[str]:
        scores = self.m[:, q.ids] @ q.weights
        return _top(np.asarray(scores).ravel(), self.keys)


class Seismic:
    def __init__(self, docs: SparseBatch, keys: list[str], n_postings: int, settings: dict) -> None:
        import seismic

        self.settings = settings
        self.name = "seismic"
        started = time.perf_counter()
        ds = seismic.SeismicDataset(dim=VOCAB)
        ds.add_documents_by_id(keys, docs.ids.astype(np.int64), docs.weights, docs.offsets)
        self.index = seismic.SeismicIndex.build_from_dataset(ds, n_postings=n_postings, centroid_fraction=0.1,
                                                              summary_energy=0.4, doc_cut=15, num_threads=2)
        del ds
        self.build_s = time.perf_counter() - started
        self.n_postings = n_postings
        self.tokens = np.array([str(i) for i in range(VOCAB)], dtype=seismic.get_seismic_string())

    def search(self, q: SparseVector, setting: str) -> list[str]:
        s = self.settings[setting]
        hits = self.index.search("q", self.tokens[q.ids], q.weights, K, s["query_cut"], s["heap_factor"])
        return [h[2] for h in hits]

    def batch(self, queries: list[SparseVector], setting: str, threads: int) -> list[list[str]]:
        s = self.settings[setting]
        import seismic

        res = self.index.batch_search(np.array([str(i) for i in range(len(queries))],
                                               dtype=seismic.get_seismic_string()),
                                      [self.tokens[q.ids] for q in queries], [q.weights for q in queries], K,
                                      s["query_cut"], s["heap_factor"], num_threads=threads)
        return [[h[2] for h in r] for r in res]


class Bmp:
    """BMP stores 8-bit impacts (larger integers wrap): doc weights are scaled so the largest is 255, and each
    query so that its largest weight is 255 (rankings do not change with a query's scale)."""

    def __init__(self, docs: SparseBatch, keys: list[str], directory: Path, bsize: int, settings: dict) -> None:
        import bmp

        self.settings = settings
        self.name = "bmp"
        path = str(directory / "bmp.index")
        started = time.perf_counter()
        indexer = bmp.Indexer(path, bsize, False)
        vocab = [str(i) for i in range(VOCAB)]
        self.scale = 255.0 / float(docs.weights.max())
        impacts = np.clip(np.rint(docs.weights * self.scale), 1, 255).astype(np.int64)
        for d in range(len(docs)):
            lo, hi = int(docs.offsets[d]), int(docs.offsets[d + 1])
            indexer.add_document(keys[d], {vocab[t]: v for t, v in zip(docs.ids[lo:hi].tolist(),
                                                                       impacts[lo:hi].tolist(), strict=True)})
        indexer.finish()
        self.searcher = bmp.Searcher(path)
        self.build_s = time.perf_counter() - started
        self.bytes = os.path.getsize(path)
        self.vocab = vocab

    def search(self, q: SparseVector, setting: str) -> list[str]:
        s = self.settings[setting]
        scale = 255.0 / float(q.weights.max())
        query = {self.vocab[t]: min(max(int(round(w * scale)), 1), 255)
                 for t, w in zip(q.ids.tolist(), q.weights.tolist(), strict=True)}
        return list(self.searcher.search(query, K, s["alpha"], s["beta"])[0])


# --- measuring -----------------------------------------------------------------------------------------------


def recall(got: list[list[str]], want: list[list[str]]) -> float:
    values = [len(set(g) & set(w)) / len(w) for g, w in zip(got, want, strict=True) if w]
    return float(np.mean(values)) if values else 1.0


def latency(fns: dict[str, callable], queries: list[SparseVector], rounds: int) -> dict[str, dict]:
    """Per-query wall time of each contender, interleaved query by query; best of ``rounds`` per query.

    Also the CPU time of the calling thread (``cpu_p50_ms``): on a machine shared with other jobs, wall time
    includes waiting for a core, CPU time does not (every contender here runs on this one thread).
    """
    times = {name: np.full(len(queries), np.inf) for name in fns}
    cpu = {name: np.full(len(queries), np.inf) for name in fns}
    results = {name: [None] * len(queries) for name in fns}
    for fn in fns.values():  # warm-up
        for q in queries[:3]:
            fn(q)
    for _ in range(rounds):
        for i, q in enumerate(queries):
            for name, fn in fns.items():
                started, started_cpu = time.perf_counter(), time.thread_time()
                out = fn(q)
                times[name][i] = min(times[name][i], time.perf_counter() - started)
                cpu[name][i] = min(cpu[name][i], time.thread_time() - started_cpu)
                results[name][i] = out
    scores = {}
    for name, outs in results.items():
        if outs and isinstance(outs[0], tuple):  # ours: (ids, float32 scores)
            scores[name] = [o[1] for o in outs]
            results[name] = [o[0] for o in outs]
    return {name: {"p50_ms": float(np.percentile(t, 50) * 1e3), "p95_ms": float(np.percentile(t, 95) * 1e3),
                   "mean_ms": float(t.mean() * 1e3), "cpu_p50_ms": float(np.percentile(cpu[name], 50) * 1e3),
                   "cpu_p95_ms": float(np.percentile(cpu[name], 95) * 1e3), "results": results[name],
                   **({"scores": scores[name]} if name in scores else {})}
            for name, t in times.items()}


def summary(timing: dict) -> dict:
    """A contender's timings without the per-query results."""
    return {k: v for k, v in timing.items() if k not in ("results", "scores")}


def throughput(fn, queries: list[SparseVector], repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        started = time.perf_counter()
        fn(queries)
        best = min(best, time.perf_counter() - started)
    return len(queries) / best


def run_corpus(label: str, docs: SparseBatch, keys: list[str], queries: list[SparseVector], args) -> dict:
    log(f"[{label}] {len(docs):,} docs, {int(docs.offsets[-1]):,} postings")
    out: dict = {"docs": len(docs), "postings": int(docs.offsets[-1]),
                 "terms_per_doc": float(np.diff(docs.offsets).mean()),
                 "terms_per_query": float(np.mean([len(q) for q in queries])), "contenders": {}}
    c = out["contenders"]
    big = len(docs) > 100_000
    rounds = 1 if big else 3

    warm_up(docs, keys)
    exact = Local("exact", docs, keys)
    lucene = Local("lucene", docs, keys)
    exact_bp = Local("exact", docs, keys, reorder=True)
    lucene_bp = Local("lucene", docs, keys, reorder=True)
    ours_all = (exact, lucene, exact_bp, lucene_bp)
    for ours in ours_all:
        c[ours.name] = {"build_s": ours.build_s, "bytes": ours.bytes,
                        "bytes_per_posting": ours.bytes / ours.postings,
                        "offsets_bytes": int(ours.index._main[0].nbytes), **ours.facts}
        if ours.facts:
            c[ours.name]["block_fill_share"] = ours.block_fill_share(queries)
        log(f"  {ours.name}: build {ours.build_s:.1f}s, {ours.bytes / ours.postings:.2f} B/posting, {ours.facts}")
    karr = np.array(keys)
    csr, csc = ScipyCSR(docs, karr), ScipyCSC(docs, karr)
    for base in (csr, csc):
        c[base.name] = {"build_s": base.build_s, "bytes_per_posting": base.bytes / int(docs.offsets[-1])}
    fns = {o.name: o.search for o in ours_all}
    fns.update({csr.name: csr.search, csc.name: csc.search})
    lat = latency(fns, queries, rounds)
    truth = lat[exact.name]["results"]
    for name, r in lat.items():
        c[name].update(summary(r), recall_at_10=recall(r["results"], truth))
        log(f"  {name}: p50 {r['p50_ms']:.2f} ms, p95 {r['p95_ms']:.2f} ms")
    for bp, plain in ((exact_bp, exact), (lucene_bp, lucene)):
        # Reordering changes only the order of tied hits: the score lists must be bit-identical.
        c[bp.name]["same_scores_as_" + plain.name] = all(
            a.tobytes() == b.tobytes() for a, b in zip(lat[bp.name]["scores"], lat[plain.name]["scores"], strict=True))
    for ours in ours_all:
        for threads in (1, 2):
            c[ours.name][f"batch_qps_{threads}t"] = throughput(lambda qs, o=ours, t=threads: o.batch(qs, t),
                                                               queries, 3)
    c[csr.name]["batch_qps_1t"] = len(queries) / (c[csr.name]["mean_ms"] * len(queries) / 1e3)
    c[csc.name]["batch_qps_1t"] = len(queries) / (c[csc.name]["mean_ms"] * len(queries) / 1e3)
    del csr, csc, lucene, exact_bp, lucene_bp, ours_all
    gc.collect()

    if "seismic" not in args.skip:
        try:
            settings = {"fast": {"query_cut": 10, "heap_factor": 0.7}, "accurate": {"query_cut": 30,
                                                                                    "heap_factor": 0.95}}
            n_postings = args.seismic_postings if big else 1000
            s = Seismic(docs, keys, n_postings, settings)
            log(f"  seismic: build {s.build_s:.1f}s (n_postings {n_postings})")
            fns = {exact.name: exact.search}
            fns.update({f"seismic-{n}": (lambda q, n=n: s.search(q, n)) for n in settings})
            lat = latency(fns, queries, rounds)
            for n in settings:
                r = lat[f"seismic-{n}"]
                c[f"seismic-{n}"] = {"build_s": s.build_s, "n_postings": n_postings, **settings[n],
                                     **summary(r), "recall_at_10": recall(r["results"], truth)}
                for threads in (1, 2):
                    c[f"seismic-{n}"][f"batch_qps_{threads}t"] = throughput(
                        lambda qs, n=n, t=threads: s.batch(qs, n, t), queries, 3)
                log(f"  seismic-{n}: p50 {r['p50_ms']:.2f} ms, recall {c[f'seismic-{n}']['recall_at_10']:.3f}")
            c[exact.name + "-during-seismic"] = summary(lat[exact.name])
            del s
        except Exception as exc:  # noqa: BLE001 - record why a third-party contender could not run
            c["seismic"] = {"error": f"{type(exc).__name__}: {exc}"}
        gc.collect()

    if "bmp" not in args.skip:
        for doc_order in args.bmp_order:
            prefix = "bmp" if doc_order == "natural" else f"bmp-{doc_order}"
            try:
                bp_s = None
                bdocs, bkeys = docs, keys
                if doc_order == "bp":
                    # BMP's own pipeline reorders documents by BP before indexing; the same order as ours.
                    from spladekit.local.reorder import bp_order

                    started = time.perf_counter()
                    order = bp_order(docs.offsets, docs.ids, VOCAB)
                    bp_s = time.perf_counter() - started
                    bdocs, bkeys = take(docs, order), [keys[i] for i in order]
                settings = {"exact": {"alpha": 1.0, "beta": 1.0}, "fast": {"alpha": 0.8, "beta": 0.8}}
                with tempfile.TemporaryDirectory(dir=paths.cache_dir()) as tmp:
                    b = Bmp(bdocs, bkeys, Path(tmp), 32 if not big else 64, settings)
                    log(f"  {prefix}: build {b.build_s:.1f}s (bp {bp_s})")
                    fns = {exact.name: exact.search}
                    fns.update({f"{prefix}-{n}": (lambda q, n=n, b=b: b.search(q, n)) for n in settings})
                    lat = latency(fns, queries, rounds)
                    for n in settings:
                        r = lat[f"{prefix}-{n}"]
                        c[f"{prefix}-{n}"] = {"build_s": b.build_s, "doc_order": doc_order, "bp_order_s": bp_s,
                                              "bytes_on_disk": b.bytes, **settings[n], **summary(r),
                                              "recall_at_10": recall(r["results"], truth)}
                        log(f"  {prefix}-{n}: p50 {r['p50_ms']:.2f} ms, "
                            f"recall {c[f'{prefix}-{n}']['recall_at_10']:.3f}")
                    c[f"{exact.name}-during-{prefix}"] = summary(lat[exact.name])
                    del b
            except Exception as exc:  # noqa: BLE001
                c[prefix] = {"error": f"{type(exc).__name__}: {exc}"}
            gc.collect()
    return out


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="splade-tiny")
    parser.add_argument("--docs", type=int, default=1_000_000, help="size of the tiled index (0: npl only)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["seismic", "bmp", "npl"])
    parser.add_argument("--bmp-order", nargs="+", default=["natural"], choices=["natural", "bp"],
                        help="document order(s) BMP indexes: as given, and/or reordered by bp_order")
    parser.add_argument("--seismic-postings", type=int, default=3500)
    parser.add_argument("--encode-only", action="store_true")
    parser.add_argument("--random", action="store_true", help="synthetic vectors (development only)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "local_index.json"))
    args = parser.parse_args()

    data = random_vectors() if args.random else npl_vectors(args.model)
    if args.encode_only:
        return
    docs = SparseBatch(data["doc_offsets"], data["doc_ids"], data["doc_weights"])
    keys = data["doc_keys"].tolist()
    queries = list(SparseBatch(data["q_offsets"], data["q_ids"], data["q_weights"]))
    import numba

    report = {
        "benchmark": "local_index", "command": " ".join(["benchmarks/local_index.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "numba": numba.__version__, "numba_threads": numba.config.NUMBA_NUM_THREADS,
                    "loadavg_start": os.getloadavg()},
        "date": time.strftime("%Y-%m-%d"), "model": "random" if args.random else args.model,
        "model_sha256": str(data["model_sha256"]),
        "npl_encode_s": float(data["encode_s"]), "k": K, "queries": len(queries),
    }
    if "npl" not in args.skip:
        report["npl"] = run_corpus("npl", docs, keys, queries, args)
    if args.docs:
        big, big_keys = tile(docs, keys, args.docs)
        report["tiled"] = run_corpus(f"tiled-{args.docs}", big, big_keys, queries, args)
    report["machine"]["loadavg_end"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
