"""Checkpoints: the last input position whose every record is acknowledged, written atomically.

Records complete out of order (length-sorted batches, several bulk requests in flight, retries), so the
checkpoint is a watermark: position P is safe when every record at or before P is indexed (durably) or in
the dead letter. :class:`AckTracker` keeps the positions registered but not yet acknowledged, in read order;
its size is bounded by the pipeline's in-flight bound.

>>> t = AckTracker()
>>> for p in (1, 2, 5, 7):
...     t.register(p)
>>> t.ack(2); t.ack(5); t.watermark      # 1 is still in flight
0
>>> t.ack(1); t.watermark
5
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spladekit.errors import InputError

FORMAT = 1


class AckTracker:
    """Thread-safe watermark over positions registered in increasing order and acknowledged in any order."""

    def __init__(self, start_after: int = 0) -> None:
        self._order: deque[int] = deque()
        self._pending: set[int] = set()
        self._watermark = start_after
        self._last = start_after
        self._lock = threading.Lock()

    def register(self, position: int) -> None:
        with self._lock:
            if position <= self._last:
                raise ValueError(f"positions must increase: {position} after {self._last}")
            self._last = position
            self._order.append(position)
            self._pending.add(position)

    def ack(self, position: int) -> None:
        with self._lock:
            self._pending.discard(position)
            order = self._order
            while order and order[0] not in self._pending:
                self._watermark = order.popleft()

    def ack_many(self, positions: list[int]) -> None:
        with self._lock:
            self._pending.difference_update(positions)
            order = self._order
            while order and order[0] not in self._pending:
                self._watermark = order.popleft()

    @property
    def watermark(self) -> int:
        with self._lock:
            return self._watermark

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._pending)


@dataclass
class Checkpoint:
    """What ``--resume`` needs: where to continue, and enough to refuse a checkpoint of another job."""

    position: int = 0
    input: str = ""
    input_size: int | None = None
    target: str = ""
    model_sha256: str | None = None
    #: ``codec/decode_errors`` the input was read with: records read another way would not be the same records
    decoding: str | None = None
    complete: bool = False
    counts: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint | None:
        path = Path(path)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"checkpoint {path} is unreadable ({exc}); delete it to start over") from None
        if data.get("format") != FORMAT:
            raise InputError(f"checkpoint {path} has format {data.get('format')}, expected {FORMAT}; "
                             "delete it to start over")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")

    def check_same_job(self, other: Checkpoint, path: Path) -> None:
        """Refuse to resume a checkpoint written for another input, target or model."""
        for name in ("input", "input_size", "target", "model_sha256", "decoding"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs and not (name in ("input_size", "decoding") and None in (mine, theirs)):
                raise InputError(
                    f"checkpoint {path} belongs to another job ({name}: {mine!r} there, {theirs!r} now); "
                    "run without --resume to start over, or pass --checkpoint to use another file"
                )


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
