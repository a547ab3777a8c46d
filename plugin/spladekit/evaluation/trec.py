"""TREC run files (``qid Q0 docid rank score tag``): what eval writes and what ``eval --run`` scores."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from spladekit.errors import InputError

#: A run: query id -> {document id: score}.
Run = dict[str, dict[str, float]]


def load_run(path: str | Path) -> Run:
    """A TREC run file (``qid Q0 docid rank score tag``); a malformed line raises :class:`InputError`."""
    run: Run = {}
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise InputError(f"{path}:{lineno}: a TREC run line has 6 fields (qid Q0 docid rank score tag)")
            try:
                run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
            except ValueError:
                raise InputError(f"{path}:{lineno}: score {parts[4]!r} is not a number") from None
    return run


def write_run(run: Mapping[str, Mapping[str, float]], path: str | Path, tag: str = "spladekit") -> Path:
    """Write a TREC run: per query, documents by score descending (ties by id), rank from 1.

    >>> import tempfile, pathlib
    >>> p = write_run({"q1": {"b": 1.0, "a": 2.5}}, pathlib.Path(tempfile.mkdtemp()) / "r.trec")
    >>> p.read_text().splitlines()
    ['q1 Q0 a 1 2.5 spladekit', 'q1 Q0 b 2 1.0 spladekit']
    >>> load_run(p)
    {'q1': {'a': 2.5, 'b': 1.0}}
    """
    if any(ch.isspace() for ch in tag) or not tag:
        raise ValueError(f"run tag {tag!r} must be one non-empty word")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for qid in sorted(run):
            hits = sorted(run[qid].items(), key=lambda h: (-h[1], h[0]))
            for rank, (did, score) in enumerate(hits, 1):
                # repr keeps every digit of a float32 score, so a run read back evaluates identically
                fh.write(f"{qid} Q0 {did} {rank} {float(score)!r} {tag}\n")
    return path


