"""The main job on the embedded default, end to end: ingest a corpus into a local index, search it, explain.

This is what ``bash scripts/demo.sh`` (quick start, command 1) runs through ``spladekit demo``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spladekit.errors import InputError
from spladekit.ingest import ingest
from spladekit.search import search

#: Queries shown when none are given; they fit the sample corpus in ``ingest/sample_corpus.jsonl``.
DEFAULT_QUERIES = (
    "how do wings stall",
    "what do flaps and slats change on landing",
    "why is a swept wing used on jet airliners",
)
DEFAULT_CORPUS = Path("ingest") / "sample_corpus.jsonl"
DEFAULT_DEMO_INDEX = Path(".spladekit") / "demo-index"


@dataclass
class DemoResult:
    ingest_report: object
    results: list[tuple[str, list]]  # (query, hits with explanations)


def run_demo(
    corpus: str | Path = DEFAULT_CORPUS,
    *,
    local_dir: str | Path = DEFAULT_DEMO_INDEX,
    queries: Sequence[str] = DEFAULT_QUERIES,
    k: int = 3,
    model: str = "splade-tiny",
    silent: bool = True,
) -> DemoResult:
    """Ingest ``corpus`` into the local index at ``local_dir`` (resumable, re-runs overwrite), then run
    ``queries`` against it with per-hit explanations."""
    corpus = Path(corpus)
    if not corpus.exists():
        raise InputError(f"demo corpus {corpus} not found; run from the repository root or pass --corpus PATH")
    report = ingest(corpus, local_dir=local_dir, model=model)
    results = [(q, search(q, local_dir=local_dir, k=k, explain=True, model=model)) for q in queries]
    # The local index keeps vectors only; show the hits' titles from the corpus itself.
    titles = _titles(corpus) if corpus.suffix == ".jsonl" else {}
    for _, hits in results:
        for hit in hits:
            hit.title = hit.title or titles.get(hit.id)
    return DemoResult(report, results)


def _titles(corpus: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with corpus.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
                out[str(rec["_id"])] = str(rec.get("title") or rec.get("text", ""))
            except (ValueError, KeyError, TypeError):
                continue
    return out
