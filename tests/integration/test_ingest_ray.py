"""``spladekit ingest --ray`` on real Ray clusters, with the real default model, into a real OpenSearch node and
the local index: the single-process result exactly (same ids, same vectors bit for bit, same dead letter), after
a driver SIGKILL and ``--resume`` and after a worker SIGKILL too.

Ray runs three ways, as a user runs it: started by the job itself (``--ray`` alone), joined by address
(``--ray 127.0.0.1:PORT``, the session cluster of conftest.py) and joined through ``$RAY_ADDRESS``. Every Ray
process a test starts is ended by the test (conftest.py's marker), never by ``ray stop``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from _support import BAD_INPUT, RAY_MARKER, end_marked, marked_pids
from spladekit import readers
from spladekit.ingest import TruncationWarning, ingest
from spladekit.ingest.deadletter import read_dead_letter
from spladekit.ingest.policy import RecordPolicy
from spladekit.ingest.records import Record
from spladekit.local.index import LocalIndex

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPLADEKIT = str(Path(sys.executable).parent / "spladekit")
JOB_TIMEOUT = 900  # a 1,400-document job takes about a minute on a busy 2-core machine


def _valid(path: Path) -> dict[int, str]:
    """Position -> id of the records the policy accepts (what must end indexed)."""
    policy, out = RecordPolicy(), {}
    for raw in readers.read(path, "jsonl"):
        rec = raw.reject or policy.check(raw.position, raw.row)
        if isinstance(rec, Record):
            out[raw.position] = rec.id
    return out


def _cli(args: list[str], env: dict[str, str], tmp: Path, name: str, silent: bool = True) -> tuple[int, dict, str]:
    report = tmp / f"{name}.report.json"
    out = subprocess.run([SPLADEKIT, "ingest", *args, "--report", str(report), *(["--silent"] if silent else [])],
                         env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT)
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    data = json.loads(report.read_text()) if report.is_file() else {}
    return out.returncode, data, out.stderr


def _dead(path: str | Path) -> list[dict]:
    return sorted(read_dead_letter(path), key=lambda e: e["position"])


@pytest.fixture()
def local_ray_env() -> Iterator[tuple[dict[str, str], str]]:
    """A driver that starts Ray itself, in its own temporary folder and with its own token, marked so that the
    test can tell whether the job left a Ray process behind (and end it if so)."""
    marker = uuid.uuid4().hex
    ray_tmp = tempfile.mkdtemp(prefix="skrl-", dir="/tmp")  # short: Ray's unix sockets live under it
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
    env.update({RAY_MARKER: marker, "RAY_TMPDIR": ray_tmp, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": marker * 2,
                "PYTHONPATH": str(Path(__file__).parents[2] / "plugin")})
    try:
        yield env, marker
    finally:
        end_marked(marker)
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def cranfield(datasets_dir) -> Path:
    return datasets_dir / "cranfield"


@pytest.fixture(scope="module")
def single(cranfield, default_encoder, tmp_path_factory) -> dict:
    """The single-process ingest of cranfield into a local index (exact mode: the model's float32 weights)."""
    tmp = tmp_path_factory.mktemp("single")
    with pytest.warns(TruncationWarning):  # 23 documents over 512 tokens: the same warning as with Ray
        report = ingest(cranfield, local_dir=tmp / "ix", local_mode="exact", encoder=default_encoder,
                        checkpoint=tmp / "job" / "cp.json")
    return {"dir": tmp / "ix", "report": report, "dead": _dead(report.dead_letter)}


def test_ray_started_by_the_job_equals_single_process_bit_for_bit(single, cranfield, default_encoder, tmp_path,
                                                                   local_ray_env):
    env, marker = local_ray_env
    code, report, err = _cli([str(cranfield), "--local", str(tmp_path / "ix"), "--local-mode", "exact",
                              "--ray", "--workers", "2", "--ray-block", "200",
                              "--checkpoint", str(tmp_path / "job" / "cp.json")], env, tmp_path, "ray")
    time.sleep(2)
    assert marked_pids(marker) == [], "the job left the Ray it started running"
    assert code == 3, err[-2000:]  # cranfield has empty documents: dead-lettered, as single-process
    want = single["report"]
    assert (report["read"], report["indexed"], report["failed"]) == (want.read, want.indexed, want.failed)
    assert report["encoding"] == want.encoding  # the same texts truncated, the same tokens dropped
    assert len(report["workers"]) == 2 and sum(report["workers"].values()) == want.indexed
    assert _dead(report["dead_letter"]) == single["dead"]

    mine, theirs = LocalIndex.load(tmp_path / "ix"), LocalIndex.load(single["dir"])
    ids = sorted(_valid(cranfield / "corpus.jsonl").values())
    assert len(mine) == len(theirs) == len(ids)
    for doc_id in ids:
        a, b = mine.doc_vector(doc_id), theirs.doc_vector(doc_id)
        assert np.array_equal(a.ids, b.ids), doc_id
        assert np.array_equal(a.weights.view(np.uint32), b.weights.view(np.uint32)), doc_id  # bit for bit
    queries = list(readers.read_queries(cranfield / "queries.jsonl").values())
    vectors = default_encoder.encode_queries(queries)
    for (ids_a, scores_a), (ids_b, scores_b) in zip(mine.search_many(vectors, k=10), theirs.search_many(vectors, k=10),
                                                    strict=True):
        assert list(ids_a) == list(ids_b) and np.array_equal(scores_a, scores_b)


def test_ray_by_address_into_opensearch_passes_parity_with_the_single_process_index(
        single, cranfield, ray_cluster, opensearch, index_name, tmp_path):
    from spladekit.engines import connect

    # The single-process vectors as the engines score them (lucene mode), for `spladekit parity`.
    exact = LocalIndex.load(single["dir"])
    lucene = LocalIndex(mode="lucene", meta=dict(exact.meta))
    ids = sorted(_valid(cranfield / "corpus.jsonl").values())
    lucene.add(ids, [exact.doc_vector(i) for i in ids])
    lucene.save(tmp_path / "single-lucene")

    code, report, err = _cli([str(cranfield), "--engine", opensearch.url, "--index", index_name,
                              "--ray", ray_cluster.address, "--workers", "2", "--ray-block", "300",
                              "--checkpoint", str(tmp_path / "job" / "cp.json")], ray_cluster.env(), tmp_path, "os")
    assert code == 3 and report["indexed"] == len(ids), err[-2000:]
    idx = connect(opensearch.url, index_name)
    idx.refresh()
    assert idx.count() == len(ids)
    meta = idx.meta()
    assert (meta["backend"], meta["dtype"]) == ("onnx", "float32")
    parity = subprocess.run([SPLADEKIT, "parity", "--engine", opensearch.url, "--index", index_name, "--local",
                             str(tmp_path / "single-lucene"), "--queries", str(cranfield / "queries.jsonl")],
                            capture_output=True, text=True, timeout=JOB_TIMEOUT)
    assert parity.returncode == 0, parity.stdout[-2000:] + parity.stderr[-2000:]


def test_bad_input_gives_the_single_process_dead_letter(ray_cluster, default_encoder, tmp_path):
    src = tmp_path / "bad.jsonl"  # the bad-input file and one record over max_doc_bytes
    src.write_bytes(BAD_INPUT.read_bytes() + json.dumps({"_id": "huge", "text": "wing " * 300_000}).encode() + b"\n")
    want = ingest(src, local_dir=tmp_path / "single", encoder=default_encoder, checkpoint=tmp_path / "s" / "cp.json")
    # $RAY_ADDRESS: `--ray` alone joins it. Blocks of 5 lines: duplicates across blocks are the driver's call.
    # With the progress bar (no --silent): one bar on stderr, none of Ray's own log lines.
    code, report, err = _cli([str(src), "--local", str(tmp_path / "ray"), "--ray", "--ray-block", "5",
                              "--checkpoint", str(tmp_path / "r" / "cp.json")],
                             ray_cluster.env(RAY_ADDRESS=ray_cluster.address), tmp_path, "bad", silent=False)
    assert code == 3, err[-2000:]
    assert "ingest:" in err and "24/25" in err, err[-2000:]  # 25 lines, one of them blank
    assert not any(noise in err for noise in ("core_worker", "WARNING", "INFO", "Progress bars")), err[-2000:]
    assert (report["read"], report["indexed"], report["failed"]) == (want.read, want.indexed, want.failed)
    assert report["failed"]["duplicate_id"] == 2 and report["failed"]["too_large"] == 1
    assert _dead(report["dead_letter"]) == _dead(want.dead_letter)  # the same records, positions, reasons, details
    mine, theirs, ids = LocalIndex.load(tmp_path / "ray"), LocalIndex.load(tmp_path / "single"), _valid(src).values()
    assert len(mine) == len(theirs) == len(ids) and all(i in mine and i in theirs for i in ids)


def _wait_for_checkpoint(proc: subprocess.Popen, cp: Path, at_least: int) -> int:
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the job ended before reaching position {at_least}: {proc.stderr.read()[-2000:]}"
        if cp.is_file():
            try:
                position = json.loads(cp.read_text())["position"]
            except ValueError:  # being replaced
                position = 0
            if position >= at_least:
                return position
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint at {at_least} within {JOB_TIMEOUT} s")


def test_driver_sigkill_then_resume_redoes_only_unfinished_blocks(cranfield, ray_cluster, opensearch, index_name,
                                                                  tmp_path):
    from spladekit.engines import connect

    corpus = cranfield / "corpus.jsonl"
    valid = _valid(corpus)
    cp = tmp_path / "job" / "cp.json"
    args = [SPLADEKIT, "ingest", str(cranfield), "--engine", opensearch.url, "--index", index_name,
            "--ray", ray_cluster.address, "--workers", "2", "--ray-block", "100", "--checkpoint", str(cp), "--silent"]
    first = subprocess.Popen(args, env=ray_cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_checkpoint(first, cp, 300)
        first.send_signal(signal.SIGKILL)
        first.wait(60)
    finally:
        if first.poll() is None:
            first.kill()
    killed_at = json.loads(cp.read_text())["position"]
    assert 300 <= killed_at < 1400

    code, report, err = _cli([str(cranfield), "--engine", opensearch.url, "--index", index_name, "--ray",
                              ray_cluster.address, "--workers", "2", "--ray-block", "100", "--checkpoint", str(cp),
                              "--resume"], ray_cluster.env(), tmp_path, "resumed")
    assert code == 3, err[-2000:]
    assert report["resumed_from"] == killed_at and report["skipped"] == killed_at
    # Only the blocks after the last finished one were encoded: the valid records from that block on.
    first_redone = (killed_at // 100) * 100 + 1
    assert sum(report["workers"].values()) == sum(1 for p in valid if p >= first_redone)
    idx = connect(opensearch.url, index_name)
    idx.refresh()
    assert idx.count() == len(valid)  # every valid record once: no loss, no duplicate
    hits = idx.search_body({"query": {"match_all": {}}, "_source": False, "size": len(valid) + 10})["hits"]["hits"]
    assert sorted(h["_id"] for h in hits) == sorted(valid.values())
    dead = read_dead_letter(report["dead_letter"])
    assert sorted(e["position"] for e in dead) == sorted(set(range(1, 1401)) - set(valid))  # each once


def test_a_worker_killed_mid_job_is_retried_by_ray_and_the_count_is_exact(cranfield, ray_cluster, opensearch,
                                                                          index_name, tmp_path):
    from spladekit.engines import connect

    corpus = tmp_path / "corpus.jsonl"  # 700 documents are enough to kill a worker in the middle
    corpus.write_bytes(b"".join((cranfield / "corpus.jsonl").open("rb").readlines()[:700]))
    valid = _valid(corpus)
    cp = tmp_path / "job" / "cp.json"
    report_path = tmp_path / "report.json"
    args = [SPLADEKIT, "ingest", str(corpus), "--engine", opensearch.url, "--index", index_name, "--ray",
            ray_cluster.address, "--workers", "2", "--ray-block", "25", "--checkpoint", str(cp), "--silent",
            "--report", str(report_path)]
    job = subprocess.Popen(args, env=ray_cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_checkpoint(job, cp, 50)
        workers = ray_cluster.pids("ray::MapWorker")
        assert workers, "no encoder actor found in the cluster"
        os.kill(workers[0], signal.SIGKILL)
        assert job.poll() is None, "the job ended before the worker was killed"
        _, err = job.communicate(timeout=JOB_TIMEOUT)
    finally:
        if job.poll() is None:
            job.kill()
    report = json.loads(report_path.read_text())
    assert job.returncode == 3 and report["complete"], err[-2000:]
    assert report["indexed"] == len(valid)
    idx = connect(opensearch.url, index_name)
    idx.refresh()
    assert idx.count() == len(valid)
    assert workers[0] not in ray_cluster.pids("ray::MapWorker")  # it did die; Ray ran its block again elsewhere


def test_long_text_split_max_length_and_the_identity_are_the_single_process_ones(cranfield, ray_cluster,
                                                                                   tmp_path):
    """--long-text split, --max-length, --max-windows and --doc-prune: the same vectors bit for bit, the same
    long-text and pruning counts, the same identity in the index. (A Ray Client address is refused before anything
    starts.)"""
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(b"".join((cranfield / "corpus.jsonl").open("rb").readlines()[:200]))
    options = ["--local-mode", "exact", "--max-length", "64", "--long-text", "split", "--max-windows", "3",
               "--doc-prune", "mass:0.9"]
    code, want, err = _cli([str(corpus), "--local", str(tmp_path / "single"), *options,
                            "--checkpoint", str(tmp_path / "s" / "cp.json")], ray_cluster.env(), tmp_path, "single")
    assert code in (0, 3), err[-2000:]
    code, _, err = _cli([str(corpus), "--local", str(tmp_path / "client"), *options, "--ray",
                         ray_cluster.client_address], ray_cluster.env(), tmp_path, "client")
    assert code == 1 and "ray job submit" in err and not (tmp_path / "client").exists(), err[-2000:]
    code, got, err = _cli([str(corpus), "--local", str(tmp_path / "ray"), *options, "--ray", ray_cluster.address,
                           "--workers", "2", "--ray-block", "50", "--checkpoint", str(tmp_path / "r" / "cp.json")],
                          ray_cluster.env(), tmp_path, "ray")
    assert code in (0, 3), err[-2000:]
    assert got["encoding"] == want["encoding"] and want["encoding"]["split"] > 50 and want["encoding"]["truncated"] > 0
    assert got["pruning"] == want["pruning"] and 0 < want["pruning"]["terms_kept"] < want["pruning"]["terms_in"]
    mine, theirs = LocalIndex.load(tmp_path / "ray"), LocalIndex.load(tmp_path / "single")
    identity = ("model_sha256", "max_length", "long_text", "backend", "dtype", "doc_prune")
    assert {k: mine.meta[k] for k in identity} == {k: theirs.meta[k] for k in identity}
    assert (mine.meta["max_length"], mine.meta["long_text"]) == (64, "split")
    for doc_id in _valid(corpus).values():
        a, b = mine.doc_vector(doc_id), theirs.doc_vector(doc_id)
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.weights.view(np.uint32), b.weights.view(np.uint32))


def test_the_torch_backend_on_ray_records_its_identity_and_gives_the_same_terms(cranfield, ray_cluster, tmp_path):
    """--backend torch on Ray workers: the index says torch/float32; the vectors are the single-process torch ones
    (same ids, every weight within 1e-6: torch's CPU kernels round by batch shape, see ingest/README.md)."""
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(b"".join((cranfield / "corpus.jsonl").open("rb").readlines()[:60]))
    options = ["--local-mode", "exact", "--backend", "torch", "--max-length", "128"]
    code, want, err = _cli([str(corpus), "--local", str(tmp_path / "single"), *options,
                            "--checkpoint", str(tmp_path / "s" / "cp.json")], ray_cluster.env(), tmp_path, "single")
    assert code in (0, 3), err[-2000:]
    code, got, err = _cli([str(corpus), "--local", str(tmp_path / "ray"), *options, "--ray", ray_cluster.address,
                           "--workers", "2", "--ray-block", "20", "--checkpoint", str(tmp_path / "r" / "cp.json")],
                          ray_cluster.env(), tmp_path, "ray")
    assert code in (0, 3) and got["indexed"] == want["indexed"], err[-2000:]
    mine, theirs = LocalIndex.load(tmp_path / "ray"), LocalIndex.load(tmp_path / "single")
    assert (mine.meta["backend"], mine.meta["dtype"]) == ("torch", "float32") == (theirs.meta["backend"],
                                                                                theirs.meta["dtype"])
    for doc_id in _valid(corpus).values():
        a, b = mine.doc_vector(doc_id).to_dict(), theirs.doc_vector(doc_id).to_dict()
        # Every term within 1e-6 (absent = 0): the same terms but for one whose weight rounds either side of 0.
        assert max(abs(a.get(t, 0.0) - b.get(t, 0.0)) for t in a.keys() | b.keys()) <= 1e-6, doc_id


def test_a_worker_that_cannot_load_the_model_stops_the_job_with_its_message(ray_cluster, tmp_path):
    """The driver's encoder is given (so only the workers load ``model``, and cannot): the job stops, resumable,
    with the worker's own one-line error, and the driver leaves the cluster. (From Python, in a process of its
    own: Ray reads its token once per process.)"""
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parents[1])!r})
import ray
from _support import BAD_INPUT, FakeEncoder
from spladekit.ingest import IngestStopped, ingest
try:
    ingest(BAD_INPUT, local_dir={str(tmp_path / "ix")!r}, encoder=FakeEncoder(), model={str(tmp_path / "no-model")!r},
           ray={ray_cluster.address!r}, workers=1, checkpoint={str(tmp_path / "cp.json")!r})
except IngestStopped as exc:
    print("STOPPED", exc.report.exit_code, ray.is_initialized(), str(exc))
"""
    out = subprocess.run([sys.executable, "-c", script], env=ray_cluster.env(), capture_output=True, text=True,
                         timeout=JOB_TIMEOUT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("STOPPED")]
    assert lines, out.stdout[-2000:] + out.stderr[-2000:]
    assert lines[0].startswith("STOPPED 4 False ") and "no-model is not a model directory" in lines[0], lines[0]
