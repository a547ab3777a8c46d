"""Index templates: the sparse field (its type from the engine's dialect), the text fields, ``_meta``, shards.

``mappings/opensearch.json`` and ``mappings/elasticsearch.json`` are :func:`mapping` printed by
``spladekit mappings --engine X``; a golden test keeps them equal. ``_meta`` is
:meth:`spladekit.schema.IndexSchema.meta`: which model made the vectors and how, so that a query or a later
ingest can check it uses the same (:func:`spladekit.schema.check_identity`).

>>> mapping("opensearch")["mappings"]["properties"]["splade"]
{'type': 'rank_features'}
>>> mapping("elasticsearch")["mappings"]["properties"]["splade"]
{'type': 'sparse_vector'}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from spladekit import dialects
from spladekit.dialects import EngineSpec
from spladekit.schema import SCHEMA


def mapping(engine: str | EngineSpec, meta: Mapping[str, Any] | None = None, *, shards: int = 1,
            replicas: int = 0) -> dict[str, Any]:
    """The index-creation body for ``engine``; ``meta`` becomes ``mappings._meta`` (default: the template's,
    which carries only the feature-name scheme; the model is known at ingest time)."""
    spec = dialects.get(engine)
    if shards < 1 or replicas < 0:
        raise ValueError(f"shards must be >= 1 and replicas >= 0, got shards={shards}, replicas={replicas}")
    return {
        "settings": {"index": {"number_of_shards": shards, "number_of_replicas": replicas}},
        "mappings": {
            "_meta": dict(meta) if meta is not None else SCHEMA.meta(),
            "properties": {
                SCHEMA.sparse: {"type": spec.sparse_type},
                SCHEMA.text: {"type": "text"},
                SCHEMA.title: {"type": "text"},
            },
        },
    }


def mapping_json(engine: str | EngineSpec, *, shards: int = 1, replicas: int = 0) -> str:
    """The template as the JSON text stored in ``mappings/<engine>.json`` (1 shard, 0 replicas)."""
    return json.dumps(mapping(engine, shards=shards, replicas=replicas), indent=2) + "\n"
