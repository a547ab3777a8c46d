"""SparseVector: the one type that flows from the encoder to every backend, and the one pruning rule set.

Ids are vocabulary ids (int32, strictly increasing), weights are float32 and > 0. Nothing downstream of the
encoder needs tokens or text; ``features.py`` turns ids into engine feature names.

:class:`Pruning` (``top_k``, ``min_weight``, ``ratio``, ``mass``) is written once, here, and serves both sides:
queries before a search (:func:`spladekit.query.prune`) and documents at ingest (static pruning, ``ingest
--doc-prune``), so a rule means the same on either side and the two compose.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

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


#: The pruning rules, in the order they apply and are written (``Pruning.__str__``).
PRUNE_KEYS: tuple[str, ...] = ("top_k", "min_weight", "ratio", "mass")
_PRUNE_SYNTAX = "top_k:N, min_weight:W, ratio:R or mass:M (comma-separated to combine, e.g. mass:0.9,top_k:128)"


@dataclass(frozen=True)
class Pruning:
    """Which terms of a vector to keep; any combination of the four rules, applied in this order:

    - ``min_weight`` W: drop weights below W;
    - ``ratio`` R: drop weights below R x the vector's largest weight;
    - ``mass`` M: keep the fewest largest weights that add up to M x the sum of all its (positive) weights (a
      vector whose weight sits on a few terms keeps few, a flat one more);
    - ``top_k`` N: keep the N largest weights.

    Ties are broken by the lower id; non-positive weights are always dropped. On documents these are the static
    pruning rules of the SPLADE pruning study (``top_k``: document-centric; ``min_weight``: the same threshold on
    every posting); on queries, query pruning.

    >>> rule = Pruning.parse("mass:0.9,top_k:2")
    >>> str(rule), rule.apply(SparseVector.from_dict({1: 4.0, 2: 1.0, 3: 0.5, 4: 0.1})).to_dict()
    ('top_k:2,mass:0.9', {1: 4.0, 2: 1.0})
    >>> Pruning.parse("ratio:0.2").apply(SparseVector.from_dict({1: 4.0, 2: 1.0, 3: 0.1})).to_dict()
    {1: 4.0, 2: 1.0}
    """

    top_k: int | None = None
    min_weight: float | None = None
    ratio: float | None = None
    mass: float | None = None

    def __post_init__(self) -> None:
        if self.top_k is not None and (isinstance(self.top_k, bool) or int(self.top_k) != self.top_k
                                       or self.top_k < 1):
            raise ValueError(f"top_k must be an integer >= 1 or None, got {self.top_k}")
        if self.min_weight is not None and not self.min_weight >= 0:
            raise ValueError(f"min_weight must be >= 0 or None, got {self.min_weight}")
        if self.ratio is not None and not 0 <= self.ratio <= 1:
            raise ValueError(f"ratio must be in [0, 1] or None, got {self.ratio}")
        if self.mass is not None and not 0 < self.mass <= 1:
            raise ValueError(f"mass must be in (0, 1] or None, got {self.mass}")
        if self.top_k is not None:
            object.__setattr__(self, "top_k", int(self.top_k))
        for name in ("min_weight", "ratio", "mass"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))

    @classmethod
    def parse(cls, text: str) -> Pruning:
        """``"top_k:64"``, ``"mass:0.9,top_k:128"`` ... (the CLI's spelling) -> a Pruning."""
        values: dict[str, Any] = {}
        for part in (p.strip() for p in str(text).split(",")):
            key, sep, raw = part.partition(":")
            key = key.strip()
            if not sep or key not in PRUNE_KEYS or not raw.strip():
                raise ValueError(f"pruning rule {part!r} is not one of {_PRUNE_SYNTAX}")
            if key in values:
                raise ValueError(f"pruning rule {key!r} is given twice in {text!r}")
            try:
                values[key] = int(raw) if key == "top_k" else float(raw)
            except ValueError:
                kind = "an integer" if key == "top_k" else "a number"
                raise ValueError(f"pruning rule {part!r}: {key} needs {kind}; rules: {_PRUNE_SYNTAX}") from None
        return cls(**values)

    @classmethod
    def of(cls, spec: Pruning | str | Mapping[str, Any] | None) -> Pruning | None:
        """A Pruning from a rule string, a mapping of rules (None values ignored) or a Pruning; None (or no
        rule) stays None."""
        if spec is None or isinstance(spec, Pruning):
            rule = spec
        elif isinstance(spec, str):
            rule = cls.parse(spec) if spec.strip() else None
        elif isinstance(spec, Mapping):
            unknown = sorted(set(spec) - set(PRUNE_KEYS))
            if unknown:
                raise ValueError(f"unknown pruning option(s) {unknown}; valid: {', '.join(PRUNE_KEYS)}")
            rule = cls(**{k: v for k, v in spec.items() if v is not None})
        else:
            raise ValueError(f"a pruning rule is a string ({_PRUNE_SYNTAX}), a mapping or a Pruning; got "
                             f"{type(spec).__name__}")
        return rule if rule else None

    def __bool__(self) -> bool:
        return any(getattr(self, k) is not None for k in PRUNE_KEYS)

    def __str__(self) -> str:
        return ",".join(f"{k}:{getattr(self, k)}" for k in PRUNE_KEYS if getattr(self, k) is not None)

    def to_dict(self) -> dict[str, Any]:
        """The rules that are set (the keyword arguments of :func:`spladekit.query.prune`)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def apply(self, vec: SparseVector) -> SparseVector:
        """The terms of ``vec`` this rule keeps (still sorted by id)."""
        vec = vec.positive()
        if not len(vec):
            return vec
        total = float(vec.weights.sum(dtype=np.float64))
        keep = np.ones(len(vec), dtype=bool)
        if self.min_weight is not None:
            keep &= vec.weights >= np.float32(self.min_weight)
        if self.ratio is not None:
            keep &= vec.weights >= np.float32(self.ratio) * vec.weights.max()
        if not keep.all():
            vec = SparseVector(vec.ids[keep], vec.weights[keep])
        if self.mass is not None and len(vec):
            # Largest first, ties by id (as top_k): keep up to and including the weight that reaches the mass
            # of the whole vector (so a min_weight/ratio cut first can leave fewer terms, never more).
            order = np.lexsort((vec.ids, -vec.weights))
            reached = np.cumsum(vec.weights[order], dtype=np.float64) >= self.mass * total
            vec = vec.top_k(int(np.argmax(reached)) + 1 if reached.any() else len(vec))
        if self.top_k is not None:
            vec = vec.top_k(self.top_k)
        return vec
