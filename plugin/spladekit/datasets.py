"""Test collections: BEIR folders (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) and TREC qrels files.

The repository ships four (``datasets/``, see its README for sources and checksums); eval, training and the
benchmarks read any BEIR folder through here, and the lines themselves through :mod:`spladekit.readers`.

Bad input never stops an evaluation: a malformed line, a judgment whose document is not in the corpus or whose
query is not in the queries, a query without any relevant judgment are dropped, counted in
:class:`Exclusions`, reported once per file with :class:`DataWarning`, and listed in the report.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "corpus.jsonl").write_text('{"_id": "d1", "title": "t", "text": "wing"}\\n')
>>> _ = (d / "queries.jsonl").write_text('{"_id": "q1", "text": "wings"}\\n')
>>> (d / "qrels").mkdir()
>>> _ = (d / "qrels" / "test.tsv").write_text("query-id\\tcorpus-id\\tscore\\nq1\\td1\\t1\\n")
>>> ds = load_beir(d)
>>> len(ds.corpus), list(ds.queries), ds.qrels
(1, ['q1'], {'q1': {'d1': 1}})
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from spladekit.errors import InputError
from spladekit.readers import Decoding, read_jsonl
from spladekit.schema import encoder_text

Qrels = dict[str, dict[str, int]]


class DataWarning(UserWarning):
    """Some input was unusable and was left out of the evaluation (the report lists what and how much)."""


@dataclass
class Exclusions:
    """What was left out, and why; every field is a count, ``examples`` keeps a few ids per reason."""

    malformed_lines: int = 0
    qrels_unknown_doc: int = 0
    qrels_unknown_query: int = 0
    queries_without_judgments: int = 0
    queries_without_relevant: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, reason: str, example: str, n: int = 1) -> None:
        setattr(self, reason, getattr(self, reason) + n)
        keep = self.examples.setdefault(reason, [])
        if len(keep) < 5:
            keep.append(example)

    def any(self) -> bool:
        return any(v for k, v in self.as_dict().items() if k != "examples")

    def as_dict(self) -> dict:
        return {
            "malformed_lines": self.malformed_lines,
            "qrels_unknown_doc": self.qrels_unknown_doc,
            "qrels_unknown_query": self.qrels_unknown_query,
            "queries_without_judgments": self.queries_without_judgments,
            "queries_without_relevant": self.queries_without_relevant,
            "examples": {k: list(v) for k, v in self.examples.items()},
        }


@dataclass(frozen=True)
class Document:
    title: str
    text: str

    def full_text(self) -> str:
        """What the encoder sees (:func:`spladekit.schema.encoder_text`, as ingestion does)."""
        return encoder_text(self.title, self.text)


@dataclass
class Dataset:
    """One collection: documents, the queries that are evaluated, their judgments, and what was excluded."""

    name: str
    corpus: dict[str, Document]
    queries: dict[str, str]
    qrels: Qrels
    exclusions: Exclusions
    path: Path | None = None
    #: how corpus.jsonl and queries.jsonl were decoded (ingest reads the corpus the same way), and how many of
    #: their lines had undecodable bytes replaced or dropped
    decoding: Decoding = field(default_factory=Decoding)
    repaired: int = 0

    def binary_qrels(self) -> Qrels:
        """Judgments with every relevant grade set to 1 (what sentence-transformers' evaluator uses)."""
        return {q: {d: int(r > 0) for d, r in docs.items()} for q, docs in self.qrels.items()}


def _jsonl(path: Path, what: str, exclusions: Exclusions, decoding: Decoding | None = None,
           repaired: list[int] | None = None) -> Iterator[dict]:
    bad = undecodable = 0
    with path.open("rb") as fh:
        for raw in read_jsonl(fh, decoding=decoding):
            if repaired is not None and raw.repaired:
                repaired.append(raw.position)
            if raw.row is None or "_id" not in raw.row:
                bad += 1
                undecodable += raw.reject is not None and raw.reject.reason in ("invalid_utf8", "invalid_encoding")
                exclusions.note("malformed_lines", f"{path.name}:{raw.position}")
                continue
            yield raw.row
    if bad:
        why = (f"; {undecodable} of them with undecodable bytes: --encoding names the file's codec, --decode-errors "
               "replace repairs them" if undecodable else "")
        _warn(f"{path}: {bad} malformed {what} line(s) skipped (each needs a JSON object with an _id){why}")


def _warn(message: str) -> None:
    warnings.warn(message, DataWarning, stacklevel=3)


def load_corpus(path: str | Path, exclusions: Exclusions | None = None, *, decoding: Decoding | None = None,
                repaired: list[int] | None = None) -> dict[str, Document]:
    """``corpus.jsonl``: ``{"_id", "title", "text"}`` per line (title optional), decoded as ``decoding`` says
    (default: UTF-8, lines with undecodable bytes excluded); ``repaired`` collects the lines repaired."""
    exclusions = exclusions if exclusions is not None else Exclusions()
    corpus: dict[str, Document] = {}
    for rec in _jsonl(Path(path), "corpus", exclusions, decoding, repaired):
        corpus[str(rec["_id"])] = Document(str(rec.get("title") or ""), str(rec.get("text") or ""))
    return corpus


def load_queries(path: str | Path, exclusions: Exclusions | None = None, *, decoding: Decoding | None = None,
                 repaired: list[int] | None = None) -> dict[str, str]:
    """``queries.jsonl``: ``{"_id", "text"}`` per line."""
    exclusions = exclusions if exclusions is not None else Exclusions()
    return {str(r["_id"]): str(r.get("text") or "")
            for r in _jsonl(Path(path), "query", exclusions, decoding, repaired)}


def load_qrels(path: str | Path, exclusions: Exclusions | None = None) -> Qrels:
    """Judgments from a BEIR tsv (``query-id corpus-id score``, header optional) or TREC qrels
    (``qid iteration docid relevance``), told apart per line by the number of fields.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.txt"
    >>> _ = p.write_text("1 0 d1 2\\n1 0 d2 0\\n2 Q0 d1 1\\n")
    >>> load_qrels(p)
    {'1': {'d1': 2, 'd2': 0}, '2': {'d1': 1}}
    """
    path = Path(path)
    exclusions = exclusions if exclusions is not None else Exclusions()
    qrels: Qrels = {}
    bad = 0
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if lineno == 1 and parts[-1].lower() in ("score", "relevance", "rel", "label"):
                continue  # BEIR header
            try:
                if len(parts) == 3:
                    qid, did, rel = parts
                elif len(parts) == 4:
                    qid, _, did, rel = parts
                else:
                    raise ValueError(len(parts))
                qrels.setdefault(qid, {})[did] = int(rel)
            except ValueError:
                bad += 1
                exclusions.note("malformed_lines", f"{path.name}:{lineno}")
    if bad:
        _warn(f"{path}: {bad} malformed qrels line(s) skipped (expected 'qid docid score' or 'qid 0 docid rel')")
    return qrels


def find_qrels(dataset_dir: Path, split: str) -> Path:
    for name in (f"qrels/{split}.tsv", f"qrels/{split}.txt", f"qrels/{split}", f"qrels.{split}", "qrels.txt"):
        if (dataset_dir / name).is_file():
            return dataset_dir / name
    splits = sorted(p.stem for p in (dataset_dir / "qrels").glob("*.tsv")) if (dataset_dir / "qrels").is_dir() else []
    raise InputError(
        f"{dataset_dir} has no qrels for split {split!r}; expected qrels/{split}.tsv"
        + (f" (splits found: {', '.join(splits)})" if splits else "")
    )


def load_beir(
    dataset_dir: str | Path, split: str = "test", *, qrels_path: str | Path | None = None, encoding: str = "utf-8",
    decode_errors: str = "strict",
) -> Dataset:
    """Load a BEIR folder and reconcile its three files; corpus and queries are decoded as
    :class:`spladekit.readers.Decoding` (``encoding``, ``decode_errors``) says.

    Kept for evaluation: queries that have at least one relevant (score > 0) judgment on a document in the
    corpus. Judgments on unknown documents or queries are dropped; so are queries with no judgment at all or
    only non-relevant ones (every measure is undefined for them). Each kind is counted and warned about once.
    """
    root = Path(dataset_dir)
    for name in ("corpus.jsonl", "queries.jsonl"):
        if not (root / name).is_file():
            raise InputError(f"{root} is not a BEIR folder: {name} is missing (need corpus.jsonl, queries.jsonl, "
                             "qrels/<split>.tsv)")
    decoding = Decoding(encoding, decode_errors)  # type: ignore[arg-type]
    ex = Exclusions()
    repaired: list[int] = []
    corpus = load_corpus(root / "corpus.jsonl", ex, decoding=decoding, repaired=repaired)
    all_queries = load_queries(root / "queries.jsonl", ex, decoding=decoding, repaired=repaired)
    raw = load_qrels(Path(qrels_path) if qrels_path else find_qrels(root, split), ex)

    qrels: Qrels = {}
    for qid, docs in raw.items():
        if qid not in all_queries:
            ex.note("qrels_unknown_query", qid, len(docs))
            continue
        for did, rel in docs.items():
            if did in corpus:
                qrels.setdefault(qid, {})[did] = rel
            else:
                ex.note("qrels_unknown_doc", f"{qid}/{did}")
    queries: dict[str, str] = {}
    for qid, text in all_queries.items():
        judged = qrels.get(qid)
        if not judged:
            ex.note("queries_without_judgments", qid)
        elif not any(r > 0 for r in judged.values()):
            ex.note("queries_without_relevant", qid)
            del qrels[qid]
        else:
            queries[qid] = text
    # a query id that appears only in judgments on unknown documents leaves an empty entry behind
    qrels = {q: d for q, d in qrels.items() if q in queries}

    if ex.qrels_unknown_doc:
        _warn(f"{root}: {ex.qrels_unknown_doc} judgment(s) name a document missing from corpus.jsonl; dropped")
    if ex.qrels_unknown_query:
        _warn(f"{root}: {ex.qrels_unknown_query} judgment(s) name a query missing from queries.jsonl; dropped")
    if ex.queries_without_judgments:
        _warn(f"{root}: {ex.queries_without_judgments} of {len(all_queries)} queries have no judgments; "
              "not evaluated")
    if ex.queries_without_relevant:
        _warn(f"{root}: {ex.queries_without_relevant} queries have only non-relevant judgments; not evaluated")
    if not queries:
        raise InputError(f"{root}: no query has a relevant judgment on a corpus document; nothing to evaluate")
    return Dataset(root.name, corpus, queries, qrels, ex, root, decoding, len(repaired))
