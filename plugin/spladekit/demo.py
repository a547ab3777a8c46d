"""The main job on the embedded default, end to end: ingest a corpus into a local index, search it, explain.

This is what ``bash scripts/demo.sh`` (quick start, command 1) runs through ``spladekit demo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spladekit.errors import InputError
from spladekit.ingest import ingest
from spladekit.readers import read_jsonl, read_queries
from spladekit.search import search

DEFAULT_CORPUS = Path("ingest") / "sample_corpus.jsonl"
#: Queries shown when none are given; they fit the sample corpus (the README's parity example uses them too).
DEFAULT_QUERIES_FILE = Path("ingest") / "sample_queries.jsonl"
DEFAULT_DEMO_INDEX = Path(".spladekit") / "demo-index"


@dataclass
class DemoResult:
    ingest_report: object
    results: list[tuple[str, list]]  # (query, hits with explanations)


def run_demo(
    corpus: str | Path = DEFAULT_CORPUS,
    *,
    local_dir: str | Path = DEFAULT_DEMO_INDEX,
    queries: Sequence[str] | None = None,
    k: int = 3,
    model: str = "splade-tiny",
    silent: bool = True,
) -> DemoResult:
    """Ingest ``corpus`` into the local index at ``local_dir`` (resumable, re-runs overwrite), then run
    ``queries`` (default: ``ingest/sample_queries.jsonl``) against it with per-hit explanations."""
    corpus = Path(corpus)
    if not corpus.exists():
        raise InputError(f"demo corpus {corpus} not found; run from the repository root or pass --corpus PATH")
    if queries is None:
        queries = list(read_queries(DEFAULT_QUERIES_FILE).values())
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
    with corpus.open("rb") as fh:
        for raw in read_jsonl(fh):
            if raw.row is not None and "_id" in raw.row:
                out[str(raw.row["_id"])] = str(raw.row.get("title") or raw.row.get("text", ""))
    return out
