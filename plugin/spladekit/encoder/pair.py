"""Two encoders as one: documents by the document encoder, queries by the query encoder.

:class:`PairEncoder` is what ``SpladeEncoder.load`` returns for a model card (:mod:`spladekit.encoder.card`) or
for ``SpladeEncoder.load(doc_model=..., query_model=...)``: a separate (smaller) query encoder as in Efficient
SPLADE, or an inference-free table (:class:`spladekit.encoder.static.StaticQueryEncoder`). Both sides must share
one vocabulary (the same feature names), since their vectors meet in one dot product.

Its :meth:`identity` is the document side's (which is what an index's vectors depend on) plus the query side
(``query_model``, ``query_sha256``), so an index records both and search refuses another query encoder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spladekit.errors import ModelError
from spladekit.features import FeatureNames
from spladekit.schema import ModelIdentity
from spladekit.vectors import SparseVector


class PairEncoder:
    """``documents`` encodes documents (and is what ingest tokenizes with), ``queries`` encodes queries."""

    def __init__(self, documents: Any, queries: Any, *, name: str | None = None) -> None:
        if documents.names.tokens != queries.names.tokens:
            raise ModelError("the query encoder and the document encoder have different vocabularies; their vectors "
                             "cannot be scored against each other: pair models that share one tokenizer")
        self.documents = documents
        self.queries = queries
        self.name = name

    # what the rest of spladekit reads of an encoder: the document side's facts
    @property
    def names(self) -> FeatureNames:
        return self.documents.names

    @property
    def vocab_size(self) -> int:
        return self.documents.vocab_size

    @property
    def max_length(self) -> int:
        return self.documents.max_length

    @property
    def long_text(self) -> str:
        return self.documents.long_text

    @property
    def tokenizer_file(self) -> Path:
        return self.documents.tokenizer_file

    @property
    def last_stats(self) -> Any:
        return self.documents.last_stats

    @property
    def info(self) -> dict[str, Any]:
        return {**self.documents.info, "card": self.name, "query_encoder": dict(getattr(self.queries, "info", {}))}

    def identity(self) -> ModelIdentity:
        doc = self.documents.identity()
        query = self.queries.identity()
        if query.query_model is not None:  # an inference-free table names itself as the query side
            query_model, query_sha = query.query_model, query.query_sha256
        else:
            query_model, query_sha = query.model, query.weights_sha256
        return dataclasses.replace(doc, model=self.name or doc.model, query_model=query_model,
                                   query_sha256=query_sha)

    # encoding
    def encode_documents(self, texts: Sequence[str], **options: Any) -> list[SparseVector]:
        return self.documents.encode_documents(texts, **options)

    def tokenize(self, texts: Sequence[str], long_text: str | None = None) -> Any:
        return self.documents.tokenize(texts, long_text)

    def encode_prepared(self, prepared: Any, **options: Any) -> list[SparseVector]:
        return self.documents.encode_prepared(prepared, **options)

    def encode_queries(self, texts: Sequence[str], **options: Any) -> list[SparseVector]:
        return self.queries.encode_queries(texts, **options)

    def decode(self, vec: SparseVector, top_k: int | None = None) -> list[tuple[str, float]]:
        return self.documents.decode(vec, top_k)

    def __repr__(self) -> str:
        return f"PairEncoder(documents={self.documents!r}, queries={self.queries!r})"
