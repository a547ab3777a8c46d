"""Training pairs: what a user gives ``spladekit train``, read and checked before any model is loaded.

Two inputs are accepted:

- a JSONL file, one ``{"query": ..., "positive": ...}`` object per line, optionally with
  ``"negatives": [...]`` (texts of documents known not to answer the query);
- a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``): every judgment with a score
  above 0 in the chosen split (``train`` by default) becomes one (query, document text) pair.

Anything unusable stops the run with :class:`~spladekit.errors.InputError` naming the file, the line and the
fix, because a silently half-read training set produces a model that looks fine and is not.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "pairs.jsonl"
>>> _ = p.write_text('{"query": "wing stall", "positive": "stall occurs at high angle of attack"}\\n'
...                  '{"query": "shock wave", "positive": "a normal shock", "negatives": ["laminar flow"]}\\n')
>>> load_pairs(p)[1]
Pair(query='shock wave', positive='a normal shock', negatives=('laminar flow',), qid=None, pid=None)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from spladekit.datasets import load_beir
from spladekit.errors import InputError


@dataclass(frozen=True)
class Pair:
    """One training example: a query, a document that answers it, and optional hard-negative documents.

    ``qid`` and ``pid`` are the collection ids when the pair came from a BEIR folder; hard-negative mining
    uses them to exclude every judged positive of the query, not only this pair's.
    """

    query: str
    positive: str
    negatives: tuple[str, ...] = ()
    qid: str | None = None
    pid: str | None = None


def _text(value: object, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: {field!r} must be a non-empty string, got {value!r}")
    return value


def read_jsonl_pairs(path: str | Path) -> list[Pair]:
    """Pairs from a JSONL file of ``{"query", "positive"[, "negatives"]}`` objects (blank lines skipped)."""
    path = Path(path)
    pairs: list[Pair] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise InputError(f"{where}: not valid JSON ({exc.msg}); each line must be one JSON object "
                                 '{"query": "...", "positive": "..."}') from None
            if not isinstance(rec, dict):
                raise InputError(f'{where}: expected a JSON object {{"query": ..., "positive": ...}}, '
                                 f"got {type(rec).__name__}")
            missing = [k for k in ("query", "positive") if k not in rec]
            if missing:
                raise InputError(f"{where}: missing {', '.join(repr(k) for k in missing)}; each line needs "
                                 '"query" and "positive" (and optionally "negatives": [...])')
            negatives = rec.get("negatives", [])
            if isinstance(negatives, str) or not isinstance(negatives, list):
                raise InputError(f'{where}: "negatives" must be a list of strings')
            pairs.append(Pair(
                _text(rec["query"], where, "query"),
                _text(rec["positive"], where, "positive"),
                tuple(_text(n, where, "negatives[]") for n in negatives),
                qid=str(rec["qid"]) if "qid" in rec else None,
                pid=str(rec["pid"]) if "pid" in rec else None,
            ))
    return pairs


def beir_pairs(folder: str | Path, split: str = "train") -> list[Pair]:
    """Pairs from a BEIR folder: one per judgment with score > 0 in ``qrels/<split>.tsv``.

    Documents are given as the encoder sees them (title and text joined, BEIR's convention); empty documents
    are skipped since they teach nothing. Order follows the qrels file, so the result is deterministic.
    """
    ds = load_beir(folder, split)
    pairs = []
    for qid, docs in ds.qrels.items():
        for did, rel in docs.items():
            text = ds.corpus[did].full_text().strip()
            if rel > 0 and text:
                pairs.append(Pair(ds.queries[qid], text, qid=qid, pid=did))
    return pairs


def load_pairs(source: str | Path, split: str = "train") -> list[Pair]:
    """Read training pairs from a JSONL file or a BEIR folder and check them (see :func:`validate_pairs`)."""
    source = Path(source)
    if source.is_dir():
        pairs = beir_pairs(source, split)
    elif source.is_file():
        pairs = read_jsonl_pairs(source)
    else:
        raise InputError(f"{source} does not exist; give a JSONL file of "
                         '{"query", "positive"} objects or a BEIR folder with qrels/train.tsv')
    return validate_pairs(pairs, str(source))


def validate_pairs(pairs: Iterable[Pair], source: str = "pairs") -> list[Pair]:
    """Refuse what cannot train a contrastive model: no pairs, empty texts, or a single distinct positive.

    In-batch negatives are the other positives of the batch, so at least two distinct positives are needed.

    >>> validate_pairs([])
    Traceback (most recent call last):
    ...
    spladekit.errors.InputError: pairs holds no training pairs; ...
    """
    pairs = list(pairs)
    if not pairs:
        raise InputError(f"{source} holds no training pairs; give at least two (query, positive) pairs "
                         "(for a BEIR folder: judgments with score > 0 in qrels/train.tsv)")
    for i, p in enumerate(pairs):
        if not p.query.strip() or not p.positive.strip():
            raise InputError(f"{source}: pair {i} has an empty query or positive; remove it or fill it in")
    if len({p.positive for p in pairs}) < 2:
        raise InputError(f"{source}: all pairs share one positive; training needs at least two distinct "
                         "positives, because the other positives of a batch are its negatives")
    return pairs


def write_pairs(pairs: Sequence[Pair], path: str | Path) -> Path:
    """Write pairs as JSONL (the format :func:`read_jsonl_pairs` reads), keeping ids and negatives."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for p in pairs:
            rec: dict = {"query": p.query, "positive": p.positive}
            if p.negatives:
                rec["negatives"] = list(p.negatives)
            if p.qid is not None:
                rec["qid"] = p.qid
            if p.pid is not None:
                rec["pid"] = p.pid
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path
