"""Bulk ingestion: a corpus file -> SPLADE vectors -> OpenSearch, Elasticsearch or the local index.

Against an engine (the example needs a running node, so it is shown, not run; the tests run it)::

    from spladekit.ingest import ingest
    report = ingest("corpus.jsonl", engine_url="http://127.0.0.1:9200", index="docs")
    report.indexed, report.failed

Every input record ends indexed or in the dead letter (position, id, reason); the checkpoint holds the last
input position whose every record is acknowledged, so ``resume=True`` continues after a crash, Ctrl-C or
an engine outage. Policies per bad-input case: :mod:`spladekit.ingest.policy` and ``ingest/README.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from spladekit import readers
from spladekit.encoder.runtime import EncodeStats, SpladeEncoder
from spladekit.engines import connect
from spladekit.engines.base import split_userinfo
from spladekit.errors import ClusterError, EngineError, InputError, SpladekitError, missing_extra
from spladekit.ingest.blocks import BLOCK_LINES
from spladekit.ingest.checkpoint import Checkpoint
from spladekit.ingest.deadletter import DeadLetter
from spladekit.ingest.limits import ErrorLimit, TooManyErrors
from spladekit.ingest.pipeline import Pipeline, PipelineConfig
from spladekit.ingest.policy import DEFAULT_MAX_DOC_BYTES, RecordPolicy
from spladekit.ingest.report import EXIT_CODES, IngestReport, redact_url
from spladekit.ingest.sinks import Backoff, EngineSink, LocalSink, Sink
from spladekit.mappings import AUTO_REPLICAS
from spladekit.paths import default_local_index
from spladekit.schema import SCHEMA, check_identity
from spladekit.vectors import Pruning

__all__ = ["EXIT_CODES", "IngestReport", "IngestStopped", "PipelineConfig", "default_job_dir", "ingest"]

#: Warn when more than this share of the documents lost tokens to truncation.
TRUNCATION_WARN_FRACTION = 0.01


class TruncationWarning(UserWarning):
    """More than 1% of the documents were longer than max_length and lost tokens."""


class IngestStopped(SpladekitError):
    """The job stopped before the end; :attr:`report` holds what it did (``complete`` False), and the same
    call with ``resume=True`` (``--resume``) continues it."""

    def __init__(self, message: str, report: IngestReport) -> None:
        super().__init__(message)
        self.report = report


def default_job_dir(input: str | Path, target: str) -> Path:
    """Where a job keeps its checkpoint and dead letter: ``.spladekit/jobs/<target name>-<digest>/``.

    The digest covers the absolute input path and the target, so two jobs never share a checkpoint.
    """
    source = "-" if str(input) == "-" else str(Path(input).resolve())
    digest = hashlib.sha256(f"{source}\n{target}".encode()).hexdigest()[:10]
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in target.rstrip("/").split("/")[-1])[:40]
    return Path(".spladekit") / "jobs" / f"{name or 'job'}-{digest}"


def _scrubber(secrets: Sequence[str | None]) -> Callable[[str], str]:
    found = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for s in found:
            text = text.replace(s, "***")
        return text

    return scrub


def ingest(
    input: str | Path,
    *,
    engine_url: str | None = None,
    index: str | None = None,
    local_dir: str | Path | None = None,
    local_mode: str = "lucene",
    model: str = "splade-tiny",
    encoder: Any = None,
    sink: Sink | None = None,
    format: str | None = None,
    encoding: str = "utf-8",
    decode_errors: str = "strict",
    id_field: str | Sequence[str] | None = None,
    text_field: str = "text",
    title_field: str | None = "title",
    require_id: bool = False,
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES,
    max_length: int | None = None,
    long_text: str = "truncate",
    max_windows: int | None = None,
    max_errors: str | int | ErrorLimit | None = None,
    doc_prune: Pruning | str | dict[str, Any] | None = None,
    backend: str = "onnx",
    device: str = "cpu",
    dtype: str = "float32",
    ray: bool | str | None = None,
    workers: int | None = None,
    gpus_per_worker: float = 0.0,
    ray_block: int = BLOCK_LINES,
    resume: bool = False,
    checkpoint: str | Path | None = None,
    dead_letter: str | Path | None = None,
    force: bool = False,
    meta: dict[str, Any] | None = None,
    shards: int | None = None,
    replicas: int | None = None,
    batch_size: int = 32,
    writers: int = 1,
    bulk_docs: int = 256,
    bulk_bytes: int = 10 << 20,
    max_retries: int = 8,
    initial_backoff: float = 0.5,
    max_backoff: float = 30.0,
    engine: str | None = None,
    user: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    ca_certs: str | None = None,
    verify_certs: bool = True,
    threads: int | None = None,
    reorder: bool = False,
    config: PipelineConfig | None = None,
    progress: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> IngestReport:
    """Ingest ``input`` (JSONL, BEIR folder, CSV/TSV, Parquet, or ``"-"`` for stdin) and return the report.

    Target: ``engine_url`` + ``index`` (the index is created with the mappings and ``_meta`` when missing),
    else the local index at ``local_dir`` (default :func:`spladekit.paths.default_local_index`; ``local_mode``
    ``lucene`` scores as the engines do, ``exact`` keeps float32 weights), or any ``sink``. ``encoder``: an
    object with ``encode_documents``, ``names`` and ``identity()`` (default ``SpladeEncoder.load(model,
    max_length=..., long_text=..., max_windows=..., backend=..., device=..., dtype=...)``: onnx on CPU by default,
    torch for GPUs). ``force`` writes into an index built another way (another
    model or length; warns loudly). ``meta``: extra ``_meta`` keys for a new index. ``shards``/``replicas``: of a
    new engine index (default 1 shard; 0 replicas on one data node, 1 when the cluster has two or more); given
    for an existing index, they must match it. ``max_errors``: stop when
    more records fail (a count, or a percentage of those read: ``"5%"``; default ``90%``, see
    :mod:`spladekit.ingest.limits`). ``encoding``: the input's codec (JSONL/CSV/TSV; default utf-8);
    ``decode_errors``: what becomes of a record with bytes the codec cannot decode: ``"strict"`` (the dead
    letter, ``invalid_utf8``), ``"replace"`` (U+FFFD in their place) or ``"skip"`` (dropped), the report counting
    the ``repaired`` records (:class:`spladekit.readers.Decoding`). ``reorder`` (local index only): renumber its
    rows by recursive graph bisection at the end of the job (faster exact search on a large index, see
    :meth:`spladekit.local.index.LocalIndex.reorder`). ``doc_prune``: static pruning of every document vector
    before it is indexed (a :class:`spladekit.vectors.Pruning`, or its spelling ``"top_k:64"``, ``"ratio:0.1"``,
    ``"mass:0.9"``, ``"min_weight:0.2"``, comma-separated to combine); the rule is recorded in the index's
    ``_meta`` (``doc_prune``) and an index never mixes rules (the guard, like a model change). Credentials
    (``user``/``password``, ``api_key``) reach the client only, never the report or errors.

    Raises :class:`IngestStopped` (with the partial report) when the job stops before the end: the engine is
    down past the retries, the error limit is exceeded, or it was interrupted; the same call with
    ``resume=True`` continues.

    ``ray``: encode on Ray (the ``ray`` extra; :mod:`spladekit.ingest.distributed`). True: join ``$RAY_ADDRESS``,
    else start Ray on this machine; a string: the cluster's address (``host:6379`` or ``auto``; Ray Data cannot run
    through Ray Client, ``ray://``: run the job on the cluster, ``ray job submit``). ``workers`` encoder actors
    (default: one per CPU of the cluster, or per ``gpus_per_worker`` of its GPUs), each on ``threads`` cores
    (default 1) or ``gpus_per_worker`` GPUs, over blocks of ``ray_block`` input lines. The input must be JSON lines
    (a file or a BEIR folder) that every node reads at the same path. The rest of the job (record policy,
    duplicates, sink, dead letter, checkpoint) stays here, so the result is the single-process one: same ids, same
    vectors, same dead letter; ``report.workers`` counts each worker's documents.
    """
    args = dict(locals())
    if engine_url is not None:
        clean, url_user, url_password = split_userinfo(engine_url)
        args.update(engine_url=clean, user=user if user is not None else url_user,
                    password=password if password is not None else url_password)
    scrub = _scrubber([args["password"], api_key])
    try:
        with contextlib.ExitStack() as cleanup:
            return _ingest(**args, scrub=scrub, cleanup=cleanup)
    except IngestStopped as exc:
        text = str(exc)
        if scrub(text) != text:
            raise IngestStopped(scrub(text), exc.report) from None
        raise
    except SpladekitError as exc:
        text = str(exc)
        if scrub(text) != text:
            raise type(exc)(scrub(text)) from None
        raise
    except Exception as exc:
        text = str(exc)
        if scrub(text) != text:
            raise InputError(f"{type(exc).__name__}: {scrub(text)}") from None
        raise


def _new_index_shards(idx: Any, shards: int | None, replicas: int | None) -> tuple[int, int | str]:
    """Shards and replicas of a new index: as asked, else 1 shard and replicas that follow the cluster (0 on one
    data node, 1 on two or more, so that a node may die without losing a shard or failing a search: the engine's
    ``auto_expand_replicas``, which needs no privilege to read the cluster's size)."""
    if replicas is None:
        return shards or 1, AUTO_REPLICAS
    try:
        nodes = idx.data_nodes()
    except EngineError:  # a user without the cluster monitor privilege: the engine will say it with its health
        nodes = None
    if nodes is not None and replicas > nodes - 1:
        warnings.warn(f"{replicas} replica(s) need {replicas + 1} data nodes and the cluster has {nodes}: the extra "
                      f"copies stay unassigned (health yellow) until nodes join; --replicas {max(nodes - 1, 0)} "
                      "fits this cluster", UserWarning, stacklevel=3)
    return shards or 1, replicas


def _check_shards(idx: Any, shards: int | None, replicas: int | None) -> tuple[int | None, int | None]:
    """The existing index's (shards, replicas) when asked for (reading them needs the index's settings privilege,
    which an ingest-only user may lack: unasked, they are not read); values that differ stop the job before it
    starts."""
    if shards is None and replicas is None:
        return None, None
    have = idx.shards()
    want = (have[0] if shards is None else shards, have[1] if replicas is None else replicas)
    if want != have:
        raise InputError(
            f"index {idx.index!r} exists with {have[0]} shard(s) and {have[1]} replica(s), not {want[0]} and "
            f"{want[1]}: shards are fixed when an index is created; ingest into a new index (--index NEW_NAME), or "
            f"drop --shards/--replicas (replicas change in place: PUT /{idx.index}/_settings "
            f'{{"number_of_replicas": {want[1]}}})')
    return have


def _ingest(*, input: str | Path, engine_url: str | None, index: str | None, local_dir: str | Path | None,
            local_mode: str, model: str, encoder: Any, sink: Sink | None, format: str | None, encoding: str,
            decode_errors: str, id_field: str | Sequence[str] | None, text_field: str, title_field: str | None,
            require_id: bool,
            max_doc_bytes: int, max_length: int | None, long_text: str, max_windows: int | None,
            max_errors: str | int | ErrorLimit | None, doc_prune: Pruning | str | dict[str, Any] | None,
            backend: str, device: str, dtype: str,
            ray: bool | str | None, workers: int | None, gpus_per_worker: float, ray_block: int, resume: bool,
            checkpoint: str | Path | None,
            dead_letter: str | Path | None, force: bool, meta: dict[str, Any] | None, shards: int | None,
            replicas: int | None, batch_size: int,
            writers: int, bulk_docs: int, bulk_bytes: int, max_retries: int, initial_backoff: float,
            max_backoff: float, engine: str | None, user: str | None, password: str | None, api_key: str | None,
            ca_certs: str | None, verify_certs: bool, threads: int | None, reorder: bool,
            config: PipelineConfig | None, progress: Callable[[int], None] | None,
            stop: threading.Event | None, scrub: Callable[[str], str],
            cleanup: contextlib.ExitStack) -> IngestReport:
    if (engine_url is None) != (index is None):
        raise InputError("give both --engine URL and --index NAME (or neither, for the local index)")
    if engine_url is not None and local_dir is not None:
        raise InputError("give either --engine/--index or --local, not both")
    if reorder and (engine_url is not None or sink is not None):
        raise InputError("--reorder applies to the local index only (an engine keeps its own document order); "
                         "drop --reorder, or ingest into --local")
    if (shards is not None or replicas is not None) and engine_url is None:
        raise InputError("--shards and --replicas apply to an engine index; drop them, or ingest with --engine URL "
                         "--index NAME")
    if (shards is not None and shards < 1) or (replicas is not None and replicas < 0):
        raise ValueError(f"--shards must be >= 1 and --replicas >= 0, got shards={shards}, replicas={replicas}")
    limit = max_errors if isinstance(max_errors, ErrorLimit) else ErrorLimit.parse(max_errors)
    rule = Pruning.of(doc_prune)
    source, fmt = readers.resolve_input(input, format)
    decoding = readers.Decoding(encoding, decode_errors)  # type: ignore[arg-type]
    ids = [id_field] if isinstance(id_field, str) else list(id_field or ("_id", "id"))
    policy = RecordPolicy(id_fields=ids, text_field=text_field, title_field=title_field,
                          require_id=require_id, max_doc_bytes=max_doc_bytes)
    # Lazy (nothing is opened yet), but a bad option is refused now, before the model loads.
    rows: Any = readers.read(source, fmt, policy.columns, encoding=decoding.encoding, decode_errors=decoding.errors)

    target_index = None
    existed = False
    if sink is None and engine_url is not None:
        # Credentials, TLS and privileges are checked before the model loads and before any document is read.
        target_index = connect(engine_url, index, engine=engine, user=user, password=password,  # type: ignore[arg-type]
                               api_key=api_key, ca_certs=ca_certs, verify_certs=verify_certs)
        existed = target_index.exists()
        if existed:
            target_index.check_write()
            layout = _check_shards(target_index, shards, replicas)

    encoder_options = {"max_length": max_length, "long_text": long_text, "max_windows": max_windows,
                       "backend": backend, "device": device, "dtype": dtype}
    if ray:
        try:
            # ray: the optional `ray` extra, needed only for a distributed job.
            from spladekit.ingest.distributed import RayRows
        except ImportError as exc:
            raise missing_extra(exc.name or "ray", "ray") from None
    if encoder is None:
        # With Ray the workers encode: the driver's encoder only names the features and the identity, on CPU.
        here = {**encoder_options, "device": "cpu"} if ray else encoder_options
        encoder = SpladeEncoder.load(model, threads=threads, **here)
    ident = encoder.identity()
    if rule is not None:
        ident = dataclasses.replace(ident, doc_prune=str(rule))
    if ray:
        rows = RayRows(source, fmt, model=model, encoder_options=encoder_options, decoding=decoding,
                       policy_options={"id_fields": ids, "text_field": text_field, "title_field": title_field,
                                       "require_id": require_id, "max_doc_bytes": max_doc_bytes},
                       address=ray if isinstance(ray, str) else None, workers=workers,
                       gpus_per_worker=gpus_per_worker, threads=threads, block_lines=ray_block,
                       expect_identity=encoder.identity())  # the workers encode; the driver prunes (``encoded``)
        cleanup.callback(rows.close)  # leaves Ray as it found it (shut down only what this job started)
        rows.start()  # before any index is created: a cluster that cannot be reached changes nothing
    index_meta = SCHEMA.meta(ident, **(meta or {}))
    stop = stop or threading.Event()

    report = IngestReport(input=str(input), model=ident.model, model_sha256=ident.weights_sha256,
                          max_length=ident.max_length, long_text=ident.long_text, doc_prune=ident.doc_prune,
                          input_encoding=decoding.encoding, decode_errors=decoding.errors)
    if sink is not None:
        target = f"sink:{type(sink).__name__}"
    elif target_index is not None and engine_url is not None:
        target_index.names = encoder.names
        target = f"{redact_url(engine_url)}/{index}"
        if existed:
            report.forced = check_identity(target_index.meta(), ident,
                                           f"index {index!r} at {redact_url(engine_url)}", force)
            report.shards, report.replicas = layout
        else:
            report.shards, report.replicas = _new_index_shards(target_index, shards, replicas)
            target_index.create(index_meta, shards=report.shards, replicas=report.replicas)
            target_index.check_write()
        sink = EngineSink(target_index, encoder.names, writers=writers, chunk_docs=bulk_docs,
                          chunk_bytes=bulk_bytes, stop=stop, scrub=scrub,
                          backoff=Backoff(initial_backoff, max_backoff, max_retries))
    else:
        directory = Path(local_dir) if local_dir is not None else default_local_index()
        sink = LocalSink(directory, index_meta, ident, force=force, mode=local_mode, reorder=reorder)
        report.forced = sink.forced
        target = str(directory)
    report.target = target

    job_dir = default_job_dir(input, target)
    checkpoint_path = Path(checkpoint) if checkpoint else job_dir / "checkpoint.json"
    dead_path = Path(dead_letter) if dead_letter else checkpoint_path.parent / "dead_letter.jsonl"
    input_size = None if str(source) == "-" else os.path.getsize(source)
    current = Checkpoint(input=str(input), input_size=input_size, target=target, model_sha256=ident.weights_sha256,
                         decoding=f"{decoding.encoding}/{decoding.errors}")
    start_after = 0
    if resume:
        previous = Checkpoint.load(checkpoint_path)
        if previous is not None:
            previous.check_same_job(current, checkpoint_path)
            start_after = previous.position
            report.resumed_from = start_after
    report.checkpoint, report.dead_letter = str(checkpoint_path), str(dead_path)

    cfg = config or PipelineConfig(batch_size=batch_size, writers=writers, bulk_docs=bulk_docs)
    cfg.max_errors = limit
    stats = EncodeStats()

    # An encoder that can tokenize apart (SpladeEncoder) does it on the reader thread, overlapping the model.
    prepare = getattr(encoder, "tokenize", None)

    def count(encoding: EncodeStats) -> None:
        stats.add(encoding)
        note = getattr(progress, "note", None)
        if note is not None and stats.truncated:
            note(truncated=stats.truncated)

    terms = {"in": 0, "kept": 0}

    def pruned(vectors: list) -> list:
        if rule is None:
            return vectors
        # static pruning: the same rule (spladekit.vectors.Pruning) as query pruning
        terms["in"] += sum(len(v) for v in vectors)
        vectors = [rule.apply(v) for v in vectors]
        terms["kept"] += sum(len(v) for v in vectors)
        return vectors

    def encode(job: Any) -> list:
        vectors = encoder.encode_prepared(job) if prepare is not None else encoder.encode_documents(job)
        last = getattr(encoder, "last_stats", None)
        if last is not None:  # one encoder thread: the stats of this call are the ones just written
            count(last)
        return pruned(vectors)

    def encoded(records: list) -> list:  # vectors from Ray workers: each record brings what it cost
        for record in records:
            if record.encoding is not None:
                count(record.encoding)
        return pruned([record.vector for record in records])

    if ray:
        rows.start_after = start_after
    dead = DeadLetter(dead_path, resume_after=start_after if resume else None)
    if start_after == 0:
        current.save(checkpoint_path)  # a fresh job: an old checkpoint must not survive a crash before the first
    started = time.perf_counter()  # docs/s covers the job, not loading the model or creating the index
    pipeline = Pipeline(rows, policy, encode, sink, dead, prepare=prepare, encoded=encoded,
                        checkpoint=current, checkpoint_path=checkpoint_path, start_after=start_after, config=cfg,
                        progress=progress, stop=stop)
    stopped: BaseException | None = None
    try:
        pipeline.run()
    except (EngineError, ClusterError, TooManyErrors, KeyboardInterrupt) as exc:
        stopped = exc
    finally:
        report.retries = sink.retries
        dead.close()
    counts = pipeline.counts
    report.workers = dict(getattr(rows, "workers", {}))
    report.read, report.skipped, report.indexed = counts.read, counts.skipped, counts.indexed
    report.repaired = counts.repaired
    report.failed = dict(sorted(counts.failed.items()))
    report.encoding = {k: v for k, v in stats.to_dict().items()
                       if k in ("texts", "truncated", "tokens_dropped", "split", "windows")}
    if rule is not None:
        report.pruning = {"terms_in": terms["in"], "terms_kept": terms["kept"]}
    report.seconds = round(time.perf_counter() - started, 3)
    done = report.indexed + sum(report.failed.values())
    report.docs_per_s = round(done / report.seconds, 1) if report.seconds > 0 else 0.0
    if stopped is not None:
        reason = "interrupted" if isinstance(stopped, KeyboardInterrupt) else scrub(str(stopped))
        report.stopped = reason
        raise IngestStopped(reason, report) from None
    report.complete = True
    if stats.texts and stats.truncated > TRUNCATION_WARN_FRACTION * stats.texts:
        warnings.warn(f"{stats.truncated} of {stats.texts} documents ({100 * stats.truncated / stats.texts:.1f}%) "
                      f"were longer than {ident.max_length} tokens and lost {stats.tokens_dropped} tokens in all; "
                      "--long-text split encodes them whole (max-pooled windows)", TruncationWarning, stacklevel=2)
    return report
