"""The recipe for a collection with few judged queries: split its queries into train and test.

Shared test collections (cranfield, npl, ...) ship one judged split. To fine-tune on such a collection and
still measure honestly, :func:`make_split` divides the judged queries, seeded, into a training part and a
held-out test part and writes a new BEIR folder:

- ``corpus.jsonl``: the collection's corpus, unchanged (the documents are not labels: both sides may see them);
- ``queries.jsonl``: every query; ``qrels/train.tsv`` and ``qrels/test.tsv``: the judgments of each side;
- ``train_pairs.jsonl``: the training pairs (``spladekit train`` input), optionally with pseudo-queries;
- ``split.json``: seed, fraction, the two id lists and the sha256 of the source files, so the split can be
  rebuilt and checked.

No leakage: a query lands on exactly one side, and queries whose texts are the same after lower-casing and
whitespace folding land on the same side (a duplicated query on both sides would be a test query trained
on). Pseudo-queries use document titles only, never a test query or a test judgment.

``spladekit eval SPLIT_DIR`` then evaluates on ``qrels/test.tsv``, i.e. on held-out queries only.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from spladekit.datasets import find_qrels, load_beir
from spladekit.errors import InputError
from spladekit.training.data import Pair, write_pairs

SPLIT_FORMAT = "spladekit-split-v1"


@dataclass(frozen=True)
class QuerySplit:
    """Query ids of each side, each list sorted in the collection's order."""

    train: list[str]
    test: list[str]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def split_queries(queries: dict[str, str], test_fraction: float = 0.5, seed: int = 13) -> QuerySplit:
    """Seeded split of query ids; identical texts (after case and whitespace folding) stay together.

    >>> s = split_queries({"1": "a", "2": "b", "3": "A ", "4": "c"}, test_fraction=0.5, seed=0)
    >>> sorted(s.train + s.test) == ["1", "2", "3", "4"], ("1" in s.train) == ("3" in s.train)
    (True, True)
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    groups: dict[str, list[str]] = {}
    for qid, text in queries.items():
        groups.setdefault(_norm(text), []).append(qid)
    if len(groups) < 2:
        raise InputError("a train/test split needs at least two distinct judged queries")
    keys = sorted(groups)  # sorted first, so the shuffle depends only on the seed, not on file order
    random.Random(seed).shuffle(keys)
    target = round(test_fraction * len(queries))
    test: set[str] = set()
    for key in keys:
        if len(test) >= target:
            break
        test.update(groups[key])
    if len(test) == len(queries):  # one huge group of duplicates could swallow everything
        test -= set(groups[keys[-1]])
    order = list(queries)
    return QuerySplit([q for q in order if q not in test], [q for q in order if q in test])


def title_pairs(corpus: dict, min_words: int = 3, limit: int | None = None, seed: int = 13) -> list[Pair]:
    """Pseudo-queries from document titles: (title, document body) for documents with a title.

    The body has the title removed from its start (some collections repeat it there), so the model has to
    match the title to the rest of the document rather than copy it. ``limit`` keeps a seeded sample.
    """
    pairs = []
    for did, doc in corpus.items():
        title, text = doc.title.strip(), doc.text.strip()
        if len(title.split()) < min_words or not text:
            continue
        body = text[len(title):].strip() if _norm(text).startswith(_norm(title)) else text
        if len(body.split()) >= min_words:
            pairs.append(Pair(title, body, qid=f"title:{did}", pid=did))
    if limit is not None and len(pairs) > limit:
        pairs = random.Random(seed).sample(pairs, limit)
    return pairs


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_qrels(path: Path, qrels: dict[str, dict[str, int]], ids: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid in ids:
            for did, rel in qrels[qid].items():
                fh.write(f"{qid}\t{did}\t{rel}\n")


def make_split(
    collection: str | Path,
    out_dir: str | Path,
    *,
    test_fraction: float = 0.5,
    seed: int = 13,
    split: str = "test",
    pseudo_queries: int = 0,
) -> Path:
    """Write a train/test BEIR folder for ``collection`` (see the module docstring) and return its path.

    ``pseudo_queries``: how many title pseudo-queries to add to ``train_pairs.jsonl`` (0: none; -1: all).
    """
    src = Path(collection)
    ds = load_beir(src, split)
    s = split_queries(ds.queries, test_fraction, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "corpus.jsonl", out / "corpus.jsonl")
    shutil.copyfile(src / "queries.jsonl", out / "queries.jsonl")
    _write_qrels(out / "qrels" / "train.tsv", ds.qrels, s.train)
    _write_qrels(out / "qrels" / "test.tsv", ds.qrels, s.test)

    pairs = [Pair(ds.queries[q], ds.corpus[d].full_text(), qid=q, pid=d)
             for q in s.train for d, rel in ds.qrels[q].items() if rel > 0 and ds.corpus[d].full_text().strip()]
    n_judged = len(pairs)
    if pseudo_queries:
        pairs += title_pairs(ds.corpus, limit=None if pseudo_queries < 0 else pseudo_queries, seed=seed)
    write_pairs(pairs, out / "train_pairs.jsonl")

    qrels_src = find_qrels(src, split)
    record = {
        "format": SPLIT_FORMAT,
        "source": str(src.resolve()),
        "source_sha256": {name: _sha256(src / name) for name in ("corpus.jsonl", "queries.jsonl")}
        | {str(qrels_src.relative_to(src)): _sha256(qrels_src)},
        "seed": seed,
        "test_fraction": test_fraction,
        "train_queries": s.train,
        "test_queries": s.test,
        "train_pairs_judged": n_judged,
        "train_pairs_pseudo": len(pairs) - n_judged,
        "method": "judged queries grouped by case/whitespace-folded text, groups shuffled with "
                  "random.Random(seed) after sorting, test filled to round(test_fraction * n_queries)",
    }
    (out / "split.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return out
