"""Distributed encoding on Ray Data: the input in blocks, an actor pool of encoders, the rows back in order.

``ingest(..., ray=True)`` (``spladekit ingest INPUT --ray [ADDRESS] --workers N``): encoding, the expensive part,
runs on N Ray actors (each loads the model once; CPU or GPU actors); everything that decides what a record
becomes stays in the driver's one pipeline (:mod:`spladekit.ingest.pipeline`): the record policy with its
duplicate check (first occurrence wins, in input order), the sinks with their retries (engine bulk) or the local
index, the dead letter and the checkpoint. So a distributed job indexes the same ids with the same vectors and
dead-letters the same records for the same reasons as a single-process one.

- **Blocks.** A JSON-lines input (or a BEIR folder's corpus) is cut by the driver into byte ranges of about
  :data:`BLOCK_RECORDS` lines (a scan for newlines, no parsing); each block is read, parsed and encoded by a
  worker (``map_batches`` over a dataset of block descriptors). Other inputs (CSV/TSV, Parquet, gzip, stdin)
  are read by the driver and sent as blocks of rows.
- **Order.** Ray Data keeps the blocks' order (``preserve_order``), so the driver sees positions in input order,
  as the pipeline needs.
- **Faults.** A worker that dies (SIGKILL, a node lost) is restarted by Ray and its block retried (Ray Data's
  actor pools default to ``max_restarts=-1`` and ``max_task_retries=-1``); a block's rows are only written once
  they reach the driver, so the count stays exact. If the driver dies, ``--resume`` re-reads what the checkpoint
  covers on the driver (to rebuild the duplicate-id set, no encoding) and sends only the blocks after it.
- **Where.** ``address=None`` starts Ray on this machine's cores (``RAY_ADDRESS`` joins a running cluster);
  ``"ray://host:10001"`` or ``"auto"`` joins one.
"""

from __future__ import annotations

import io
import os
import pickle
import socket
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import ray

from spladekit import readers
from spladekit.encoder.runtime import SpladeEncoder
from spladekit.errors import InputError
from spladekit.ingest.policy import RecordPolicy
from spladekit.ingest.records import Record
from spladekit.readers import Raw, Reject
from spladekit.vectors import SparseVector

#: Lines per block of a JSON-lines input (a block is one task: small enough to spread, large enough to batch).
BLOCK_RECORDS = 1024


class _NeverSeen:
    """A duplicate check that lets everything through: the driver decides duplicates, in input order."""

    def add(self, doc_id: str) -> bool:
        return True


class EncodeBlock:
    """A Ray Data actor: loads the encoder once, then turns each block into its rows with their vectors."""

    def __init__(self, model: str, encoder_options: Mapping[str, Any], policy_options: Mapping[str, Any]) -> None:
        self.encoder = SpladeEncoder.load(model, **encoder_options)
        self.policy = RecordPolicy(**policy_options, seen=_NeverSeen())  # type: ignore[arg-type]
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for descriptor in batch["block"]:
            raws = _block_rows(pickle.loads(descriptor))
            records = [(raw, item) for raw in raws if raw.row is not None
                       for item in [self.policy.check(raw.position, raw.row)] if isinstance(item, Record)]
            vectors = self.encoder.encode_documents([item.encoder_text for _, item in records]) if records else []
            found = {raw.position: v for (raw, _), v in zip(records, vectors, strict=True)}
            rows = [(raw.position, raw.row, raw.reject, _pack(found.get(raw.position))) for raw in raws]
            out.append(pickle.dumps({"rows": rows, "worker": self.worker, "identity": self.encoder.identity()}))
        return {"payload": np.array(out, dtype=object)}


def _pack(vec: SparseVector | None) -> tuple[np.ndarray, np.ndarray] | None:
    return None if vec is None else (vec.ids, vec.weights)


def _block_rows(block: Mapping[str, Any]) -> list[Raw]:
    """The rows of one block: a byte range of a JSON-lines file (read here), or rows the driver read."""
    if "rows" in block:
        return list(block["rows"])
    with open(block["path"], "rb") as fh:
        fh.seek(block["start"])
        data = fh.read(block["end"] - block["start"])
    first = block["first_line"] - 1
    return [Raw(raw.position + first, raw.row, _shift(raw.reject, first))
            for raw in readers.read_jsonl(io.BytesIO(data))]


def _shift(reject: Reject | None, by: int) -> Reject | None:
    if reject is not None:
        reject.position += by
    return reject


def jsonl_blocks(path: Path, lines_per_block: int = BLOCK_RECORDS) -> list[dict[str, Any]]:
    """Byte ranges of ``lines_per_block`` lines each (cut at newlines), with the first line number of each."""
    blocks, start, line, count = [], 0, 1, 0
    block_first = 1
    with open(path, "rb") as fh:
        offset = 0
        for raw_line in fh:
            offset += len(raw_line)
            count += 1
            line += 1
            if count == lines_per_block:
                blocks.append({"path": str(path), "start": start, "end": offset, "first_line": block_first,
                               "last_line": line - 1})
                start, count, block_first = offset, 0, line
        if count:
            blocks.append({"path": str(path), "start": start, "end": offset, "first_line": block_first,
                           "last_line": line - 1})
    return blocks


def _row_blocks(rows: Iterator[Raw], size: int) -> Iterator[dict[str, Any]]:
    block: list[Raw] = []
    for raw in rows:
        block.append(raw)
        if len(block) == size:
            yield {"rows": block, "last_line": block[-1].position}
            block = []
    if block:
        yield {"rows": block, "last_line": block[-1].position}


class RayRows:
    """The input's rows, in order, each valid one with the vector a Ray worker computed (``Raw.vector``).

    Iterate it once; :attr:`workers` then counts the rows each worker encoded.
    """

    def __init__(self, source: str | Path, fmt: str, *, model: str, encoder_options: Mapping[str, Any],
                 policy_options: Mapping[str, Any], columns: list[str] | None, start_after: int = 0,
                 address: str | None = None, workers: int = 2, gpus_per_worker: float = 0.0,
                 block_records: int = BLOCK_RECORDS, expect_identity: Any = None) -> None:
        if block_records < 1:
            raise InputError(f"--ray-block must be >= 1, got {block_records}")
        if workers < 1:
            raise InputError(f"--workers must be >= 1, got {workers}")
        if gpus_per_worker < 0:
            raise InputError(f"--gpus-per-worker must be >= 0, got {gpus_per_worker}")
        self.source, self.fmt, self.columns = source, fmt, columns
        self.model, self.encoder_options, self.policy_options = model, dict(encoder_options), dict(policy_options)
        self.start_after, self.address, self.n_workers = start_after, address, workers
        self.gpus, self.block_records, self.expect_identity = gpus_per_worker, block_records, expect_identity
        self.workers: Counter[str] = Counter()

    def _init_ray(self) -> None:
        if ray.is_initialized():
            return
        env = {k: v for k, v in os.environ.items() if k.startswith("SPLADEKIT_") and k != "SPLADEKIT_ENGINE_PASSWORD"}
        kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False,
                                  "logging_level": "ERROR", "include_dashboard": False}
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            kwargs.pop("include_dashboard")
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=os.cpu_count(), **kwargs)

    def __iter__(self) -> Iterator[Raw]:
        self._init_ray()
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # the pipeline needs positions in input order
        ctx.enable_progress_bars = False
        splittable = self.fmt in ("jsonl", "beir") and str(self.source) != "-" and not str(self.source).endswith(".gz")
        if splittable:
            blocks = jsonl_blocks(Path(self.source), self.block_records)
            done = [b for b in blocks if b["last_line"] <= self.start_after]
            todo = blocks[len(done):]
            # What an earlier run finished: re-read on the driver only to rebuild the duplicate-id set.
            if done:
                for raw in readers.read(self.source, self.fmt, self.columns):  # type: ignore[arg-type]
                    if raw.position > done[-1]["last_line"]:
                        break
                    yield raw
            descriptors: list[dict[str, Any]] = todo
        else:
            descriptors = list(_row_blocks(readers.read(self.source, self.fmt, self.columns), self.block_records))  # type: ignore[arg-type]
        if not descriptors:
            return
        per_worker = {"num_gpus": self.gpus} if self.gpus else {"num_cpus": 1}
        threads = self.encoder_options.get("threads") or (1 if not self.gpus else None)
        ds = ray.data.from_items([{"block": pickle.dumps(d)} for d in descriptors],
                                 override_num_blocks=len(descriptors))
        ds = ds.map_batches(
            EncodeBlock, batch_size=1, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=self.n_workers),
            fn_constructor_kwargs={"model": self.model, "encoder_options": {**self.encoder_options, "threads": threads},
                                   "policy_options": self.policy_options},
            **per_worker,  # Ray Data restarts a dead actor and retries its block: max_restarts=-1 by default
        )
        for batch in ds.iter_batches(batch_size=1, batch_format="numpy", prefetch_batches=2):
            for payload in batch["payload"]:
                block = pickle.loads(payload)
                if self.expect_identity is not None and block["identity"] != self.expect_identity:
                    raise InputError(f"a Ray worker ({block['worker']}) encodes with {block['identity']}, the driver "
                                     f"with {self.expect_identity}: give every node the same model and settings")
                encoded = 0
                for position, row, reject, packed in block["rows"]:
                    vector = None if packed is None else SparseVector(*packed)
                    encoded += vector is not None
                    yield Raw(position, row, reject, vector)
                self.workers[block["worker"]] += encoded
