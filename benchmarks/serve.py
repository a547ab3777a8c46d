"""The query service under load: queries/s and p50/p99 latency of ``/v1/encode`` and ``/v1/search`` (local index)
at 1, 8 and 64 concurrent clients, with micro-batching and without it (``--no-batching``), then a 60 s load at
64 clients that must end with zero errors and flat memory (the server's RSS sampled every second).

Prints one JSON object (and writes it to ``--out``). Each configuration is a ``spladekit serve`` process of its
own (the load generator, an asyncio loop with one httpx client per configuration, runs in this process);
batching and no batching alternate at every (endpoint, clients) point, ``--rounds`` times, and the medians over
rounds are reported. For scale, ``library`` is the same work called in process on one thread, without HTTP
(``SpladeEncoder.encode_queries`` + ``Searcher.search``): the ceiling of a single client; and
``encoder_paths_qps`` compares the ways a list of queries can run through the encoder (see
:func:`encoder_paths`).

The index is cranfield (1,400 documents) encoded with the default model, built once into
``$SPLADEKIT_CACHE/bench/serve-cranfield``; the queries are cranfield's 225, cycled.

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/serve.py --out benchmarks/results/serve.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
CLIENTS = (1, 8, 64)
ENDPOINTS = ("/v1/encode", "/v1/search")


def datasets_dir() -> Path:
    env = os.environ.get("SPLADEKIT_DATASETS")
    return Path(env) if env else REPO / "datasets"


def build_index() -> Path:
    from spladekit import paths
    from spladekit.ingest import ingest

    target = paths.cache_dir() / "bench" / "serve-cranfield"
    if not (target / "params.json").is_file():
        ingest(str(datasets_dir() / "cranfield" / "corpus.jsonl"), local_dir=target)
    return target


def queries() -> list[str]:
    with open(datasets_dir() / "cranfield" / "queries.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: what a request costs, whatever else loads the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for {pid}")


class Server:
    """``spladekit serve`` in a child process."""

    def __init__(self, index: Path, port: int, batching: bool) -> None:
        args = [sys.executable, "-c", "from spladekit.cli import main; main()", "serve", "--local", str(index),
                "--port", str(port), "--max-k", "1000"]
        if not batching:
            args.append("--no-batching")
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"spladekit serve exited: {self.proc.stderr.read()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("spladekit serve did not come up in 180 s")
            time.sleep(0.2)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def body(endpoint: str, text: str) -> dict:
    return {"texts": [text], "kind": "query"} if endpoint == "/v1/encode" else {"text": text, "k": 10}


async def drive(url: str, endpoint: str, texts: list[str], clients: int, seconds: float,
                sample=None) -> dict:
    """``clients`` workers, each sending its next request when the last one answered, for ``seconds``."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        for text in texts[:clients]:  # open the connections, warm up
            await client.post(endpoint, json=body(endpoint, text))
        stop = time.perf_counter() + seconds
        counter = iter(range(10**9))

        async def worker() -> None:
            while time.perf_counter() < stop:
                text = texts[next(counter) % len(texts)]
                started = time.perf_counter()
                try:
                    resp = await client.post(endpoint, json=body(endpoint, text))
                    if resp.status_code != 200:
                        errors[str(resp.status_code)] = errors.get(str(resp.status_code), 0) + 1
                        continue
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - started)

        async def sampler() -> None:
            while time.perf_counter() < stop:
                sample()
                await asyncio.sleep(1.0)

        began = time.perf_counter()
        tasks = [worker() for _ in range(clients)] + ([sampler()] if sample else [])
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(q: float) -> float:
        return round(1e3 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 3) if latencies else None

    return {"requests": len(latencies), "qps": round(len(latencies) / elapsed, 1), "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "errors": errors}


def batch_stats(url: str) -> dict:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    values = {}
    for line in text.splitlines():
        for name in ("spladekit_encoder_batch_requests_sum", "spladekit_encoder_batch_requests_count"):
            if line.startswith(name + '{kind="query"}'):
                values[name] = float(line.split()[-1])
    calls = values.get("spladekit_encoder_batch_requests_count", 0.0)
    return {"encoder_calls": int(calls),
            "requests_per_call": round(values.get("spladekit_encoder_batch_requests_sum", 0.0) / calls, 2)
            if calls else None}


def library_baseline(index: Path, texts: list[str], seconds: float) -> dict:
    from spladekit.search import Searcher

    searcher = Searcher(local_dir=index)
    encoder = searcher.encoder
    out = {}
    for endpoint in ENDPOINTS:
        latencies = []
        stop = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < stop:
            started = time.perf_counter()
            vec = encoder.encode_queries([texts[i % len(texts)]])[0]
            if endpoint == "/v1/search":
                searcher.search(texts[i % len(texts)], vector=vec, k=10)
            latencies.append(time.perf_counter() - started)
            i += 1
        latencies.sort()
        out[endpoint] = {"qps": round(len(latencies) / sum(latencies), 1),
                         "p50_ms": round(1e3 * latencies[len(latencies) // 2], 3),
                         "p99_ms": round(1e3 * latencies[int(0.99 * len(latencies))], 3)}
    return out


def encoder_paths(texts: list[str], rounds: int) -> dict:
    """Queries/s of ``encode_queries`` on all the queries, three ways: the padded batch graph in batches of 32
    (what a list of queries ran before 2026-12-05), each query on the query path one after another (one
    multi-threaded session), and each query on the query path one per core (single-threaded sessions: what a list
    runs now). The three give the same terms; the last two the same bits."""
    from spladekit.encoder.runtime import SpladeEncoder

    enc = SpladeEncoder.load()
    ways = {
        "batch_graph_batches_of_32": lambda: enc._encode(texts, "truncate", None, False),  # noqa: SLF001
        "query_path_one_after_another": lambda: [enc.encode_queries([t])[0] for t in texts],
        "query_path_one_per_core": lambda: enc.encode_queries(texts),
    }
    for fn in ways.values():
        fn()  # load the sessions, compile
    got: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, fn in ways.items():
            started = time.perf_counter()
            fn()
            got[name].append(len(texts) / (time.perf_counter() - started))
    return {name: round(statistics.median(v), 1) for name, v in got.items()} | {"threads": enc.threads,
                                                                                 "queries": len(texts)}


def soak(index: Path, texts: list[str], port: int, seconds: float, clients: int) -> dict:
    server = Server(index, port, batching=True)
    rss: list[tuple[float, float]] = []
    began = time.monotonic()
    try:
        result = asyncio.run(drive(server.url, "/v1/search", texts, clients, seconds,
                                   sample=lambda: rss.append((time.monotonic() - began, rss_mib(server.proc.pid)))))
        result |= batch_stats(server.url)
    finally:
        code = server.stop()
    mibs = [m for _, m in rss]
    n = len(rss)

    def slope(points: list[tuple[float, float]]) -> float:
        mean_t = sum(t for t, _ in points) / len(points)
        mean_m = sum(m for _, m in points) / len(points)
        return sum((t - mean_t) * (m - mean_m) for t, m in points) / max(1e-9, sum((t - mean_t) ** 2
                                                                                    for t, _ in points))

    steady = [(t, m) for t, m in rss if t >= 10.0]  # after the first 10 s: connections and buffers in place
    half = n // 2
    return {**result, "clients": clients, "seconds": seconds, "exit_status": code,
            "rss_mib": {"first": round(mibs[0], 1), "last": round(mibs[-1], 1), "max": round(max(mibs), 1),
                        "min": round(min(mibs), 1), "first_half_mean": round(statistics.mean(mibs[:half]), 1),
                        "second_half_mean": round(statistics.mean(mibs[half:]), 1),
                        "slope_mib_per_min": round(60 * slope(rss), 3),
                        "steady_slope_mib_per_min_after_10s": round(60 * slope(steady), 3),
                        "after_10s_min": round(min(m for _, m in steady), 1),
                        "after_10s_max": round(max(m for _, m in steady), 1), "samples": n}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="Load per (endpoint, clients, mode) point.")
    parser.add_argument("--rounds", type=int, default=2, help="Alternations of batching / no batching.")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="The long load at 64 clients.")
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS))
    parser.add_argument("--port", type=int, default=18931)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    index = build_index()
    texts = queries()
    report: dict = {
        "script": "benchmarks/serve.py", "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "index": {"collection": "cranfield", "documents": 1400, "queries": len(texts)},
        "settings": {"seconds": args.seconds, "rounds": args.rounds, "clients": args.clients, "max_batch": 32,
                     "batch_wait_ms": 2.0},
        "load_average": {"start": load_average()},
    }
    report["encoder_paths_qps"] = encoder_paths(texts, max(3, args.rounds))
    report["library_one_thread"] = library_baseline(index, texts, args.seconds / 2)
    runs: dict[str, dict[str, dict[str, list[dict]]]] = {}
    servers = {"batching": Server(index, args.port, True), "no_batching": Server(index, args.port + 1, False)}
    try:
        for _ in range(args.rounds):
            for endpoint in ENDPOINTS:
                for clients in args.clients:
                    for mode, server in servers.items():  # alternate the contenders at every point
                        before, cpu = batch_stats(server.url), cpu_seconds(server.proc.pid)
                        got = asyncio.run(drive(server.url, endpoint, texts, clients, args.seconds))
                        cpu = cpu_seconds(server.proc.pid) - cpu
                        after = batch_stats(server.url)
                        got["encoder_calls"] = after["encoder_calls"] - before["encoder_calls"]
                        # the clients' warm-up requests (one per client) count too
                        got["server_cpu_ms_per_request"] = round(1e3 * cpu / (got["requests"] + clients), 3)
                        runs.setdefault(endpoint, {}).setdefault(str(clients), {}).setdefault(mode, []).append(got)
    finally:
        for server in servers.values():
            server.stop()
    report["load_average"]["after_points"] = load_average()
    table: dict = {}
    for endpoint, by_clients in runs.items():
        for clients, by_mode in by_clients.items():
            row = {}
            for mode, results in by_mode.items():
                row[mode] = {"qps": statistics.median(r["qps"] for r in results),
                             "p50_ms": statistics.median(r["p50_ms"] for r in results),
                             "p99_ms": statistics.median(r["p99_ms"] for r in results),
                             "errors": sum(sum(r["errors"].values()) for r in results),
                             "server_cpu_ms_per_request": statistics.median(r["server_cpu_ms_per_request"]
                                                                             for r in results),
                             "requests_per_encoder_call": round(sum(r["requests"] for r in results)
                                                                / max(1, sum(r["encoder_calls"] for r in results)), 2)
                             if mode == "batching" else 1.0}
            row["qps_ratio_batching"] = round(row["batching"]["qps"] / row["no_batching"]["qps"], 2)
            row["cpu_ratio_batching"] = round(row["batching"]["server_cpu_ms_per_request"]
                                              / row["no_batching"]["server_cpu_ms_per_request"], 2)
            table.setdefault(endpoint, {})[clients] = row
    report["points"] = table
    report["rounds_raw"] = runs
    report["soak"] = soak(index, texts, args.port + 2, args.soak_seconds, 64)
    report["load_average"]["end"] = load_average()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
