"""spladekit against secured engines: real nodes with security on, one at a time, both engines.

Each node is started the way a user would (``spladekit engine start --secure --cert-host localhost``): HTTPS and
transport TLS with a CA and node certificate made for it (trustme; no key is committed, none is reused), the
superuser's password made for it (Elasticsearch: ``bootstrap.password`` in the node's keystore; OpenSearch: the
security plugin installed from Maven Central with its configuration written by spladekit, no demo users or
certificates, the superuser made through the REST API with the admin client certificate). The tests add a user
whose role may only ingest into one index (create it, write documents, read its mapping; no read of documents,
nothing else), a user who may only search it, and API keys. Every verb that talks to an engine (ingest, search,
parity, eval, engine status, doctor) runs with ``--user``/``$SPLADEKIT_ENGINE_PASSWORD``, ``--api-key`` or
``--ca-certs``; the failures a user meets (wrong password, unknown or expired key, untrusted certificate, host
name mismatch, http:// against https, a user without the write privilege) end in one line, exit 1, no traceback;
and no password or key is left in any file the jobs wrote, in ``_meta`` or in what the CLI printed.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from _support import REPO, bad_input_expected, need, serving, skip_or_fail
from spladekit.cli import main
from spladekit.engines import node as nodes
from spladekit.engines import security as tls
from spladekit.errors import EngineError

pytestmark = pytest.mark.integration

SAMPLE = REPO / "ingest" / "sample_corpus.jsonl"
QUERIES = REPO / "ingest" / "sample_queries.jsonl"
BAD_INPUT = REPO / "ingest" / "bad_input.jsonl"
#: What Elasticsearch's integ-test distribution cannot do (dialects/elasticsearch.py): store API keys.
NO_API_KEYS = "analysis-common"


@dataclass
class Secured:
    """One secured node and the users the tests made on it."""

    engine: str
    node: nodes.Node
    url: str  # https://localhost:PORT: the certificate names localhost only
    ca: str
    index: str  # the one index the writer may ingest into and the reader may search
    admin: tuple[str, str]
    writer: tuple[str, str]
    reader: tuple[str, str]
    secrets: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def run(self, *args: str, password: str | None = None, api_key: str | None = None) -> Result:
        """The CLI, with the password in $SPLADEKIT_ENGINE_PASSWORD (never on the command line)."""
        env = {"SPLADEKIT_ENGINE_PASSWORD": password} if password is not None else {}
        if api_key is not None:
            self.secrets.append(api_key)
            args = (*args, "--api-key", api_key)
        result = CliRunner().invoke(main, list(args), env=env)
        self.outputs.append(result.output + result.stderr)
        return result

    def as_user(self, who: tuple[str, str], *args: str) -> Result:
        return self.run(*args, "--user", who[0], "--ca-certs", self.ca, password=who[1])

    def filled(self) -> None:
        """The index holds the sample corpus (the writer ingests it; again is harmless: same ids)."""
        r = self.as_user(self.writer, "ingest", str(SAMPLE), "--engine", self.url, "--index", self.index, "--silent",
                         "--checkpoint", str(Path(tempfile.mkdtemp()) / "checkpoint.json"))
        assert r.exit_code == 0, r.output + r.stderr
        self.count(at_least=len(SAMPLE.read_text(encoding="utf-8").splitlines()))
        # Ingesting again replaces the documents, and the replaced copies count in BM25's statistics until a merge
        # drops them: a background merge between two searches changed BM25 scores (9.055 -> 9.120 in a CI run;
        # 7.92 -> 10.51 with a forced merge not yet refreshed). Merge them away now, then make that visible.
        self.node.admin()("POST", f"/{self.index}/_forcemerge?max_num_segments=1")
        self.node.admin()("POST", f"/{self.index}/_refresh")

    def ids(self) -> set[str]:
        """The ids of the documents visible in the index now."""
        hits = self.node.admin()("POST", f"/{self.index}/_search", {"size": 10000, "_source": False})
        return {h["_id"] for h in hits["hits"]["hits"]}

    def count(self, at_least: int = 0) -> int:
        """Documents in the index, once at least ``at_least`` are visible (the writer may not refresh: the engine
        does, within refresh_interval)."""
        deadline = time.monotonic() + 30
        while (n := self.node.admin()("GET", f"/{self.index}/_count")["count"]) < at_least:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        return n


@pytest.fixture(scope="module", params=["opensearch", "elasticsearch"])
def secured(request: pytest.FixtureRequest) -> Iterator[Secured]:
    """A secured node of each engine in turn (module scope: one secured node at a time), started by the CLI."""
    engine = request.param
    folder = Path(tempfile.mkdtemp(prefix=f"spladekit-secure-{engine}-"))
    port = nodes.free_port()
    started = CliRunner().invoke(main, ["engine", "start", "--engine", engine, "--port", str(port), "--data-dir",
                                        str(folder), "--secure", "--cert-host", "localhost"])
    if started.exit_code != 0:
        shutil.rmtree(folder, ignore_errors=True)
        skip_or_fail(f"a secured {engine} node could not start: {started.output} {started.stderr} "
                     f"{started.exception!r}")
    node = nodes.running(engine, port)
    try:
        assert node is not None and node.security is not None, started.output
        assert f"is up at https://localhost:{port}" in started.output
        admin_password = node.security.password()
        assert admin_password not in started.output + started.stderr  # printed: where it is, never what
        index = f"sk-sec-{uuid.uuid4().hex[:8]}"
        writer, reader = ("ingester", tls.new_password()), ("searcher", tls.new_password())
        node.put_role("ingest-one-index", index, "ingest")
        node.put_role("search-one-index", index, "search")
        node.put_user(*writer, ["ingest-one-index"])
        node.put_user(*reader, ["search-one-index"])
        admin = (node.credentials()["user"], admin_password)
        # each password, and each user:password as a basic-auth header carries it
        secrets = [p for u, p in (admin, writer, reader)]
        secrets += [base64.b64encode(f"{u}:{p}".encode()).decode() for u, p in (admin, writer, reader)]
        yield Secured(engine, node, node.url, str(node.security.ca), index, admin, writer, reader, secrets=secrets)
    finally:
        stopped = CliRunner().invoke(main, ["engine", "stop", "--engine", engine, "--port", str(port)])
        assert stopped.exit_code == 0, stopped.output
        shutil.rmtree(folder, ignore_errors=True)


def _tiny_beir(folder: Path) -> Path:
    """A BEIR folder from the sample corpus and queries; each query judged against the first three documents."""
    folder.mkdir(parents=True)
    shutil.copy(SAMPLE, folder / "corpus.jsonl")
    shutil.copy(QUERIES, folder / "queries.jsonl")
    docs = [json.loads(line)["_id"] for line in SAMPLE.read_text(encoding="utf-8").splitlines()][:3]
    qids = [json.loads(line)["_id"] for line in QUERIES.read_text(encoding="utf-8").splitlines()]
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q in qids for d in docs), encoding="utf-8")
    return folder


def _no_secret_anywhere(s: Secured, root: Path, *, mapping: bool = True) -> None:
    """No password or key in any file under ``root`` (reports, checkpoints, dead letters, local indexes, runs),
    in what the CLI printed, or in the index's ``_meta`` and mapping."""
    secrets = [x for x in s.secrets if x]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files, root
    for path in files:
        data = path.read_bytes()
        leaked = [x[:4] + "..." for x in secrets if x.encode() in data]
        assert not leaked, f"{path} holds a secret"
    for text in s.outputs:
        assert not any(x in text for x in secrets), text
    if mapping:
        text = json.dumps(s.node.admin()("GET", f"/{s.index}/_mapping"))
        assert "model_sha256" in text and not any(x in text for x in secrets)


def _one_line_error(result: Result, *needles: str) -> str:
    """Exit 1, one line on stderr holding every needle, no traceback."""
    err = result.stderr.strip()
    assert result.exit_code == 1, (result.exit_code, result.output, err)
    assert "Traceback" not in result.output + err and not isinstance(result.exception, AssertionError)
    lines = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_every_verb_works_with_least_privileged_users(secured: Secured, tmp_path: Path, monkeypatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    s = secured
    caplog.set_level(logging.DEBUG)  # every log line of spladekit and the client libraries, searched below
    monkeypatch.chdir(tmp_path)  # job folders (checkpoint, dead letter) land here, to be searched for secrets
    url, idx = s.url, s.index

    # ingest: the user who may only write into this one index creates it and fills it
    r = s.as_user(s.writer, "ingest", str(SAMPLE), "--engine", url, "--index", idx, "--silent",
                  "--report", str(tmp_path / "ingest.json"))
    assert r.exit_code == 0, r.output + r.stderr
    n_sample = len(SAMPLE.read_text(encoding="utf-8").splitlines())
    assert json.loads((tmp_path / "ingest.json").read_text())["indexed"] == n_sample
    # The writer may not refresh (HTTP 403, tolerated): the engine refreshes by itself within refresh_interval (1 s).
    assert s.count(at_least=n_sample) == n_sample
    # ... and may not read what it wrote
    r = s.as_user(s.writer, "search", "how do wings stall", "--engine", url, "--index", idx)
    _one_line_error(r, "accepted the credentials but refused", "HTTP 403")

    # search and parity: the user who may only read this index
    r = s.as_user(s.reader, "search", "how do wings stall", "--engine", url, "--index", idx, "--format", "jsonl",
                  "-k", "3", "--explain")
    assert r.exit_code == 0, r.output + r.stderr
    hits = [json.loads(line) for line in r.output.splitlines()]
    assert len(hits) == 3 and hits[0]["id"].startswith("wing-")
    local = tmp_path / "local"
    assert s.run("ingest", str(SAMPLE), "--local", str(local), "--silent").exit_code == 0
    r = s.as_user(s.reader, "parity", "--engine", url, "--index", idx, "--local", str(local), "--queries",
                  str(QUERIES), "--silent", "--report", str(tmp_path / "parity.json"))
    assert r.exit_code == 0, r.output + r.stderr
    assert json.loads((tmp_path / "parity.json").read_text())["summary"]["parity"] == 1.0

    # eval builds its own index: the superuser
    beir = _tiny_beir(tmp_path / "beir")
    r = s.as_user(s.admin, "eval", str(beir), "--engine", url, "--no-local", "--bm25", "--index",
                  f"{idx}-eval", "--silent", "--metrics", "nDCG@10", "--out", str(tmp_path / "runs"),
                  "--report", str(tmp_path / "eval.json"))
    assert r.exit_code == 0, r.output + r.stderr
    assert "nDCG@10" in r.output

    # engine status and doctor with the same options
    r = s.as_user(s.admin, "engine", "status", "--engine", s.engine, "--port", str(s.node.port), "--url", url)
    status = json.loads(r.output)
    assert r.exit_code == 0 and status["running"] is True and status["health"] in ("green", "yellow"), r.output
    r = s.as_user(s.reader, "engine", "status", "--engine", s.engine, "--port", str(s.node.port), "--url", url)
    assert json.loads(r.output)["auth"].startswith("refused (HTTP 403"), r.output  # no cluster monitor privilege
    r = s.as_user(s.writer, "doctor", "--engine", url, "--json")
    checks = {c["name"]: c for c in json.loads(r.output)["checks"]}
    assert checks["engine"]["status"] == "ok" and s.engine in checks["engine"]["detail"], r.output
    assert checks["engine credentials"]["status"] == "ok" and s.writer[0] in checks["engine credentials"]["detail"]

    # bad records go to the dead letter, which holds no secret either
    r = s.as_user(s.writer, "ingest", str(BAD_INPUT), "--engine", url, "--index", idx, "--silent",
                  "--report", str(tmp_path / "bad.json"))
    assert r.exit_code == 3, r.output + r.stderr
    report = json.loads((tmp_path / "bad.json").read_text())
    indexed, failed = bad_input_expected()
    assert report["indexed"] == indexed and report["failed"] == failed
    assert Path(report["dead_letter"]).stat().st_size > 0
    assert "_bulk" in caplog.text  # the client libraries' request log lines were captured, and are searched too
    s.outputs.append(caplog.text)
    _no_secret_anywhere(s, tmp_path)


def test_refused_and_unreachable_end_in_one_line(secured: Secured, tmp_path: Path, monkeypatch) -> None:
    s = secured
    s.filled()
    monkeypatch.chdir(tmp_path)
    url, idx, port = s.url, s.index, s.node.port
    wrong = ("ingester", "not-" + s.writer[1])
    s.secrets.append(wrong[1])
    local = tmp_path / "local"
    assert s.run("ingest", str(SAMPLE), "--local", str(local), "--silent").exit_code == 0
    verbs = {
        "ingest": ["ingest", str(SAMPLE), "--engine", url, "--index", idx, "--silent"],
        "search": ["search", "wings", "--engine", url, "--index", idx],
        "parity": ["parity", "--engine", url, "--index", idx, "--local", str(local), "--queries", str(QUERIES)],
        "eval": ["eval", str(_tiny_beir(tmp_path / "beir")), "--engine", url, "--no-local", "--silent"],
        "doctor": ["doctor", "--engine", url],
    }
    for name, args in verbs.items():
        # doctor reports every check and its fix on stdout, its one error line on stderr
        def said(r: Result, verb: str = name) -> str:
            assert r.exit_code == 1 and "Traceback" not in r.output + r.stderr, (verb, r.output, r.stderr)
            return r.output + r.stderr if verb == "doctor" else r.stderr

        # a wrong password
        r = s.run(*args, "--user", wrong[0], "--ca-certs", s.ca, password=wrong[1])
        if name == "doctor":
            assert "engine credentials" in said(r) and "SPLADEKIT_ENGINE_PASSWORD" in said(r), r.output
        else:
            _one_line_error(r, "refused the credentials (HTTP 401", "SPLADEKIT_ENGINE_PASSWORD")
        # no CA: the certificate is not trusted, and the fix is --ca-certs
        r = s.run(*args, "--user", s.reader[0], password=s.reader[1])
        assert "not trusted" in said(r) and "--ca-certs" in said(r), (name, r.output, r.stderr)
        # the certificate names localhost only
        mismatch = [a.replace(url, f"https://127.0.0.1:{port}") for a in args]
        r = s.run(*mismatch, "--user", s.reader[0], "--ca-certs", s.ca, password=s.reader[1])
        assert "not valid for the host name '127.0.0.1'" in said(r), (name, r.output, r.stderr)
        # plain http against the https node
        plain = [a.replace(url, f"http://localhost:{port}") for a in args]
        r = s.run(*plain, "--user", s.reader[0], "--ca-certs", s.ca, password=s.reader[1])
        assert "serves HTTPS" in said(r) and f"use https://localhost:{port}" in said(r), (name, r.output, r.stderr)
    # --insecure: works, loudly
    r = s.run("search", "wings", "--engine", url, "--index", idx, "--user", s.reader[0], "--insecure",
              password=s.reader[1])
    assert r.exit_code == 0 and "WARNING: --insecure" in r.stderr, r.stderr
    # engine status with a wrong password says so instead of a health
    r = s.run("engine", "status", "--engine", s.engine, "--port", str(port), "--url", url, "--user", wrong[0],
              "--ca-certs", s.ca, password=wrong[1])
    assert json.loads(r.output)["auth"].startswith("refused (HTTP 401"), r.output
    _no_secret_anywhere(s, tmp_path, mapping=False)


def test_ingest_without_write_privilege_stops_before_encoding(secured: Secured, tmp_path: Path, monkeypatch) -> None:
    s = secured
    monkeypatch.chdir(tmp_path)
    from spladekit.encoder.runtime import SpladeEncoder

    loads: list[str] = []
    real = SpladeEncoder.load.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(SpladeEncoder, "load",
                        classmethod(lambda cls, *a, **k: loads.append("x") or real(cls, *a, **k)))
    s.filled()
    loads.clear()
    # the reader may not write: stopped before the model loads, before any record is read
    r = s.as_user(s.reader, "ingest", str(SAMPLE), "--engine", s.url, "--index", s.index, "--silent")
    _one_line_error(r, f"may not ingest into index '{s.index}'", "missing privileges", "nothing was encoded")
    # the writer has no privilege at all on another index
    r = s.as_user(s.writer, "ingest", str(SAMPLE), "--engine", s.url, "--index", f"{s.index}-other", "--silent")
    _one_line_error(r, "HTTP 403")
    assert loads == [] and not (tmp_path / ".spladekit").exists()


def test_api_keys(secured: Secured, tmp_path: Path, monkeypatch) -> None:
    s = secured
    s.filled()
    monkeypatch.chdir(tmp_path)
    # an unknown key: refused, in one line, on both engines
    r = s.run("search", "wings", "--engine", s.url, "--index", s.index, "--ca-certs", s.ca,
              api_key="Zm9vOmJhcg==")
    _one_line_error(r, "refused the credentials (HTTP 401", "--api-key")
    try:
        key = s.node.create_api_key("sk-test-writer", user=s.writer[0], password=s.writer[1])
    except EngineError as exc:
        if NO_API_KEYS in str(exc):
            pytest.xfail(str(exc))
        raise
    r = s.run("ingest", str(SAMPLE), "--engine", s.url, "--index", s.index, "--ca-certs", s.ca, "--silent",
              "--report", str(tmp_path / "key.json"), api_key=key)
    assert r.exit_code == 0, r.output + r.stderr
    reader_key = s.node.create_api_key("sk-test-reader", user=s.reader[0], password=s.reader[1])
    r = s.run("search", "how do wings stall", "--engine", s.url, "--index", s.index, "--ca-certs", s.ca,
              "--format", "trec", api_key=reader_key)
    assert r.exit_code == 0 and r.output.count(" Q0 ") >= 3, r.output + r.stderr
    # the writer's key may not search, the reader's may not ingest (checked before encoding)
    r = s.run("ingest", str(SAMPLE), "--engine", s.url, "--index", s.index, "--ca-certs", s.ca, "--silent",
              api_key=reader_key)
    _one_line_error(r, "may not ingest into index")
    # an expired key
    short = s.node.create_api_key("sk-test-short", user=s.reader[0], password=s.reader[1], seconds=1)
    time.sleep(3)
    r = s.run("search", "wings", "--engine", s.url, "--index", s.index, "--ca-certs", s.ca, api_key=short)
    _one_line_error(r, "refused the credentials (HTTP 401")
    # an invalidated key (OpenSearch 2.19 has no way to invalidate a token: the dialect says so)
    gone = s.node.create_api_key("sk-test-gone", user=s.reader[0], password=s.reader[1])
    try:
        s.node.invalidate_api_key(gone)
    except EngineError as exc:
        assert s.engine == "opensearch" and "cannot invalidate" in str(exc)
    else:
        r = s.run("search", "wings", "--engine", s.url, "--index", s.index, "--ca-certs", s.ca, api_key=gone)
        _one_line_error(r, "refused the credentials (HTTP 401")
    _no_secret_anywhere(s, tmp_path)


def test_password_changed_mid_job_stops_it_and_resume_finishes(secured: Secured, tmp_path: Path, monkeypatch,
                                                                datasets_dir: Path) -> None:
    """The writer's password changes while it ingests Cranfield (1,398 documents): the job stops with exit 4 and
    nothing in the dead letter (every document after would fail the same way), and --resume with the new
    password finishes with every document once."""
    s = secured
    s.filled()
    monkeypatch.chdir(tmp_path)
    # Cranfield's documents, less the two with neither title nor text (the dead letter is for bad input only)
    lines = (datasets_dir / "cranfield" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if (json.loads(ln).get("text") or json.loads(ln).get("title") or "").strip()]
    corpus = tmp_path / "cranfield.jsonl"
    corpus.write_text("\n".join(kept) + "\n", encoding="utf-8")
    total = len(kept)
    before = s.count()
    new = (s.writer[0], tls.new_password())
    s.secrets += [new[1], base64.b64encode(f"{new[0]}:{new[1]}".encode()).decode()]
    changed = threading.Event()

    def change_when_documents_arrive() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if s.count() > before:
                s.node.put_user(*new, ["ingest-one-index"])
                changed.set()
                return
            time.sleep(0.2)

    changer = threading.Thread(target=change_when_documents_arrive, daemon=True)
    changer.start()
    args = ["ingest", str(corpus), "--engine", s.url, "--index", s.index, "--bulk-docs", "20", "--silent",
            "--report", str(tmp_path / "first.json")]
    r = s.as_user(s.writer, *args)
    changer.join(timeout=300)
    assert changed.is_set()
    assert r.exit_code == 4, r.output + r.stderr
    assert "refused the credentials mid-job (HTTP 401" in r.stderr and "--resume" in r.stderr
    first = json.loads((tmp_path / "first.json").read_text())
    assert first["failed"] == {} and 0 < first["indexed"] < total
    s.writer = new
    r = s.as_user(s.writer, *args[:-1], str(tmp_path / "second.json"), "--resume")
    assert r.exit_code == 0, r.output + r.stderr
    second = json.loads((tmp_path / "second.json").read_text())
    assert second["complete"] and second["failed"] == {}
    dead = Path(second["dead_letter"])
    assert not dead.exists() or dead.read_text() == ""
    # every document once: the index holds the ids it held before and Cranfield's (the earlier tests' ids may overlap)
    ids = {json.loads(ln)["_id"] for ln in kept} | s.ids()
    assert s.count(at_least=len(ids)) == len(ids)
    _no_secret_anywhere(s, tmp_path)


def test_serve_over_https_with_the_search_only_user(secured: Secured, caplog: pytest.LogCaptureFixture) -> None:
    """``spladekit serve`` on the secured node as the user who may only search the index, over HTTPS with the CA:
    it answers what ``spladekit search`` prints, its health check passes with that user's privileges, and no
    password reaches a response, a header or a log line (uvicorn's access log included)."""
    httpx = need("httpx", "the service is called over HTTP")
    need("fastapi", "spladekit serve needs the serve extra")
    from spladekit.serve import Service, create_app

    s = secured
    s.filled()
    caplog.set_level(logging.DEBUG)
    service = Service.open(engine_url=s.url, index=s.index,
                           connect={"user": s.reader[0], "password": s.reader[1], "ca_certs": s.ca})
    seen = []
    with serving(create_app(service), log_config=None, access_log=True, log_level="debug") as url:
        health = httpx.get(f"{url}/healthz", timeout=60)
        assert health.status_code == 200 and health.json()["engine_reachable"] is True, health.text
        info = httpx.get(f"{url}/v1/info", timeout=60).json()
        assert info["index"]["url"] == s.url and info["modes"] == {"splade": None, "bm25": None, "hybrid": None}
        got = {}
        for mode in ("splade", "bm25", "hybrid"):
            resp = httpx.post(f"{url}/v1/search", json={"text": "how do wings stall", "k": 3, "mode": mode,
                                                        "explain": True}, timeout=60)
            assert resp.status_code == 200, resp.text
            got[mode] = resp.json()["hits"]
            seen.append(resp.text + json.dumps(dict(resp.headers)))
        seen += [health.text, json.dumps(info), httpx.get(f"{url}/metrics", timeout=60).text]
    for mode, flag in (("splade", []), ("bm25", ["--bm25"]), ("hybrid", ["--hybrid"])):
        r = s.as_user(s.reader, "search", "how do wings stall", "--engine", s.url, "--index", s.index, "--format",
                      "jsonl", "-k", "3", "--explain", *flag)
        assert r.exit_code == 0, r.output + r.stderr
        assert got[mode] == [json.loads(line) for line in r.output.splitlines()], mode
    assert "GET /healthz" in caplog.text  # the access log was captured, and is searched too
    for text in (*seen, caplog.text):
        assert not any(x in text for x in s.secrets if x)


def test_restart_on_the_same_data_keeps_certificates_users_and_documents(secured: Secured) -> None:
    s = secured
    s.filled()
    port, data_dir = s.node.port, s.node.data_dir
    ca_before = Path(s.ca).read_bytes()
    assert CliRunner().invoke(main, ["engine", "stop", "--engine", s.engine, "--port", str(port)]).exit_code == 0
    r = CliRunner().invoke(main, ["engine", "start", "--engine", s.engine, "--port", str(port), "--data-dir",
                                  str(data_dir), "--secure"])
    assert r.exit_code == 0, r.output + r.stderr
    restarted = nodes.running(s.engine, port)
    assert restarted is not None and restarted.security is not None
    s.node = restarted
    assert Path(s.ca).read_bytes() == ca_before and restarted.url == s.url  # the same CA and host names
    assert restarted.security.password() == s.admin[1]
    r = s.as_user(s.reader, "search", "how do wings stall", "--engine", s.url, "--index", s.index, "--format", "trec")
    assert r.exit_code == 0 and r.output.count(" Q0 ") == 10, r.output + r.stderr
