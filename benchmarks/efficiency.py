"""Efficient SPLADE: static pruning, inference-free queries and the Anserini export, beside full SPLADE and BM25.

For each collection (default: cranfield, npl, dbpedia-entity-sub5k from datasets/), with the default model, one
row per setting:

- ``bm25``: ``match`` on the text field (engine only);
- ``splade``: the full document vectors, the full query (the reference: 100 % quality);
- ``doc:RULE`` (each ``--doc-prune``): ``ingest --doc-prune RULE`` (local index and engine index);
- ``postings:N`` (each ``--top-postings``): ``spladekit index-prune --top-postings N`` (local index only);
- ``query:RULE`` (each ``--query-prune``): the full index, the query pruned at search time;
- ``doc:RULE+query:RULE`` (each ``--compose``): both at once;
- ``inference-free`` and ``inference-free+doc:RULE``: the query's tokens weighted by IDF over the index's own
  document frequencies (no transformer on the query path), on the full and on the first pruned index;
- ``anserini-int``: the ``export-vectors --format anserini`` files read back, scored as an impact index does
  (integer dot products of round(w x 100)), beside ``splade-exact`` (the same index's float32 weights).

Columns: nDCG@10 and R@100 (ir_measures, runs 100 deep on the local index, lucene mode, which scores exactly as
the engines; the engine's own runs are scored too and must agree), postings and index bytes (local: the postings
arrays; engine: the primary store after a force-merge, which also holds the BM25 text and ``_source``), latency
of one query at a time, k = 10: on the local index end to end (encode + search: ``Searcher.search(text)``) and
search alone; on the engine the request (a keep-alive HTTP POST of the body ``spladekit.query`` builds, as
``benchmarks/query.py`` times it) and end to end (+ the query's encoding on the client). Contenders alternate
query by query (rotating who goes first) over ``--rounds`` passes after one untimed warm-up pass.

The engine is started by the script (``spladekit.engines.node``, 512 MB heap, a temporary folder removed at the
end): OpenSearch 2.19.4 by default, ``--engine elasticsearch`` or ``none``.

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/efficiency.py --out benchmarks/results/efficiency.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from spladekit.datasets import load_beir
from spladekit.encoder.runtime import SpladeEncoder
from spladekit.engines import connect
from spladekit.evaluation import build
from spladekit.evaluation.metrics import compute
from spladekit.exchange import export_vectors, read_vectors
from spladekit.local.index import LocalIndex, prune_index
from spladekit.query import HIT_FIELDS, bm25_query, build_query
from spladekit.search import Searcher
from spladekit.vectors import Pruning, SparseVector

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("SPLADEKIT_DATASETS", REPO / "datasets"))
MEASURES = ["nDCG@10", "R@100"]
K = 10
DEPTH = 100


def log(msg: str) -> None:
    print(f"[efficiency {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 4) if values else None


class RawHttp:
    """Keep-alive HTTP POSTs of pre-serialised bodies (no client library in the timing), any index."""

    def __init__(self, url: str) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=120)

    def search(self, index: str, payload: bytes) -> dict:
        self.conn.request("POST", f"/{index}/_search", body=payload, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {data[:300]!r}")
        return json.loads(data)


def forcemerge(idx) -> None:
    # The two clients spell the request timeout differently (a benchmark's concern, not the library's).
    if idx.engine == "elasticsearch":
        idx.client.options(request_timeout=600).indices.forcemerge(index=idx.index, max_num_segments=1)
    else:
        idx.client.indices.forcemerge(index=idx.index, max_num_segments=1, request_timeout=600)
    idx.refresh()


def quality(qrels: dict, runs: dict[str, dict[str, float]]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in compute(qrels, runs, MEASURES)[0].items()}


def alternate(contenders: dict[str, Callable[[str], object]], qids: list[str], rounds: int) -> dict[str, list]:
    """Time each contender on each query, one call at a time, rotating the order; round 0 is a warm-up."""
    names = list(contenders)
    times: dict[str, list[float]] = {n: [] for n in names}
    for rnd in range(rounds + 1):
        for j, qid in enumerate(qids):
            for name in names[j % len(names):] + names[: j % len(names)]:
                t0 = time.perf_counter()
                contenders[name](qid)
                if rnd:
                    times[name].append((time.perf_counter() - t0) * 1000.0)
    return times


def local_section(dataset, encoder, docs, qvecs, args, tmp: Path) -> tuple[dict, dict]:
    """Every local setting: quality, size, latency. Returns (rows, the local searchers by setting)."""
    qids = list(qvecs)
    rows: dict[str, dict] = {}
    searchers: dict[str, tuple[Searcher, Pruning | None]] = {}
    full_dir, _ = build.local_index(docs, mode="lucene")
    searchers["splade"] = (Searcher(local_dir=full_dir, encoder=encoder), None)
    first_doc = None
    for text in args.doc_prune:
        rule = Pruning.parse(text)
        where, _ = build.local_index(docs, mode="lucene", doc_prune=rule)
        searchers[f"doc:{rule}"] = (Searcher(local_dir=where, encoder=encoder), None)
        first_doc = first_doc or (rule, where)
    for n in args.top_postings:
        out = tmp / f"postings-{n}"
        prune_index(full_dir, out, top_postings=n)
        searchers[f"postings:{n}"] = (Searcher(local_dir=out, encoder=encoder), None)
    for text in args.query_prune:
        searchers[f"query:{Pruning.parse(text)}"] = (searchers["splade"][0], Pruning.parse(text))
    for pair in args.compose:
        doc_rule, query_rule = (Pruning.parse(x) for x in pair.split("+"))
        where, _ = build.local_index(docs, mode="lucene", doc_prune=doc_rule)
        searchers[f"doc:{doc_rule}+query:{query_rule}"] = (Searcher(local_dir=where, encoder=encoder), query_rule)
    searchers["inference-free"] = (Searcher(local_dir=full_dir, encoder=encoder, inference_free=True), None)
    if first_doc is not None:
        searchers[f"inference-free+doc:{first_doc[0]}"] = (
            Searcher(local_dir=first_doc[1], encoder=encoder, inference_free=True), None)

    texts = dataset.queries
    vectors: dict[str, dict[str, SparseVector]] = {}
    for name, (searcher, qrule) in searchers.items():
        vecs = {q: searcher.encode(texts[q]) for q in qids} if searcher.inference_free else dict(qvecs)
        if qrule is not None:
            vecs = {q: qrule.apply(v) for q, v in vecs.items()}
        vectors[name] = vecs
        runs = {q: ({h.id: h.score for h in searcher.search_vector(v, k=DEPTH)} if len(v) else {})
                for q, v in vecs.items()}
        local = searcher.local
        rows[name] = {**quality(dataset.qrels, runs), "postings": local.n_postings, "local_bytes": local.nbytes(),
                      "mean_doc_terms": round(local.n_postings / max(len(local), 1), 2),
                      "mean_query_terms": round(float(np.mean([len(v) for v in vecs.values()])), 2)}

    def end_to_end(name: str) -> Callable[[str], object]:
        searcher, qrule = searchers[name]
        prune = qrule.to_dict() if qrule is not None else None

        def run(qid: str) -> object:
            vec = searcher.encode(texts[qid])
            return searcher.search_vector(vec, k=K, prune=prune) if len(vec) else []
        return run

    def search_only(name: str) -> Callable[[str], object]:
        searcher, _ = searchers[name]
        return lambda qid: searcher.search_vector(vectors[name][qid], k=K) if len(vectors[name][qid]) else []

    # Timed on the queries every setting can answer (an inference-free query may keep no token at all).
    timed = [q for q in qids if all(len(v[q]) for v in vectors.values())]
    e2e = alternate({n: end_to_end(n) for n in searchers}, timed, args.rounds)
    alone = alternate({n: search_only(n) for n in searchers}, timed, args.rounds)
    for name in searchers:
        rows[name] |= {"local_e2e_p50_ms": pct(e2e[name], 50), "local_e2e_p99_ms": pct(e2e[name], 99),
                       "local_search_p50_ms": pct(alone[name], 50), "local_search_p99_ms": pct(alone[name], 99),
                       "timed_queries": len(timed), "samples": len(e2e[name])}

    # The Anserini export, read back and scored as an impact index does, beside the float weights it came from.
    exact_dir, _ = build.local_index(docs, mode="exact")
    exact = Searcher(local_dir=exact_dir, encoder=encoder)
    out = tmp / "anserini"
    manifest = export_vectors(exact_dir, out, query_vectors=qvecs)
    names = encoder.names
    ints = {d: names.from_features(v) for d, v in read_vectors(out)}
    int_index = LocalIndex(mode="exact")
    int_index.add(list(ints), list(ints.values()))
    int_queries = {q: names.from_features(v) for q, v in read_vectors(out / "queries.jsonl")}
    float_runs = {q: {h.id: h.score for h in exact.search_vector(v, k=DEPTH)} if len(v) else {}
                  for q, v in qvecs.items()}
    int_runs = {q: dict(zip(*int_index.search(int_queries[q], k=DEPTH), strict=True)) if len(int_queries[q])
                else {} for q in qids}
    rows["splade-exact"] = {**quality(dataset.qrels, float_runs), "postings": exact.local.n_postings,
                            "local_bytes": exact.local.nbytes()}
    rows["anserini-int"] = {**quality(dataset.qrels, int_runs), "postings": int_index.n_postings,
                            "export_postings": manifest["postings"],
                            "export_bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file())}
    return rows, {"full_dir": full_dir, "searchers": searchers, "vectors": vectors}


def engine_section(url: str, dataset, encoder, docs, qvecs, local: dict, args) -> dict:
    """The same settings on a real engine (except term-centric pruning, a local-index operation) and BM25."""
    names = encoder.names
    texts = dataset.queries
    qids = list(qvecs)
    indexes = {}
    for rule in [None, *(Pruning.parse(t) for t in args.doc_prune),
                 *(Pruning.parse(p.split("+")[0]) for p in args.compose)]:
        key = str(rule) if rule else "full"
        if key in indexes:
            continue
        idx = connect(url, build.default_index_name(dataset, rule), names=names)
        build.engine_index(idx, docs, doc_prune=rule)
        forcemerge(idx)
        indexes[key] = idx
    full = indexes["full"]
    free = {"full": Searcher(engine_index=full, encoder=encoder, inference_free=True)}
    first = Pruning.parse(args.doc_prune[0]) if args.doc_prune else None
    if first is not None:
        free[str(first)] = Searcher(engine_index=indexes[str(first)], encoder=encoder, inference_free=True)

    # name -> (index, query vector per qid or None for BM25)
    plans: dict[str, tuple[object, dict | None]] = {"bm25": (full, None), "splade": (full, dict(qvecs))}
    for text in args.doc_prune:
        plans[f"doc:{Pruning.parse(text)}"] = (indexes[str(Pruning.parse(text))], dict(qvecs))
    for text in args.query_prune:
        rule = Pruning.parse(text)
        plans[f"query:{rule}"] = (full, {q: rule.apply(v) for q, v in qvecs.items()})
    for pair in args.compose:
        doc_rule, query_rule = (Pruning.parse(x) for x in pair.split("+"))
        plans[f"doc:{doc_rule}+query:{query_rule}"] = (indexes[str(doc_rule)],
                                                       {q: query_rule.apply(v) for q, v in qvecs.items()})
    for key, searcher in free.items():  # the engine counts the document frequencies (cached after the first)
        vecs = {q: searcher.encode(texts[q]) for q in qids}
        plans["inference-free" if key == "full" else f"inference-free+doc:{key}"] = (searcher.engine_index, vecs)

    def body(idx, vecs: dict | None, qid: str, size: int) -> bytes:
        if vecs is None:
            return json.dumps(bm25_query(texts[qid], size=size, source=HIT_FIELDS).body).encode()
        return json.dumps(build_query(vecs[qid], names, idx.spec, size=size, source=HIT_FIELDS).body).encode()

    raw = RawHttp(url)
    rows: dict[str, dict] = {}
    for name, (idx, vecs) in plans.items():  # quality from the engine's own runs, 100 deep
        runs = {}
        for q in qids:
            if vecs is not None and not len(vecs[q]):
                runs[q] = {}
                continue
            resp = raw.search(idx.index, body(idx, vecs, q, DEPTH))
            runs[q] = {h["_id"]: float(h["_score"]) for h in resp["hits"]["hits"]}
        rows[name] = {**quality(dataset.qrels, runs), "engine_index": idx.index}
        if name in local["rows"]:
            rows[name]["same_as_local"] = rows[name]["nDCG@10"] == local["rows"][name]["nDCG@10"]
    for idx in indexes.values():
        size = idx.store_bytes()
        for name, (plan_idx, _) in plans.items():
            if plan_idx is idx:
                rows[name]["engine_bytes"] = size
    timed = [q for q in qids if all(vecs is None or len(vecs[q]) for _, vecs in plans.values())]
    payloads = {name: {q: body(plan[0], plan[1], q, K) for q in timed} for name, plan in plans.items()}
    encode_ms: dict[str, dict[str, float]] = {}
    for name in plans:  # what encoding the query costs on the client, per setting
        searcher = free.get("full") if name == "inference-free" else free.get(name.split("doc:")[-1]) \
            if name.startswith("inference-free+") else None
        encode_ms[name] = {}
        for q in timed:
            t0 = time.perf_counter()
            if name == "bm25":
                pass
            elif searcher is not None:
                searcher.encode(texts[q])
            else:
                encoder.encode_queries([texts[q]])
            encode_ms[name][q] = (time.perf_counter() - t0) * 1000.0

    def request(name: str) -> Callable[[str], object]:
        idx = plans[name][0]
        return lambda q: raw.search(idx.index, payloads[name][q])

    times = alternate({n: request(n) for n in plans}, timed, args.rounds)
    for name in plans:
        e2e = [t + encode_ms[name][q] for t, q in zip(times[name], timed * args.rounds, strict=True)]
        rows[name] |= {"engine_p50_ms": pct(times[name], 50), "engine_p99_ms": pct(times[name], 99),
                       "engine_e2e_p50_ms": pct(e2e, 50), "engine_e2e_p99_ms": pct(e2e, 99),
                       "encode_p50_ms": pct(list(encode_ms[name].values()), 50), "timed_queries": len(timed)}
    return rows


def verdicts(local: dict, engine: dict | None) -> dict:
    full = local["splade"]
    out: dict[str, object] = {}
    halves = [n for n, r in local.items() if n.startswith(("doc:", "postings:")) and "+" not in n
              and r["postings"] <= 0.5 * full["postings"] and r["nDCG@10"] >= 0.99 * full["nDCG@10"]]
    out["halves_index_at_le_1pct_loss"] = sorted(halves)
    for r in local.values():
        r["ndcg_vs_full"] = round(r["nDCG@10"] / full["nDCG@10"], 4) if full["nDCG@10"] else None
        if "postings" in r:
            r["postings_vs_full"] = round(r["postings"] / full["postings"], 4)
    if engine:
        bm25 = engine["bm25"]["engine_p50_ms"]
        ok = []
        for n, r in engine.items():
            r["engine_p50_vs_bm25"] = round(r["engine_p50_ms"] / bm25, 3) if bm25 else None
            r["engine_e2e_p50_vs_bm25"] = round(r["engine_e2e_p50_ms"] / bm25, 3) if bm25 else None
            if n != "bm25":
                r["ndcg_vs_full"] = round(r["nDCG@10"] / engine["splade"]["nDCG@10"], 4)
                if r["engine_p50_vs_bm25"] <= 1.2 and r["ndcg_vs_full"] >= 0.97:
                    ok.append(n)
        out["within_1.2x_bm25_at_ge_97pct"] = sorted(ok)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["cranfield", "npl", "dbpedia-entity-sub5k"])
    parser.add_argument("--doc-prune", nargs="*", default=["mass:0.8", "mass:0.85", "mass:0.9", "top_k:64",
                                                           "ratio:0.25", "min_weight:0.5"])
    parser.add_argument("--top-postings", nargs="*", type=int, default=[200, 1000])
    parser.add_argument("--query-prune", nargs="*", default=["top_k:10", "top_k:16", "mass:0.9"])
    parser.add_argument("--compose", nargs="*", default=["mass:0.8+top_k:16", "mass:0.9+top_k:16"])
    parser.add_argument("--engine", choices=["opensearch", "elasticsearch", "none"], default="opensearch")
    parser.add_argument("--engine-url", default=None, help="use this running node instead of starting one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "efficiency.json")
    args = parser.parse_args()

    started = datetime.now(UTC)
    result: dict[str, object] = {
        "started": started.isoformat(timespec="seconds"), "machine": {"platform": platform.platform(),
                                                                      "cpus": os.cpu_count(), "load_start": load()},
        "settings": {k: v for k, v in vars(args).items() if k != "out"}, "k": K, "depth": DEPTH, "datasets": {}}
    encoder = SpladeEncoder.load("splade-tiny")
    node = None
    tmp = Path(tempfile.mkdtemp(prefix="spladekit-efficiency-"))
    # The node's own folder (the node runs as another user, who must own it; mkdtemp folders are private).
    node_dir = Path(tempfile.mkdtemp(prefix="spladekit-efficiency-node-"))
    try:
        url = args.engine_url
        if url is None and args.engine != "none":
            from spladekit.engines import node as nodes

            node = nodes.start(args.engine, data_dir=node_dir)
            url = node.url
            log(f"{args.engine} up at {url} in {node.started_in:.0f} s")
        if url is not None:
            result["engine"] = connect(url, "x").engine if node is None else args.engine
        for name in args.datasets:
            dataset = load_beir(DATASETS / name, "test")
            load_before = load()
            docs = build.DocVectors(encoder, dataset, progress=True)
            docs.batch  # noqa: B018 - encoded once, cached under $SPLADEKIT_CACHE/eval
            qvecs, _ = build.encode_queries(encoder, {q: dataset.queries[q] for q in dataset.qrels})
            log(f"{name}: {len(docs.ids)} docs, {len(qvecs)} judged queries; local settings")
            rows, local = local_section(dataset, encoder, docs, qvecs, args, tmp / name)
            local["rows"] = rows
            engine_rows = None
            if url is not None:
                log(f"{name}: engine settings")
                engine_rows = engine_section(url, dataset, encoder, docs, qvecs, local, args)
            result["datasets"][name] = {"docs": len(docs.ids), "queries": len(qvecs), "local": rows,
                                        "engine": engine_rows, "goals": verdicts(rows, engine_rows),
                                        "load_before": load_before, "load_after": load()}
            log(f"{name}: done (load {load()})")
    finally:
        if node is not None:
            node.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(node_dir, ignore_errors=True)
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["machine"]["load_end"] = load()
    text = json.dumps(result, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
