"""spladekit: SPLADE learned-sparse retrieval for OpenSearch, Elasticsearch and an embedded local index.

Public API (imported lazily so that ``import spladekit`` stays light and never pulls torch or an engine
client)::

    from spladekit import SpladeEncoder, SparseVector, LocalIndex, connect, to_query, export_vectors
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "SparseVector": "spladekit.vectors",
    "SparseBatch": "spladekit.vectors",
    "SpladeEncoder": "spladekit.encoder.runtime",
    "LocalIndex": "spladekit.local.index",
    "connect": "spladekit.engines",
    "to_query": "spladekit.query",
    "export_vectors": "spladekit.exchange",
    "read_vectors": "spladekit.exchange",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'spladekit' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
