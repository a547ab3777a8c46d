"""Building (or reusing) what an evaluation searches: encoded documents, the local index, an engine index.

Document vectors are encoded once per (corpus, model) and cached under ``$SPLADEKIT_CACHE/eval/`` as CSR
``.npy`` arrays; the local index and the engine index are both built from that one cache, so every backend
scores the very same vectors. A cache entry is keyed by the sha256 of ``corpus.jsonl`` and of the model's
weights, so an edited corpus or another model never reuses stale vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from spladekit import paths
from spladekit.evaluation.datasets import Dataset
from spladekit.vectors import SparseBatch, SparseVector

#: Documents encoded per call to the encoder (bounded memory, a progress bar that moves).
ENCODE_BATCH = 128


def p50(values: list[float]) -> float | None:
    return float(np.percentile(values, 50)) if values else None


def load_encoder(model: str):
    from spladekit.encoder.runtime import SpladeEncoder

    return SpladeEncoder.load(model)


def model_info(encoder) -> dict:
    info = dict(getattr(encoder, "info", {}) or {})
    return json.loads(json.dumps(info, default=str))


#: Encoder facts that describe where it runs, not what it computes; left out of the cache key.
_RUNTIME_KEYS = frozenset({"directory", "device", "providers", "threads"})


def model_key(info: Mapping) -> str:
    """A short key for what the encoder computes: its weights' sha256 prefix plus a hash of its export
    settings (a re-export with other settings or another export revision gets new vectors)."""
    export = {k: v for k, v in info.items() if k not in _RUNTIME_KEYS}
    digest = hashlib.sha256(json.dumps(export, sort_keys=True, default=str).encode()).hexdigest()
    weights = str(info.get("weights_sha256") or info.get("model_sha256") or "")
    return f"{weights[:8]}{digest[:8]}" if weights else digest[:16]


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


def encode_queries(encoder, queries: Mapping[str, str], *, progress: bool = False
                   ) -> tuple[dict[str, SparseVector], list[float]]:
    """Encode each query on its own (as a user's query would be) and time it."""
    from tqdm.auto import tqdm

    out: dict[str, SparseVector] = {}
    times: list[float] = []
    for qid, text in tqdm(queries.items(), desc="encode queries", unit="q", disable=not progress, leave=False):
        t0 = time.perf_counter()
        out[qid] = encoder.encode_queries([text])[0]
        times.append((time.perf_counter() - t0) * 1000.0)
    return out, times


class DocVectors:
    """The corpus encoded by one model, in corpus order; encoded on first use, cached on disk."""

    def __init__(self, encoder, dataset: Dataset, *, progress: bool = False, cache: Path | None = None,
                 rebuild: bool = False) -> None:
        self.encoder = encoder
        self.rebuild = rebuild
        self.dataset = dataset
        self.progress = progress
        self.ids = list(dataset.corpus)
        self.key = f"{dataset.name}-{corpus_key(dataset)}-{model_key(model_info(encoder))}"
        self.dir = (cache or paths.cache_dir() / "eval") / self.key
        self._batch: SparseBatch | None = None

    @property
    def batch(self) -> SparseBatch:
        if self._batch is None:
            self._batch = (None if self.rebuild else self._load()) or self._encode()
        return self._batch

    def vectors(self) -> list[SparseVector]:
        return list(self.batch)

    def mean_terms(self) -> float:
        return float(self.batch.nnz().mean()) if len(self.batch) else 0.0

    def _load(self) -> SparseBatch | None:
        try:
            ids = json.loads((self.dir / "doc_ids.json").read_text(encoding="utf-8"))
            if ids != self.ids:
                return None
            return SparseBatch(*(np.load(self.dir / f"docs.{n}.npy") for n in ("offsets", "ids", "weights")))
        except (OSError, ValueError):
            return None

    def _encode(self) -> SparseBatch:
        from tqdm.auto import tqdm

        texts = [self.dataset.corpus[d].full_text() for d in self.ids]
        vecs: list[SparseVector] = []
        with tqdm(total=len(texts), desc="encode corpus", unit="doc", disable=not self.progress, leave=False) as bar:
            for lo in range(0, len(texts), ENCODE_BATCH):
                chunk = texts[lo : lo + ENCODE_BATCH]
                vecs.extend(self.encoder.encode_documents(chunk))
                bar.update(len(chunk))
        batch = SparseBatch.from_vectors(vecs)
        tmp = self.dir.with_name(self.dir.name + f".tmp{id(self)}")
        tmp.mkdir(parents=True, exist_ok=True)
        for n in ("offsets", "ids", "weights"):
            np.save(tmp / f"docs.{n}.npy", getattr(batch, n))
        (tmp / "doc_ids.json").write_text(json.dumps(self.ids), encoding="utf-8")
        import shutil

        if self.rebuild and self.dir.exists():
            for f in tmp.iterdir():
                os.replace(f, self.dir / f.name)
            shutil.rmtree(tmp, ignore_errors=True)
        elif self.dir.exists():  # written meanwhile by another run: keep theirs, it holds the same vectors
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            self.dir.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(self.dir)
        return batch


def local_index(dataset: Dataset, docs: DocVectors, info: Mapping, *, mode: str = "lucene",
                rebuild: bool = False):
    """The corpus in a :class:`~spladekit.local.index.LocalIndex`, saved next to the cached vectors and
    reused while it holds the same corpus and model. Returns (index, cost)."""
    from spladekit.local.index import LocalIndex

    where = docs.dir / f"local-{mode}"
    index = None
    if where.exists() and not rebuild:
        try:
            index = LocalIndex.load(where)
            if index.meta.get("eval_key") != docs.key or len(index) != len(docs.ids):
                index = None
        except Exception:  # an unreadable or older index is simply rebuilt
            index = None
    if index is None:
        index = LocalIndex(mode=mode, meta={**_local_meta(info), "eval_key": docs.key})
        index.add(docs.ids, docs.vectors())
        if where.exists():
            import shutil

            shutil.rmtree(where)
        index.save(where)
        index = LocalIndex.load(where)
    from spladekit.evaluation.adapters import folder_bytes

    return index, {"mean_doc_terms": docs.mean_terms(),
                   "index_bytes_per_doc": folder_bytes(where) / max(len(docs.ids), 1)}


def _local_meta(info: Mapping) -> dict:
    return {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool)) or v is None}


def default_index_name(dataset: Dataset) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in dataset.name.lower())
    return f"spladekit-eval-{safe}"


def engine_index(url: str, name: str, **options):
    from spladekit.engines import connect

    return connect(url, name, **options)


def engine_kind(engine) -> str:
    for attr in ("engine", "kind", "flavor"):
        v = getattr(engine, attr, None)
        if isinstance(v, str):
            return v
    return "engine"


def ensure_engine_index(engine, dataset: Dataset, docs: DocVectors, info: Mapping, *, encoder=None,
                        rebuild: bool = False, progress: bool = False) -> dict:
    """Make ``engine``'s index hold this corpus encoded by this model; returns its cost figures.

    Reused when its ``_meta.eval_key`` names this corpus and model and it holds every document. Otherwise
    it is (re)built from the cached document vectors with ``create`` + ``bulk_index``, so the engine holds
    exactly the vectors the local index holds. An index that spladekit eval did not build is never deleted
    without ``rebuild``.
    """
    from spladekit.errors import EngineError, InputError
    from spladekit.mappings import index_meta

    n = len(docs.ids)
    current = engine.meta() if engine.exists() else None
    reusable = (current is not None and current.get("eval_key") == docs.key and not rebuild
                and engine.count() == n)
    if not reusable:
        if current is not None or engine.exists():
            if not rebuild and (current or {}).get("eval_key") is None:
                raise InputError(f"index {engine.index!r} exists and was not built by spladekit eval; pass another "
                                 "--index, or --rebuild to replace it")
            engine.delete_index()
        engine.create(index_meta(str(info.get("source_model") or info.get("model") or "unknown"),
                                 str(info.get("model_sha256") or info.get("weights_sha256") or ""),
                                 eval_key=docs.key, eval_dataset=dataset.name))
        names = engine.names or (encoder.names if encoder is not None else None)

        def sources():
            for did, vec in zip(docs.ids, docs.batch, strict=True):
                doc = dataset.corpus[did]
                yield did, engine.source(vec, names=names, text=doc.text, title=doc.title or None)

        from tqdm.auto import tqdm

        failed = [r for r in tqdm(engine.bulk_index(sources()), total=n, desc=f"index {engine.engine}",
                                  unit="doc", disable=not progress, leave=False) if not r.ok]
        engine.refresh()
        if failed:
            raise EngineError(f"{len(failed)} of {n} documents were rejected by {engine.engine} (first: "
                              f"{failed[0].id}: {failed[0].info.get('error')}); the evaluation needs all of them")
    from spladekit.evaluation.adapters import store_bytes

    size = store_bytes(engine)
    return {"mean_doc_terms": docs.mean_terms(), "index_bytes_per_doc": size / n if size is not None else None}
