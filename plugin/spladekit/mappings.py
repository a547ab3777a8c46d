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

#: Replicas that follow the cluster: 0 on one data node, 1 on two or more (the engines' ``auto_expand_replicas``).
AUTO_REPLICAS = "0-1"


def mapping(engine: str | EngineSpec, meta: Mapping[str, Any] | None = None, *, shards: int = 1,
            replicas: int | str = AUTO_REPLICAS) -> dict[str, Any]:
    """The index-creation body for ``engine``; ``meta`` becomes ``mappings._meta`` (default: the template's,
    which carries only the feature-name scheme; the model is known at ingest time). ``replicas``: a number, or
    :data:`AUTO_REPLICAS` for as many as the cluster's data nodes allow, up to 1 (the engine adjusts it as nodes
    come and go, and reading the cluster's size needs no privilege).

    >>> mapping("opensearch", shards=3, replicas=AUTO_REPLICAS)["settings"]
    {'index': {'number_of_shards': 3, 'number_of_replicas': 0, 'auto_expand_replicas': '0-1'}}
    """
    spec = dialects.get(engine)
    auto = replicas == AUTO_REPLICAS
    if shards < 1 or (not auto and (not isinstance(replicas, int) or replicas < 0)):
        raise ValueError(f"shards must be >= 1 and replicas >= 0 (or {AUTO_REPLICAS!r}), got shards={shards}, "
                         f"replicas={replicas!r}")
    index: dict[str, Any] = {"number_of_shards": shards, "number_of_replicas": 0 if auto else replicas}
    if auto:
        index["auto_expand_replicas"] = AUTO_REPLICAS
    return {
        "settings": {"index": index},
        "mappings": {
            "_meta": dict(meta) if meta is not None else SCHEMA.meta(),
            "properties": {
                SCHEMA.sparse: {"type": spec.sparse_type},
                SCHEMA.text: {"type": "text"},
                SCHEMA.title: {"type": "text"},
            },
        },
    }


def mapping_json(engine: str | EngineSpec, *, shards: int = 1, replicas: int | str = AUTO_REPLICAS) -> str:
    """The template as the JSON text stored in ``mappings/<engine>.json`` (1 shard, replicas 0-1: what ingest
    creates by default)."""
    return json.dumps(mapping(engine, shards=shards, replicas=replicas), indent=2) + "\n"
