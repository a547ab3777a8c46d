"""The one result type of every search (engine or local, SPLADE, BM25 or hybrid), and per-token explanations.

>>> from spladekit.features import FeatureNames
>>> names = FeatureNames(["[PAD]", "wing", "stall", "lift"])
>>> q, d = SparseVector.from_dict({1: 2.0, 2: 0.5}), SparseVector.from_dict({1: 0.25, 2: 1.0, 3: 4.0})
>>> [(c.token, c.contribution) for c in explain(q, d, names)]
[('wing', 0.5), ('stall', 0.5)]
>>> Hit("d1", 1.0, 1).to_dict()
{'id': 'd1', 'score': 1.0, 'rank': 1, 'title': None, 'text': None, 'components': {}}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from spladekit.features import FeatureNames
from spladekit.vectors import SparseVector


class Contribution(NamedTuple):
    """One shared term of a query and a document: ``contribution = query_weight * doc_weight``."""

    token: str
    token_id: int
    query_weight: float
    doc_weight: float
    contribution: float


@dataclass
class Hit:
    """One search result. ``score`` is the float32 the backend computed (as a Python float); ``components``
    holds what a hybrid score was fused from (``splade``, ``bm25`` and their ranks); ``explanation`` the top
    contributing query tokens when asked for."""

    id: str
    score: float
    rank: int
    title: str | None = None
    text: str | None = None
    components: dict[str, float | int | None] = field(default_factory=dict)
    explanation: list[Contribution] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.explanation is None:
            out.pop("explanation")
        else:
            out["explanation"] = [c._asdict() for c in self.explanation]
        return out


def explain(query: SparseVector, doc: SparseVector, names: FeatureNames,
            top_k: int | None = None) -> list[Contribution]:
    """Per-token contributions to ``query.dot(doc)``, largest first (ties by id); without ``top_k`` they sum
    to it. ``doc`` holds the weights the backend scores with (FeatureField-decoded on an engine)."""
    common, qi, di = np.intersect1d(query.ids, doc.ids, assume_unique=True, return_indices=True)
    qw = query.weights[qi]
    dw = doc.weights[di]
    contrib = np.multiply(qw, dw, dtype=np.float32)  # the engines' clause score: float32(q * d)
    order = np.lexsort((common, -contrib))
    if top_k is not None:
        order = order[:top_k]
    tokens = names.tokens
    return [Contribution(tokens[int(common[k])], int(common[k]), float(qw[k]), float(dw[k]), float(contrib[k]))
            for k in order]


def ids_scores(hits: Sequence[Hit]) -> tuple[list[str], list[float]]:
    """(ids, scores) of a hit list, for runs and comparisons."""
    return [h.id for h in hits], [h.score for h in hits]
