"""Hard negatives mined with spladekit's own retrieval, never a judged positive.

The base model (ONNX encoder, :class:`~spladekit.encoder.runtime.SpladeEncoder`) encodes the corpus into an
in-memory :class:`~spladekit.local.index.LocalIndex` (exact scores); each training query is searched and the
negatives are drawn, seeded, from its top ``depth`` hits after removing every document judged positive for
that query (all its pairs, not only the current one). Documents the base model ranks high but that are not
the answer are what the in-batch negatives alone rarely provide.

Unjudged documents near the top may still be relevant (judgments are incomplete), so the negatives are a
sample of the top ``depth`` rather than the very first hits.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace

from spladekit.encoder.runtime import SpladeEncoder
from spladekit.encoder.store import onnx_dir
from spladekit.local.index import LocalIndex
from spladekit.training.data import Pair


def _doc_id(text: str) -> str:
    return "h:" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def corpus_from_pairs(pairs: Sequence[Pair]) -> dict[str, str]:
    """When no corpus is given, search over the pairs' own documents (positives and given negatives)."""
    corpus: dict[str, str] = {}
    for p in pairs:
        corpus[p.pid or _doc_id(p.positive)] = p.positive
        for n in p.negatives:
            corpus.setdefault(_doc_id(n), n)
    return corpus


def mine_hard_negatives(
    pairs: Sequence[Pair],
    base: str,
    k: int,
    *,
    corpus: Mapping[str, str] | None = None,
    depth: int = 30,
    seed: int = 13,
    threads: int | None = None,
) -> list[Pair]:
    """Return ``pairs`` with ``k`` mined negatives each (texts), replacing any they carried.

    ``base``: the model to retrieve with (a name or directory :func:`spladekit.encoder.store.onnx_dir` accepts).
    ``corpus``: document id -> text to mine from; by default the pairs' own documents. Positives are
    recognised by id (``Pair.pid``) and by text, so a corpus with duplicated texts cannot leak one back.
    A query with fewer than ``k`` candidates gets what there is (the dataset then uses the fewest).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if depth < k:
        raise ValueError(f"depth ({depth}) must be >= k ({k})")
    docs = dict(corpus) if corpus is not None else corpus_from_pairs(pairs)
    ids = list(docs)
    encoder = SpladeEncoder.load(onnx_dir(base), threads=threads)
    index = LocalIndex(mode="exact")
    index.add(ids, encoder.encode_documents([docs[i] for i in ids]))

    # every positive of a query, by id and by text, whichever pair it came from
    positives: dict[str, set[str]] = {}
    for p in pairs:
        seen = positives.setdefault(p.query, set())
        seen.add(p.positive)
        if p.pid is not None:
            seen.add(p.pid)
    queries = list(positives)
    hits = index.search_many(encoder.encode_queries(queries), k=depth + 50, threads=threads)
    candidates: dict[str, list[str]] = {}
    for q, (hit_ids, _scores) in zip(queries, hits, strict=True):
        pos = positives[q]
        keep = [d for d in hit_ids if d not in pos and docs[d] not in pos]
        candidates[q] = keep[:depth]

    rng = random.Random(seed)
    out = []
    for p in pairs:
        pool = candidates[p.query]
        chosen = rng.sample(pool, min(k, len(pool)))
        out.append(replace(p, negatives=tuple(docs[d] for d in chosen)))
    return out
