"""Three-node clusters of real OpenSearch and Elasticsearch nodes, with the real default model's vectors.

One cluster per engine (one engine at a time: the machine is small), started with ``spladekit engine start
--nodes 3`` and driven from Python (``node.attach``); the tests run in file order on it:

1. the cluster forms (3 nodes, each its own folder and 512 MB heap) and ``engine status`` shows every node;
2. ``ingest --shards 3`` gets 1 replica by default on 3 nodes (``auto_expand_replicas`` 0-1), documents sit
   where ``spladekit.engines.routing`` says, and ``spladekit parity`` is bit-exact on cranfield (225 queries,
   top-100), exact and two-phase;
3. SPLADE scores do not depend on the shard layout; BM25 scores do, unless sent as dfs_query_then_fetch, which
   spladekit's BM25 (and hybrid) searches are;
4. a node holding primaries is SIGKILLed while 5,000 dbpedia documents (plus the bad-input file) are ingested
   and 4 clients search: no search fails, the ingest finishes (with ``--resume`` if it stops), the count is exact,
   nothing is duplicated or lost, the dead letter holds only the bad input; the node rejoins; then the whole
   cluster is SIGKILLed and restarted on its data and still holds every document;
5. ``engine stop`` stops every node.

The vectors are computed once (the real default model) and served at a steady rate by ``_Precomputed`` so
that an ingest lasts long enough to kill a node in its middle.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from _support import BAD_INPUT, REPO, bad_input_expected, skip_or_fail
from spladekit import readers
from spladekit.cli import main
from spladekit.engines import connect, node, routing
from spladekit.errors import EngineError
from spladekit.ingest import IngestStopped, ingest
from spladekit.ingest.deadletter import read_dead_letter
from spladekit.ingest.policy import RecordPolicy
from spladekit.ingest.records import Record
from spladekit.search import Searcher

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NODES = 3
#: Documents per second the stand-in encoder serves (about the real encoder's rate on this machine).
RATE = 250.0
SEARCH_CLIENTS = 4


class _Precomputed:
    """The real model's vectors for every text of the corpora, computed once, served at ``RATE`` docs/s."""

    def __init__(self, encoder, texts: list[str]) -> None:
        self.names, self.identity, self.real = encoder.names, encoder.identity, encoder
        unique = sorted(set(texts))
        self.vectors = dict(zip(unique, encoder.encode_documents(unique), strict=True))
        self.rate = RATE

    def encode_documents(self, texts):
        time.sleep(len(texts) / self.rate)
        return [self.vectors[t] if t in self.vectors else self.real.encode_documents([t])[0] for t in texts]


def _records(path: Path) -> list[Record]:
    policy, out = RecordPolicy(), []
    for raw in readers.read(*readers.resolve_input(path)):
        rec = raw.reject or policy.check(raw.position, raw.row)
        if isinstance(rec, Record):
            out.append(rec)
    return out


@pytest.fixture(scope="module")
def corpora(tmp_path_factory, datasets_dir: Path, default_encoder):
    """cranfield, and 5,000 dbpedia documents followed by the bad-input file; their vectors, once."""
    work = tmp_path_factory.mktemp("cluster-corpora")
    mixed = work / "dbpedia-plus-bad.jsonl"
    mixed.write_bytes((datasets_dir / "dbpedia-entity-sub5k" / "corpus.jsonl").read_bytes() + BAD_INPUT.read_bytes())
    cranfield = datasets_dir / "cranfield"
    texts = [r.encoder_text for path in (cranfield / "corpus.jsonl", mixed) for r in _records(path)]
    queries = [json.loads(line)["text"] for line in
               (datasets_dir / "dbpedia-entity-sub5k" / "queries.jsonl").read_text().splitlines() if line.strip()]
    return {"cranfield": cranfield, "mixed": mixed, "encoder": _Precomputed(default_encoder, texts),
            "queries": default_encoder.encode_queries(queries), "model": default_encoder}


def _free_run(n: int) -> int:
    for _ in range(100):
        first = node.free_port()
        if first + n < 65536 and not any(node.port_in_use(first + i) for i in range(n)):
            return first
    raise AssertionError("no run of free ports")


@pytest.fixture(scope="module", params=["opensearch", "elasticsearch"])
def cluster(request) -> Iterator[dict]:
    """A 3-node cluster of the engine, started by the CLI; ``holder["cluster"]`` is replaced by restarts."""
    engine = request.param
    folder = Path(tempfile.mkdtemp(prefix=f"spladekit-test-cluster-{engine}-"))
    folder.chmod(0o755)
    first = _free_run(NODES)
    out = CliRunner().invoke(main, ["engine", "start", "--engine", engine, "--nodes", str(NODES), "--port",
                                    str(first), "--data-dir", str(folder / "cluster")])
    if out.exit_code != 0:
        node.stop(engine, first)
        shutil.rmtree(folder, ignore_errors=True)
        skip_or_fail(f"a {NODES}-node {engine} cluster could not start: {out.output.strip()}")
    holder = {"engine": engine, "cluster": node.attach(engine, first), "work": folder, "start_output": out.output}
    try:
        yield holder
    finally:
        holder["cluster"].stop()
        shutil.rmtree(folder, ignore_errors=True)


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 (a local test node)
        return json.loads(resp.read())


# --------------------------------------------------------------------------------------------- 1. start


def test_the_cluster_forms_with_every_node(cluster):
    c: node.Cluster = cluster["cluster"]
    assert "3 nodes, health green" in cluster["start_output"] and f"--engine {c.url}" in cluster["start_output"]
    info = node.status(c.engine, c.nodes[1].port)
    assert info["health"] == "green" and info["number_of_nodes"] == NODES
    assert [n["name"] for n in info["nodes"]] == ["node-1", "node-2", "node-3"]
    assert all(n["running"] and n["in_cluster"] and n["heap_max"] == "512mb" for n in info["nodes"])
    assert sum(n["master"] for n in info["nodes"]) == 1
    assert len({n["data_dir"] for n in info["nodes"]}) == NODES
    for n in c.nodes:  # every node answers for the whole cluster
        assert _get(f"{n.url}/_cluster/health")["number_of_nodes"] == NODES


# --------------------------------------------------------------------------------------------- 2. parity


def test_shards_replicas_routing_and_parity_exact_and_two_phase(cluster, corpora, tmp_path):
    c: node.Cluster = cluster["cluster"]
    enc = corpora["encoder"]
    report = ingest(corpora["cranfield"], engine_url=c.url, index="cranfield-3x1", encoder=enc, shards=3,
                    checkpoint=tmp_path / "e.json")
    assert (report.shards, report.replicas) == (3, "0-1") and report.complete  # replicas follow the cluster
    local = ingest(corpora["cranfield"], local_dir=tmp_path / "local", encoder=enc, checkpoint=tmp_path / "l.json")
    assert local.indexed == report.indexed == 1400 - sum(report.failed.values())
    idx = connect(c.url, "cranfield-3x1")
    c.wait_for("green", NODES)
    assert idx.shards() == (3, 1)  # auto_expand_replicas 0-1 on 3 data nodes: 1 replica
    shards = _get(f"{c.nodes[0].url}/_cat/shards/cranfield-3x1?format=json&h=shard,prirep,state,node")
    assert len(shards) == 6 and {s["state"] for s in shards} == {"STARTED"}
    for s in range(3):  # the two copies of a shard are on two different nodes
        assert len({x["node"] for x in shards if int(x["shard"]) == s}) == 2

    # Every document is on the shard spladekit.engines.routing computes (the two-phase reference relies on it).
    n_shards, routing_shards = idx.routing()
    expected = routing.partition([r.id for r in _records(corpora["cranfield"] / "corpus.jsonl")], n_shards,
                                 routing_shards)
    for s in range(n_shards):
        body = {"query": {"match_all": {}}, "_source": False, "size": 2000}
        hits = idx.client.search(index="cranfield-3x1", body=body, preference=f"_shards:{s}")
        assert sorted(h["_id"] for h in hits["hits"]["hits"]) == sorted(expected[s])

    for mode in ([], ["--two-phase"]):
        out = CliRunner().invoke(main, ["parity", "--engine", c.url, "--index", "cranfield-3x1", "--local",
                                        str(tmp_path / "local"), "--queries",
                                        str(corpora["cranfield"] / "queries.jsonl"), "-k", "100", "--silent",
                                        "--report", str(tmp_path / "parity.json"), *mode])
        assert out.exit_code == 0, out.output + out.stderr
        data = json.loads((tmp_path / "parity.json").read_text())
        assert data["summary"]["agree"] == data["summary"]["queries"] == 225, data["failures"]
        assert data["summary"]["max_score_diff"] == 0.0 and data["shards"] == 3
        assert data["mode"] == ("two-phase" if mode else "exact")


# --------------------------------------------------------------------------------------------- 3. scores


def test_bm25_needs_every_shards_statistics_splade_does_not(cluster, corpora, tmp_path):
    c: node.Cluster = cluster["cluster"]
    enc = corpora["encoder"]
    ingest(corpora["cranfield"], engine_url=c.url, index="cranfield-1x0", encoder=enc, shards=1, replicas=0,
           checkpoint=tmp_path / "one.json")
    one = Searcher(engine_url=c.url, index="cranfield-1x0", encoder=corpora["model"])
    three = Searcher(engine_url=c.url, index="cranfield-3x1", encoder=corpora["model"])
    texts = [json.loads(line)["text"] for line in
             (corpora["cranfield"] / "queries.jsonl").read_text().splitlines()[:40]]
    client = three.engine_index.client

    def pairs(hits):
        return [(h.id, h.score) for h in hits]

    def plain(name: str, text: str):
        body = {"query": {"match": {"text": text}}, "size": 20, "_source": False}
        return [(h["_id"], np.float32(h["_score"])) for h in client.search(index=name, body=body)["hits"]["hits"]]

    plain_differ = 0
    for text in texts:
        vec = one.encode(text)
        assert pairs(one.search_vector(vec, k=20)) == pairs(three.search_vector(vec, k=20))  # SPLADE: same
        assert pairs(one.search_bm25(text, k=20)) == pairs(three.search_bm25(text, k=20))  # dfs: same
        hybrid_one = one.search(text, mode="hybrid", k=10, vector=vec)
        assert pairs(hybrid_one) == pairs(three.search(text, mode="hybrid", k=10, vector=vec))
        # The same BM25 request without the statistics round trip scores with each shard's own statistics.
        plain_differ += plain("cranfield-1x0", text) != plain("cranfield-3x1", text)
    print(f"\n{c.engine}: query_then_fetch BM25 differs between 1 and 3 shards on {plain_differ} of {len(texts)} "
          "queries; dfs_query_then_fetch on none")
    assert plain_differ >= len(texts) // 2, "query_then_fetch BM25 should depend on the shard layout"


# --------------------------------------------------------------------------------------------- 4. faults


# The benchmark's search load (benchmarks/cluster.py): the same threads, latencies and failures.
_bench_spec = importlib.util.spec_from_file_location("cluster_bench", REPO / "benchmarks" / "cluster.py")
cluster_bench = importlib.util.module_from_spec(_bench_spec)
_bench_spec.loader.exec_module(cluster_bench)  # type: ignore[union-attr]
_SearchLoad = cluster_bench.SearchLoad


def _doc_counts(c: node.Cluster) -> dict[str, int]:
    rows = _get(f"{c.nodes[0].url}/_cat/indices?format=json&h=index,docs.count&expand_wildcards=open")
    return {r["index"]: int(r["docs.count"]) for r in rows if not r["index"].startswith(".")}


def _victim(c: node.Cluster, index: str) -> int:
    """A node that holds a primary shard of ``index`` and is not the elected master (its death needs a primary
    promotion, not an election)."""
    shards = _get(f"{c.nodes[0].url}/_cat/shards/{index}?format=json&h=shard,prirep,node")
    master = _get(f"{c.nodes[0].url}/_cat/master?format=json")[0]["node"]
    holders = {s["node"] for s in shards if s["prirep"] == "p"} - {master}
    return next(i for i, n in enumerate(c.nodes) if n.name in holders)


def test_a_node_killed_mid_ingest_under_search_load(cluster, corpora, tmp_path):
    c: node.Cluster = cluster["cluster"]
    enc, index = corpora["encoder"], "dbpedia-faults"
    valid = {r.id for r in _records(corpora["mixed"])}
    n_indexed, dead_reasons = bad_input_expected()
    assert len(valid) == 5000 + n_indexed
    job = dict(engine_url=c.url, index=index, encoder=enc, shards=3, checkpoint=tmp_path / "cp.json",
               max_retries=8, initial_backoff=0.5, max_backoff=5.0)
    outcome: dict = {}

    def first_run() -> None:
        try:
            outcome["report"] = ingest(corpora["mixed"], **job)
        except BaseException as exc:  # noqa: BLE001 (the test looks at it)
            outcome["error"] = exc

    worker = threading.Thread(target=first_run)
    worker.start()
    idx = connect(c.url, index)
    deadline = time.monotonic() + 300
    while not idx.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    c.wait_for("green", NODES)
    # The load starts once 500 documents are searchable: before that, "no hits" is the truth, not a fault.
    while idx.count() < 500 and time.monotonic() < deadline:
        time.sleep(0.2)
    with _SearchLoad(c.url, index, corpora["model"].names, corpora["queries"], SEARCH_CLIENTS,
                     empty_is_error=True) as load:
        while time.monotonic() < deadline and worker.is_alive():
            cp = json.loads((tmp_path / "cp.json").read_text()) if (tmp_path / "cp.json").is_file() else {}
            if cp.get("position", 0) >= 1500:
                break
            time.sleep(0.1)
        assert worker.is_alive(), f"the ingest ended before the kill: {outcome}"
        victim = _victim(c, index)
        c.nodes[victim].kill()
        killed_at = time.monotonic()
        worker.join(900)
        assert not worker.is_alive()
        runs = 1
        while "error" in outcome:  # it stopped: a clear error, and --resume finishes the job
            err = outcome.pop("error")
            assert isinstance(err, IngestStopped) and "--resume" in str(err) and err.report.exit_code == 4, err
            assert runs < 4, f"still stopping after {runs} runs: {err}"
            try:
                outcome["report"] = ingest(corpora["mixed"], resume=True, **job)
            except IngestStopped as exc:
                outcome["error"] = exc
            runs += 1
        time.sleep(2.0)  # searches go on against the two nodes left
    stats = load.summary()
    print(f"\n{c.engine}: ingest finished {time.monotonic() - killed_at:.1f} s after the kill in {runs} run(s); "
          f"search load during the ingest: {stats}")
    assert load.errors == [], load.errors[:5]
    assert stats["searches"] > 50

    report = outcome["report"]
    assert report.complete and report.exit_code == 3  # 3: done, with the bad input in the dead letter
    idx.refresh()
    ids = {h["_id"] for h in idx.search_body({"query": {"match_all": {}}, "_source": False,
                                              "size": len(valid) + 100})["hits"]["hits"]}
    assert idx.count() == len(valid) and ids == valid  # every valid record exactly once
    dead = read_dead_letter(report.dead_letter)
    got = {}
    for entry in dead:
        got[entry["reason"]] = got.get(entry["reason"], 0) + 1
    assert got == dead_reasons  # only the bad input: nothing from the kill

    # The killed node rejoins on its data and the replicas are complete again.
    c.start_node(victim)
    c.wait_for("green", NODES, timeout=300)
    assert idx.count() == len(valid)

    # The whole cluster crashes (SIGKILL every node) and restarts on its data: every document is still there.
    before = _doc_counts(c)
    c.kill()
    restarted = node.start_cluster(c.engine, nodes=NODES, data_dir=c.data_dir)
    cluster["cluster"] = restarted
    restarted.wait_for("green", NODES, timeout=300)
    after = connect(restarted.url, index)
    assert after.count() == len(valid)
    ids = {h["_id"] for h in after.search_body({"query": {"match_all": {}}, "_source": False,
                                                "size": len(valid) + 100})["hits"]["hits"]}
    assert ids == valid
    assert _doc_counts(restarted) == before  # and every other index of the cluster too


# --------------------------------------------------------------------------------------------- 5. stop


def test_engine_status_and_stop_cover_every_node(cluster):
    c: node.Cluster = cluster["cluster"]
    out = CliRunner().invoke(main, ["engine", "status", "--engine", c.engine, "--port", str(c.nodes[2].port)])
    info = json.loads(out.output)
    assert out.exit_code == 0 and info["health"] in ("green", "yellow") and len(info["nodes"]) == NODES
    out = CliRunner().invoke(main, ["engine", "stop", "--engine", c.engine, "--port", str(c.nodes[0].port)])
    assert out.exit_code == 0 and f"stopped {c.engine} cluster" in out.output
    assert c.alive() == [False] * NODES
    with pytest.raises(EngineError):
        c.health()
