"""A tiny deterministic encoder for ingest unit tests (no model, no download)."""

from __future__ import annotations

import re
import zlib

from spladekit.features import FeatureNames
from spladekit.vectors import SparseVector

VOCAB = 512


class FakeEncoder:
    """Bag of hashed words: weight = 1 + log-ish count; deterministic, like a real encoder."""

    def __init__(self) -> None:
        self.names = FeatureNames([f"t{i}" for i in range(VOCAB)])
        self.info = {"source_model": "fake-splade", "weights_sha256": "f" * 64}
        self.calls: list[int] = []

    def encode_documents(self, texts: list[str]) -> list[SparseVector]:
        self.calls.append(len(texts))
        out = []
        for text in texts:
            weights: dict[int, float] = {}
            for word in re.findall(r"\w+", text.lower())[:64]:
                t = zlib.crc32(word.encode()) % VOCAB
                weights[t] = weights.get(t, 0.0) + 0.5
            out.append(SparseVector.from_dict(weights))
        return out
