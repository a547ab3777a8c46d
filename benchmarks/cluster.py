"""Cluster benchmark: one node against a 3-node cluster of the same engine, side by side in the same run.

For each engine (one engine at a time; its single node and its 3-node cluster run together, so that each
measurement alternates between the two in the same minutes of a shared machine), with the real default model's
vectors of dbpedia-entity-sub5k (5,000 real documents, encoded once before anything is timed, so that the engine,
not the encoder, sets the pace):

- start-up: a fresh single node, a fresh 3-node cluster (launch to every node in a yellow cluster), later the
  restart of one SIGKILLed member on its data (to green) and of the whole cluster on its data;
- ``--rounds`` rounds, each alternating one node (1 shard, 0 replicas) and the cluster (3 shards, 1 replica:
  spladekit's default there): ingest docs/s into a new index (``spladekit.ingest.ingest``, precomputed vectors)
  with no search running; then ``--idle-seconds`` of search load on the finished index (``--clients`` threads
  searching without pause: SPLADE, the 40 dbpedia queries, through a client that knows every node's URL): p50,
  p99, errors; then an ingest into a new index under that search load: docs/s, p50, p99, errors;
- on the cluster, an ingest under search load during which a node holding a primary (not the elected master) is
  SIGKILLed at 30 %: docs/s to the end (with ``resume`` if it stopped), p50, p99, errors, the final count;
- resident memory (RSS) of every node.

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/cluster.py [--engines opensearch,elasticsearch]
        [--rounds 2] [--clients 4] [--idle-seconds 15] [--out benchmarks/results/cluster.json]

Prints JSON to stdout and writes it to ``--out``; the medians of the rounds are under ``"median"``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("SPLADEKIT_DATASETS", ROOT / "datasets"))
RESULTS = ROOT / "benchmarks" / "results"
CORPUS = DATASETS / "dbpedia-entity-sub5k"


class Precomputed:
    """The real model's vectors, computed once, served instantly: the ingest measures the engine."""

    def __init__(self, encoder, texts: list[str]) -> None:
        self.names, self.identity = encoder.names, encoder.identity
        self.vectors = dict(zip(texts, encoder.encode_documents(texts), strict=True))

    def encode_documents(self, texts):
        return [self.vectors[t] for t in texts]


class SearchLoad:
    """``clients`` threads searching without pause (SPLADE, real query vectors) through a client that knows every
    node; each search's latency, and every failure, are kept; ``empty_is_error``: an answer with no hit counts as a
    failure (for an index known to hold documents). The integration test (tests/integration/test_cluster.py) runs
    the same load during its node kill."""

    def __init__(self, url: str, index: str, names, vectors, clients: int, *, empty_is_error: bool = False) -> None:
        from spladekit.search import Searcher

        self.searchers = [Searcher(engine_url=url, index=index, names=names) for _ in range(clients)]
        self.vectors, self.stop, self.empty_is_error = vectors, threading.Event(), empty_is_error
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(s, i), daemon=True)
                        for i, s in enumerate(self.searchers)]

    def _run(self, searcher, offset: int) -> None:
        i = offset
        while not self.stop.is_set():
            t0 = time.perf_counter()
            try:
                if not searcher.search_vector(self.vectors[i % len(self.vectors)], k=10) and self.empty_is_error:
                    self.errors.append("no hits")
            except Exception as exc:  # noqa: BLE001 (every failure counts)
                self.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            self.latencies.append(time.perf_counter() - t0)
            i += 1

    def __enter__(self) -> SearchLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def summary(self) -> dict:
        ms = np.asarray(self.latencies) * 1000
        return {"searches": int(ms.size), "errors": len(self.errors), "first_errors": self.errors[:3],
                "p50_ms": round(float(np.percentile(ms, 50)), 2) if ms.size else None,
                "p99_ms": round(float(np.percentile(ms, 99)), 2) if ms.size else None}


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 (a local node)
        return json.loads(resp.read())


def _rss_mib(pid: int) -> float | None:
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return round(int(out) / 1024, 1) if out else None


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _wait_index(url: str, index: str, timeout: float = 300.0) -> None:
    from spladekit.engines import connect

    idx, deadline = connect(url, index), time.monotonic() + timeout
    while not idx.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    first = url.split(",")[0]
    _get(f"{first}/_cluster/health/{index}?wait_for_status=green&timeout=120s")


def _ingest_under_load(url: str, index: str, enc, corpus: Path, work: Path, args, *, shards: int | None,
                       replicas: int | None, kill=None) -> dict:
    """Ingest with the search load running from the moment the index exists; ``kill(position)`` may kill a node."""
    from spladekit.engines import connect
    from spladekit.ingest import IngestStopped, ingest

    cp = work / f"{index}.cp.json"
    job = dict(engine_url=url, index=index, encoder=enc, shards=shards, replicas=replicas, checkpoint=cp,
               max_retries=8, initial_backoff=0.5, max_backoff=5.0)
    outcome: dict = {}
    t0 = time.perf_counter()

    def run() -> None:
        try:
            outcome["report"] = ingest(corpus, **job)
        except IngestStopped as exc:
            outcome["stopped"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    _wait_index(url, index)
    killed = None
    with SearchLoad(url, index, enc.names, args.query_vectors, args.clients) as load:
        while worker.is_alive():
            if kill is not None and killed is None and cp.is_file():
                position = json.loads(cp.read_text()).get("position", 0)
                if position >= 1500:
                    killed = kill()
            time.sleep(0.1)
        worker.join()
        runs = 1
        while "stopped" in outcome:
            outcome.pop("stopped")
            runs += 1
            try:
                outcome["report"] = ingest(corpus, resume=True, **job)
            except IngestStopped as exc:
                if runs > 4:
                    raise
                outcome["stopped"] = exc
    seconds = time.perf_counter() - t0
    report = outcome["report"]
    idx = connect(url, index)
    idx.refresh()
    count = idx.count()
    return {"index": index, "shards": report.shards, "replicas": report.replicas, "indexed": report.indexed,
            "count": count, "runs": runs, "retries": report.retries, "seconds": round(seconds, 2),
            "docs_per_s": round(count / seconds, 1),
            "killed": killed, "search_during_ingest": load.summary(), "load_avg": _load()}


def _idle_load(url: str, index: str, enc, args) -> dict:
    with SearchLoad(url, index, enc.names, args.query_vectors, args.clients) as load:
        time.sleep(args.idle_seconds)
    return {**load.summary(), "load_avg": _load()}


def _plain_ingest(url: str, index: str, enc, corpus: Path, work: Path, *, shards: int | None) -> dict:
    from spladekit.ingest import ingest

    t0 = time.perf_counter()
    report = ingest(corpus, engine_url=url, index=index, encoder=enc, shards=shards,
                    checkpoint=work / f"{index}.cp.json")
    seconds = time.perf_counter() - t0
    return {"index": index, "shards": report.shards, "replicas": report.replicas, "indexed": report.indexed,
            "seconds": round(seconds, 2), "docs_per_s": round(report.indexed / seconds, 1), "load_avg": _load()}


def _median(rounds: list[dict], *path: str) -> float | None:
    values = []
    for r in rounds:
        for key in path:
            r = r.get(key) if isinstance(r, dict) else None
        if isinstance(r, (int, float)):
            values.append(r)
    return round(float(np.median(values)), 2) if values else None


def bench_engine(engine: str, enc, args, work: Path) -> dict:
    from spladekit.engines import connect, node

    out: dict = {"engine": engine}
    corpus = CORPUS / "corpus.jsonl"
    single_dir, cluster_dir = work / f"{engine}-single", work / f"{engine}-cluster"
    n = node.start(engine, data_dir=single_dir)
    c = None
    try:
        out["single_started_in_s"] = round(n.started_in, 2)
        c = node.start_cluster(engine, nodes=3, data_dir=cluster_dir)
        out["cluster_started_in_s"] = round(c.started_in, 2)
        out["start_load_avg"] = _load()
        targets = {"single": (n.url, None), "cluster": (c.url, 3)}
        rounds = []
        for r in range(args.rounds):
            one: dict = {}
            for name, (url, shards) in targets.items():
                one[name] = {"ingest": _plain_ingest(url, f"bench-{name}-{r}", enc, corpus, work, shards=shards)}
            for name, (url, _) in targets.items():
                one[name]["idle_search"] = _idle_load(url, f"bench-{name}-{r}", enc, args)
            for name, (url, shards) in targets.items():
                one[name]["ingest_under_load"] = _ingest_under_load(url, f"bench-{name}-{r}-load", enc, corpus, work,
                                                                    args, shards=shards, replicas=None)
            for name, (url, _) in targets.items():  # keep the nodes' disks and heaps small between rounds
                for index in (f"bench-{name}-{r}", f"bench-{name}-{r}-load"):
                    connect(url, index).delete_index()
            rounds.append(one)
            print(json.dumps(one), flush=True)
        out["rounds"] = rounds
        out["median"] = {name: {
            "ingest_docs_per_s": _median(rounds, name, "ingest", "docs_per_s"),
            "idle_p50_ms": _median(rounds, name, "idle_search", "p50_ms"),
            "idle_p99_ms": _median(rounds, name, "idle_search", "p99_ms"),
            "loaded_ingest_docs_per_s": _median(rounds, name, "ingest_under_load", "docs_per_s"),
            "loaded_p50_ms": _median(rounds, name, "ingest_under_load", "search_during_ingest", "p50_ms"),
            "loaded_p99_ms": _median(rounds, name, "ingest_under_load", "search_during_ingest", "p99_ms"),
            "search_errors": sum(r[name]["idle_search"]["errors"]
                                 + r[name]["ingest_under_load"]["search_during_ingest"]["errors"] for r in rounds),
        } for name in targets}
        out["rss_mib"] = {"single": _rss_mib(n.pid), "cluster": [_rss_mib(m.pid) for m in c.nodes]}
        n.stop()

        cluster = c

        def kill() -> str:
            shards = _get(f"{cluster.nodes[0].url}/_cat/shards/bench-kill?format=json&h=shard,prirep,node")
            master = _get(f"{cluster.nodes[0].url}/_cat/master?format=json")[0]["node"]
            holders = {s["node"] for s in shards if s["prirep"] == "p"} - {master}
            victim = next(i for i, m in enumerate(cluster.nodes) if m.name in holders)
            cluster.nodes[victim].kill()
            out["killed_index"] = victim
            return cluster.nodes[victim].name

        out["ingest_with_kill"] = _ingest_under_load(c.url, "bench-kill", enc, corpus, work, args, shards=3,
                                                     replicas=None, kill=kill)
        victim = out["killed_index"]
        t0 = time.perf_counter()
        c.start_node(victim)
        c.wait_for("green", 3, timeout=600)
        out["rejoin_to_green_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        c.stop()
        stopped = time.perf_counter() - t0
        c = node.start_cluster(engine, nodes=3, data_dir=cluster_dir)
        out["whole_restart"] = {"stop_s": round(stopped, 2), "start_s": round(c.started_in, 2), "load_avg": _load()}
        out["count_after_restart"] = connect(c.url, "bench-kill").count()
    finally:
        n.stop()
        if c is not None:
            c.stop()
        shutil.rmtree(single_dir, ignore_errors=True)
        shutil.rmtree(cluster_dir, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="opensearch,elasticsearch")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--idle-seconds", type=float, default=15.0)
    ap.add_argument("--out", type=Path, default=RESULTS / "cluster.json")
    args = ap.parse_args()

    from spladekit import readers
    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.ingest.policy import RecordPolicy
    from spladekit.ingest.records import Record

    model = SpladeEncoder.load()
    policy = RecordPolicy()
    texts = []
    for raw in readers.read(*readers.resolve_input(CORPUS / "corpus.jsonl")):
        rec = raw.reject or policy.check(raw.position, raw.row)
        if isinstance(rec, Record):
            texts.append(rec.encoder_text)
    t0 = time.perf_counter()
    enc = Precomputed(model, texts)
    encode_s = time.perf_counter() - t0
    queries = [json.loads(x)["text"] for x in (CORPUS / "queries.jsonl").read_text().splitlines() if x.strip()]
    args.query_vectors = model.encode_queries(queries)

    result = {"benchmark": "cluster", "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "corpus": str(CORPUS.name),
              "docs": len(texts), "encode_once_s": round(encode_s, 1), "clients": args.clients,
              "rounds": args.rounds, "load_avg_at_start": _load(), "engines": []}
    work = Path(tempfile.mkdtemp(prefix="spladekit-bench-cluster-"))
    work.chmod(0o755)
    try:
        for engine in args.engines.split(","):
            result["engines"].append(bench_engine(engine.strip(), enc, args, work))
            print(json.dumps(result["engines"][-1], indent=1), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
