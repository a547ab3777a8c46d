"""Clusters without a node: shard routing, lists of node URLs, shards and replicas at ingest, BM25's search type,
partial results refused. The real clusters are in tests/integration/test_cluster.py."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from click.testing import CliRunner

from _support import REPO, FakeEncoder, FakeEngine
from spladekit import dialects
from spladekit.cli import main
from spladekit.engines import EngineIndex, connect, routing
from spladekit.engines.base import safe_url, split_url, split_urls
from spladekit.errors import EngineError, InputError
from spladekit.ingest import ingest
from spladekit.ingest.report import redact_url
from spladekit.query import BM25_SEARCH_TYPE
from spladekit.schema import SCHEMA
from spladekit.search import Searcher

SAMPLE = REPO / "ingest" / "sample_corpus.jsonl"


# --------------------------------------------------------------------------------------------- routing


def test_murmur3_matches_the_published_vectors():
    # MurmurHash3_x86_32, seed 0 (the reference implementation's test strings), as Java's signed int.
    assert routing.murmur3_32(b"") == 0
    assert routing.murmur3_32(b"hello") == 0x248BFA47
    assert routing.murmur3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723
    assert routing.murmur3_32(b"abc") == -1277324294  # 0xB3DD93FA: negative as a Java int
    assert routing.murmur3_32(b"hello", seed=1) != routing.murmur3_32(b"hello")


def test_shard_of_spreads_ids_over_every_shard_and_checks_its_arguments():
    counts = Counter(routing.shard_of(f"doc-{i}", 3, 768) for i in range(3000))
    assert set(counts) == {0, 1, 2} and min(counts.values()) > 900
    assert all(routing.shard_of(str(i), 1) == 0 for i in range(50))
    parts = routing.partition([f"d{i}" for i in range(100)], 3, 768)
    assert sum(map(len, parts)) == 100 and all(routing.shard_of(d, 3, 768) == s for s, p in enumerate(parts) for d in p)
    # Non-ASCII ids are hashed as Java strings: UTF-16 code units, a surrogate pair for a character beyond the BMP.
    assert routing.shard_of("é𝄞", 5, 640) == (routing.murmur3_32("é𝄞".encode("utf-16-le")) % 640) // 128
    with pytest.raises(ValueError, match="shards must be >= 1"):
        routing.shard_of("a", 0)
    with pytest.raises(ValueError, match="multiple of shards"):
        routing.shard_of("a", 3, 100)


# --------------------------------------------------------------------------------------------- node URLs


def test_a_list_of_node_urls_is_split_before_each_scheme_and_keeps_commas_in_passwords():
    assert split_urls(" http://a:9200, https://b:9201 ") == ["http://a:9200", "https://b:9201"]
    assert split_url("http://bob:p,w@a:9200,http://bob:p,w@b:9201") == ("http://a:9200,http://b:9201", "bob", "p,w")
    assert safe_url("http://bob:s3cret@a:9200,http://bob:s3cret@b:9201") == "http://a:9200,http://b:9201"
    assert redact_url("http://bob:s3cret@a:9200,http://b:9201") == "http://a:9200,http://b:9201"
    with pytest.raises(InputError, match="http or https"):
        split_url("http://a:9200,ftp://b:21")


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
def test_the_client_knows_every_node_and_retries_elsewhere(engine):
    idx = connect("http://127.0.0.1:1,http://bob:pw@127.0.0.1:2", "docs", engine=engine)
    assert idx.url == "http://127.0.0.1:1,http://127.0.0.1:2" and "pw" not in repr(idx)
    transport = idx.client.transport
    if engine == "opensearch":
        hosts = [(h["host"], h["port"]) for h in transport.hosts]
    else:
        hosts = [(n.config.host, n.config.port) for n in transport.node_pool.all()]
    assert sorted(hosts) == [("127.0.0.1", 1), ("127.0.0.1", 2)]
    assert transport.max_retries >= 1  # a request refused by a dead node goes to another


def test_engine_detection_asks_the_next_node_when_one_is_down(monkeypatch):
    from spladekit.engines import base

    asked = []

    def fake_detect(url, creds=None, timeout=10.0, _real=base.detect_engine):
        if "," in url:
            return _real(url, creds or base.Credentials(), timeout)
        asked.append(url)
        if url.endswith(":1"):
            raise EngineError(f"cannot reach an engine at {url}")
        return "elasticsearch"

    monkeypatch.setattr(base, "detect_engine", fake_detect)
    assert base.detect_engine("http://127.0.0.1:1,http://127.0.0.1:2") == "elasticsearch"
    assert asked == ["http://127.0.0.1:1", "http://127.0.0.1:2"]


def test_doctor_checks_every_node_of_a_list():
    from spladekit.doctor import check_engine
    from spladekit.engines.node import free_port

    dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    checks = check_engine(",".join(dead), timeout=2)
    assert [c.name for c in checks] == ["engine", "engine"]
    assert all(u in c.detail for u, c in zip(dead, checks, strict=True))


# --------------------------------------------------------------------------------------------- shards


def _job(tmp_path, fake: FakeEngine, monkeypatch, **kw):
    import spladekit.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "connect", lambda *a, **k: fake)
    encoder = kw.pop("encoder", FakeEncoder())
    return ingest(SAMPLE, engine_url="http://127.0.0.1:1,http://127.0.0.1:2", index="docs", encoder=encoder,
                  checkpoint=tmp_path / "cp.json", **kw)


@pytest.mark.parametrize(("nodes", "replicas"), [(1, 0), (2, 1), (3, 1)])
def test_a_new_index_gets_one_replica_once_the_cluster_has_two_data_nodes(tmp_path, monkeypatch, nodes, replicas):
    fake = FakeEngine(exists=False, data_nodes=nodes)
    report = _job(tmp_path, fake, monkeypatch)
    # The engine's auto_expand_replicas 0-1: no privilege needed to read the cluster's size, follows it later.
    assert fake.n_replicas == "0-1" and fake.shards() == (1, replicas)
    assert (report.shards, report.replicas) == (1, "0-1") and report.indexed == 30
    assert json.loads(report.to_json())["replicas"] == "0-1"


def test_shards_and_replicas_as_asked_with_a_warning_when_the_cluster_is_too_small(tmp_path, monkeypatch):
    fake = FakeEngine(exists=False, data_nodes=2)
    with pytest.warns(UserWarning, match="2 replica.*need 3 data nodes.*--replicas 1 fits"):
        report = _job(tmp_path, fake, monkeypatch, shards=3, replicas=2)
    assert fake.shards() == (3, 2) and (report.shards, report.replicas) == (3, 2)


def test_an_existing_index_with_other_shards_stops_the_job_before_encoding(tmp_path, monkeypatch):
    encoder = FakeEncoder()
    fake = FakeEngine(meta=SCHEMA.meta(encoder.identity()), data_nodes=3)
    # The index exists already, with 1 shard and 0 replicas.
    with pytest.raises(InputError, match=r"exists with 1 shard\(s\) and 0 replica\(s\), not 3 and 0.*--index NEW_NAME"):
        _job(tmp_path, fake, monkeypatch, shards=3, encoder=encoder)
    with pytest.raises(InputError, match='number_of_replicas": 1'):
        _job(tmp_path, fake, monkeypatch, replicas=1, encoder=encoder)
    assert encoder.calls == [] and fake.docs == {}
    report = _job(tmp_path, fake, monkeypatch, shards=1, replicas=0, encoder=encoder)  # the same: fine
    assert report.indexed == 30 and (report.shards, report.replicas) == (1, 0)
    # Not asked: not read (an ingest-only user may not read the index's settings).
    report = _job(tmp_path, fake, monkeypatch, encoder=encoder)
    assert (report.shards, report.replicas) == (None, None)


def test_shards_and_replicas_need_an_engine_index(tmp_path):
    with pytest.raises(InputError, match="apply to an engine index"):
        ingest(SAMPLE, local_dir=tmp_path / "ix", encoder=FakeEncoder(), shards=2)
    with pytest.raises(ValueError, match="--shards must be >= 1"):
        ingest(SAMPLE, engine_url="http://127.0.0.1:1", index="docs", encoder=FakeEncoder(), shards=0)


def test_mappings_prints_shards_and_replicas():
    out = CliRunner().invoke(main, ["mappings", "--engine", "elasticsearch", "--shards", "3", "--replicas", "1"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["settings"]["index"] == {"number_of_shards": 3, "number_of_replicas": 1}
    golden = (REPO / "mappings" / "opensearch.json").read_text()
    assert CliRunner().invoke(main, ["mappings", "--engine", "opensearch"]).output == golden


# --------------------------------------------------------------------------------------------- searches


def test_bm25_gathers_every_shards_statistics_and_splade_does_not_need_to():
    encoder = FakeEncoder()
    fake = FakeEngine(names=encoder.names, meta=SCHEMA.meta(encoder.identity()), shards=3)
    fake.add(["a", "b"], encoder.encode_documents(["wing stall", "wing lift"]), text="wing stall")
    searcher = Searcher(engine_index=fake, encoder=encoder)
    searcher.search("wing stall", mode="hybrid", k=2)
    searcher.search("wing", mode="splade", k=2)
    searcher.search("wing", mode="bm25", k=2)
    kinds = ["bm25" if "must" in b["query"]["bool"] else "splade" if "should" in b["query"]["bool"] else "text"
             for b in fake.bodies]
    assert list(zip(kinds, fake.search_types, strict=True)) == [
        ("splade", None), ("bm25", BM25_SEARCH_TYPE), ("text", None), ("splade", None), ("bm25", BM25_SEARCH_TYPE)]
    assert BM25_SEARCH_TYPE == "dfs_query_then_fetch"
    # What an app that sends the bodies itself is told (Searcher.requests, spladekit serve's /v1/query).
    assert searcher.requests("wing stall", mode="hybrid", k=2).search_types == {"bm25": BM25_SEARCH_TYPE}
    assert searcher.requests("wing stall", mode="splade", k=2).search_types == {}


class _Client:
    """A client stand-in answering searches with the responses the test gives (the last one repeated),
    recording the URL parameters."""

    def __init__(self, *responses: dict) -> None:
        self.responses, self.params = list(responses), []

    def search(self, index, body, **params):
        self.params.append(params)
        return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]


PARTIAL = {"_shards": {"total": 3, "successful": 2, "failed": 1,
                       "failures": [{"shard": 1, "reason": {"type": "node_disconnected_exception"}}]},
           "hits": {"hits": []}}
WHOLE = {"_shards": {"total": 3, "successful": 3, "failed": 0}, "hits": {"hits": []}}


def test_a_search_answered_by_some_shards_is_sent_again_then_refused(monkeypatch):
    from spladekit.engines import base

    monkeypatch.setattr(base, "PARTIAL_BACKOFF", 0.0)
    # A node died between the query and the fetch phase: the next try is answered by the copies left.
    client = _Client(PARTIAL, WHOLE)
    idx = EngineIndex(dialects.get("opensearch"), client, "docs", "http://127.0.0.1:1,http://127.0.0.1:2")
    assert idx.search_body({"query": {"match_all": {}}}) == WHOLE and len(client.params) == 2
    # A shard with no live copy at all: refused after the retries, never returned as if complete.
    client = _Client(PARTIAL)
    idx = EngineIndex(dialects.get("opensearch"), client, "docs", "http://127.0.0.1:1,http://127.0.0.1:2")
    with pytest.raises(EngineError, match=r"answered from 2 of 3 shards .*node_disconnected_exception.*--replicas 1"):
        idx.search_body({"query": {"match_all": {}}})
    assert len(client.params) == 1 + EngineIndex.partial_retries


def test_the_search_type_goes_to_the_client():
    client = _Client(WHOLE)
    idx = EngineIndex(dialects.get("opensearch"), client, "docs", "http://127.0.0.1:1")
    assert idx.search_body({"query": {"match_all": {}}}, BM25_SEARCH_TYPE) == WHOLE
    assert idx.search_body({"query": {"match_all": {}}}) == WHOLE
    assert client.params == [{"search_type": "dfs_query_then_fetch"}, {}]


def test_a_search_only_user_gets_the_routing_from_a_search():
    from types import SimpleNamespace

    from opensearchpy.exceptions import AuthorizationException

    def refused(**_):
        raise AuthorizationException(403, "security_exception", {"error": {"type": "security_exception",
                                                                           "reason": "no cluster:monitor/state"}})

    client = _Client({"_shards": {"total": 3, "successful": 3, "failed": 0}, "hits": {"hits": []}})
    client.cluster = SimpleNamespace(state=refused)
    idx = EngineIndex(dialects.get("opensearch"), client, "docs", "http://127.0.0.1:1")
    assert idx.shard_count() == 3
    assert idx.routing() == (3, 768) == (3, routing.routing_shards(3))
