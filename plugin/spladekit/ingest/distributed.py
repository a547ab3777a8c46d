"""Distributed encoding on Ray Data: the input in blocks, an actor pool of encoders, the rows back in order.

``ingest(..., ray=True)`` (``spladekit ingest INPUT --ray [ADDRESS] --workers N``): encoding, the expensive part,
runs on N Ray actors (each loads the model once; CPU or GPU actors); everything that decides what a record
becomes stays in the driver's one pipeline (:mod:`spladekit.ingest.pipeline`): the duplicate check (first
occurrence wins, in input order), the sinks with their retries (engine bulk) or the local index, the dead letter
and the checkpoint. So a distributed job indexes the same ids with the same vectors and dead-letters the same
records for the same reasons as a single-process one.

- **Blocks** (:mod:`spladekit.ingest.blocks`). The driver cuts the JSON-lines input (a file, or a BEIR folder's
  corpus) into byte ranges of ``block_lines`` lines; a Ray Data dataset of those ranges goes through
  ``map_batches`` on an actor pool of :class:`BlockEncoder`: each actor reads its ranges, parses them, runs the
  record policy and encodes. Every node must see the input at the same path (a shared file system); a worker
  that sees another file stops the job with that fix. Inputs that cannot be cut without reading them whole
  (gzip, stdin, CSV/TSV, Parquet) are refused with the fix (decompress or convert to JSON lines, or drop --ray).
- **Order.** Ray Data keeps the blocks' order (``preserve_order``), so the driver sees positions in input order,
  as the pipeline needs.
- **Faults.** A worker that dies (SIGKILL, OOM, a node lost) is restarted by Ray and its block run again (Ray
  Data's own fault tolerance for actor pools: ``max_restarts=-1``, ``max_task_retries=-1``); a block's rows are
  written only once they reach the driver, so the count stays exact. An error in a worker (a model it cannot
  load, an input it cannot read) or a cluster lost mid-job stops the job (:class:`~spladekit.errors.ClusterError`,
  exit 4), with the worker's own message: fix it and ``--resume``.
  If the driver dies, ``--resume`` re-reads on the driver what the checkpoint covers (to rebuild the duplicate-id
  set, without encoding) and sends only the blocks after it.
- **Where.** ``address=None`` joins ``$RAY_ADDRESS`` when set, else starts Ray on this machine (all its cores);
  ``"host:6379"`` or ``"auto"`` join that cluster. When Ray is already initialized in this process, that is used
  as it is. Each node uses its own spladekit install and model cache. Ray Client addresses (``ray://``) are
  refused with the way that works: Ray Data runs its executor in the driver, which a Ray Client driver lacks
  (Ray 2.60: ``'Worker' object has no attribute 'core_worker'``); from outside the cluster, submit the command as
  a Ray job (``ray job submit --address http://head:8265 -- spladekit ingest ... --ray auto``).
"""

from __future__ import annotations

import logging
import os
import pickle
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import ray

from spladekit import readers
from spladekit.errors import ClusterError, InputError, SpladekitError
from spladekit.ingest.blocks import BLOCK_LINES, Block, BlockEncoder, EncodedBlock, plan_blocks
from spladekit.ingest.records import Raw
from spladekit.schema import ModelIdentity

_START_FIX = ("start one with 'ray start --head', check the address (host:6379 or auto), or give --ray without an "
              "address to start Ray on this machine")


def splittable(source: str | Path, fmt: str) -> None:
    """Refuse, naming the fix, an input that cannot be cut into blocks without reading it whole."""
    name = str(source)
    if name == "-":
        raise InputError("--ray needs a file every worker can read, not stdin; write the input to a JSON-lines "
                         "file on a shared path, or drop --ray")
    if fmt not in ("jsonl", "beir"):
        raise InputError(f"--ray reads JSON lines (a .jsonl file or a BEIR folder), not {fmt}: convert {name} to "
                         "JSON lines, or drop --ray")
    with open(source, "rb") as fh:  # resolved: a BEIR folder is its corpus.jsonl here
        kind = readers.compression(fh.read(6))
    if kind is not None:
        raise InputError(f"--ray cuts the input into byte ranges, which a {kind} file cannot give: decompress it "
                         f"and ingest the .jsonl, or drop --ray")


def connect(address: str | None) -> bool:
    """Join or start Ray (see the module docstring); True when this call initialized it (and should shut it down)."""
    if ray.is_initialized():
        return False
    # "local" starts a new instance: without it, ray.init joins whatever cluster `ray start` last ran here.
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    if target.startswith("ray://"):
        raise ClusterError(f"{target} is a Ray Client address, and Ray Data cannot run through Ray Client; give the "
                           "cluster's own address from a machine of the cluster (--ray head:6379), or run the command "
                           "there as a Ray job: ray job submit --address http://head:8265 -- spladekit ingest ... "
                           "--ray auto")
    options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if target == "local":
        options["include_dashboard"] = False
    try:
        ray.init(address=target, **options)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, ValueError, RuntimeError, grpc errors
        raise ClusterError(f"cannot {'start' if target == 'local' else 'connect to'} Ray at {target} "
                           f"({_one_line(exc)}); " + _START_FIX) from None
    return True


def _root(exc: BaseException) -> BaseException:
    """The error a worker raised, found inside Ray's and Ray Data's wrappers (their ``cause``, their arguments, the
    exception chain: an actor that died in ``__init__`` is an ``ActorDiedError`` whose argument is the
    ``RayTaskError`` whose ``cause`` is ours). Ours when there is one, else the outermost that says something."""
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    informative: BaseException | None = None
    while stack:
        err = stack.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, SpladekitError):
            return err
        if informative is None and str(err).strip():
            informative = err
        inner = [getattr(err, "cause", None), *err.args, err.__cause__,
                 None if err.__suppress_context__ else err.__context__]
        stack.extend(e for e in reversed(inner) if isinstance(e, BaseException))
    return informative or exc


def _one_line(exc: BaseException) -> str:
    """Ours: its first line (it names the fix). Another: its type and last line (a traceback ends in the message)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if isinstance(exc, SpladekitError):
        return lines[0] if lines else type(exc).__name__
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:500]


class _RayBlockEncoder(BlockEncoder):
    """:class:`BlockEncoder` in Ray Data's shape: a batch of block descriptors in, pickled blocks out."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # type: ignore[override]
        out = []
        for i in range(len(batch["path"])):
            block = Block(str(batch["path"][i]), *(int(batch[name][i]) for name in
                                                   ("size", "start", "end", "first_line", "last_line")))
            out.append(pickle.dumps(super().__call__(block), protocol=pickle.HIGHEST_PROTOCOL))
        return {"encoded": np.array(out, dtype=object)}


class RayRows:
    """The input's rows, in order, each valid one with the vector a Ray worker computed (``Raw.vector``).

    :meth:`start` (joins or starts Ray, plans the blocks), iterate once, then :meth:`close`; :attr:`workers`
    counts the documents each worker encoded (``host:pid``; a restarted worker is a new one).
    """

    def __init__(self, source: str | Path, fmt: str, *, model: str, encoder_options: Mapping[str, Any],
                 policy_options: Mapping[str, Any], decoding: readers.Decoding | None = None,
                 start_after: int = 0, address: str | None = None,
                 workers: int | None = None, gpus_per_worker: float = 0.0, threads: int | None = None,
                 block_lines: int = BLOCK_LINES, expect_identity: ModelIdentity | None = None) -> None:
        splittable(source, fmt)
        if block_lines < 1:
            raise ValueError(f"--ray-block must be >= 1, got {block_lines}")
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        if gpus_per_worker < 0:
            raise ValueError(f"--gpus-per-worker must be >= 0, got {gpus_per_worker}")
        if gpus_per_worker and encoder_options.get("device") != "cuda":
            raise ValueError("--gpus-per-worker gives each worker a GPU: encode there with --backend torch --device "
                             "cuda (device='cuda')")
        self.source, self.fmt = Path(source), fmt
        self.model, self.encoder_options, self.policy_options = model, dict(encoder_options), dict(policy_options)
        self.start_after, self.address, self.n_workers = start_after, address, workers
        self.gpus, self.threads, self.block_lines = gpus_per_worker, threads, block_lines
        self.expect_identity = expect_identity
        self.decoding = decoding or readers.Decoding()
        self.workers: Counter[str] = Counter()
        self.blocks: list[Block] = []
        self._owns_ray = False

    def start(self) -> None:
        self.blocks = plan_blocks(self.source, self.block_lines)
        self._owns_ray = connect(self.address)

    def close(self) -> None:
        if self._owns_ray:
            self._owns_ray = False
            ray.shutdown()

    def _pool_size(self) -> int:
        if self.n_workers is not None:
            return self.n_workers
        resources = ray.cluster_resources()
        if self.gpus:
            return max(1, int(resources.get("GPU", 0) // self.gpus))
        return max(1, int(resources.get("CPU", 1) // (self.threads or 1)))

    def __iter__(self) -> Iterator[Raw]:
        done = [b for b in self.blocks if b.last_line <= self.start_after]
        todo = self.blocks[len(done):]
        if done:  # finished by an earlier run: read here only to rebuild the duplicate-id set (no encoding)
            for raw in readers.read(self.source, self.fmt, encoding=self.decoding.encoding,  # type: ignore[arg-type]
                                    decode_errors=self.decoding.errors):
                if raw.position > done[-1].last_line:
                    break
                yield raw
        if not todo:
            return
        # CPU actors: one core each (or --threads); GPU actors: their share of a GPU, tokenizing on the node's cores.
        threads = self.threads or (None if self.gpus else 1)
        resources = {"num_gpus": self.gpus} if self.gpus else {"num_cpus": threads}
        ds = ray.data.from_items([asdict(b) for b in todo], override_num_blocks=len(todo))
        # Fault tolerance is Ray Data's own for actor pools: a dead actor is restarted and its block retried
        # (max_restarts=-1, max_task_retries=-1 by default).
        ds = ds.map_batches(
            _RayBlockEncoder, batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self._pool_size()),
            fn_constructor_kwargs={"model": self.model, "encoder_options": {**self.encoder_options, "threads": threads},
                                   "policy_options": self.policy_options, "cwd": os.getcwd(),
                                   "decoding": self.decoding},
            **resources,
        )
        ds.context.execution_options.preserve_order = True  # the pipeline needs positions in input order
        ds.context.enable_progress_bars = False  # the one progress bar is ingest's
        ds.context.print_on_execution_start = False
        batches = iter(ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1))
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - whatever Ray wraps a worker's or the cluster's failure in
                raise ClusterError(f"the Ray job failed past Ray's retries: {_one_line(_root(exc))}") from None
            for payload in batch["encoded"]:
                block: EncodedBlock = pickle.loads(payload)
                if self.expect_identity is not None and block.identity != self.expect_identity:
                    raise ClusterError(f"a Ray worker ({block.worker}) encodes with {block.identity}, the driver "
                                       f"with {self.expect_identity}: give every node the same model and settings")
                self.workers[block.worker] += sum(raw.vector is not None for raw in block.rows)
                yield from block.rows
