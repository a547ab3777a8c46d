"""SparseVector: the one type that flows from the encoder to every backend.

Ids are vocabulary ids (int32, strictly increasing), weights are float32 and > 0. Nothing downstream of the
encoder needs tokens or text; ``features.py`` turns ids into engine feature names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class SparseVector:
    """A sparse vector over a vocabulary: sorted unique int32 ids and their float32 weights.

    >>> v = SparseVector.from_dict({7: 0.5, 2: 1.25})
    >>> v.ids.tolist(), v.weights.tolist()
    ([2, 7], [1.25, 0.5])
    >>> v.dot(SparseVector.from_dict({7: 2.0}))
    1.0
    """

    ids: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        ids = np.ascontiguousarray(self.ids, dtype=np.int32).reshape(-1)
        weights = np.ascontiguousarray(self.weights, dtype=np.float32).reshape(-1)
        if ids.shape != weights.shape:
            raise ValueError(f"ids and weights differ in length: {ids.shape[0]} != {weights.shape[0]}")
        if ids.size > 1 and not np.all(ids[1:] > ids[:-1]):
            order = np.argsort(ids, kind="stable")
            ids, weights = ids[order], weights[order]
            if np.any(ids[1:] == ids[:-1]):
                raise ValueError("duplicate ids in a SparseVector; merge them (e.g. with max) first")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "weights", weights)

    @classmethod
    def from_dict(cls, mapping: Mapping[int, float]) -> SparseVector:
        ids = np.fromiter(mapping.keys(), dtype=np.int32, count=len(mapping))
        weights = np.fromiter(mapping.values(), dtype=np.float32, count=len(mapping))
        return cls(ids, weights)

    @classmethod
    def from_dense(cls, dense: np.ndarray) -> SparseVector:
        dense = np.asarray(dense, dtype=np.float32).reshape(-1)
        ids = np.flatnonzero(dense > 0).astype(np.int32)
        return cls(ids, dense[ids])

    @classmethod
    def empty(cls) -> SparseVector:
        return cls(np.empty(0, np.int32), np.empty(0, np.float32))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def __repr__(self) -> str:
        return f"SparseVector(nnz={len(self)})"

    def to_dict(self) -> dict[int, float]:
        return dict(zip(self.ids.tolist(), self.weights.tolist(), strict=True))

    def to_dense(self, dim: int) -> np.ndarray:
        out = np.zeros(dim, dtype=np.float32)
        out[self.ids] = self.weights
        return out

    def top_k(self, k: int) -> SparseVector:
        """The k largest weights (ties broken by lower id), still sorted by id."""
        if k >= len(self):
            return self
        order = np.lexsort((self.ids, -self.weights))[:k]
        return SparseVector(self.ids[order], self.weights[order])

    def positive(self) -> SparseVector:
        """Only the entries an engine accepts: finite and >= the smallest normal float32."""
        keep = np.isfinite(self.weights) & (self.weights >= np.finfo(np.float32).tiny)
        return self if keep.all() else SparseVector(self.ids[keep], self.weights[keep])

    def dot(self, other: SparseVector) -> float:
        common, a, b = np.intersect1d(self.ids, other.ids, assume_unique=True, return_indices=True)
        return float(np.dot(self.weights[a].astype(np.float64), other.weights[b].astype(np.float64)))


class SparseBatch(Sequence[SparseVector]):
    """Many SparseVectors in CSR form (offsets, ids, weights): cheap to build, slice and save."""

    def __init__(self, offsets: np.ndarray, ids: np.ndarray, weights: np.ndarray) -> None:
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        self.ids = np.ascontiguousarray(ids, dtype=np.int32)
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        if self.offsets.ndim != 1 or self.offsets.size == 0 or self.offsets[0] != 0:
            raise ValueError("offsets must be a 1-d array starting at 0")
        if self.offsets[-1] != self.ids.size or self.ids.size != self.weights.size:
            raise ValueError("offsets[-1], len(ids) and len(weights) must agree")

    @classmethod
    def from_vectors(cls, vectors: Sequence[SparseVector]) -> SparseBatch:
        lengths = np.fromiter((len(v) for v in vectors), dtype=np.int64, count=len(vectors))
        offsets = np.zeros(len(vectors) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if len(vectors) == 0:
            return cls(offsets, np.empty(0, np.int32), np.empty(0, np.float32))
        return cls(offsets, np.concatenate([v.ids for v in vectors]),
                   np.concatenate([v.weights for v in vectors]))

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return SparseVector(self.ids[lo:hi], self.weights[lo:hi])

    def __iter__(self) -> Iterator[SparseVector]:
        for i in range(len(self)):
            yield self[i]

    def nnz(self) -> np.ndarray:
        return np.diff(self.offsets)
