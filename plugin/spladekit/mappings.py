"""Index templates for the engines: the sparse field, the text fields and the ``_meta`` spladekit records.

``mappings/opensearch.json`` and ``mappings/elasticsearch.json`` are :func:`mapping` printed by
``spladekit mappings --engine X``; a golden test keeps them equal. An index's ``_meta`` records what wrote
it (model name, weights sha256, spladekit version, feature-name scheme) so a query can check it uses the
same model.

>>> mapping("opensearch")["mappings"]["properties"]["splade"]
{'type': 'rank_features'}
>>> mapping("elasticsearch")["mappings"]["properties"]["splade"]
{'type': 'sparse_vector'}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from spladekit import __version__

MAPPING_ENGINES: tuple[str, ...] = ("opensearch", "elasticsearch")
#: How token ids became feature names (spladekit.features): bump when that scheme changes.
FEATURE_NAMES_SCHEME = "escaped-token-v1"
SPARSE_FIELD = "splade"

# rank_features: OpenSearch's mapper-extras type, one Lucene FeatureField per feature.
# sparse_vector: Elasticsearch 8.11+ server-core type, also FeatureField underneath.
_SPARSE_TYPE = {"opensearch": "rank_features", "elasticsearch": "sparse_vector"}


def index_meta(model: str, model_sha256: str, **extra: Any) -> dict[str, Any]:
    """The ``_meta`` an index gets: model, its weights hash, spladekit version, feature-name scheme.

    >>> sorted(index_meta("splade-tiny", "ab12"))
    ['feature_names', 'model', 'model_sha256', 'spladekit_version']
    """
    return {
        "model": model,
        "model_sha256": model_sha256,
        "spladekit_version": __version__,
        "feature_names": FEATURE_NAMES_SCHEME,
        **extra,
    }


def mapping(engine: str, meta: Mapping[str, Any] | None = None, *, shards: int = 1, replicas: int = 0) -> dict:
    """The index-creation body for ``engine``; ``meta`` (see :func:`index_meta`) becomes ``mappings._meta``.

    Without ``meta`` the template carries only the feature-name scheme (the model is known at ingest time).
    """
    if engine not in MAPPING_ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid engines: {', '.join(MAPPING_ENGINES)}")
    return {
        "settings": {"index": {"number_of_shards": shards, "number_of_replicas": replicas}},
        "mappings": {
            "_meta": dict(meta) if meta is not None else {"feature_names": FEATURE_NAMES_SCHEME},
            "properties": {
                SPARSE_FIELD: {"type": _SPARSE_TYPE[engine]},
                "text": {"type": "text"},
                "title": {"type": "text"},
            },
        },
    }


def mapping_json(engine: str) -> str:
    """The template as the JSON text stored in ``mappings/<engine>.json``."""
    return json.dumps(mapping(engine), indent=2) + "\n"
