"""Building (or reusing) what an evaluation searches: the encoded corpus, the local index, an engine index.

The corpus is encoded once per (corpus, model identity) and cached under ``$SPLADEKIT_CACHE/eval/`` as CSR
``.npy`` arrays with the encoder's counts (truncated documents, tokens dropped, windows). Both indexes are
then built by :func:`spladekit.ingest.ingest` (the same reader, record policy, retries and dead letter as any
ingest) with a :class:`CachedEncoder` that hands ingest those cached vectors, so every backend holds the very
same vectors and the corpus is encoded once. A cache entry is keyed by the sha256 of ``corpus.jsonl`` and of
the encoder's :class:`~spladekit.schema.ModelIdentity`, so an edited corpus, another model or another length
never reuses stale vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from spladekit import paths
from spladekit.datasets import Dataset
from spladekit.encoder.runtime import EncodeStats
from spladekit.engines import EngineIndex
from spladekit.errors import InputError
from spladekit.ingest import IngestReport, ingest
from spladekit.local.index import LocalIndex
from spladekit.schema import ModelIdentity
from spladekit.vectors import Pruning, SparseBatch, SparseVector

#: Documents encoded per call to the encoder (bounded memory, a progress bar that moves).
ENCODE_BATCH = 128


def p50(values: Sequence[float]) -> float | None:
    return float(np.percentile(values, 50)) if len(values) else None


def identity_key(ident: ModelIdentity) -> str:
    """A short key for what the document encoder computes: its weights' hash prefix plus a hash of the identity,
    without what does not change the encoded corpus (pruning is applied at ingest, the query side at search)."""
    fields = {k: v for k, v in asdict(ident).items() if k not in ModelIdentity.OPTIONAL}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    return f"{(ident.weights_sha256 or '')[:8]}{digest[:8]}"


def corpus_key(dataset: Dataset) -> str:
    if dataset.path is not None and (dataset.path / "corpus.jsonl").is_file():
        h = hashlib.sha256()
        with (dataset.path / "corpus.jsonl").open("rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        return h.hexdigest()[:12]
    h = hashlib.sha256()
    for did, doc in dataset.corpus.items():
        h.update(f"{did}\t{doc.title}\t{doc.text}\n".encode())
    return h.hexdigest()[:12]


def encode_queries(encoder: Any, queries: Mapping[str, str], *, progress: bool = False
                   ) -> tuple[dict[str, SparseVector], list[float]]:
    """Encode each query on its own (as a user's query would be) and time it."""
    out: dict[str, SparseVector] = {}
    times: list[float] = []
    for qid, text in tqdm(queries.items(), desc="encode queries", unit="q", disable=not progress, leave=False):
        t0 = time.perf_counter()
        out[qid] = encoder.encode_queries([text])[0]
        times.append((time.perf_counter() - t0) * 1000.0)
    return out, times


class DocVectors:
    """The corpus encoded by one encoder, in corpus order; encoded on first use, cached on disk."""

    def __init__(self, encoder: Any, dataset: Dataset, *, progress: bool = False, cache: Path | None = None,
                 rebuild: bool = False) -> None:
        self.encoder = encoder
        self.rebuild = rebuild
        self.dataset = dataset
        self.progress = progress
        self.ids = list(dataset.corpus)
        dec = dataset.decoding
        # texts read another way are another corpus (the default adds nothing: keys of existing caches hold)
        how = "" if (dec.utf8 and dec.errors == "strict") else f"-{dec.encoding}-{dec.errors}"
        self.key = f"{dataset.name}-{corpus_key(dataset)}{how}-{identity_key(encoder.identity())}"
        self.dir = (cache or paths.cache_dir() / "eval") / self.key
        self._batch: SparseBatch | None = None
        self.stats = EncodeStats()

    @property
    def batch(self) -> SparseBatch:
        if self._batch is None:
            self._batch = (None if self.rebuild else self._load()) or self._encode()
        return self._batch

    def mean_terms(self) -> float:
        return float(self.batch.nnz().mean()) if len(self.batch) else 0.0

    def by_text(self) -> dict[str, SparseVector]:
        """Encoder text -> vector (what :class:`CachedEncoder` answers from)."""
        return {self.dataset.corpus[d].full_text(): v for d, v in zip(self.ids, self.batch, strict=True)}

    def _load(self) -> SparseBatch | None:
        try:
            ids = json.loads((self.dir / "doc_ids.json").read_text(encoding="utf-8"))
            if ids != self.ids:
                return None
            stats = json.loads((self.dir / "encode_stats.json").read_text(encoding="utf-8"))
            self.stats = EncodeStats(**{k: v for k, v in stats.items() if k in EncodeStats.__dataclass_fields__})
            return SparseBatch(*(np.load(self.dir / f"docs.{n}.npy") for n in ("offsets", "ids", "weights")))
        except (OSError, ValueError, TypeError):
            return None

    def _encode(self) -> SparseBatch:
        texts = [self.dataset.corpus[d].full_text() for d in self.ids]
        vecs: list[SparseVector] = []
        self.stats = EncodeStats()
        with tqdm(total=len(texts), desc="encode corpus", unit="doc", disable=not self.progress, leave=False) as bar:
            for lo in range(0, len(texts), ENCODE_BATCH):
                chunk = texts[lo : lo + ENCODE_BATCH]
                vecs.extend(self.encoder.encode_documents(chunk))
                self.stats.add(self.encoder.last_stats)
                bar.update(len(chunk))
        batch = SparseBatch.from_vectors(vecs)
        tmp = self.dir.with_name(self.dir.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        for n in ("offsets", "ids", "weights"):
            np.save(tmp / f"docs.{n}.npy", getattr(batch, n))
        (tmp / "doc_ids.json").write_text(json.dumps(self.ids), encoding="utf-8")
        (tmp / "encode_stats.json").write_text(json.dumps(self.stats.to_dict()), encoding="utf-8")
        if self.dir.exists():  # a rebuild, or written meanwhile by another run (same vectors): replace it
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, self.dir)
        return batch


class CachedEncoder:
    """An encoder for :func:`spladekit.ingest.ingest` that answers documents from :class:`DocVectors` (the
    corpus encoded once) and everything else from the real encoder it wraps."""

    def __init__(self, encoder: Any, docs: DocVectors) -> None:
        self.encoder = encoder
        self.names = encoder.names
        self._vectors = docs.by_text()
        self.last_stats = EncodeStats()

    def identity(self) -> ModelIdentity:
        return self.encoder.identity()

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        missing = [t for t in texts if t not in self._vectors]
        if missing:
            raise InputError(f"internal error: {len(missing)} document text(s) are not in the encoded corpus")
        return [self._vectors[t] for t in texts]

    def encode_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        return self.encoder.encode_queries(texts)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text.lower())


def prune_suffix(doc_prune: Pruning | None) -> str:
    """What names an index of pruned documents apart: ``""``, or ``-prune-top_k-64`` and the like."""
    return "" if doc_prune is None else f"-prune-{_slug(str(doc_prune))}"


def default_index_name(dataset: Dataset, doc_prune: Pruning | None = None) -> str:
    return f"spladekit-eval-{_slug(dataset.name)}{prune_suffix(doc_prune)}"


def _corpus_file(dataset: Dataset) -> Path:
    if dataset.path is None or not (dataset.path / "corpus.jsonl").is_file():
        raise InputError(f"dataset {dataset.name!r} has no corpus.jsonl on disk to index")
    return dataset.path / "corpus.jsonl"


def _ingest(docs: DocVectors, job: Path, doc_prune: Pruning | None = None, **target: Any) -> IngestReport:
    """Index the corpus with ingest (dead letter and checkpoint under ``job``), from the cached vectors, pruned by
    ``doc_prune`` (ingest's static pruning)."""
    dec = docs.dataset.decoding  # ingest reads corpus.jsonl as load_beir did, so the texts are the cached ones
    return ingest(_corpus_file(docs.dataset), encoder=CachedEncoder(docs.encoder, docs),
                  checkpoint=job / "checkpoint.json", doc_prune=doc_prune,
                  meta={"eval_key": docs.key + prune_suffix(doc_prune), "eval_dataset": docs.dataset.name},
                  progress=None, encoding=dec.encoding, decode_errors=dec.errors, **target)


def _mean_terms(docs: DocVectors, report: dict[str, Any]) -> float:
    """Terms per indexed document: of the encoded corpus, or what pruning kept of it."""
    pruning = report.get("pruning") or {}
    if pruning.get("terms_in"):
        return pruning["terms_kept"] / max(int(report.get("indexed", 0)), 1)
    return docs.mean_terms()


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def local_index(docs: DocVectors, *, mode: str = "lucene", rebuild: bool = False,
                doc_prune: Pruning | None = None) -> tuple[Path, dict[str, Any]]:
    """The corpus in a local index beside the cached vectors (its documents pruned by ``doc_prune``), reused
    while it holds this corpus, model and pruning. Returns (folder, cost and ingest figures)."""
    name = f"local-{mode}{prune_suffix(doc_prune)}"
    where = docs.dir / name
    report_path = docs.dir / f"{name}.ingest.json"
    fresh = rebuild or not where.exists() or not report_path.is_file()
    if not fresh:
        try:
            cached = LocalIndex.load(where)
            fresh = cached.meta.get("eval_key") != docs.key + prune_suffix(doc_prune) or not cached.has_text
        except Exception:  # noqa: BLE001 - an unreadable or older index is simply rebuilt
            fresh = True
    if fresh:
        shutil.rmtree(where, ignore_errors=True)
        report = _ingest(docs, docs.dir / f"{name}.job", doc_prune, local_dir=where, local_mode=mode)
        report_path.write_text(report.to_json(), encoding="utf-8")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    n = max(int(report.get("indexed", 0)), 1)
    return where, {"mean_doc_terms": _mean_terms(docs, report), "index_bytes_per_doc": folder_bytes(where) / n,
                   "not_indexed": report.get("failed", {})}


def engine_index(engine: EngineIndex, docs: DocVectors, *, rebuild: bool = False, doc_prune: Pruning | None = None,
                 **connect: Any) -> dict[str, Any]:
    """Make ``engine``'s index hold this corpus encoded by this model (pruned by ``doc_prune``); returns its cost
    and ingest figures.

    Reused when its ``_meta.eval_key`` names this corpus, model and pruning and it holds every indexed document.
    An index that spladekit eval did not build is never replaced without ``rebuild``.
    """
    current = engine.meta() if engine.exists() else None
    report_path = docs.dir / f"engine-{engine.engine}-{engine.index}.ingest.json"
    reusable = (current is not None and current.get("eval_key") == docs.key + prune_suffix(doc_prune) and not rebuild
                and report_path.is_file()
                and engine.count() == json.loads(report_path.read_text(encoding="utf-8")).get("indexed"))
    if not reusable:
        if engine.exists():
            if not rebuild and (current or {}).get("eval_key") is None:
                raise InputError(f"index {engine.index!r} exists and was not built by spladekit eval; pass another "
                                 "--index, or --rebuild to replace it")
            engine.delete_index()
        report = _ingest(docs, docs.dir / f"engine-{engine.engine}-{engine.index}.job", doc_prune,
                         engine_url=engine.url, index=engine.index, engine=engine.engine, **connect)
        report_path.write_text(report.to_json(), encoding="utf-8")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    n = max(int(report.get("indexed", 0)), 1)
    try:
        size: int | None = engine.store_bytes()
    except Exception:  # noqa: BLE001 - cost is informative only; never fail an evaluation for it
        size = None
    return {"mean_doc_terms": _mean_terms(docs, report),
            "index_bytes_per_doc": size / n if size is not None else None,
            "not_indexed": report.get("failed", {})}
