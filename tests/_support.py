"""What the unit tests share: one stand-in encoder, one stand-in engine index, one brute-force oracle, one
rule for skipping. Nothing here downloads a model or starts an engine.

- :class:`FakeEncoder`: a deterministic bag of hashed words (weight 0.5 per occurrence), with the interface the
  library relies on (``names``, ``encode_documents``, ``encode_queries``, ``identity()``, ``last_stats``).
- :class:`FakeEngine`: an engine index answering the requests spladekit sends (the ``spladekit.query`` bodies,
  scored with the score contract by :func:`oracle_scores`), bulk writes with scripted failures, ``_meta``.
- :func:`oracle_scores` / :func:`oracle_top_k`: the engines' arithmetic written the slow, obvious way;
  :func:`oracle_bm25` the same for BM25; :func:`old_format_index` turns an index into one without BM25 text.
- :func:`skip_or_fail` / :func:`need`: a missing engine, model or extra skips locally and fails under ``CI=true``.
- :func:`bad_input_expected`: what ingesting ``ingest/bad_input.jsonl`` must give, from its own labels.
- :func:`serving`: an ASGI app (``spladekit serve``'s) on a real port, in a thread, for the service's tests.
- :func:`chromium`: the headless browser the playground's tests drive (skips locally, fails under CI without it).
- :func:`marked_pids` / :func:`end_marked`: the processes of a Ray cluster a test started (by the marker in their
  environment), to end exactly those.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from spladekit import dialects, lucene
from spladekit.encoder.runtime import EncodeStats
from spladekit.engines import BulkResult, routing
from spladekit.features import FeatureNames
from spladekit.schema import SCHEMA, ModelIdentity
from spladekit.vectors import SparseVector

VOCAB = 512


def in_ci() -> bool:
    """True under CI (``CI=true``): a missing engine, model or extra must fail the run, not skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip with a visible reason locally; fail under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this must not be skipped)", pytrace=False)
    pytest.skip(reason=reason, allow_module_level=True)


def send_json(handler: Any, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
    """Answer an ``http.server`` request with ``body`` as JSON (stand-in engines in the unit tests)."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def need(module: str, why: str) -> ModuleType:
    """Import ``module`` (an optional extra) or skip locally / fail under CI, saying ``why`` it is needed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        skip_or_fail(f"{module} is not installed: {why}")
        raise  # not reached: skip_or_fail raises


# ----------------------------------------------------------------------------------------------- encoder


class FakeEncoder:
    """A bag of words: each word a token id (its index in ``vocab``, other words ignored; without a vocabulary
    the ``\\w+`` words, crc32 mod 512), weight ``0.5 + 0.1 j`` added per occurrence at position ``j`` (first 64)."""

    def __init__(self, model: str = "fake-splade", sha: str = "f" * 64, max_length: int = 512,
                 vocab: Sequence[str] | None = None) -> None:
        self.vocab = list(vocab) if vocab is not None else None
        self.names = FeatureNames(self.vocab if self.vocab is not None else [f"t{i}" for i in range(VOCAB)])
        self.model, self.sha, self.max_length = model, sha, max_length
        self.calls: list[int] = []
        self.last_stats = EncodeStats()

    def identity(self) -> ModelIdentity:
        return ModelIdentity(self.model, self.sha, max_length=self.max_length)

    def vector(self, text: str) -> SparseVector:
        weights: dict[int, float] = {}
        words = text.lower().split() if self.vocab is not None else re.findall(r"\w+", text.lower())
        for j, word in enumerate(words[:64]):
            if self.vocab is None:
                t = zlib.crc32(word.encode()) % VOCAB
            elif word in self.vocab[1:]:
                t = self.vocab.index(word)
            else:
                continue
            weights[t] = weights.get(t, 0.0) + 0.5 + 0.1 * j
        return SparseVector.from_dict(weights)

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        self.calls.append(len(texts))
        self.last_stats = EncodeStats(texts=len(texts))
        return [self.vector(t) for t in texts]

    def encode_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        return [self.vector(t) for t in texts]


# ----------------------------------------------------------------------------------------------- oracle


def oracle_scores(query: SparseVector, docs: Mapping[str, SparseVector], mode: str = "lucene") -> dict[str, float]:
    """Every document's score by the contract: per shared term ``float32(q * d)`` (``d`` FeatureField-decoded in
    ``lucene`` mode), added left to right in double in ascending term order, cast to float32; 0 is left out."""
    q = dict(zip(query.ids.tolist(), query.weights.tolist(), strict=True))
    out = {}
    for doc_id, vec in docs.items():
        values = lucene.quantize(vec.weights) if mode == "lucene" and len(vec) else vec.weights
        total = 0.0
        for t, v in zip(vec.ids.tolist(), values.tolist(), strict=True):
            if t in q:
                total += float(np.float32(np.float32(q[t]) * np.float32(v)))
        if total > 0:
            out[doc_id] = float(np.float32(total))
    return out


def oracle_top_k(query: SparseVector, docs: Mapping[str, SparseVector], k: int, mode: str = "lucene",
                 order: Sequence[str] | None = None) -> list[tuple[str, float]]:
    """The top ``k`` (id, score), score descending, ties in ``order`` (default: the docs' own order)."""
    rank = {d: i for i, d in enumerate(order if order is not None else docs)}
    scored = oracle_scores(query, docs, mode)
    return sorted(scored.items(), key=lambda h: (-h[1], rank[h[0]]))[:k]


def _byte4_to_int(b: int) -> int:
    """Lucene's SmallFloat.byte4ToInt, transcribed: the document length a one-byte norm stands for."""
    if b < 24:
        return b
    i = b - 24
    bits, shift = i & 0x07, (i >> 3) - 1
    return 24 + (bits if shift == -1 else (bits | 0x08) << shift)


def oracle_bm25(query_tokens: Sequence[str], docs: Mapping[str, Sequence[str]], k1: float = 1.2,
                b: float = 0.75) -> dict[str, float]:
    """Every document's BM25 score the slow, obvious way, as an engine's ``match`` scores it (float64, so compare
    with a tolerance): idf = ln(1 + (N - df + 0.5) / (df + 0.5)); a document's length is the largest length a
    one-byte norm stands for that does not exceed its token count (Lucene rounds lengths down to 4 significant
    bits above 24); each occurrence of a query term adds (1 + k1) idf tf / (tf + k1 (1 - b + b dl / avgdl))."""
    lengths = {d: len(t) for d, t in docs.items()}
    n = sum(1 for v in lengths.values() if v)
    avgdl = sum(lengths.values()) / n if n else 1.0
    table = [_byte4_to_int(i) for i in range(256)]
    out: dict[str, float] = {}
    for doc_id, tokens in docs.items():
        tf = Counter(tokens)
        dl = max(x for x in table if x <= lengths[doc_id])
        total = 0.0
        for term in query_tokens:
            if tf[term]:
                df = sum(1 for t in docs.values() if term in t)
                idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
                total += (1 + k1) * idf * tf[term] / (tf[term] + k1 * (1 - b + b * dl / avgdl))
        if total > 0:
            out[doc_id] = total
    return out


def old_format_index(directory: Path, source: Path | None = None) -> Path:
    """Rewrite a saved local index (a copy of ``source`` when given) as spladekit wrote it before format 2:
    vectors only, no BM25 text."""
    if source is not None:
        shutil.copytree(source, directory)
    params_file = Path(directory) / "params.json"
    params = json.loads(params_file.read_text(encoding="utf-8"))
    params["format_version"] = 1
    params.pop("bm25", None)
    for npy in (Path(directory) / params["arrays_dir"]).glob("text_*.npy"):
        npy.unlink()
    params_file.write_text(json.dumps(params), encoding="utf-8")
    return Path(directory)


# ----------------------------------------------------------------------------------------------- engine


class FakeEngine:
    """An engine index in memory, with the parts of :class:`spladekit.engines.EngineIndex` spladekit uses.

    Searches score the clauses of a ``spladekit.query`` body (``rank_feature`` linear or ``term`` boosts, as the
    dialect spelled them) by :func:`oracle_scores`, honour ``bool.filter`` on ids and a two-phase ``rescore``,
    count document frequencies for a ``spladekit.query.df_query`` aggregation, and record every body in
    :attr:`bodies`. Bulk writes follow ``script``: one action per request (an HTTP status: 429 and 5xx retried,
    401/403 refused credentials; or ``"down"`` for a refused connection), ``reject_ids`` always fail with a 400.
    ``shards``: documents are routed to shards by ``_id`` as the engines do (:mod:`spladekit.engines.routing`), and
    a two-phase ``rescore`` takes the top ``window_size`` of each shard, as the engines' per-shard rescore does;
    ``data_nodes``: what :meth:`data_nodes` answers.
    """

    def __init__(self, engine: str = "opensearch", *, names: FeatureNames | None = None, meta: dict | None = None,
                 exists: bool = True, sparse_type: str | None = None, text: bool = True,
                 script: Iterable[Any] = (), reject_ids: Iterable[str] = (), shards: int = 1,
                 data_nodes: int = 1) -> None:
        self.spec = dialects.get(engine)
        self.engine = self.spec.name
        self.index, self.url = "docs", "http://127.0.0.1:1"
        self.names = names or FakeEncoder().names
        self._meta = dict(meta) if meta is not None else {}
        self._exists = exists
        self.types = {SCHEMA.sparse: sparse_type or self.spec.sparse_type, **({SCHEMA.text: "text"} if text else {})}
        self.docs: dict[str, dict[str, Any]] = {}
        self.bodies: list[dict] = []
        self.search_types: list[str | None] = []
        self.script, self.reject_ids = list(script), set(reject_ids)
        self.requests = self.refreshed = 0
        self.n_shards, self.n_replicas, self.n_data_nodes = shards, 0, data_nodes
        self.lock = threading.Lock()

    # -- what an index holds
    def add(self, ids: Iterable[str], vectors: Iterable[SparseVector], **fields: Any) -> FakeEngine:
        for doc_id, vec in zip(ids, vectors, strict=True):
            self.docs[str(doc_id)] = {SCHEMA.sparse: self.names.to_features(vec), **fields}
        return self

    def exists(self) -> bool:
        return self._exists

    def meta(self) -> dict | None:
        return dict(self._meta) if self._exists else None

    def create(self, meta: Mapping[str, Any], *, shards: int = 1, replicas: int | str = 0) -> bool:
        if self._exists:
            return False
        self._exists, self._meta = True, dict(meta)
        self.n_shards, self.n_replicas = shards, replicas
        return True

    def data_nodes(self) -> int:
        return self.n_data_nodes

    def shards(self) -> tuple[int, int]:
        # "0-1" (auto_expand_replicas): as many as the data nodes allow, up to 1, as the engines expand it.
        replicas = min(1, self.n_data_nodes - 1) if self.n_replicas == "0-1" else self.n_replicas
        return self.n_shards, int(replicas)

    def shard_count(self) -> int:
        return self.n_shards

    def routing(self) -> tuple[int, int]:
        return self.n_shards, routing.routing_shards(self.n_shards)

    def _shard(self, doc_id: str) -> int:
        return routing.shard_of(doc_id, *self.routing())

    def shard_counts(self) -> list[int]:
        return [sum(self._shard(d) == s for d in self.docs) for s in range(self.n_shards)]

    def field_type(self, field: str) -> str | None:
        return self.types.get(field)

    def count(self) -> int:
        return len(self.docs)

    def refresh(self, *, required: bool = True) -> bool:
        self.refreshed += 1
        return True

    def check_write(self) -> None:
        return None

    def get_features(self, ids: Sequence[str]) -> dict[str, dict[str, float]]:
        return {i: self.docs[i][SCHEMA.sparse] for i in ids if i in self.docs}

    # -- writes
    def bulk_index(self, pairs: Iterable[tuple[str, dict]], **options: Any) -> Iterable[BulkResult]:
        pairs = list(pairs)
        with self.lock:
            self.requests += 1
            action = self.script.pop(0) if self.script else 201
        if action == "down":
            raise ConnectionRefusedError("connection refused by http://127.0.0.1:1")
        out = []
        for i, (doc_id, src) in enumerate(pairs):
            if doc_id in self.reject_ids:
                out.append(BulkResult(False, doc_id, {"status": 400, "error": {
                    "type": "mapper_parsing_exception", "reason": "bad feature value"}}))
            elif action == 429 and i % 2 == 0:
                out.append(BulkResult(False, doc_id, {"status": 429, "error": {
                    "type": "es_rejected_execution_exception", "reason": "queue full"}}))
            elif action in (502, 503, 504):
                out.append(BulkResult(False, doc_id, {"status": action, "error": "gateway"}))
            elif action in (401, 403):
                out.append(BulkResult(False, doc_id, {"status": action, "error": {
                    "type": "security_exception", "reason": "unable to authenticate user [ingester]"}}))
            else:
                with self.lock:
                    self.docs[doc_id] = src
                out.append(BulkResult(True, doc_id, {"status": 201}))
        return iter(out)

    # -- searches
    def _query_vector(self, clauses: Sequence[Mapping[str, Any]]) -> SparseVector:
        weights = {}
        for c in clauses:
            if "rank_feature" in c:
                name, boost = c["rank_feature"]["field"].split(".", 1)[1], c["rank_feature"]["boost"]
            else:
                ((_, term),) = c["term"].items()
                name, boost = term["value"], term["boost"]
            weights[self.names.id(name)] = boost
        return SparseVector.from_dict(weights)

    def _ranked(self, query: SparseVector, allowed: set[str] | None) -> list[tuple[str, float]]:
        docs = {d: self.names.from_features(src[SCHEMA.sparse]) for d, src in self.docs.items()
                if allowed is None or d in allowed}
        return sorted(oracle_scores(query, docs).items(), key=lambda h: (-h[1], h[0]))

    def search_body(self, body: Mapping[str, Any], search_type: str | None = None) -> dict[str, Any]:
        self.bodies.append(dict(body))
        self.search_types.append(search_type)
        if "aggs" in body:  # document frequencies: a filters aggregation of single-term clauses
            buckets = {}
            for key, clause in body["aggs"]["df"]["filters"]["filters"].items():
                term = self._query_vector([clause]).ids[0]
                held = sum(1 for src in self.docs.values() if term in self.names.from_features(src[SCHEMA.sparse]).ids)
                buckets[key] = {"doc_count": held}
            return {"hits": {"hits": []}, "aggregations": {"df": {"buckets": buckets}}}
        bool_q = body["query"]["bool"]
        allowed = None
        for f in bool_q.get("filter", []):
            values = set(map(str, f["ids"]["values"]))
            allowed = values if allowed is None else allowed & values
        if "must" in bool_q:  # BM25: count the query's words in the text, a stand-in ranking
            words = bool_q["must"][0]["match"][SCHEMA.text].lower().split()
            scored = [(d, float(sum(src.get(SCHEMA.text, "").lower().split().count(w) for w in words)))
                      for d, src in self.docs.items() if allowed is None or d in allowed]
            ranked = sorted([h for h in scored if h[1] > 0], key=lambda h: (-h[1], h[0]))
        elif "should" not in bool_q:  # a filter only (a hybrid's fetch of its fused hits' text): no scores
            ranked = [(d, 0.0) for d in sorted(self.docs) if allowed is None or d in allowed]
        else:
            ranked = self._ranked(self._query_vector(bool_q["should"]), allowed)
            if "rescore" in body:
                size = body["rescore"]["window_size"]
                window = {d for s in range(self.n_shards) for d, _ in
                          [h for h in ranked if self._shard(h[0]) == s][:size]}
                full = self._query_vector(body["rescore"]["query"]["rescore_query"]["bool"]["should"])
                ranked = self._ranked(full, window)
        wanted = body.get("_source", True)
        hits = []
        for d, s in ranked[: body["size"]]:
            src = self.docs[d]
            if isinstance(wanted, list):
                src = {k: v for k, v in src.items() if k in wanted}
            hits.append({"_id": d, "_score": s, "_source": src if wanted else {}})
        return {"hits": {"hits": hits}}


# ----------------------------------------------------------------------------------------------- bad input

REPO = Path(__file__).resolve().parent.parent
BAD_INPUT = REPO / "ingest" / "bad_input.jsonl"


def bad_input_labels() -> dict[int, str]:
    """Line number -> expected outcome (``indexed`` or a dead-letter reason) of ``ingest/bad_input.jsonl``, from
    the labels kept beside it (``bad_input.labels.tsv``)."""
    out = {}
    for line in (REPO / "ingest" / "bad_input.labels.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            position, outcome, _ = line.split("\t", 2)
            out[int(position)] = outcome
    return out


def bad_input_expected() -> tuple[int, dict[str, int]]:
    """(records indexed, dead-letter count per reason) that ingesting ``bad_input.jsonl`` must give."""
    outcomes = Counter(bad_input_labels().values())
    indexed = outcomes.pop("indexed", 0)
    return indexed, dict(sorted(outcomes.items()))


# ----------------------------------------------------------------------------------------------- docs

#: A fenced block right after one of these lines is run by the tests: ``runnable`` by the unit tests (the
#: default model, no engine), ``runnable: engine`` by the integration tests against a real node, whose URL
#: replaces ``http://127.0.0.1:9200`` in the block.
RUNNABLE = re.compile(r"^<!--\s*runnable(?::\s*(\w+))?\s*-->\s*$")


def doc_blocks(kind: str = "local") -> list[tuple[str, int, str]]:
    """(file, line, bash code) of every runnable block of README.md and docs/*.md of ``kind``."""
    out = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "ingest" / "README.md"]:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            m = RUNNABLE.match(line.strip())
            if not m or (m.group(1) or "local") != kind:
                continue
            start = i + 1
            if start >= len(lines) or not lines[start].startswith("```"):
                raise AssertionError(f"{path.name}:{i + 1}: a runnable marker must be followed by a fenced block")
            end = next(j for j in range(start + 1, len(lines)) if lines[j].startswith("```"))
            out.append((str(path.relative_to(REPO)), start + 1, "\n".join(lines[start + 1:end])))
    return out


def run_block(code: str, workdir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a doc block with bash -e in ``workdir`` (which sees the repository's ingest/ and datasets/), with the
    virtual environment's spladekit on PATH and the repository's cache."""
    for name in ("ingest", "datasets"):
        if not (workdir / name).exists():
            (workdir / name).symlink_to(REPO / name)
    full_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "SPLADEKIT_CACHE": os.environ.get("SPLADEKIT_CACHE", str(REPO / ".cache")), **(env or {})}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=workdir, env=full_env, capture_output=True,
                          text=True, timeout=900)


# ----------------------------------------------------------------------------------------------- serve


@contextlib.contextmanager
def serving(app: Any, *, timeout: float = 60.0, **options: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL, stops it after (the
    way SIGTERM does: in-flight requests finish, then the app's lifespan ends)."""
    uvicorn = need("uvicorn", "the serve extra runs the service")
    from spladekit.engines.node import free_port

    settings = {"log_level": "warning", "access_log": False, "timeout_graceful_shutdown": 30, **options}
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), **settings)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the service did not start (see the log above)")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(60)


def chromium() -> str:
    """The chromium binary the playground tests drive through Playwright's ``executable_path``:
    ``$SPLADEKIT_CHROMIUM`` or ``chromium`` on PATH (scripts/setup.sh --browser installs Debian's)."""
    path = os.environ.get("SPLADEKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        skip_or_fail("no chromium binary: install it (apt-get install chromium, or bash scripts/setup.sh --browser) "
                     "or set SPLADEKIT_CHROMIUM=/path/to/chromium")
    return path  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------- ray

#: Every process of a Ray cluster a test starts carries this variable (with the cluster's own value): teardown
#: ends exactly those, by pid, orphans included (Ray's agents outlive a killed raylet); never `ray stop`, which
#: would stop every Ray on the machine.
RAY_MARKER = "SPLADEKIT_TEST_RAY"


def marked_pids(marker: str, title: str = "") -> list[int]:
    """Processes of this user whose environment holds ``RAY_MARKER=marker`` (and whose command starts with
    ``title``)."""
    needle = f"{RAY_MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if title and not (entry / "cmdline").read_bytes().startswith(title.encode()):
                continue
        except OSError:  # gone, or not ours
            continue
        found.append(int(entry.name))
    return found


def end_marked(marker: str) -> None:
    """SIGKILL what is left of the processes under ``marker`` (after a graceful stop had its chance)."""
    for pid in marked_pids(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
