"""Golden test: mappings/<engine>.json are what the code (and ``spladekit mappings``) generates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from spladekit import __version__, dialects
from spladekit.cli import main
from spladekit.mappings import mapping, mapping_json
from spladekit.schema import FEATURE_NAMES_SCHEME, SCHEMA, ModelIdentity

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("engine", dialects.names())
def test_golden_files_match_the_generator(engine: str) -> None:
    golden = (REPO / "mappings" / f"{engine}.json").read_text(encoding="utf-8")
    assert mapping_json(engine) == golden, f"regenerate: spladekit mappings --engine {engine} > mappings/{engine}.json"


@pytest.mark.parametrize("engine", dialects.names())
def test_cli_prints_the_golden_file(engine: str) -> None:
    result = CliRunner().invoke(main, ["mappings", "--engine", engine])
    assert result.exit_code == 0, result.output
    assert result.output == (REPO / "mappings" / f"{engine}.json").read_text(encoding="utf-8")


def test_field_types_per_engine() -> None:
    assert mapping("opensearch")["mappings"]["properties"]["splade"] == {"type": "rank_features"}
    assert mapping("elasticsearch")["mappings"]["properties"]["splade"] == {"type": "sparse_vector"}
    for engine in ("opensearch", "elasticsearch"):
        props = mapping(engine)["mappings"]["properties"]
        assert props["text"] == {"type": "text"} and props["title"] == {"type": "text"}


def test_meta_records_the_model_identity_and_version() -> None:
    meta = SCHEMA.meta(ModelIdentity("splade-tiny", "ab" * 32, max_length=512))
    assert meta == {
        "model": "splade-tiny",
        "model_sha256": "ab" * 32,
        "pooling": "max",
        "max_length": 512,
        "long_text": "truncate",
        "backend": "onnx",
        "dtype": "float32",
        "spladekit_version": __version__,
        "feature_names": FEATURE_NAMES_SCHEME,
    }
    body = mapping("opensearch", meta)
    assert json.loads(json.dumps(body))["mappings"]["_meta"] == meta
    assert ModelIdentity.from_meta(meta) == ModelIdentity("splade-tiny", "ab" * 32, max_length=512)


def test_shards_and_replicas() -> None:
    assert mapping("elasticsearch", shards=3, replicas=1)["settings"]["index"] == {"number_of_shards": 3,
                                                                                   "number_of_replicas": 1}
    # The default follows the cluster: 0 replicas on one data node, 1 on two or more.
    assert mapping("opensearch")["settings"]["index"] == {"number_of_shards": 1, "number_of_replicas": 0,
                                                          "auto_expand_replicas": "0-1"}
    with pytest.raises(ValueError, match="replicas >= 0"):
        mapping("opensearch", replicas="0-all")
    with pytest.raises(ValueError, match="shards must be >= 1"):
        mapping("opensearch", shards=0)


def test_unknown_engine() -> None:
    with pytest.raises(ValueError, match="valid engines: elasticsearch, opensearch"):
        mapping("solr")
    result = CliRunner().invoke(main, ["mappings", "--engine", "solr"])
    assert result.exit_code != 0 and "opensearch" in result.output
