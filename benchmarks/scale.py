"""Search at scale on real text: the large corpus of ``benchmarks/corpus_large.py`` (278k distinct real documents).

The vectors are encoded once, by a real ``spladekit ingest`` run into a local index in ``exact`` mode (the
ingest time of the corpus is that run's report), and reused by every part:

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/corpus_large.py
    cd $SPLADEKIT_CACHE/bench/corpus-large && nice -n 10 spladekit ingest corpus.jsonl --local vectors-exact \\
        --local-mode exact --report ingest-report.json

Parts:

- ``local``: the local index at 10k / 100k / all documents (random subsets, seed 0), built with its BM25 text
  (``lucene`` mode, the product's default), saved; then, per size, a fresh process loads it (memory-mapped, as
  ``spladekit search`` does) and runs every query through :class:`spladekit.search.Searcher` with the vectors
  already encoded: exact SPLADE, two-phase (10x100), BM25, hybrid (RRF): p50/p99 latency, RSS after loading and
  at the end, bytes on disk (vectors, text);
- ``versus``: on all documents, the same vectors in our exact search (``exact`` mode, natural and BP order), our
  approximate modes (``LocalIndex.alpha`` below 1: approximate block-max; two-phase; pruned queries), PISA
  (``pyterrier-pisa``: the vectors as integer impacts, x100 as its ``toks_indexer`` does, block-max WAND and
  MaxScore) and Seismic (``pyseismic-lsr``, several settings): single
  thread p50/p99 (interleaved query by query), batch throughput on 1 thread and all cores, recall@10 against
  exact float32 scores (ties at the 10th score count as found);
- ``engines``: OpenSearch and Elasticsearch (URLs given), the same documents bulk-loaded (vectors and text),
  force-merged to one segment: exact SPLADE, two-phase (10x100 and m0.7x300), BM25 and hybrid (the two requests
  of ``spladekit search --hybrid`` and the client-side fusion): p50/p99, recall@10 of two-phase vs exact,
  throughput at 1/4/16 concurrent clients, segment counts;
- ``plot``: latency against corpus size per mode (docs/img/scale-latency.png) from the ``local`` results.

Queries: ``queries.jsonl`` of the corpus (the judged collections' 401 queries and 1,200 known-item queries),
encoded once with the default model (cached beside the corpus); ``--queries N`` takes the first N of a
seeded shuffle. Prints JSON and writes ``benchmarks/results/scale-<part>.json``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from spladekit.local.index import LocalIndex
from spladekit.query import TwoPhase
from spladekit.vectors import SparseBatch, SparseVector

ROOT = Path(__file__).resolve().parents[1]
K = 10
VOCAB = 30522
PLANS = {"two-phase-10x100": TwoPhase(), "two-phase-m0.7x300": TwoPhase(top_k=None, mass=0.7, window=300)}


def corpus_dir() -> Path:
    return Path(os.environ.get("SPLADEKIT_CACHE", ROOT / ".cache")) / "bench" / "corpus-large"


#: The encoded corpus (a local index in exact mode); ``--vectors`` names another (a copy taken at a checkpoint).
VECTORS: dict = {"dir": None, "limit": None}


def vectors_dir() -> Path:
    return Path(VECTORS["dir"]) if VECTORS["dir"] else corpus_dir() / "vectors-exact"


def log(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_bench", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "load_avg": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                     text=True).stdout.strip()}


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def folder_bytes(path: Path, prefix: str = "") -> int:
    return sum(p.stat().st_size for p in path.rglob(f"{prefix}*") if p.is_file())


# --- data ----------------------------------------------------------------------------------------------------


def load_documents(limit: int | None = None) -> tuple[list[str], SparseBatch, dict[str, str]]:
    limit = limit or VECTORS.get("limit")
    """(ids, exact float32 vectors, id -> text) of the encoded corpus, in the vectors index's row order."""
    index = LocalIndex.load(vectors_dir(), mmap=True)
    ids, batch = index.vectors()
    texts: dict[str, str] = {}
    with open(corpus_dir() / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            texts[row["_id"]] = row["text"]
    if limit:
        ids, batch = ids[:limit], SparseBatch.from_vectors(list(batch[:limit]))
    return ids, batch, texts


def load_queries(n: int | None) -> tuple[list[str], list[str], SparseBatch]:
    """(query ids, texts, vectors): encoded once with the default model and cached beside the corpus."""
    rows = [json.loads(line) for line in open(corpus_dir() / "queries.jsonl", encoding="utf-8")]
    cache = corpus_dir() / "queries-vectors.npz"
    if cache.exists():
        data = np.load(cache)
        vecs = SparseBatch(data["offsets"], data["ids"], data["weights"])
    else:
        from spladekit.encoder.runtime import SpladeEncoder

        enc = SpladeEncoder.load()
        vecs = SparseBatch.from_vectors(enc.encode_queries([r["text"] for r in rows]))
        np.savez(cache, offsets=vecs.offsets, ids=vecs.ids, weights=vecs.weights)
    order = np.random.default_rng(0).permutation(len(rows))[: n or len(rows)]
    return ([rows[i]["_id"] for i in order], [rows[i]["text"] for i in order],
            SparseBatch.from_vectors([vecs[int(i)] for i in order]))


def subset(n_total: int, n: int) -> np.ndarray:
    """Rows of a random subset of ``n`` documents (seed 0), in row order."""
    if n <= 0 or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(0).permutation(n_total)[:n])


def build_local(directory: Path, ids: list[str], batch: SparseBatch, texts: dict[str, str], rows: np.ndarray,
                mode: str, chunk: int = 50_000) -> dict:
    started = time.perf_counter()
    index = LocalIndex(mode=mode, meta={"model": "splade-tiny", "model_sha256": load_sha()})
    bm25_s = 0.0
    for lo in range(0, len(rows), chunk):
        part = rows[lo:lo + chunk]
        docs = [batch[int(r)] for r in part]
        keys = [ids[int(r)] for r in part]
        t0 = time.perf_counter()
        index.add(keys, docs, [texts.get(k, "") for k in keys])
        bm25_s += time.perf_counter() - t0
    index.merge()
    build_s = time.perf_counter() - started
    shutil.rmtree(directory, ignore_errors=True)
    index.save(directory)
    return {"docs": len(rows), "build_s": build_s, "add_s_incl_text": bm25_s, "postings": index.n_postings,
            "vector_bytes": index.nbytes(), "text_bytes": index.text_nbytes(), "folder_bytes": folder_bytes(directory)}


def load_sha() -> str | None:
    params = json.loads((vectors_dir() / "params.json").read_text(encoding="utf-8"))
    return params.get("model_sha256")


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values), q)), 4)


# --- local: sizes --------------------------------------------------------------------------------------------


def measure_child(directory: Path, n_queries: int, rounds: int) -> dict:
    """Run in a fresh process: load the index as `spladekit search` does, time every mode, report memory."""
    from spladekit.search import Searcher

    before = rss_mib()
    t0 = time.perf_counter()
    qids, qtexts, qvecs = load_queries(n_queries)
    searcher = Searcher(local_dir=directory)  # vectors given: no encoder is loaded
    load_s = time.perf_counter() - t0
    after_load = rss_mib()
    modes = {
        "splade-exact": lambda i: searcher.search_vector(qvecs[i], k=K),
        "two-phase-10x100": lambda i: searcher.search_vector(qvecs[i], k=K, two_phase=PLANS["two-phase-10x100"]),
        "bm25": lambda i: searcher.search_bm25(qtexts[i], k=K),
        "hybrid-rrf": lambda i: searcher.search(qtexts[i], vector=qvecs[i], k=K, mode="hybrid"),
    }
    for fn in modes.values():  # compile and touch outside the timings
        for i in range(3):
            fn(i)
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(rounds):
        for i in range(len(qids)):
            for m, fn in modes.items():
                t = time.perf_counter()
                fn(i)
                times[m].append((time.perf_counter() - t) * 1e3)
    return {"load_s": load_s, "rss_before_mib": before, "rss_after_load_mib": after_load, "rss_end_mib": rss_mib(),
            "peak_rss_mib": peak_rss_mib(), "queries": len(qids), "rounds": rounds,
            "modes": {m: {"p50_ms": pct(t, 50), "p99_ms": pct(t, 99), "mean_ms": round(float(np.mean(t)), 4)}
                      for m, t in times.items()}}


def part_local(args) -> dict:
    ids, batch, texts = load_documents()
    out = {"part": "local", "machine_start": machine(), "sizes": {}}
    for n in args.sizes:
        rows = subset(len(ids), n)
        where = corpus_dir() / "scale" / f"local-lucene-{len(rows)}"
        log(f"local: building {len(rows)} docs")
        facts = build_local(where, ids, batch, texts, rows, "lucene")
        log(f"  built in {facts['build_s']:.1f}s; measuring in a fresh process")
        child = subprocess.run([sys.executable, __file__, "_measure", str(where), "--queries", str(args.queries),
                                "--rounds", str(args.rounds)], capture_output=True, text=True)
        if child.returncode:
            raise RuntimeError(f"measuring {where} failed: {child.stderr[-2000:]}")
        facts.update(json.loads(child.stdout))
        facts["load_avg"] = os.getloadavg()
        out["sizes"][str(len(rows))] = facts
        log(f"  {json.dumps(facts['modes'])}")
        gc.collect()
    out["machine_end"] = machine()
    return out


# --- versus PISA and Seismic ---------------------------------------------------------------------------------


class Pisa:
    """PISA through pyterrier-pisa: the vectors as integer impacts (weight x 100, as its toks_indexer stores them),
    queries likewise x 100, the ``quantized`` (dot product) scorer; called per query without the DataFrame layer."""

    def __init__(self, ids: list[str], batch: SparseBatch, directory: Path) -> None:
        import pyterrier_pisa as pp
        from pyterrier_pisa import _pisathon

        self._pisathon = _pisathon
        shutil.rmtree(directory, ignore_errors=True)
        started = time.perf_counter()
        index = pp.PisaIndex(str(directory), stemmer="none", threads=2)
        names = [str(t) for t in range(VOCAB)]

        def docs():
            for d, key in enumerate(ids):
                lo, hi = int(batch.offsets[d]), int(batch.offsets[d + 1])
                yield {"docno": key, "toks": dict(zip([names[t] for t in batch.ids[lo:hi]],
                                                      batch.weights[lo:hi].tolist(), strict=True))}

        index.toks_indexer(mode="overwrite").index(docs())
        self.build_s = time.perf_counter() - started
        self.bytes = folder_bytes(directory)
        self.retrievers = {algo: pp.PisaRetrieve(index, scorer="quantized", num_results=K, threads=1,
                                                 query_algorithm=algo, stops="none")
                           for algo in ("block_max_wand", "maxscore", "block_max_maxscore")}
        self.names = names

    def _query(self, q: SparseVector) -> dict[str, float]:
        return {self.names[t]: float(w) * 100.0 for t, w in zip(q.ids.tolist(), q.weights.tolist(), strict=True)}

    def run(self, algo: str, queries: list[SparseVector], threads: int = 1) -> list[list[str]]:
        r = self.retrievers[algo]
        n = len(queries) * K
        qidx, docnos = np.empty(n, np.int32), np.empty(n, dtype=object)
        ranks, scores = np.empty(n, np.int32), np.empty(n, np.float32)
        size = self._pisathon.retrieve(r._ctxt, algo, [(i, self._query(q)) for i, q in enumerate(queries)], k=K,
                                       threads=threads, query_weighted=1, pretokenised=True, result_qidxs=qidx,
                                       result_docnos=docnos, result_ranks=ranks, result_scores=scores)
        out: list[list[tuple[int, str]]] = [[] for _ in queries]
        for j in range(size):
            out[qidx[j]].append((int(ranks[j]), str(docnos[j])))
        return [[d for _, d in sorted(hits)] for hits in out]

    def search(self, algo: str, q: SparseVector) -> list[str]:
        return self.run(algo, [q])[0]


def recall_at_10(got: list[list[str]], exact: list[tuple[list[str], np.ndarray]], score_of) -> float:
    """Mean share of each exact top 10 found, a hit scoring (exactly) at least the exact 10th counting as found."""
    values = []
    for q, (hits, (want, scores)) in enumerate(zip(got, exact, strict=True)):
        if not want:
            continue
        kth = float(scores[-1])
        values.append(sum(1 for d in hits[:K] if score_of(q, d) >= kth) / len(want))
    return float(np.mean(values)) if values else 1.0


def part_versus(args) -> dict:
    li = _module("local_index")
    ids, batch, _ = load_documents()
    _, _, qb = load_queries(args.queries)
    queries = [qb[i] for i in range(len(qb))]
    out = {"part": "versus", "machine_start": machine(), "docs": len(ids), "queries": len(queries),
           "postings": int(batch.ids.shape[0]), "contenders": {}}
    log(f"versus: {len(ids)} docs, {len(queries)} queries; building ours")
    li.warm_up(batch, ids)
    exact = li.Local("exact", batch, ids)
    exact_bp = li.Local("exact", batch, ids, reorder=True)
    lucene_bp = li.Local("lucene", batch, ids, reorder=True)
    keys = np.asarray(ids)
    row = {k: i for i, k in enumerate(ids)}
    exact_results = [exact.search(q) for q in queries]

    def score_of(q: int, doc: str) -> float:
        # the exact float32 score of a document for query q (the local index restricted to that id)
        got = exact.index.search(queries[q], k=1, filter_ids=[doc])
        return float(got[1][0]) if got[0] else 0.0

    def two_phase(index: LocalIndex, plan: TwoPhase, q: SparseVector):
        first, _ = index.search(plan.first_pass(q), k=plan.window)
        return index.search(q, k=K, filter_ids=first) if first else ([], np.zeros(0, np.float32))

    fns = {"local-exact": exact.search, "local-exact-bp": exact_bp.search, "local-lucene-bp": lucene_bp.search}
    for name, plan in PLANS.items():
        fns[f"local-bp-{name}"] = lambda q, p=plan: two_phase(exact_bp.index, p, q)
    fns["local-bp-pruned-10"] = lambda q: exact_bp.index.search(q.top_k(10), k=K)

    def approximate(alpha: float, q: SparseVector):
        exact_bp.index.alpha = alpha
        try:
            return exact_bp.index.search(q, k=K)
        finally:
            exact_bp.index.alpha = 1.0

    for alpha in args.alphas:
        fns[f"local-bp-alpha{alpha:g}"] = lambda q, a=alpha: approximate(a, q)
    for c in (exact, exact_bp, lucene_bp):
        out["contenders"][c.name] = {"build_s": c.build_s, "bytes": c.bytes, **c.facts}
    contenders = dict(fns)
    if "pisa" not in args.skip:
        log("versus: building PISA")
        pisa = Pisa(ids, batch, corpus_dir() / "scale" / "pisa")
        log(f"  PISA built in {pisa.build_s:.1f}s")
        for algo in pisa.retrievers:
            contenders[f"pisa-{algo}"] = lambda q, a=algo: pisa.search(a, q)
            out["contenders"][f"pisa-{algo}"] = {"build_s": pisa.build_s, "bytes": pisa.bytes}
    if "seismic" not in args.skip:
        log("versus: building Seismic")
        settings = {"qc10-hf0.7": {"query_cut": 10, "heap_factor": 0.7},
                    "qc20-hf0.9": {"query_cut": 20, "heap_factor": 0.9},
                    "qc30-hf0.95": {"query_cut": 30, "heap_factor": 0.95},
                    "qc50-hf1.0": {"query_cut": 50, "heap_factor": 1.0}}
        seismic = li.Seismic(batch, ids, args.seismic_postings, settings)
        log(f"  Seismic built in {seismic.build_s:.1f}s")
        for s in settings:
            contenders[f"seismic-{s}"] = lambda q, s=s: seismic.search(q, s)
            out["contenders"][f"seismic-{s}"] = {"build_s": seismic.build_s, "n_postings": args.seismic_postings,
                                                 **settings[s]}
    log(f"versus: timing {len(contenders)} contenders, interleaved")
    lat = li.latency(contenders, queries, args.rounds)
    for name, r in lat.items():
        c = out["contenders"].setdefault(name, {})
        c.update(li.summary(r))
        c["p99_ms"] = None  # filled below from the per-query best times (latency() keeps p50/p95 only)
        c["recall_at_10"] = round(recall_at_10(r["results"], exact_results, score_of), 4)
    # p99 and batch throughput, one contender at a time
    for name, fn in contenders.items():
        t = []
        for q in queries:
            s = time.perf_counter()
            fn(q)
            t.append((time.perf_counter() - s) * 1e3)
        out["contenders"][name]["p99_ms"] = pct(t, 99)
    for c in (exact, exact_bp, lucene_bp):
        for threads in (1, 2):
            out["contenders"][c.name][f"batch_qps_{threads}t"] = li.throughput(
                lambda qs, o=c, t=threads: o.batch(qs, t), queries, 2)
    if "pisa" not in args.skip:
        for algo in pisa.retrievers:
            for threads in (1, 2):
                out["contenders"][f"pisa-{algo}"][f"batch_qps_{threads}t"] = li.throughput(
                    lambda qs, a=algo, t=threads: pisa.run(a, qs, t), queries, 2)
    if "seismic" not in args.skip:
        for s in settings:
            for threads in (1, 2):
                out["contenders"][f"seismic-{s}"][f"batch_qps_{threads}t"] = li.throughput(
                    lambda qs, s=s, t=threads: seismic.batch(qs, s, t), queries, 2)
    del row, keys
    out["machine_end"] = machine()
    return out


# --- engines -------------------------------------------------------------------------------------------------


def concurrent_qps(url: str, index: str, payloads: list[bytes], clients: int, requests: int) -> float:
    qb = _module("query")
    done = [0]
    lock = threading.Lock()

    def worker(offset: int) -> None:
        raw = qb.RawHttp(url, index)
        i = offset
        while True:
            with lock:
                if done[0] >= requests:
                    return
                done[0] += 1
            raw.search(payloads[i % len(payloads)])
            i += clients

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return requests / (time.perf_counter() - started)


def part_engines(args) -> dict:
    from spladekit.encoder.runtime import SpladeEncoder

    names = SpladeEncoder.load().names
    ids, batch, texts = load_documents()
    queries = load_queries(args.queries)
    out = {"part": "engines", "machine_start": machine(), "docs": len(ids), "queries": len(queries[0]), "engines": {}}
    engines = {e: u for e, u in (("opensearch", args.opensearch), ("elasticsearch", args.elasticsearch)) if u}
    for engine, url in engines.items():
        out["engines"][engine] = one_engine(url, names, ids, batch, texts, queries, args)
        log(f"{engine}: {json.dumps(out['engines'][engine]['modes'])}")
    out["machine_end"] = machine()
    return out


def load_engine(url: str, name: str, batch: SparseBatch, ids: list[str], texts: dict[str, str], names, sha,
                rebuild: bool) -> tuple[object, dict]:
    """The documents in index ``name``, bulk-loaded in order by one client (refresh off), force-merged to one
    segment. An index holding the first n of them (an earlier run on a checkpoint of the corpus) gets the rest."""
    from spladekit.engines import connect
    from spladekit.schema import SCHEMA, ModelIdentity

    idx = connect(url, name, names=names)
    have = 0
    if idx.exists() and not rebuild:
        idx.refresh()
        have = idx.count()
        probe = ids[:1] + ids[max(have - 1, 0):have]
        resp = idx.search_body({"query": {"ids": {"values": probe}}, "size": len(probe), "_source": False})
        if have > len(ids) or {h["_id"] for h in resp["hits"]["hits"]} != set(probe):
            have = 0
    if have == 0:
        idx.delete_index()
        idx.create(SCHEMA.meta(ModelIdentity("splade-tiny", sha)))
    idx.client.indices.put_settings(index=name, body={"index": {"refresh_interval": "-1"}})
    started = time.perf_counter()
    failed = 0
    todo = range(have, len(ids))
    for r in idx.bulk_index(((ids[i], idx.source(batch[i], text=texts.get(ids[i], ""))) for i in todo),
                            chunk_size=1000):
        failed += not r.ok
    idx.client.indices.put_settings(index=name, body={"index": {"refresh_interval": "1s"}})
    idx.refresh()
    load_s = time.perf_counter() - started
    log(f"{idx.engine}: loaded {len(todo)} docs ({have} there before) in {load_s:.0f} s, {failed} failed")
    t0 = time.perf_counter()
    if idx.engine == "elasticsearch":
        idx.client.options(request_timeout=3600).indices.forcemerge(index=name, max_num_segments=1)
    else:
        idx.client.indices.forcemerge(index=name, max_num_segments=1, request_timeout=3600)
    return idx, {"docs_before": have, "loaded": len(todo), "load_s": load_s,
                 "docs_per_s": len(todo) / load_s if load_s else None, "failed": failed, "count": idx.count(),
                 "forcemerge_s": time.perf_counter() - t0}


def one_engine(url: str, names, ids: list[str], batch: SparseBatch, texts: dict[str, str], queries, args) -> dict:
    from spladekit.fusion import fuse
    from spladekit.hits import Hit
    from spladekit.query import HIT_FIELDS, bm25_query, build_query
    from spladekit.search import text_body

    qb = _module("query")
    qids, qtexts, qvecs = queries
    idx, facts = load_engine(url, "scale-large", batch, ids, texts, names, load_sha(), args.rebuild)
    facts["segments"] = len(idx.client.cat.segments(index="scale-large", format="json"))
    facts["store_bytes"] = idx.store_bytes()
    log(f"{idx.engine}: {facts}")
    spec = idx.spec
    payloads: dict[str, list[bytes]] = {m: [] for m in ("splade-exact", *PLANS, "bm25")}
    hybrid_parts: list[tuple[bytes, bytes]] = []
    all_text_parts: list[tuple[bytes, bytes]] = []  # before 2026-12-05 22:00: text with all 2 x 100 hits
    for i in range(len(qids)):
        vec = qvecs[i]
        payloads["splade-exact"].append(json.dumps(build_query(vec, names, spec, size=K,
                                                               source=HIT_FIELDS).body).encode())
        for name, plan in PLANS.items():
            payloads[name].append(json.dumps(build_query(vec, names, spec, size=K, source=HIT_FIELDS,
                                                         two_phase=plan).body).encode())
        payloads["bm25"].append(json.dumps(bm25_query(qtexts[i], size=K, source=HIT_FIELDS).body).encode())
        hybrid_parts.append((json.dumps(build_query(vec, names, spec, size=100, source=False).body).encode(),
                             json.dumps(bm25_query(qtexts[i], size=100, source=False).body).encode()))
        all_text_parts.append((json.dumps(build_query(vec, names, spec, size=100, source=HIT_FIELDS).body).encode(),
                               json.dumps(bm25_query(qtexts[i], size=100, source=HIT_FIELDS).body).encode()))
    raw = qb.RawHttp(url, "scale-large")

    def hits(data: bytes) -> list:
        resp = json.loads(data)
        return [Hit(h["_id"], float(h["_score"]), r) for r, h in enumerate(resp["hits"]["hits"], start=1)]

    def hybrid(i: int) -> list:  # `spladekit search --hybrid`: two rankings, fused, then the top k's text
        a, b = hybrid_parts[i]
        fused = fuse(hits(raw.search(a)), hits(raw.search(b)), k=K, fusion="rrf")
        texts = json.loads(raw.search(json.dumps(text_body([h.id for h in fused])).encode()))["hits"]["hits"]
        assert len(texts) == len(fused)
        return fused

    def hybrid_all_text(i: int) -> list:  # the same with title and text in both 100-hit rankings
        a, b = all_text_parts[i]
        return fuse(hits(raw.search(a)), hits(raw.search(b)), k=K, fusion="rrf")

    methods = {m: (lambda i, m=m: hits(raw.search(payloads[m][i]))) for m in payloads}
    methods["hybrid-rrf"] = hybrid
    methods["hybrid-rrf-all-text"] = hybrid_all_text
    wall: dict[str, list[float]] = {m: [] for m in methods}
    results: dict[str, list] = {m: [None] * len(qids) for m in methods}
    names_order = list(methods)
    for rnd in range(args.rounds + 1):  # round 0 warms the caches and keeps the results
        for i in range(len(qids)):
            for m in names_order[i % len(names_order):] + names_order[: i % len(names_order)]:
                t = time.perf_counter()
                res = methods[m](i)
                if rnd:
                    wall[m].append((time.perf_counter() - t) * 1e3)
                else:
                    results[m][i] = [(h.id, h.score) for h in res]
    e: dict = {"build": facts, "modes": {}}
    for m, t in wall.items():
        e["modes"][m] = {"p50_ms": pct(t, 50), "p99_ms": pct(t, 99), "mean_ms": round(float(np.mean(t)), 4)}
    for m in PLANS:  # rescored hits carry exact scores: a hit at or above the exact 10th score is found
        vals = [sum(1 for _, sc in got if sc >= want[-1][1]) / len(want)
                for got, want in zip(results[m], results["splade-exact"], strict=True) if want]
        e["modes"][m]["recall@10_vs_exact"] = round(float(np.mean(vals)), 4)
    bm = e["modes"]["bm25"]["p50_ms"]
    e["ratios_p50_over_bm25"] = {m: round(e["modes"][m]["p50_ms"] / bm, 3) for m in e["modes"] if m != "bm25"}
    e["throughput_qps"] = {m: {str(c): round(concurrent_qps(url, "scale-large", payloads[m], c,
                                                            args.concurrent_requests), 1) for c in args.clients}
                           for m in payloads}
    e["profile_exact"] = profile(raw, payloads["splade-exact"][:50])
    e["load_avg"] = os.getloadavg()
    return e


def profile(raw, payloads: list[bytes]) -> dict:
    """The profile API's breakdown of the top query (summed over the given searches, in ms), and its type."""
    total: dict[str, float] = {}
    kinds = set()
    for payload in payloads:
        body = json.loads(payload)
        body["profile"] = True
        resp = json.loads(raw.search(json.dumps(body).encode()))
        for shard in resp["profile"]["shards"]:
            for search in shard["searches"]:
                top = search["query"][0]
                kinds.add(top["type"])
                total["query_total"] = total.get("query_total", 0.0) + top["time_in_nanos"] / 1e6
                for key, value in top["breakdown"].items():
                    if not key.endswith("_count"):
                        total[key] = total.get(key, 0.0) + value / 1e6
                for child in top.get("children", [])[:1]:
                    kinds.add(f"child {child['type']}")
    return {"searches": len(payloads), "types": sorted(kinds),
            "ms": {k: round(v, 2) for k, v in sorted(total.items(), key=lambda kv: -kv[1])[:10]}}


# --- plot ----------------------------------------------------------------------------------------------------


def part_plot(args) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    data = json.loads((ROOT / "benchmarks" / "results" / "scale-local.json").read_text(encoding="utf-8"))
    sizes = sorted(data["sizes"], key=int)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for mode in ("splade-exact", "two-phase-10x100", "bm25", "hybrid-rrf"):
        ax.plot([int(s) for s in sizes], [data["sizes"][s]["modes"][mode]["p50_ms"] for s in sizes], marker="o",
                label=mode)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("documents (random subsets of the large real corpus)")
    ax.set_ylabel("p50 latency per query (ms)")
    ax.set_title(f"Local index, lucene mode, {data['sizes'][sizes[-1]]['queries']} queries, 1 thread")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    out = ROOT / "docs" / "img" / "scale-latency.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    return {"part": "plot", "file": str(out.relative_to(ROOT))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=("local", "versus", "engines", "plot", "_measure"))
    ap.add_argument("directory", nargs="?", help="(_measure only) the index folder")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 0], help="local: 0 = all documents")
    ap.add_argument("--queries", type=int, default=0, help="how many queries (0: all)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--skip", nargs="*", default=[], choices=("pisa", "seismic"))
    ap.add_argument("--seismic-postings", type=int, default=2000)
    ap.add_argument("--alphas", type=float, nargs="*", default=[0.9, 0.8, 0.7, 0.5],
                    help="versus: approximate block-max settings of ours (LocalIndex.alpha)")
    ap.add_argument("--opensearch", metavar="URL")
    ap.add_argument("--elasticsearch", metavar="URL")
    ap.add_argument("--rebuild", action="store_true", help="engines: reload the index even if it is complete")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--concurrent-requests", type=int, default=400)
    ap.add_argument("--vectors", type=Path, default=None, help="the encoded corpus (default: "
                    "$SPLADEKIT_CACHE/bench/corpus-large/vectors-exact)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N documents (to try the script)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    VECTORS["dir"], VECTORS["limit"] = args.vectors, args.limit
    if args.part == "_measure":
        print(json.dumps(measure_child(Path(args.directory), args.queries, args.rounds)))
        return
    result = {"local": part_local, "versus": part_versus, "engines": part_engines, "plot": part_plot}[args.part](args)
    if args.part != "plot":
        out = args.out or ROOT / "benchmarks" / "results" / f"scale-{args.part}.json"
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
