"""spladekit serve on a real collection with the real default model: the endpoints answer what the CLI answers
(the local index and real OpenSearch and Elasticsearch nodes), the /v1/query bodies return the CLI's hits when
sent to the engine, 32 concurrent clients share one encoder call and each gets the vector of its own query,
SIGTERM lets requests in flight finish, the engine's credentials never reach a response or the log, and the
playground works in a real headless Chromium (three result lists, highlights, the expansion chart).

The first 700 documents of cranfield are encoded once; the same vectors go into a ``lucene``-mode local index and
into one index per engine (as in test_parity_engines.py).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from _support import REPO, chromium, need, serving

pytestmark = pytest.mark.integration

need("fastapi", "spladekit serve needs the serve extra")
httpx = need("httpx", "the serve tests call the service over HTTP")

from spladekit import search as S  # noqa: E402
from spladekit.cli import main  # noqa: E402
from spladekit.engines import connect  # noqa: E402
from spladekit.fusion import fuse  # noqa: E402
from spladekit.local.index import LocalIndex  # noqa: E402
from spladekit.query import parse_hits  # noqa: E402
from spladekit.schema import SCHEMA  # noqa: E402
from spladekit.serve import Service, create_app  # noqa: E402

N_DOCS = 700
N_QUERIES = 12
QUERY = "how do wings stall at a high angle of attack"


def _rows(path: Path, n: int) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in islice(fh, n)]


@pytest.fixture(scope="module")
def cranfield(default_encoder, datasets_dir):
    docs = _rows(datasets_dir / "cranfield" / "corpus.jsonl", N_DOCS)
    queries = [q["text"] for q in _rows(datasets_dir / "cranfield" / "queries.jsonl", 40)]
    vectors = default_encoder.encode_documents([" ".join(x for x in (d.get("title"), d["text"]) if x) for d in docs])
    return default_encoder, docs, vectors, queries


@pytest.fixture(scope="module")
def local_dir(cranfield, tmp_path_factory) -> Path:
    encoder, docs, vectors, _ = cranfield
    index = LocalIndex(mode="lucene", meta=SCHEMA.meta(encoder.identity()))
    index.add([d["_id"] for d in docs], vectors, [d["text"] for d in docs])  # BM25 text, as ingest keeps it
    return index.save(tmp_path_factory.mktemp("serve") / "local")


@pytest.fixture(scope="module", params=["opensearch", "elasticsearch"])
def engine_index(request, cranfield):
    running = request.getfixturevalue(request.param)
    encoder, docs, vectors, _ = cranfield
    idx = connect(running.url, f"sk-test-serve-{uuid.uuid4().hex[:8]}", engine=running.engine, names=encoder.names)
    idx.create(SCHEMA.meta(encoder.identity()))
    sources = ((d["_id"], idx.source(v, title=d.get("title") or None, text=d["text"]))
               for d, v in zip(docs, vectors, strict=True))
    assert [r.id for r in idx.bulk_index(sources) if not r.ok] == []
    idx.refresh()
    yield running, idx
    idx.delete_index()


@pytest.fixture(scope="module")
def local_url(local_dir):
    with serving(create_app(Service.open(local_dir=str(local_dir)))) as url:
        yield url


@pytest.fixture(scope="module")
def engine_url(engine_index):
    running, idx = engine_index
    with serving(create_app(Service.open(engine_url=running.url, index=idx.index))) as url:
        yield url


def _cli_hits(args: list[str]) -> list[dict]:
    out = CliRunner().invoke(main, ["search", *args, "--format", "jsonl"])
    assert out.exit_code == 0, out.output
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def _post(url: str, path: str, body: dict, **kw) -> dict:
    resp = httpx.post(f"{url}{path}", json=body, timeout=120, **kw)
    assert resp.status_code == 200, resp.text
    return resp.json()


# (request body, the same search as CLI options)
def _variants(docs: list[dict]) -> list[tuple[dict, list[str]]]:
    ids = [d["_id"] for d in docs[::7]]
    return [
        ({"k": 10}, ["-k", "10"]),
        ({"k": 5, "explain": True}, ["-k", "5", "--explain"]),
        ({"k": 10, "two_phase": True}, ["-k", "10", "--two-phase"]),
        ({"k": 8, "two_phase": {"first_pass_mass": 0.7, "window": 40}},
         ["-k", "8", "--two-phase", "--first-pass-mass", "0.7", "--window", "40"]),
        ({"k": 6, "filter": {"ids": {"values": ids}}, "explain": True},
         ["-k", "6", "--filter", json.dumps({"ids": {"values": ids}}), "--explain"]),
        ({"k": 10, "prune": {"top_k": 8, "min_weight": 0.3}}, ["-k", "10", "--prune-top-k", "8",
                                                                "--prune-min-weight", "0.3"]),
    ]


def test_local_endpoints_equal_the_cli(local_url, local_dir, cranfield):
    _, docs, _, queries = cranfield
    compared = 0
    for text in queries[:N_QUERIES]:
        for body, args in _variants(docs):
            got = _post(local_url, "/v1/search", {"text": text, **body})["hits"]
            want = _cli_hits([text, "--local", str(local_dir), *args])
            assert got == want, (text, body)
            compared += bool(got)
    assert compared >= N_QUERIES * 5  # not vacuous: nearly every search found hits
    for body, args in (({"mode": "bm25"}, ["--bm25"]), ({"mode": "hybrid"}, ["--hybrid"])):  # no server needed
        for text in queries[:N_QUERIES]:
            got = _post(local_url, "/v1/search", {"text": text, **body})["hits"]
            assert got and got == _cli_hits([text, "--local", str(local_dir), *args]), (text, body)


def test_encode_equals_spladekit_encode(local_url, cranfield):
    _, docs, _, queries = cranfield
    texts = queries[:6]
    out = CliRunner().invoke(main, ["encode", *texts, "--query", "--json"])
    assert out.exit_code == 0, out.output
    cli = [json.loads(line) for line in out.stdout.splitlines()]
    got = _post(local_url, "/v1/encode", {"texts": texts, "kind": "query", "top_k": 20})["vectors"]
    for mine, theirs in zip(got, cli, strict=True):
        assert mine["terms"] == theirs["terms"]
        assert [[t, round(w, 4)] for t, w in mine["top"]] == theirs["top"]
    doc_texts = [d["text"] for d in docs[:4]]
    out = CliRunner().invoke(main, ["encode", *doc_texts, "--json", "--top-k", "30"])
    got = _post(local_url, "/v1/encode", {"texts": doc_texts, "kind": "document", "top_k": 30})["vectors"]
    for mine, line in zip(got, out.stdout.splitlines(), strict=True):
        assert [[t, round(w, 4)] for t, w in mine["top"]] == json.loads(line)["top"]


def test_engine_endpoints_equal_the_cli(engine_url, engine_index, cranfield):
    running, idx = engine_index
    _, docs, _, queries = cranfield
    where = ["--engine", running.url, "--index", idx.index]
    extra = [({"mode": "bm25", "k": 10}, ["--bm25", "-k", "10"]),
             ({"mode": "hybrid", "k": 10, "explain": True}, ["--hybrid", "-k", "10", "--explain"]),
             ({"mode": "hybrid", "k": 5, "fusion": "weighted", "alpha": 0.7},
              ["--hybrid", "-k", "5", "--fusion", "weighted", "--alpha", "0.7"]),
             ({"k": 5, "filter": {"term": {"text": "wing"}}}, ["-k", "5", "--filter", '{"term": {"text": "wing"}}'])]
    for text in queries[:N_QUERIES]:
        for body, args in [*_variants(docs), *extra]:
            got = _post(engine_url, "/v1/search", {"text": text, **body})
            assert got["backend"] == running.engine
            assert got["hits"] == _cli_hits([text, *where, *args]), (text, body)


def test_query_bodies_give_the_clis_hits_when_sent_to_the_engine(engine_url, engine_index, cranfield):
    running, idx = engine_index
    _, _, _, queries = cranfield
    for text in queries[:N_QUERIES]:
        for body, args in (({"k": 10}, ["-k", "10"]), ({"k": 10, "two_phase": True}, ["-k", "10", "--two-phase"]),
                           ({"mode": "bm25", "k": 7}, ["--bm25", "-k", "7"])):
            data = _post(engine_url, "/v1/query", {"text": text, **body})
            assert (data["engine"], data["index"]) == (running.engine, idx.index)
            (sent,) = data["searches"].values()
            hits = [h.to_dict() for h in parse_hits(idx.search_body(sent))]  # the app calls the engine itself
            assert hits == _cli_hits([text, "--engine", running.url, "--index", idx.index, *args])
        # A hybrid: the app sends both rankings, fuses them as `fusion` says, then fetches the fused hits' text.
        data = _post(engine_url, "/v1/query", {"text": text, "mode": "hybrid", "k": 10})
        runs = [parse_hits(idx.search_body(data["searches"][n], data["search_types"].get(n)))
                for n in ("splade", "bm25")]
        assert all(h.text is None for run in runs for h in run)  # ids and scores only
        fused = fuse(*runs, k=10, fusion=data["fusion"]["method"])
        fetch = data["fusion"]["text"] | {"query": {"bool": {"filter": [{"ids": {"values": [h.id for h in fused]}}]}}}
        texts = {h.id: h for h in parse_hits(idx.search_body(fetch))}
        for h in fused:
            h.title, h.text = texts[h.id].title, texts[h.id].text
        assert [h.to_dict() for h in fused] == _cli_hits([text, "--engine", running.url, "--index", idx.index,
                                                          "--hybrid", "-k", "10"])
    other = "elasticsearch" if running.engine == "opensearch" else "opensearch"
    data = _post(engine_url, "/v1/query", {"text": QUERY, "engine": other})
    assert data["engine"] == other and data["index"] is None


def test_32_concurrent_clients_share_one_encoder_call_and_get_their_own_vectors(local_dir, cranfield):
    encoder, _, _, queries = cranfield
    texts = queries[:32]
    service = Service.open(local_dir=str(local_dir), max_batch=32, max_wait_ms=60_000)
    with serving(create_app(service)) as url:
        # Another request "on its way" holds the batch open until it is full (max_batch): one encoder call.
        hold = service.batcher.expect()
        try:
            with ThreadPoolExecutor(32) as pool:
                got = list(pool.map(lambda t: _post(url, "/v1/encode", {"texts": [t]})["vectors"][0], texts))
        finally:
            hold.release()
        metrics = httpx.get(f"{url}/metrics").text
    # One encoder call (the warm-up does not go through the batcher): 32 texts from 32 requests.
    assert 'spladekit_encoder_batch_requests_count{kind="query"} 1.0' in metrics
    assert 'spladekit_encoder_batch_requests_sum{kind="query"} 32.0' in metrics
    for text, vec in zip(texts, got, strict=True):
        (alone,) = encoder.encode_queries([text])  # what `spladekit search` computes for this query
        assert vec["terms"] == len(alone)
        assert vec["top"] == [[t, w] for t, w in encoder.names.decode(alone)]  # bit for bit


def _wait_for_metric(url: str, name: str, at_least: float, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        lines = httpx.get(f"{url}/metrics", timeout=10).text.splitlines()
        value = next(float(ln.split()[-1]) for ln in lines if ln.startswith(name + " "))
        if value >= at_least:
            return
        assert time.monotonic() < deadline, f"{name} stayed at {value} < {at_least}"
        time.sleep(0.05)


def test_sigterm_lets_requests_in_flight_finish(local_dir, cranfield, tmp_path):
    from spladekit.engines.node import free_port

    _, docs, _, _ = cranfield
    port = free_port()
    env = {**os.environ, "SPLADEKIT_CACHE": os.environ.get("SPLADEKIT_CACHE", str(REPO / ".cache"))}
    proc = subprocess.Popen([sys.executable, "-c", "from spladekit.cli import main; main()", "serve", "--local",
                             str(local_dir), "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not come up"
            time.sleep(0.2)
        # The six requests must still be running when the signal comes: each sends 64 of the longest documents
        # (384 in all, several seconds of encoding; 16 short ones each were done before the first /metrics read
        # in a CI run).
        longest = sorted((d["text"] for d in docs), key=len, reverse=True)

        def work(i: int) -> tuple[int, int]:
            body = {"texts": longest[64 * i:64 * (i + 1)], "kind": "document"}
            resp = httpx.post(f"{url}/v1/encode", json=body, timeout=300)
            return resp.status_code, len(resp.json()["vectors"])

        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(work, i) for i in range(6)]
            # All six in the service, plus this /metrics request.
            _wait_for_metric(url, "spladekit_requests_in_flight", 7)
            proc.send_signal(signal.SIGTERM)
            results = [f.result() for f in futures]
        code = proc.wait(120)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert results == [(200, 64)] * 6
    assert code == 0 and "Traceback" not in stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)


def test_engine_credentials_never_reach_a_response_or_the_log(engine_index, caplog):
    running, idx = engine_index
    secrets = {"password": "pw-never-shown-1", "api_key": "key-never-shown-2"}
    # The test nodes run without security: they ignore the credentials, which still go with every request.
    service = Service.open(engine_url=running.url.replace("http://", "http://carol:url-pw-never-shown-3@"),
                           index=idx.index, connect={"user": "bob", **secrets})
    seen = []
    caplog.set_level(logging.DEBUG)
    # uvicorn's own loggers too (log_config=None: its records reach the root logger, which caplog reads).
    with serving(create_app(service), log_level="debug", log_config=None, access_log=True) as url:
        calls = [("GET", "/healthz", None), ("GET", "/v1/info", None), ("GET", "/metrics", None),
                 ("POST", "/v1/search", {"text": QUERY, "mode": "hybrid", "explain": True}),
                 ("POST", "/v1/query", {"text": QUERY}),
                 ("POST", "/v1/search", {"text": QUERY, "filter": {"no_such_query": {}}}),  # the engine refuses it
                 ("POST", "/v1/encode", {"texts": [QUERY]})]
        for method, path, body in calls:
            resp = httpx.request(method, f"{url}{path}", json=body, timeout=60)
            seen.append(resp.text + json.dumps(dict(resp.headers)))
            assert resp.status_code == (400 if body and "filter" in body else 200), resp.text
        idx_url = json.loads(httpx.get(f"{url}/v1/info").text)["index"]["url"]
    assert idx_url == running.url
    for secret in (*secrets.values(), "url-pw-never-shown-3", "carol:"):
        assert not any(secret in text for text in seen), secret
        assert secret not in caplog.text, secret


# ------------------------------------------------------------------------------------------------ the playground


def _page(url: str, query: str, out: Path | None = None) -> dict:
    """Open the playground in headless Chromium, type a query, run it; what the page shows."""
    sync_api = need("playwright.sync_api", "the playground is tested in a real browser (Playwright's Python API)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            page.fill("#query", query)
            page.click("#go")
            page.wait_for_selector("body[data-searched='1']", timeout=60_000)
            shown = {
                mode: {"hits": page.locator(f".column[data-mode='{mode}'] li.hit").count(),
                       "marks": page.locator(f".column[data-mode='{mode}'] mark.hl").count(),
                       "chips": page.locator(f".column[data-mode='{mode}'] .chip").count(),
                       "note": page.locator(f".column[data-mode='{mode}'] .note").inner_text(),
                       "ids": page.locator(f".column[data-mode='{mode}'] li.hit").evaluate_all(
                           "els => els.map(e => e.dataset.id)")}
                for mode in ("splade", "bm25", "hybrid")
            }
            shown["chart"] = page.locator("#chart .term").count()
            shown["expanded"] = page.locator("#chart .bar.expanded").count()
            shown["status"] = page.locator("#status").inner_text()
            shown["errors"] = errors
            if out is not None:
                page.screenshot(path=str(out), full_page=False)
            return shown
        finally:
            browser.close()


def _screenshot_dir(tmp_path: Path) -> Path:
    # SPLADEKIT_SCREENSHOTS=docs/img keeps the pictures for the docs (docs/serve.md); else a temporary folder.
    folder = Path(os.environ.get("SPLADEKIT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_playground_on_an_engine_shows_three_lists_highlights_and_the_expansion(engine_url, engine_index, tmp_path):
    running, idx = engine_index
    shown = _page(engine_url, QUERY, _screenshot_dir(tmp_path) / f"playground-{running.engine}.png")
    assert shown["errors"] == [] and shown["status"] == ""
    for mode in ("splade", "bm25", "hybrid"):
        assert shown[mode]["hits"] == 10, (mode, shown[mode])
        assert shown[mode]["marks"] > 0, f"no highlighted word in the {mode} snippets"
    want = {"splade": {}, "bm25": {"mode": "bm25"}, "hybrid": {"mode": "hybrid"}}
    for mode, options in want.items():  # the page lists what the API (and so the CLI) answers
        hits = S.search(QUERY, engine_url=running.url, index=idx.index, k=10, **options)
        assert shown[mode]["ids"] == [h.id for h in hits]
    assert shown["splade"]["chips"] >= 10 and shown["hybrid"]["chips"] > 0
    terms = _post(engine_url, "/v1/encode", {"texts": [QUERY]})["vectors"][0]["terms"]
    assert shown["chart"] == min(30, terms) and shown["expanded"] > 0  # the weight chart, with terms the model added


def test_playground_on_the_local_index_shows_three_lists(local_url, local_dir, tmp_path):
    shown = _page(local_url, QUERY, _screenshot_dir(tmp_path) / "playground-local.png")
    assert shown["errors"] == []
    assert shown["splade"]["chips"] > 0
    for mode, options in {"splade": {}, "bm25": {"mode": "bm25"}, "hybrid": {"mode": "hybrid"}}.items():
        assert shown[mode]["hits"] == 10, (mode, shown[mode])
        assert shown[mode]["ids"] == [h.id for h in S.search(QUERY, local_dir=local_dir, k=10, **options)]
    assert shown["chart"] == min(30, _post(local_url, "/v1/encode", {"texts": [QUERY]})["vectors"][0]["terms"])


def test_vectors_come_back_as_float32(local_url):
    top = _post(local_url, "/v1/encode", {"texts": [QUERY]})["vectors"][0]["top"]
    weights = np.array([w for _, w in top])
    np.testing.assert_array_equal(weights.astype(np.float32).astype(np.float64), weights)
