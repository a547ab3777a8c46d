"""Inference-free queries: the query vector is the tokenizer's ids weighted by a table; no transformer runs.

The query side of sentence-transformers' inference-free SPLADE (``SparseStaticEmbedding``) and of OpenSearch's
inference-free sparse models: a query is tokenized (no special tokens), each distinct token counts once, and its
weight is ``table[token]``. The table is either

- **learned** with the document encoder (``spladekit train --inference-free``), shipped beside it as
  ``idf.json`` (``{token: weight}``, the file OpenSearch's models and ``SparseStaticEmbedding.from_json`` read),
  named by the model card (:mod:`spladekit.encoder.card`); or
- **IDF from the index** when the model ships none: ``log(1 + (N - df + 0.5) / (df + 0.5))`` (BM25's IDF, always
  positive) over the index's own document frequencies (the postings per term of the local index; on an engine,
  counted per query token with one aggregation request and cached, see :mod:`spladekit.search`).

Tokens no document holds (df 0) and non-positive learned weights are left out: an engine takes no negative
boost. Encoding a query costs one tokenizer call and a table lookup (microseconds).

>>> [round(float(w), 4) for w in idf_weights(np.array([0, 1, 10]), n_docs=10)]
[0.0, 1.9924, 0.0465]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from spladekit.errors import InputError, ModelError
from spladekit.features import FeatureNames
from spladekit.schema import ModelIdentity
from spladekit.vectors import SparseVector

#: The learned table's file in a model folder: ``{token: weight}`` (OpenSearch's and sentence-transformers' name).
IDF_JSON = "idf.json"
#: The query tokens an inference-free query keeps: the tokenizer's own limit, as sentence-transformers truncates.
DEFAULT_MAX_TOKENS = 512


def idf_weights(df: np.ndarray, n_docs: int, vocab_size: int | None = None) -> np.ndarray:
    """float32 IDF per token id: ``log(1 + (N - df + 0.5) / (df + 0.5))``, 0 where no document holds the token.
    ``vocab_size`` pads ``df`` (ids past its end have df 0)."""
    df = np.asarray(df, dtype=np.float64)
    if vocab_size is not None and df.shape[0] < vocab_size:
        df = np.concatenate([df, np.zeros(vocab_size - df.shape[0])])
    out = np.log1p((float(n_docs) - df + 0.5) / (df + 0.5))
    out[df <= 0] = 0.0
    return out.astype(np.float32)


def table_sha256(weights: np.ndarray) -> str:
    """The identity of a weight table: sha256 of its float32 bytes."""
    return hashlib.sha256(np.ascontiguousarray(weights, dtype=np.float32).tobytes()).hexdigest()


class StaticQueryEncoder:
    """Queries -> :class:`SparseVector` by a weight table over the tokenizer's vocabulary (see the module).

    ``weights``: float32, one per vocabulary id; NaN marks an id not known yet, which ``fill(ids) -> weights`` is
    asked for on first use (the engine's document frequencies) and then kept. ``doc_identity``: the identity of
    the document vectors this table scores against (the index's or the document encoder's); ``source`` names the
    table (``idf.json`` of a model, or ``idf:<index>``).
    """

    backend = "static"

    def __init__(self, tokenizer_file: str | Path, weights: np.ndarray, *, source: str,
                 doc_identity: ModelIdentity | None = None,
                 fill: Callable[[np.ndarray], np.ndarray] | None = None,
                 max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        self.tokenizer_file = Path(tokenizer_file)
        if not self.tokenizer_file.is_file():
            raise ModelError(f"{self.tokenizer_file} does not exist; an inference-free query encoder needs the "
                             "document model's tokenizer.json")
        self.names = FeatureNames.from_tokenizer_file(self.tokenizer_file)
        weights = np.asarray(weights, dtype=np.float32).reshape(-1)
        if weights.shape[0] != len(self.names):
            raise ModelError(f"the query weight table has {weights.shape[0]} entries for a vocabulary of "
                             f"{len(self.names)} tokens; it was made for another tokenizer")
        self.weights = weights.copy()
        self.source = source
        self.doc_identity = doc_identity
        self._fill = fill
        self._lock = threading.Lock()
        self._tokenizer = Tokenizer.from_file(str(self.tokenizer_file))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(int(max_tokens))
        self.vocab_size = len(self.names)
        self.max_length = int(max_tokens)
        self.info: dict[str, Any] = {"backend": self.backend, "source": source, "tokenizer": str(self.tokenizer_file)}

    # ------------------------------------------------------------------------------------------- constructors
    @classmethod
    def from_idf_json(cls, path: str | Path, tokenizer_file: str | Path, **options: Any) -> StaticQueryEncoder:
        """The table in ``idf.json`` (``{token: weight}``; tokens it lacks weigh 0)."""
        path = Path(path)
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the query weight table {path}: {exc}") from None
        if not isinstance(table, dict) or not all(isinstance(v, int | float) for v in table.values()):
            raise ModelError(f"{path} is not a {{token: weight}} JSON object")
        names = FeatureNames.from_tokenizer_file(tokenizer_file)
        index = {t: i for i, t in enumerate(names.tokens)}
        unknown = [t for t in table if t not in index]
        if unknown:
            raise ModelError(f"{path} has {len(unknown)} tokens the tokenizer lacks (e.g. {unknown[:3]}); it was "
                             "made for another vocabulary")
        weights = np.zeros(len(names), np.float32)
        for token, w in table.items():
            weights[index[token]] = w
        options.setdefault("source", str(path))
        return cls(tokenizer_file, weights, **options)

    @classmethod
    def from_document_frequencies(cls, df: np.ndarray, n_docs: int, tokenizer_file: str | Path,
                                  **options: Any) -> StaticQueryEncoder:
        """IDF weights from an index's document frequencies (``df[i]``: documents holding id ``i``)."""
        names = FeatureNames.from_tokenizer_file(tokenizer_file)
        return cls(tokenizer_file, idf_weights(df, n_docs, len(names)), **options)

    def save_idf_json(self, path: str | Path) -> Path:
        """Write the table as ``idf.json`` (non-zero entries only)."""
        known = np.flatnonzero(np.nan_to_num(self.weights) != 0)
        table = {self.names.tokens[i]: float(self.weights[i]) for i in known.tolist()}
        path = Path(path)
        path.write_text(json.dumps(table, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    # ------------------------------------------------------------------------------------------- encoding
    def encode_queries(self, texts: Sequence[str], **_: Any) -> list[SparseVector]:
        """One vector per query: its distinct tokens, each with the table's weight (non-positive ones left out)."""
        if isinstance(texts, str | bytes):
            raise InputError("pass a list of texts, not a single string: encode_queries([text])")
        encodings = (self._tokenizer.encode_batch(list(texts), add_special_tokens=False) if len(texts) != 1
                     else [self._tokenizer.encode(texts[0], add_special_tokens=False)])
        return [self._vector(np.unique(np.asarray(e.ids, dtype=np.int32))) for e in encodings]

    def _vector(self, ids: np.ndarray) -> SparseVector:
        weights = self.weights[ids]
        if self._fill is not None:
            missing = np.isnan(weights)
            if missing.any():
                with self._lock:
                    self.weights[ids[missing]] = np.asarray(self._fill(ids[missing]), dtype=np.float32)
                weights = self.weights[ids]
        keep = weights > 0
        return SparseVector(ids[keep], weights[keep])

    def encode_documents(self, texts: Sequence[str], **_: Any) -> list[SparseVector]:
        raise ModelError("an inference-free query encoder encodes queries only; documents need the document "
                         "encoder (the model card's document model)")

    def decode(self, vec: SparseVector, top_k: int | None = None) -> list[tuple[str, float]]:
        """``[(token, weight)]`` by decreasing weight (ties by id), at most ``top_k``."""
        if top_k is not None:
            vec = vec.top_k(top_k)
        order = np.lexsort((vec.ids, -vec.weights))
        return [(self.names.tokens[int(vec.ids[k])], float(vec.weights[k])) for k in order]

    def identity(self) -> ModelIdentity:
        """The document side's identity, with this table as the query encoder (a table filled from an engine's
        statistics has no fixed hash)."""
        base = self.doc_identity or ModelIdentity(model=str(self.tokenizer_file.parent), weights_sha256=None)
        sha = table_sha256(self.weights) if self._fill is None else None
        return dataclasses.replace(base, query_model=self.source, query_sha256=sha)

    def __repr__(self) -> str:
        return f"StaticQueryEncoder({self.source!r}, vocab={self.vocab_size})"
