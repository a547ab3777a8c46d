"""Query benchmark on the engines: SPLADE exact, pruned, two-phase and BM25 ``match`` on the same index.

For each engine given, one index holds npl (datasets/npl) encoded with the default model: the
sparse field, and the text for BM25. Optionally (``--tile N``) a second index holds N documents tiled from
the npl vectors (weights perturbed by +-5 %, as ``benchmarks/local_index.py`` does); its BM25 text is the
original document's text. Contenders, alternating per query so that load from other processes hits all of
them alike, each query sent one at a time (no concurrency):

- ``splade-exact``: the full query (``spladekit.query``), ``track_total_hits: false``;
- ``splade-pruned``: the query's 10 largest weights only;
- ``two-phase``: those 10 tokens, then an engine ``rescore`` of the top 100 with the full query (the default
  :class:`spladekit.search.TwoPhase`); ``two-phase-8x100``: the same with 8 first-pass tokens; and each
  ``--two-phase KxW`` given (``two-phase-KxW``: K tokens, a window of W; ``mMxW``: the tokens holding a fraction M
  of the query's weight, ``TwoPhase(mass=M)``);
- ``bm25``: ``match`` on ``text``.

Latency: wall time per request, measured around a plain keep-alive HTTP POST of the pre-serialised JSON body
to ``/<index>/_search`` on 127.0.0.1 (so the Python client's own overhead, the same for every method, is left
out; the round trip and the engine's work are in), and the engine's ``took`` (whole milliseconds); p50/p95
over ``--rounds`` passes over the queries after one warm-up pass. recall@10 is measured against
``splade-exact`` on the same engine and index, counting a hit whose exact score ties the exact 10th score
as found (ties are sets); for ``bm25`` it is only the overlap with SPLADE's top 10, not an error rate.
nDCG@10 against npl's qrels is reported beside (ir_measures).

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/query.py --opensearch http://127.0.0.1:9221 \\
        --elasticsearch http://127.0.0.1:9222 [--rounds 3] [--tile 200000 1000000] [--order natural bp]

Prints JSON to stdout and writes it to ``benchmarks/results/query.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from spladekit.engines import connect
from spladekit.query import HIT_FIELDS, TwoPhase, bm25_query, build_query
from spladekit.schema import SCHEMA, ModelIdentity
from spladekit.vectors import SparseBatch, SparseVector

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("SPLADEKIT_DATASETS", ROOT / "datasets"))
PLAN = TwoPhase()  # the library default: 10 first-pass tokens, window 100
FAST_PLAN = TwoPhase(top_k=8, window=100)
PRUNE_TOP_K = PLAN.top_k
K = 10
VOCAB = 30522


def local_bench():
    """benchmarks/local_index.py (npl vectors cache, tiling): shared, not copied."""
    spec = importlib.util.spec_from_file_location("local_index_bench", ROOT / "benchmarks" / "local_index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def log(msg: str) -> None:
    print(f"[query-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def texts_of(dataset: str) -> dict[str, str]:
    out = {}
    with open(DATASETS / dataset / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            out[str(row["_id"])] = row.get("text") or ""
    return out


def build_index(url: str, name: str, docs: SparseBatch, keys: list[str], texts: dict[str, str], names,
                sha: str, rebuild: bool) -> tuple[object, dict]:
    """Create and fill ``name`` unless it already holds len(keys) documents; returns (index, build facts)."""
    idx = connect(url, name, names=names)
    if rebuild:
        idx.delete_index()
    if idx.exists() and idx.count() == len(keys):
        log(f"{idx.engine}: reusing {name} ({len(keys)} docs)")
        return idx, {"reused": True}
    idx.delete_index()
    idx.create(SCHEMA.meta(ModelIdentity("splade-tiny", sha)))
    # Bulk-loading speed is the ingest benchmark's subject; refresh off during the load keeps it short.
    idx.client.indices.put_settings(index=name, body={"index": {"refresh_interval": "-1"}})
    started = time.perf_counter()

    def sources():
        for i, key in enumerate(keys):
            base = key.split("#", 1)[0]
            yield key, idx.source(docs[i], text=texts.get(base, ""))

    failed = 0
    for n, r in enumerate(idx.bulk_index(sources(), chunk_size=1000), start=1):
        failed += not r.ok
        if n % 100_000 == 0:
            log(f"{idx.engine}: {n} docs, {n / (time.perf_counter() - started):.0f} docs/s")
    idx.client.indices.put_settings(index=name, body={"index": {"refresh_interval": "1s"}})
    idx.refresh()
    load_s = time.perf_counter() - started
    log(f"{idx.engine}: loaded {len(keys)} docs in {load_s:.0f} s ({len(keys) / load_s:.0f} docs/s), "
        f"{failed} failed; force-merging")
    t0 = time.perf_counter()
    if idx.engine == "elasticsearch":
        idx.client.options(request_timeout=3600).indices.forcemerge(index=name, max_num_segments=1)
    else:
        idx.client.indices.forcemerge(index=name, max_num_segments=1, request_timeout=3600)
    return idx, {"reused": False, "load_s": load_s, "docs_per_s": len(keys) / load_s, "failed": failed,
                 "forcemerge_s": time.perf_counter() - t0}


def bp_ordered(docs: SparseBatch, keys: list[str]) -> tuple[SparseBatch, list[str]]:
    """The documents in recursive-graph-bisection order: similar documents adjacent, so that the engine's
    block-max pruning (Lucene impacts) sees tight per-block maxima. Lucene keeps the indexing order of a
    single bulk-loading client inside a segment, so the order survives into the index."""
    from spladekit.local.reorder import bp_order

    started = time.perf_counter()
    order = bp_order(docs.offsets, docs.ids, VOCAB)
    log(f"bp_order over {len(keys)} docs: {time.perf_counter() - started:.1f} s")
    lengths = np.diff(docs.offsets)[order]
    offsets = np.zeros(len(order) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    take = np.concatenate([np.arange(docs.offsets[d], docs.offsets[d + 1]) for d in order])
    return SparseBatch(offsets, docs.ids[take], docs.weights[take]), [keys[d] for d in order]


def bodies(idx, vec: SparseVector, text: str, names, extra: tuple[TwoPhase, ...] = ()) -> dict[str, dict]:
    """The very requests `spladekit search` sends (spladekit.query), hit fields included."""
    spec = idx.spec

    def splade(**options):
        return build_query(vec, names, spec, size=K, source=HIT_FIELDS, **options).body

    out = {
        "splade-exact": splade(),
        "splade-pruned": splade(top_k=PRUNE_TOP_K),
        "two-phase": splade(two_phase=PLAN),
        "two-phase-8x100": splade(two_phase=FAST_PLAN),
    }
    for plan in extra:
        out[plan_label(plan)] = splade(two_phase=plan)
    out["bm25"] = bm25_query(text, size=K, source=HIT_FIELDS).body
    return out


def parse_plan(text: str) -> TwoPhase:
    """``"16x300"``: 16 first-pass tokens, a rescore window of 300; ``"m0.75x200"``: the fewest largest tokens
    holding 75 % of the query's weight (``TwoPhase(top_k=None, mass=0.75)``), a window of 200."""
    first, _, window = text.partition("x")
    if first.startswith("m"):
        return TwoPhase(top_k=None, mass=float(first[1:]), window=int(window))
    return TwoPhase(top_k=int(first), window=int(window))


def plan_label(plan: TwoPhase) -> str:
    first = f"m{plan.mass:g}" if plan.mass is not None else str(plan.top_k)
    return f"two-phase-{first}x{plan.window}"


class RawHttp:
    """One keep-alive HTTP connection posting pre-serialised search bodies (no client library in the timing)."""

    def __init__(self, url: str, index: str) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=120)
        self.path = f"/{index}/_search"

    def search(self, payload: bytes) -> bytes:
        self.conn.request("POST", self.path, body=payload, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {data[:300]!r}")
        return data


def run_engine(idx, queries: dict[str, tuple[SparseVector, str]], names, rounds: int,
               extra: tuple[TwoPhase, ...] = ()) -> dict[str, dict]:
    plans = {qid: {m: json.dumps(b).encode() for m, b in bodies(idx, v, t, names, extra).items()}
             for qid, (v, t) in queries.items()}
    raw = RawHttp(idx.url, idx.index)
    methods = list(next(iter(plans.values())))
    wall: dict[str, list[float]] = {m: [] for m in methods}
    took: dict[str, list[float]] = {m: [] for m in methods}
    results: dict[str, dict[str, list[tuple[str, float]]]] = {m: {} for m in methods}
    for rnd in range(rounds + 1):  # round 0 warms the caches and is not timed
        for j, (qid, plan) in enumerate(plans.items()):
            order = methods[j % len(methods):] + methods[: j % len(methods)]  # rotate who goes first
            for m in order:
                t0 = time.perf_counter()
                data = raw.search(plan[m])
                dt = (time.perf_counter() - t0) * 1000.0
                resp = json.loads(data)
                if rnd:
                    wall[m].append(dt)
                    took[m].append(float(resp["took"]))
                else:
                    results[m][qid] = [(h["_id"], float(h["_score"])) for h in resp["hits"]["hits"]]
    return {"wall": wall, "took": took, "results": results}


def recall_vs_exact(results: dict[str, list], exact: dict[str, list], exact_scores: dict[str, dict]) -> float:
    """Mean over queries of (hits in an exact top 10, ties at the 10th score included) / exact hits."""
    values = []
    for qid, want in exact.items():
        if not want:
            continue
        kth = want[-1][1]
        got = results.get(qid, [])
        values.append(sum(1 for d, _ in got if exact_scores[qid].get(d, -1.0) >= kth) / len(want))
    return float(np.mean(values))


def ndcg10(results: dict[str, list], dataset: str) -> float | None:
    try:
        import ir_measures
    except ImportError:
        return None
    qrels = []
    with open(DATASETS / dataset / "qrels" / "test.tsv", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if parts[0] in ("query-id", "qid") or len(parts) < 3:
                continue
            qrels.append(ir_measures.Qrel(parts[0], parts[1], int(parts[2])))
    run = [ir_measures.ScoredDoc(q, d, s) for q, hits in results.items() for d, s in hits]
    return float(ir_measures.calc_aggregate([ir_measures.nDCG @ 10], qrels, run)[ir_measures.nDCG @ 10])


def summarise(engine_out: dict, idx, queries, names, dataset: str | None) -> dict[str, dict]:
    exact = engine_out["results"]["splade-exact"]
    # Exact scores of every document any contender returned, to judge ties at the 10th place.
    exact_scores = {}
    for qid, (vec, _) in queries.items():
        ids = {d for m in engine_out["results"].values() for d, _ in m.get(qid, [])}
        body = build_query(vec, names, idx.engine, size=len(ids), max_clauses=None,
                           filter={"ids": {"values": sorted(ids)}}).body | {"_source": False}
        resp = idx.search_body(body)
        exact_scores[qid] = {h["_id"]: float(h["_score"]) for h in resp["hits"]["hits"]}
    out = {}
    for m in engine_out["wall"]:
        w, t = np.asarray(engine_out["wall"][m]), np.asarray(engine_out["took"][m])
        out[m] = {
            "p50_ms": round(float(np.percentile(w, 50)), 3),
            "p95_ms": round(float(np.percentile(w, 95)), 3),
            "took_p50_ms": float(np.percentile(t, 50)),
            "took_p95_ms": float(np.percentile(t, 95)),
            "recall@10_vs_exact": round(recall_vs_exact(engine_out["results"][m], exact, exact_scores), 4),
            "samples": int(w.size),
        }
        if dataset:
            score = ndcg10(engine_out["results"][m], dataset)
            if score is not None:
                out[m]["nDCG@10"] = round(score, 4)
    bm, bt = out["bm25"]["p50_ms"], max(out["bm25"]["took_p50_ms"], 1.0)
    out["ratios"] = {f"{m}_p50_over_bm25": {"wall": round(out[m]["p50_ms"] / bm, 3),
                                            "took": round(out[m]["took_p50_ms"] / bt, 3)}
                     for m in engine_out["wall"] if m != "bm25"}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--opensearch", metavar="URL")
    ap.add_argument("--elasticsearch", metavar="URL")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tile", type=int, nargs="*", default=[], metavar="N",
                    help="Also benchmark indexes of N tiled documents (one per N).")
    ap.add_argument("--order", nargs="+", choices=("natural", "bp"), default=["natural"],
                    help="Document order of each tiled index: as tiled (copy after copy), and/or reordered by "
                         "recursive graph bisection (spladekit.local.reorder.bp_order) before bulk-loading.")
    ap.add_argument("--two-phase", nargs="*", default=[], metavar="KxW",
                    help="More two-phase settings to measure beside the default ones, e.g. 10x300 16x1000 "
                         "(K first-pass tokens, a rescore window of W) or m0.75x200 (the tokens holding 75 %% "
                         "of the query's weight, a window of 200).")
    ap.add_argument("--skip-npl", action="store_true", help="Only the tiled indexes.")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "query.json")
    args = ap.parse_args()
    engines = {e: u for e, u in (("opensearch", args.opensearch), ("elasticsearch", args.elasticsearch)) if u}
    if not engines:
        ap.error("give --opensearch URL and/or --elasticsearch URL")

    from spladekit.encoder.runtime import SpladeEncoder

    encoder = SpladeEncoder.load("splade-tiny")
    names = encoder.names
    data = local_bench().npl_vectors("splade-tiny")
    docs = SparseBatch(data["doc_offsets"], data["doc_ids"], data["doc_weights"])
    keys = [str(k) for k in data["doc_keys"]]
    qvecs = SparseBatch(data["q_offsets"], data["q_ids"], data["q_weights"])
    qtexts = {}
    with open(DATASETS / "npl" / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            qtexts[str(row["_id"])] = row["text"]
    queries = {str(k): (qvecs[i], qtexts[str(k)]) for i, k in enumerate(data["q_keys"])}
    texts = texts_of("npl")
    sha = str(data["model_sha256"])
    extra = tuple(parse_plan(p) for p in args.two_phase)
    corpora = [] if args.skip_npl else [("npl", docs, keys, "npl")]
    for n in args.tile:
        tiled, tkeys = local_bench().tile(docs, keys, n)
        for order in args.order:
            if order == "natural":
                corpora.append((f"npl-tiled-{n}", tiled, tkeys, None))
            else:
                corpora.append((f"npl-tiled-{n}-bp", *bp_ordered(tiled, tkeys), None))

    report = {
        "benchmark": "query",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_avg_start": os.getloadavg()},
        "k": K, "rounds": args.rounds, "queries": len(queries), "prune_top_k": PRUNE_TOP_K,
        "two_phase": {"top_k": PLAN.top_k, "window": PLAN.window},
        "two_phase_fast": {"top_k": FAST_PLAN.top_k, "window": FAST_PLAN.window},
        "two_phase_extra": [{"top_k": p.top_k, "mass": p.mass, "window": p.window} for p in extra],
        "mean_query_terms": float(np.mean([len(v) for v, _ in queries.values()])),
        "corpora": {},
    }
    for label, cdocs, ckeys, qrels_dataset in corpora:
        report["corpora"][label] = {"docs": len(ckeys), "mean_doc_terms": float(np.mean(cdocs.nnz())),
                                    "engines": {}}
        for engine, url in engines.items():
            name = f"sk-bench-query-{label}"
            idx, build = build_index(url, name, cdocs, ckeys, texts, names, sha, args.rebuild)
            log(f"{engine} {label}: {args.rounds} rounds x {len(queries)} queries x {5 + len(extra)} methods")
            out = run_engine(idx, queries, names, args.rounds, extra)
            summary = summarise(out, idx, queries, names, qrels_dataset)
            summary["build"] = build
            report["corpora"][label]["engines"][engine] = summary
            log(f"{engine} {label}: " + json.dumps({m: (v.get('p50_ms'), v.get('recall@10_vs_exact'))
                                                    for m, v in summary.items() if m not in ("ratios", "build")}))
    report["machine"]["load_avg_end"] = os.getloadavg()
    write_report(report, args.out)


def write_report(report: dict, out: Path) -> None:
    """The report as indented JSON to ``out`` and to stdout."""
    text = json.dumps(report, indent=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
