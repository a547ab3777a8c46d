"""Ingestion benchmark: end-to-end docs/s into OpenSearch, Elasticsearch and the local index vs encode-only.

``throughput`` (default): npl (11,429 real documents, datasets/npl) with the default model. In one
process, alternating: encode-only (the encoder alone on the same texts, the same length-sorted windows of 512
and batches of 32, texts already in memory), then ``spladekit.ingest.ingest`` into each target (reading,
policy, encoding, bulk/local writes, refresh/save, checkpoint), then encode-only again, ... Each ingest is
compared with the mean of the encode-only passes just before and after it (the machine is shared, so its
speed drifts). Engines: started here on free ports (one at a time, 512 MB heap) unless URLs are given.

``memory``: peak RSS of a fresh process ingesting N records (npl tiled with new ids: ``{copy}-{id}``) for each
N, into a counting sink. ``--encoder hash`` (default for memory) replaces the model with a bag-of-hashed-words
encoder so that 1M records finish in minutes: it measures the pipeline (reader, policy, duplicate-id set,
queues, writer), whose memory is what could grow with the input; ``--encoder model`` uses the real model.

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/ingest.py throughput [--targets local,opensearch,elasticsearch]
    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/ingest.py memory --sizes 10000,100000,1000000

Prints JSON to stdout and writes it to ``benchmarks/results/ingest_<mode>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("SPLADEKIT_DATASETS", ROOT / "datasets"))
RESULTS = ROOT / "benchmarks" / "results"


class HashEncoder:
    """Bag of hashed words (30,522 buckets): no model, a few microseconds per document."""

    def __init__(self) -> None:
        from spladekit.features import FeatureNames

        self.names = FeatureNames([f"h{i}" for i in range(30522)])
        self.info = {"source_model": "hash-bench", "weights_sha256": "0" * 64}

    def encode_documents(self, texts):
        from spladekit.vectors import SparseVector

        out = []
        for text in texts:
            w: dict[int, float] = {}
            for word in re.findall(r"\w+", text.lower())[:256]:
                t = zlib.crc32(word.encode()) % 30522
                w[t] = w.get(t, 0.0) + 1.0
            out.append(SparseVector.from_dict(w))
        return out


def _texts(corpus: Path) -> list[str]:
    from spladekit import readers
    from spladekit.ingest.policy import RecordPolicy
    from spladekit.ingest.records import Record

    policy = RecordPolicy()
    out = []
    for raw in readers.read(*readers.resolve_input(corpus)):
        rec = raw.reject or policy.check(raw.position, raw.row)
        if isinstance(rec, Record):
            out.append((rec.nbytes, rec.encoder_text))
    return [t for _, t in out], [n for n, _ in out]


def encode_only(encoder, texts: list[str], nbytes: list[int], window: int = 512, batch: int = 32) -> float:
    """docs/s of the encoder alone, batched exactly as the pipeline batches (length-sorted windows)."""
    start = time.perf_counter()
    for w in range(0, len(texts), window):
        order = sorted(range(w, min(w + window, len(texts))), key=lambda i: nbytes[i])
        for b in range(0, len(order), batch):
            encoder.encode_documents([texts[i] for i in order[b : b + batch]])
    return len(texts) / (time.perf_counter() - start)


@contextlib.contextmanager
def _node(engine: str, url: str | None):
    if url:
        yield url
        return
    from spladekit.engines import node as nodes

    data_dir = Path(tempfile.mkdtemp(prefix=f"spladekit-bench-{engine}-"))
    n = nodes.start(engine, data_dir=data_dir)
    try:
        yield n.url
    finally:
        n.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _ingest_once(corpus: Path, encoder, target: str, url: str | None, work: Path) -> dict:
    from spladekit.ingest import ingest

    kwargs: dict = {"encoder": encoder, "checkpoint": work / f"{target}-cp.json"}
    if target == "local":
        shutil.rmtree(work / "local", ignore_errors=True)
        kwargs["local_dir"] = work / "local"
    else:
        kwargs |= {"engine_url": url, "index": "bench-ingest"}
    report = ingest(corpus, **kwargs)
    if target != "local":
        from spladekit.engines import connect

        idx = connect(url, "bench-ingest")
        count = idx.count()
        idx.delete_index()
    else:
        count = report.indexed
    return {"docs_per_s": report.docs_per_s, "seconds": report.seconds, "indexed": report.indexed,
            "count": count, "retries": report.retries, "failed": report.failed}


def throughput(args: argparse.Namespace) -> dict:
    from spladekit.encoder.runtime import SpladeEncoder

    corpus = Path(args.corpus)
    encoder = SpladeEncoder.load(args.model, threads=args.threads)
    texts, nbytes = _texts(corpus)
    encode_only(encoder, texts[:256], nbytes[:256])  # warm-up: first onnxruntime runs allocate
    urls = {"opensearch": args.opensearch_url, "elasticsearch": args.elasticsearch_url}
    rows = []
    enc_passes = [encode_only(encoder, texts, nbytes)]
    with tempfile.TemporaryDirectory(prefix="spladekit-bench-ingest-") as tmp:
        work = Path(tmp)
        for target in args.targets.split(","):
            if target == "local":
                ctx = contextlib.nullcontext(None)
            else:
                ctx = _node(target, urls[target])
            with ctx as url:
                result = _ingest_once(corpus, encoder, target, url, work)
            enc_passes.append(encode_only(encoder, texts, nbytes))
            ref = (enc_passes[-2] + enc_passes[-1]) / 2
            rows.append({"target": target, **result, "encode_only_docs_per_s": round(ref, 1),
                         "ratio_to_encode_only": round(result["docs_per_s"] / ref, 3)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return {"benchmark": "ingest-throughput", "corpus": corpus.name, "documents": len(texts),
            "model": encoder.info.get("source_model"), "threads": args.threads,
            "encode_only_passes_docs_per_s": [round(x, 1) for x in enc_passes], "results": rows}


def _tile(corpus: Path, n: int, dest: Path) -> None:
    rows = [json.loads(line) for line in open(corpus / "corpus.jsonl", encoding="utf-8")]
    with open(dest, "w", encoding="utf-8") as f:
        for i in range(n):
            r = rows[i % len(rows)]
            f.write(json.dumps({"_id": f"{i // len(rows)}-{r['_id']}", "title": r.get("title", ""),
                                "text": r["text"]}) + "\n")


def memory_child(args: argparse.Namespace) -> dict:
    """One run in this (fresh) process: ingest the tiled file into a counting sink, report peak RSS."""
    from spladekit.ingest import ingest
    from spladekit.ingest.sinks import CountingSink

    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.encoder == "hash":
        encoder = HashEncoder()
    else:
        from spladekit.encoder.runtime import SpladeEncoder

        encoder = SpladeEncoder.load(args.model, threads=args.threads)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sink = CountingSink()
    with tempfile.TemporaryDirectory() as tmp:
        report = ingest(args.file, sink=sink, encoder=encoder, checkpoint=Path(tmp) / "cp.json")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"records": report.read, "indexed": report.indexed, "failed": report.failed,
            "docs_per_s": report.docs_per_s, "seconds": report.seconds, "encoder": args.encoder,
            "peak_rss_mib_before_model": round(rss_start / 1024, 1),
            "peak_rss_mib_after_model_load": round(rss_loaded / 1024, 1), "peak_rss_mib": round(peak / 1024, 1)}


def memory(args: argparse.Namespace) -> dict:
    rows = []
    with tempfile.TemporaryDirectory(prefix="spladekit-bench-mem-") as tmp:
        for n in [int(x) for x in args.sizes.split(",")]:
            path = Path(tmp) / f"tiled-{n}.jsonl"
            _tile(DATASETS / "npl", n, path)
            cmd = [sys.executable, __file__, "memory-child", "--file", str(path), "--encoder", args.encoder,
                   "--model", args.model] + (["--threads", str(args.threads)] if args.threads else [])
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append({"input_mib": round(path.stat().st_size / 2**20, 1), **json.loads(out.stdout)})
            print(json.dumps(rows[-1]), file=sys.stderr)
            path.unlink()
    return {"benchmark": "ingest-memory", "sink": "counting", "results": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["throughput", "memory", "memory-child"], nargs="?", default="throughput")
    parser.add_argument("--targets", default="local,opensearch,elasticsearch")
    parser.add_argument("--corpus", default=str(DATASETS / "npl"), help="BEIR folder or JSONL (throughput)")
    parser.add_argument("--opensearch-url", default=None)
    parser.add_argument("--elasticsearch-url", default=None)
    parser.add_argument("--model", default="splade-tiny")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--encoder", choices=["hash", "model"], default="hash")
    parser.add_argument("--file", default=None)
    args = parser.parse_args()
    if args.mode == "memory-child":
        print(json.dumps(memory_child(args)))
        return
    result = throughput(args) if args.mode == "throughput" else memory(args)
    result |= {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
               "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
               "note": "other engineers' jobs share the machine; compare within this run only"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"ingest_{args.mode}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
