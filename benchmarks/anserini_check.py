"""The Anserini export, checked with Anserini itself: index ``export-vectors --format anserini`` with
``IndexCollection -collection JsonVectorCollection -impact -pretokenized``, search ``queries.tsv`` with
``SearchCollection -topicReader TsvString -impact -pretokenized``, and compare with spladekit's own scoring of the
same integer vectors (the export read back into an ``exact`` local index): the score list of every query, and
nDCG@10 / R@100 of both runs. Also times Anserini's indexing and search (whole runs, JVM start included).

Anserini comes from Maven Central (``io.anserini:anserini:VERSION:jar:fatjar``, fetched once with ``mvn
dependency:copy`` into ``$SPLADEKIT_CACHE/anserini``) and needs Java 21 or newer (``--java``; the default looks
under /usr/lib/jvm). Prints one JSON object:

    SPLADEKIT_CACHE=.cache .venv/bin/python benchmarks/anserini_check.py --out benchmarks/results/anserini_check.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from spladekit import paths
from spladekit.datasets import load_beir
from spladekit.encoder.runtime import SpladeEncoder
from spladekit.evaluation import build
from spladekit.evaluation.metrics import compute
from spladekit.evaluation.trec import load_run
from spladekit.exchange import export_vectors, read_vectors
from spladekit.local.index import LocalIndex

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("SPLADEKIT_DATASETS", REPO / "datasets"))
MEASURES = ["nDCG@10", "R@100"]


def log(msg: str) -> None:
    print(f"[anserini_check {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fetch(version: str) -> Path:
    folder = paths.cache_dir() / "anserini"
    jar = folder / f"anserini-{version}-fatjar.jar"
    if not jar.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mvn", "-q", "-B", "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
                        f"-DoutputDirectory={folder}", f"-Dartifact=io.anserini:anserini:{version}:jar:fatjar"],
                       check=True, timeout=1800)
    return jar


def find_java() -> str:
    for home in sorted(Path("/usr/lib/jvm").glob("*"), reverse=True):
        java = home / "bin" / "java"
        if java.is_file():
            out = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
            major = out.split('"')[1].split(".")[0] if '"' in out else "0"
            if major.isdigit() and int(major) >= 21:
                return str(java)
    raise SystemExit("Anserini needs Java 21 or newer; pass --java PATH")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["cranfield", "npl", "dbpedia-entity-sub5k"])
    ap.add_argument("--anserini", default="1.5.0")
    ap.add_argument("--java", default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    java = args.java or find_java()
    jar = fetch(args.anserini)
    encoder = SpladeEncoder.load("splade-tiny")
    result: dict = {"anserini": args.anserini, "java": java, "started": datetime.now(UTC).isoformat(timespec="seconds"),
                    "load_start": "/".join(f"{x:.1f}" for x in os.getloadavg()), "datasets": {}}
    for name in args.datasets:
        dataset = load_beir(DATASETS / name, "test")
        docs = build.DocVectors(encoder, dataset)
        docs.batch  # noqa: B018 - encoded once, cached under $SPLADEKIT_CACHE/eval
        where, _ = build.local_index(docs, mode="exact")
        qvecs = {q: encoder.encode_queries([dataset.queries[q]])[0] for q in dataset.qrels}
        with tempfile.TemporaryDirectory(prefix="spladekit-anserini-") as tmp:
            out, idx, run_file = Path(tmp) / "export", Path(tmp) / "index", Path(tmp) / "run.trec"
            manifest = export_vectors(where, out, query_vectors=qvecs)
            t0 = time.perf_counter()
            subprocess.run([java, "-cp", str(jar), "io.anserini.index.IndexCollection", "-collection",
                            "JsonVectorCollection", "-input", str(out / "docs"), "-index", str(idx), "-generator",
                            "DefaultLuceneDocumentGenerator", "-impact", "-pretokenized", "-threads", "2"],
                           check=True, capture_output=True, timeout=3600)
            index_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            subprocess.run([java, "-cp", str(jar), "io.anserini.search.SearchCollection", "-index", str(idx),
                            "-topics", str(out / "queries.tsv"), "-topicReader", "TsvString", "-output",
                            str(run_file), "-impact", "-pretokenized", "-hits", "100", "-threads", "1"],
                           check=True, capture_output=True, timeout=3600)
            search_s = time.perf_counter() - t0
            theirs = load_run(run_file)
            names = encoder.names
            ints = {d: names.from_features(v) for d, v in read_vectors(out)}
            index_bytes = sum(p.stat().st_size for p in idx.rglob("*") if p.is_file())
            queries = {q: names.from_features(v) for q, v in read_vectors(out / "queries.jsonl")}
        local = LocalIndex(mode="exact")
        local.add(list(ints), list(ints.values()))
        ours, same = {}, 0
        for q, vec in queries.items():
            ids, scores = local.search(vec, k=100) if len(vec) else ([], [])
            ours[q] = dict(zip(ids, [float(s) for s in scores], strict=True))
            same += sorted(theirs.get(q, {}).values(), reverse=True) == sorted(ours[q].values(), reverse=True)
        result["datasets"][name] = {
            "docs": manifest["docs"], "postings": manifest["postings"], "queries": len(queries),
            "queries_with_identical_scores": same, "anserini": compute(dataset.qrels, theirs, MEASURES)[0],
            "spladekit_int": compute(dataset.qrels, ours, MEASURES)[0], "anserini_index_s": round(index_s, 1),
            "anserini_search_s": round(search_s, 1), "anserini_index_bytes": index_bytes}
        log(f"{name}: {same}/{len(queries)} queries with identical score lists")
    result["load_end"] = "/".join(f"{x:.1f}" for x in os.getloadavg())
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
