"""The dead letter: one JSON line per record that was not indexed, with its position, id and reason.

Lines look like ``{"position": 12, "id": "d7", "reason": "empty_text", "detail": null, "record": {...}}``;
``record`` is the parsed record when small, else an excerpt string (see :mod:`spladekit.ingest.policy`).
Written in completion order, not input order. On ``--resume`` the entries past the checkpoint are dropped
(they will be produced again), so each input record appears at most once.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from pathlib import Path

from spladekit.ingest.checkpoint import atomic_write_text
from spladekit.ingest.records import Reject


def _line(reject: Reject) -> bytes:
    entry = {"position": reject.position, "id": reject.id, "reason": reject.reason, "detail": reject.detail,
             "record": reject.record}
    # backslashreplace: a record with lone surrogates must still make a valid UTF-8 line
    return (json.dumps(entry, ensure_ascii=False, default=repr) + "\n").encode("utf-8", "backslashreplace")


class DeadLetter:
    """Thread-safe appender. ``resume_after``: keep the existing entries at or before that position."""

    def __init__(self, path: str | Path, resume_after: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.counts: Counter[str] = Counter()
        if resume_after is None:
            self.path.write_bytes(b"")
        else:
            self._keep_up_to(resume_after)
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._lock = threading.Lock()

    def _keep_up_to(self, position: int) -> None:
        if not self.path.is_file():
            return
        kept = []
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash
                if entry.get("position", 0) <= position:
                    kept.append(line if line.endswith("\n") else line + "\n")
        atomic_write_text(self.path, "".join(kept))

    def write(self, reject: Reject) -> None:
        line = _line(reject)
        with self._lock:
            self._file.write(line)
            self.counts[reject.reason] += 1

    def sync(self) -> None:
        """Make every entry so far durable (called before the checkpoint moves past them)."""
        with self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()


def read_dead_letter(path: str | Path) -> list[dict]:
    """The entries of a dead-letter file (for tests and reports)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
