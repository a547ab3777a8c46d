"""spladekit serve without a real model or engine: the micro-batcher (each caller its own vector, under 32
concurrent clients), the endpoints against the library calls they skin, the bad-request sweep (every refusal a
4xx with one line, never a 5xx or a stack trace), the bearer token, metrics, health, reloads, graceful shutdown.
The same on the real model and real engines: tests/integration/test_serve.py."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from _support import FakeEncoder, FakeEngine, need, old_format_index, serving

need("fastapi", "spladekit serve needs the serve extra")
httpx = need("httpx", "the serve tests call the service over HTTP")

from fastapi.testclient import TestClient  # noqa: E402

from spladekit import search as S  # noqa: E402
from spladekit.cli import main  # noqa: E402
from spladekit.errors import EngineError  # noqa: E402
from spladekit.local.index import LocalIndex  # noqa: E402
from spladekit.schema import SCHEMA, ModelIdentity  # noqa: E402
from spladekit.serve import Limits, MicroBatcher, Service, create_app  # noqa: E402
from spladekit.serve import service as service_module  # noqa: E402
from spladekit.serve.batcher import BatcherClosed  # noqa: E402

VOCAB = ["[PAD]", "wing", "stall", "lift", "drag", "flow", "the", "a.b", "boundary", "layer", "shock", "wave"]
MODEL = ModelIdentity("fake-splade", "f" * 64)
TEXTS = {"d1": "wing stall lift", "d2": "boundary layer flow", "d3": "shock wave drag", "d4": "wing lift lift",
         "d5": "the flow over the wing", "d6": "stall stall drag", "d7": "layer of the boundary"}


def _encoder() -> FakeEncoder:
    return FakeEncoder(vocab=VOCAB)


@pytest.fixture()
def local_dir(tmp_path):
    enc = _encoder()
    index = LocalIndex(mode="lucene", meta=SCHEMA.meta(MODEL))
    index.add(list(TEXTS), enc.encode_documents(list(TEXTS.values())), texts=list(TEXTS.values()))
    return index.save(tmp_path / "ix")


def _engine(engine: str = "opensearch", **kw) -> FakeEngine:
    enc = _encoder()
    fake = FakeEngine(engine, names=enc.names, meta=SCHEMA.meta(MODEL), **kw)
    for doc_id, text in TEXTS.items():
        fake.add([doc_id], enc.encode_documents([text]), text=text)
    return fake


def _local_service(local_dir, **options) -> Service:
    return Service(S.Searcher(local_dir=local_dir, encoder=_encoder()), local_dir=local_dir, **options)


@pytest.fixture()
def local_client(local_dir):
    with TestClient(create_app(_local_service(local_dir))) as client:
        yield client


@pytest.fixture()
def engine_service():
    return Service(S.Searcher(engine_index=_engine(), encoder=_encoder()))


# ------------------------------------------------------------------------------------------------ batcher


class GateEncoder(FakeEncoder):
    """Records each call's size; after :meth:`hold`, the next call waits for ``gate``, so that the test decides
    when it ends (open until then: a starting service's warm-up query passes)."""

    def __init__(self) -> None:
        super().__init__(vocab=None)
        self.gate = threading.Event()
        self.gate.set()
        self.sizes: list[tuple[str, int]] = []

    def hold(self) -> None:
        self.sizes.clear()
        self.gate.clear()

    def _wait(self, kind: str, n: int) -> None:
        self.sizes.append((kind, n))
        if len(self.sizes) == 1:
            assert self.gate.wait(30), "the test never opened the gate"

    def encode_queries(self, texts):
        self._wait("query", len(texts))
        return super().encode_queries(texts)

    def encode_documents(self, texts):
        self._wait("document", len(texts))
        return super().encode_documents(texts)


def _wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_32_concurrent_clients_are_batched_and_each_gets_its_own_vector(local_dir):
    encoder = GateEncoder()
    texts = [f"query {i} wing{i} stall{i * 7}" for i in range(32)]
    service = Service(S.Searcher(local_dir=local_dir, encoder=encoder), max_batch=32, max_wait_ms=2.0)
    with serving(create_app(service)) as url:
        encoder.hold()

        def ask(text: str) -> dict:
            resp = httpx.post(f"{url}/v1/encode", json={"texts": [text]}, timeout=60)
            assert resp.status_code == 200, resp.text
            return resp.json()["vectors"][0]

        with ThreadPoolExecutor(32) as pool:
            futures = [pool.submit(ask, t) for t in texts]
            # The first encoder call is held; every other request must queue up behind it.
            _wait_for(lambda: encoder.sizes and encoder.sizes[0][1] + service.batcher._queue.qsize() == 32,
                      "32 requests in the encoder or queued")
            encoder.gate.set()
            got = [f.result() for f in futures]
        metrics = httpx.get(f"{url}/metrics").text
    assert len(encoder.sizes) == 2 and sum(n for _, n in encoder.sizes) == 32  # 32 requests, two encoder calls
    for text, vec in zip(texts, got, strict=True):
        want = encoder.vector(text)
        assert vec["terms"] == len(want)
        assert vec["top"] == [list(p) for p in encoder.names.decode(want)]
    assert 'spladekit_encoder_batch_requests_count{kind="query"} 2.0' in metrics  # (the warm-up is not batched)
    assert 'spladekit_encoder_batch_texts_sum{kind="query"} 32.0' in metrics


def test_batcher_splits_kinds_respects_max_batch_and_isolates_failures():
    class Picky(FakeEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.sizes: list[int] = []

        def encode_queries(self, texts):
            self.sizes.append(len(texts))
            if "boom" in texts:
                raise RuntimeError("this text breaks the encoder")
            return super().encode_queries(texts)

    encoder = Picky()

    async def main():
        with MicroBatcher(encoder, max_batch=4, max_wait_ms=50) as batcher:
            tickets = [batcher.expect() for _ in range(5)]  # five requests on their way: the batch waits
            calls = [batcher.encode([f"q{i} wing"], ticket=t) for i, t in enumerate(tickets[:4])]
            calls.append(batcher.encode(["boom"], ticket=tickets[4]))
            calls.append(batcher.encode(["doc one", "doc two"], kind="document"))
            return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    for i in range(4):
        assert results[i][0].to_dict() == encoder.vector(f"q{i} wing").to_dict()
    assert isinstance(results[4], RuntimeError)  # only the job that breaks the encoder fails
    assert [v.to_dict() for v in results[5]] == [encoder.vector(t).to_dict() for t in ("doc one", "doc two")]
    assert max(encoder.sizes) <= 4


def test_a_lone_request_does_not_wait_for_company_and_a_closed_batcher_refuses():
    encoder = FakeEncoder()

    async def main():
        batcher = MicroBatcher(encoder, max_wait_ms=600_000).start()  # a wait that would hang the test
        got = await asyncio.wait_for(batcher.encode(["alone wing"], ticket=batcher.expect()), 30)
        batcher.close()
        with pytest.raises(BatcherClosed):
            await batcher.encode(["late"])
        return got

    assert [v.to_dict() for v in asyncio.run(main())] == [encoder.vector("alone wing").to_dict()]


def test_without_batching_each_request_calls_the_encoder():
    encoder = GateEncoder()

    async def main():
        batcher = MicroBatcher(encoder, enabled=False)
        return await asyncio.gather(*(batcher.encode([f"w{i}"]) for i in range(8)))

    assert [r[0].to_dict() for r in asyncio.run(main())] == [encoder.vector(f"w{i}").to_dict() for i in range(8)]
    assert [n for _, n in encoder.sizes] == [1] * 8


# ------------------------------------------------------------------------------------------------ endpoints = library


@pytest.fixture()
def fake_model(monkeypatch):
    from spladekit.encoder import runtime

    monkeypatch.setattr(runtime.SpladeEncoder, "load", classmethod(lambda cls, *a, **k: _encoder()))
    S._cached_searcher.cache_clear()
    yield
    S._cached_searcher.cache_clear()


SEARCHES = [
    {"text": "wing stall", "k": 3},
    {"text": "boundary layer flow", "k": 5, "explain": True},
    {"text": "wing lift drag", "k": 4, "two_phase": {"first_pass_terms": 1, "window": 5}},
    {"text": "stall drag", "k": 2, "filter": {"ids": {"values": ["d1", "d6"]}}, "explain": True},
    {"text": "wing flow", "prune": {"top_k": 1}},
]


def _cli_args(body: dict) -> list[str]:
    args = [body["text"], "-k", str(body.get("k", 10)), "--format", "jsonl"]
    if body.get("explain"):
        args.append("--explain")
    if body.get("two_phase"):
        plan = body["two_phase"]
        args += ["--two-phase", "--first-pass-terms", str(plan["first_pass_terms"]), "--window", str(plan["window"])]
    if body.get("filter"):
        args += ["--filter", json.dumps(body["filter"])]
    if body.get("prune"):
        args += ["--prune-top-k", str(body["prune"]["top_k"])]
    return args


@pytest.mark.parametrize("body", SEARCHES, ids=lambda b: b["text"].replace(" ", "-"))
def test_search_endpoint_equals_the_cli(local_client, local_dir, fake_model, body):
    resp = local_client.post("/v1/search", json=body)
    assert resp.status_code == 200, resp.text
    out = CliRunner().invoke(main, ["search", *_cli_args(body), "--local", str(local_dir)])
    assert out.exit_code == 0, out.output
    cli_hits = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert cli_hits and resp.json()["hits"] == cli_hits


def test_encode_endpoint_equals_the_encoder_and_the_cli_view(local_client):
    texts = ["wing stall lift", "the boundary layer", ""]
    for kind, fn in (("query", _encoder().encode_queries), ("document", _encoder().encode_documents)):
        resp = local_client.post("/v1/encode", json={"texts": texts, "kind": kind, "top_k": 2})
        assert resp.status_code == 200, resp.text
        data = resp.json()
        assert (data["model"], data["kind"]) == ("fake-splade", kind)
        for vec, want in zip(data["vectors"], fn(texts), strict=True):
            assert vec == {"terms": len(want), "top": [list(p) for p in _encoder().names.decode(want, 2)]}


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
def test_engine_search_and_query_bodies_are_the_librarys(engine):
    fake = _engine(engine)
    service = Service(S.Searcher(engine_index=fake, encoder=_encoder()))
    plain = S.Searcher(engine_index=_engine(engine), encoder=_encoder())
    with TestClient(create_app(service)) as client:
        for body in [*SEARCHES, {"text": "wing stall", "mode": "bm25", "k": 3},
                     {"text": "wing stall lift", "mode": "hybrid", "k": 3, "explain": True},
                     {"text": "wing stall", "mode": "hybrid", "fusion": "weighted", "alpha": 0.3}]:
            resp = client.post("/v1/search", json=body)
            assert resp.status_code == 200, resp.text
            # a hybrid sends its two rankings, then fetches the fused hits' text
            sent = fake.bodies[-3:-1] if body.get("mode") == "hybrid" else fake.bodies[-1:]
            options = {k: v for k, v in body.items() if k != "text"}
            if "two_phase" in options:
                options["two_phase"] = S.TwoPhase.of(options["two_phase"]["first_pass_terms"], None,
                                                     options["two_phase"]["window"])
            want = [h.to_dict() for h in plain.search(body["text"], **options)]
            assert resp.json()["hits"] == want and resp.json()["backend"] == engine
            query = client.post("/v1/query", json=body)
            assert query.status_code == 200, query.text
            data = query.json()
            assert list(data["searches"].values()) == sent  # the bodies the search just sent
            assert (data["engine"], data["index"]) == (engine, "docs")
            assert (data["fusion"] is not None) == (body.get("mode") == "hybrid")


def test_query_bodies_from_a_local_index_name_the_engine(local_client):
    resp = local_client.post("/v1/query", json={"text": "wing stall", "engine": "elasticsearch", "mode": "hybrid",
                                                "k": 3})
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["index"] is None and set(data["searches"]) == {"splade", "bm25"}
    assert data["searches"]["splade"]["query"]["bool"]["should"][0]["term"]["splade"]["boost"] > 0
    assert data["fusion"]["method"] == "rrf"
    resp = local_client.post("/v1/query", json={"text": "wing stall"})
    assert resp.status_code == 400 and "name the engine" in resp.json()["error"]


def test_an_index_without_text_says_so_for_bm25_and_hybrid(local_dir, tmp_path):
    old = old_format_index(tmp_path / "old", local_dir)
    with TestClient(create_app(_local_service(old))) as client:
        modes = client.get("/v1/info").json()["modes"]
        assert modes["splade"] is None and "keeps no text for BM25" in modes["bm25"]
        for mode in ("bm25", "hybrid"):
            resp = client.post("/v1/search", json={"text": "wing", "mode": mode})
            assert resp.status_code == 400 and "spladekit ingest CORPUS --local NEW_DIR" in resp.json()["error"]
        assert client.post("/v1/search", json={"text": "wing"}).status_code == 200


def test_info_health_openapi_and_page(local_client):
    info = local_client.get("/v1/info").json()
    assert info["index"]["backend"] == "local" and info["model"]["name"] == "fake-splade"
    assert info["modes"] == {"splade": None, "bm25": None, "hybrid": None}  # the local index keeps BM25 text
    health = local_client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.json()["index"]["documents"] == len(TEXTS)
    spec = local_client.get("/openapi.json").json()
    for path in ("/v1/encode", "/v1/search", "/v1/query"):
        schema_ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]["additionalProperties"] is False
    page = local_client.get("/")
    assert page.status_code == 200 and 'id="results"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert local_client.get("/static/playground.js").status_code == 200


def test_health_says_when_the_engine_is_unreachable(engine_service, monkeypatch):
    def down():
        raise EngineError("cannot reach an engine at http://127.0.0.1:1 (connection refused); start one")

    with TestClient(create_app(engine_service)) as client:
        monkeypatch.setattr(engine_service.searcher.engine_index, "count", down)
        monkeypatch.setattr(engine_service.searcher.engine_index, "search_body", lambda body, search_type=None: down())
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["engine_reachable"] is False and "cannot reach" in health.json()["error"]
        resp = client.post("/v1/search", json={"text": "wing"})
        assert resp.status_code == 503 and "cannot reach an engine" in resp.json()["error"]


def test_a_rewritten_local_index_is_served_after_the_rewrite(local_dir, monkeypatch):
    monkeypatch.setattr(service_module, "RELOAD_CHECK_S", 0.0)
    with TestClient(create_app(_local_service(local_dir))) as client:
        before = client.post("/v1/search", json={"text": "shock wave"}).json()["hits"]
        index = LocalIndex(mode="lucene", meta=SCHEMA.meta(MODEL))
        index.add(["new"], _encoder().encode_documents(["shock wave shock"]))
        index.save(local_dir)
        after = client.post("/v1/search", json={"text": "shock wave"}).json()["hits"]
        assert client.get("/healthz").json()["index"]["documents"] == 1
    assert [h["id"] for h in before] == ["d3"] and [h["id"] for h in after] == ["new"]


# ------------------------------------------------------------------------------------------------ refusals


def _sweep(client, cases) -> None:
    failures = []
    for method, path, kwargs, status, needle in cases:
        resp = client.request(method, path, **kwargs)
        problems = []
        if resp.status_code != status:
            problems.append(f"status {resp.status_code}, expected {status}")
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or list(data) != ["error"]:
            problems.append(f"body is not {{'error': ...}}: {resp.text[:200]!r}")
        else:
            line = data["error"]
            if "\n" in line or "Traceback" in line or not line.strip():
                problems.append(f"not one line: {line!r}")
            if needle not in line:
                problems.append(f"{needle!r} not in {line!r}")
        if problems:
            failures.append(f"{method} {path} {kwargs}: {'; '.join(problems)}")
    assert failures == [], "\n".join(failures)


def test_every_bad_request_is_a_4xx_with_one_line(local_dir):
    limits = Limits(max_text_chars=200, max_texts=3, max_k=50, max_body_bytes=4000)
    raw = {"headers": {"content-type": "application/json"}}
    post = "POST"
    cases = [
        (post, "/v1/search", {"content": b"{", **raw}, 400, "not valid JSON"),
        (post, "/v1/search", {"content": b"", **raw}, 400, "body is empty"),
        (post, "/v1/search", {"content": b"[1, 2]", **raw}, 400, "must be a JSON object"),
        (post, "/v1/search", {"content": b'"wing"', **raw}, 400, "must be a JSON object"),
        (post, "/v1/search", {"content": b"\xff\xfe", **raw}, 400, "not valid JSON"),
        (post, "/v1/search", {"content": b'{"text": "wing"}', "headers": {"content-type": "text/plain"}}, 415,
         "application/json"),
        (post, "/v1/search", {"json": {}}, 422, "text: required"),
        (post, "/v1/search", {"json": {"text": "wing", "foo": 1}}, 422, "unknown field 'foo' (valid fields: text,"),
        (post, "/v1/search", {"json": {"text": "wing", "prune": {"bar": 1}}}, 422,
         "unknown field 'prune.bar' (valid fields: top_k, min_weight, ratio, mass)"),
        (post, "/v1/search", {"json": {"text": "wing", "two_phase": {"windows": 3}}}, 422,
         "unknown field 'two_phase.windows'"),
        (post, "/v1/search", {"json": {"text": 3}}, 422, "text: Input should be a valid string"),
        (post, "/v1/search", {"json": {"text": "wing", "k": "3"}}, 422, "k: Input should be a valid integer"),
        (post, "/v1/search", {"json": {"text": "wing", "k": 0}}, 422, "k: Input should be greater than or equal"),
        (post, "/v1/search", {"json": {"text": "wing", "k": 1.5}}, 422, "k: Input should be a valid integer"),
        (post, "/v1/search", {"json": {"text": "wing", "mode": "dense"}}, 422, "mode: Input should be"),
        (post, "/v1/search", {"json": {"text": "wing", "explain": "yes"}}, 422, "explain: Input should be"),
        (post, "/v1/search", {"json": {"text": "wing", "alpha": 2}}, 422, "alpha: Input should be less than"),
        (post, "/v1/search", {"json": {"text": "wing", "prune": {"ratio": -1}}}, 422, "prune.ratio"),
        (post, "/v1/search", {"json": {"text": "wing", "filter": "ids"}}, 422, "filter"),
        (post, "/v1/search", {"json": {"text": "wing", "k": 51}}, 422, "above this service's limit of 50"),
        (post, "/v1/search", {"json": {"text": "wing", "two_phase": {"window": 51}}}, 422, "--max-k"),
        (post, "/v1/search", {"json": {"text": "wing " * 50}}, 413, "above this service's limit of 200"),
        (post, "/v1/search", {"json": {"text": "  "}}, 400, "the query is empty"),
        (post, "/v1/search", {"json": {"text": "zebra"}}, 400, "no token with a positive weight"),
        (post, "/v1/search", {"json": {"text": "wing", "filter": {"term": {"lang": "en"}}}}, 400,
         "can only filter by document ids"),
        (post, "/v1/search", {"json": {"text": "wing", "k": 10, "two_phase": {"window": 5}}}, 400,
         "two-phase window"),
        (post, "/v1/search", {"json": {"text": "wing", "prune": {"min_weight": 100}}}, 400, "removed every one"),
        (post, "/v1/search", {"content": b'{"text": "' + b"w" * 5000 + b'"}', **raw}, 413, "--max-body-bytes"),
        (post, "/v1/search", {"content": iter([b'{"text": "', b"w" * 5000, b'"}']), **raw}, 413, "--max-body-bytes"),
        (post, "/v1/search", {"content": b"{}", "headers": {**raw["headers"], "content-length": "x"}}, 400,
         "Content-Length"),
        (post, "/v1/encode", {"json": {"texts": []}}, 422, "texts: List should have at least 1 item"),
        (post, "/v1/encode", {"json": {"texts": "wing"}}, 422, "texts: Input should be a valid list"),
        (post, "/v1/encode", {"json": {"texts": ["a", 1]}}, 422, "texts.1: Input should be a valid string"),
        (post, "/v1/encode", {"json": {"texts": ["a"] * 4}}, 413, "4 texts, above this service's limit of 3"),
        (post, "/v1/encode", {"json": {"texts": ["a", "w" * 201]}}, 413, "texts[1] has 201 characters"),
        (post, "/v1/encode", {"json": {"texts": ["a"], "kind": "passage"}}, 422, "kind: Input should be"),
        (post, "/v1/encode", {"json": {"texts": ["a"], "top_k": 0}}, 422, "top_k"),
        (post, "/v1/query", {"json": {"text": "wing"}}, 400, "name the engine"),
        (post, "/v1/query", {"json": {"text": "wing", "engine": "solr"}}, 422, "engine: Input should be"),
        (post, "/v1/query", {"json": {"text": "wing", "engine": "opensearch", "k": 0}}, 422, "k:"),
        ("GET", "/v1/search", {}, 405, "GET is not allowed on /v1/search"),
        ("DELETE", "/v1/encode", {}, 405, "not allowed"),
        ("GET", "/v2/search", {}, 404, "no such endpoint: /v2/search"),
        ("POST", "/healthz", {}, 405, "not allowed"),
    ]
    with TestClient(create_app(_local_service(local_dir, limits=limits)), raise_server_exceptions=False) as client:
        _sweep(client, cases)
        metrics = client.get("/metrics").text
    assert 'spladekit_errors_total{endpoint="/v1/search",kind="client"}' in metrics
    assert 'spladekit_requests_total{endpoint="other",status="404"} 1.0' in metrics


def test_a_bug_is_a_500_with_a_request_id_and_no_stack_trace(local_dir, monkeypatch, caplog):
    service = _local_service(local_dir)
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        monkeypatch.setattr(service.searcher, "search", lambda *a, **k: 1 / 0)
        resp = client.post("/v1/search", json={"text": "wing"})
    assert resp.status_code == 500
    line = resp.json()["error"]
    assert resp.headers["x-request-id"] in line and "ZeroDivision" not in line and "Traceback" not in line
    assert "ZeroDivisionError" in caplog.text  # the details go to the log


def test_the_bearer_token_guards_the_api_and_metrics_only(local_dir):
    service = _local_service(local_dir, token="s3cret-token")
    with TestClient(create_app(service)) as client:
        _sweep(client, [
            ("POST", "/v1/search", {"json": {"text": "wing"}}, 401, "bearer token"),
            ("POST", "/v1/search", {"json": {"text": "wing"}, "headers": {"Authorization": "Bearer nope"}}, 401,
             "bearer token"),
            ("POST", "/v1/search", {"json": {"text": "wing"}, "headers": {"Authorization": "Basic s3cret-token"}},
             401, "bearer token"),
            ("GET", "/v1/info", {}, 401, "--token-file"),
            ("GET", "/metrics", {}, 401, "bearer token"),
        ])
        assert client.post("/v1/search", json={"x": 1}).status_code == 401  # auth before anything else
        good = {"Authorization": "Bearer s3cret-token"}
        assert client.post("/v1/search", json={"text": "wing"}, headers=good).status_code == 200
        assert client.get("/metrics", headers=good).status_code == 200
        for path in ("/healthz", "/", "/openapi.json", "/static/playground.css"):
            resp = client.get(path)
            assert resp.status_code == 200 and "s3cret-token" not in resp.text, path
        assert client.get("/v1/info").headers["www-authenticate"].startswith("Bearer")


def test_graceful_shutdown_finishes_requests_in_flight(local_dir):
    encoder = GateEncoder()
    service = Service(S.Searcher(local_dir=local_dir, encoder=encoder))
    results: list[int] = []
    with ThreadPoolExecutor(4) as pool:
        with serving(create_app(service)) as url:
            encoder.hold()
            futures = [pool.submit(lambda i=i: httpx.post(f"{url}/v1/search", json={"text": f"wing {i}"},
                                                          timeout=60).status_code) for i in range(4)]
            _wait_for(lambda: encoder.sizes and encoder.sizes[0][1] + service.batcher._queue.qsize() == 4,
                      "four requests in the encoder or queued")
            threading.Timer(0.3, encoder.gate.set).start()  # the shutdown begins while it is held
        # leaving `serving` is the shutdown (uvicorn's SIGTERM path); it returned after the requests finished
        results = [f.result() for f in futures]
    assert results == [200] * 4
    assert service.batcher.closed
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz")


def test_vectors_from_concurrent_searches_equal_a_search_alone(local_dir):
    """Batched or not, /v1/search hits are the same as the search of the one query (the encoder is deterministic
    per query: SpladeEncoder.encode_queries encodes each as alone)."""
    service = _local_service(local_dir, max_batch=8)
    queries = ["wing stall", "boundary layer", "shock drag", "lift lift wing", "flow the wing", "stall drag"] * 4
    searcher = S.Searcher(local_dir=local_dir, encoder=_encoder())
    with serving(create_app(service)) as url, ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda q: httpx.post(f"{url}/v1/search", json={"text": q, "k": 3}, timeout=60).json(),
                            queries))
    for q, data in zip(queries, got, strict=True):
        assert data["hits"] == [h.to_dict() for h in searcher.search(q, k=3)]

