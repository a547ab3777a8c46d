"""Distributed ingestion's unit of work, without Ray: a block of input lines, and what a worker makes of it.

:func:`plan_blocks` cuts a JSON-lines file into byte ranges of ``lines`` lines each (a scan for newlines, no
parsing), numbered by their first line so that every row keeps the position the single-process reader gives it
(the checkpoint and the dead letter speak in positions). :class:`BlockEncoder` is what a Ray actor runs
(:mod:`spladekit.ingest.distributed`): it reads one block, parses it with the one JSON-lines reader, runs the
record policy (all but the duplicate check, which needs the whole input in order: the driver's) and encodes the
valid records; it returns every row, in order, each valid one with its vector and what encoding it cost.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "c.jsonl")
>>> _ = open(path, "wb").write(b'{"_id": "a", "text": "x"}\\n\\n{"_id": "b", "text": "y"}\\n{oops\\n')
>>> [(b.first_line, b.last_line) for b in plan_blocks(path, lines=2)]
[(1, 2), (3, 4)]
>>> [(r.position, r.reject and r.reject.reason) for r in read_block(plan_blocks(path, lines=2)[1])]
[(3, None), (4, 'malformed_json')]
"""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spladekit import readers
from spladekit.encoder.runtime import SpladeEncoder
from spladekit.errors import InputError
from spladekit.ingest.policy import RecordPolicy
from spladekit.ingest.records import Raw, Record
from spladekit.schema import ModelIdentity

#: Lines per block by default: one block is one Ray task, the unit of work and of retry (small enough to spread
#: over the workers and to redo after a crash, large enough to batch well and to keep Ray's overhead low).
BLOCK_LINES = 1024
_SCAN_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class Block:
    """Lines ``first_line..last_line`` of ``path``: bytes ``start..end`` of a file of ``size`` bytes."""

    path: str
    size: int
    start: int
    end: int
    first_line: int
    last_line: int


def plan_blocks(path: str | Path, lines: int = BLOCK_LINES) -> list[Block]:
    """Cut a JSON-lines file into blocks of ``lines`` lines (the last one shorter), at newlines.

    Lines are counted as :func:`spladekit.readers.read_jsonl` counts positions (blank lines included), with numpy
    over 16 MiB chunks: a few hundred MB/s, so planning a 100 GB input costs minutes at most, not hours.
    """
    if lines < 1:
        raise ValueError(f"lines per block must be >= 1, got {lines}")
    path = Path(path).resolve()
    size = path.stat().st_size
    blocks: list[Block] = []
    start, first, seen, offset = 0, 1, 0, 0  # seen: lines ended so far
    with open(path, "rb") as fh:
        while chunk := fh.read(_SCAN_BYTES):
            newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
            # The newline that ends the current block is the (first + lines - 1 - seen)-th of this chunk.
            k = first + lines - 1 - seen
            while k <= newlines.size:
                end = offset + int(newlines[k - 1]) + 1
                blocks.append(Block(str(path), size, start, end, first, first + lines - 1))
                start, first = end, first + lines
                k += lines
            seen += newlines.size
            offset += len(chunk)
            last_byte = chunk[-1:]
    if offset > start:  # the rest; its last line may lack a newline
        blocks.append(Block(str(path), size, start, offset, first, seen + (last_byte != b"\n")))
    return blocks


def read_block(block: Block, decoding: readers.Decoding | None = None) -> list[Raw]:
    """The rows of one block, as :func:`spladekit.readers.read` gives them for those lines of the file (decoded
    as ``decoding`` says: the job's ``--encoding`` and ``--decode-errors``)."""
    try:
        size = os.path.getsize(block.path)
    except OSError:
        size = None
    if size != block.size:
        found = "no such file" if size is None else f"{size} bytes, not {block.size}"
        raise InputError(f"{block.path} on {socket.gethostname()}: {found}; every Ray node must read the same input "
                         "at the same path (a shared file system), and the input must not change during the job")
    with open(block.path, "rb") as fh:
        fh.seek(block.start)
        data = fh.read(block.end - block.start)
    return list(readers.read_jsonl(io.BytesIO(data), first_position=block.first_line, decoding=decoding))


class _NoDuplicateCheck:
    """The worker's policy lets every id through: duplicates are the driver's call, in input order."""

    def add(self, doc_id: str) -> bool:
        return True


@dataclass(slots=True)
class EncodedBlock:
    """What a worker returns for a block: every row in order (``Raw.vector`` and ``Raw.encoding`` set on the
    valid ones), which worker encoded them, and with which model and settings."""

    rows: list[Raw]
    worker: str
    identity: ModelIdentity


class BlockEncoder:
    """A block's rows with their vectors. Built once per worker (the model loads once), called per block.

    ``cwd``: the driver's working folder, where it exists here, so that a relative model folder means what it
    means on the driver.
    """

    def __init__(self, model: str, encoder_options: Mapping[str, Any], policy_options: Mapping[str, Any],
                 cwd: str | None = None, decoding: readers.Decoding | None = None) -> None:
        if cwd and os.path.isdir(cwd):
            os.chdir(cwd)
        self.encoder = SpladeEncoder.load(model, **encoder_options)
        self.policy = RecordPolicy(**policy_options, seen=_NoDuplicateCheck())  # type: ignore[arg-type]
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.decoding = decoding

    def __call__(self, block: Block) -> EncodedBlock:
        rows = read_block(block, self.decoding)
        valid = [(raw, item) for raw in rows if raw.row is not None
                 for item in [self.policy.check(raw.position, raw.row)] if isinstance(item, Record)]
        if valid:
            # One call for the block: the encoder sorts by length and batches. The default model's ONNX vectors do
            # not depend on the batch, so they equal the single-process ones bit for bit (tested on the real model in
            # tests/integration/test_ingest_ray.py); see ingest/README.md for backends whose kernels do.
            prepared = self.encoder.tokenize([item.encoder_text for _, item in valid])
            vectors = self.encoder.encode_prepared(prepared)
            for i, ((raw, _), vector) in enumerate(zip(valid, vectors, strict=True)):
                raw.vector, raw.encoding = vector, prepared.text_stats(i)
        return EncodedBlock(rows, self.worker, self.encoder.identity())
