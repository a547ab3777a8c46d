"""Golden test: mappings/<engine>.json are what the code (and ``spladekit mappings``) generates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from spladekit import __version__
from spladekit.cli import main
from spladekit.mappings import FEATURE_NAMES_SCHEME, index_meta, mapping, mapping_json

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
def test_golden_files_match_the_generator(engine: str) -> None:
    golden = (REPO / "mappings" / f"{engine}.json").read_text(encoding="utf-8")
    assert mapping_json(engine) == golden, f"regenerate: spladekit mappings --engine {engine} > mappings/{engine}.json"


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
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


def test_meta_records_model_hash_and_version() -> None:
    meta = index_meta("splade-tiny", "ab" * 32)
    assert meta == {
        "model": "splade-tiny",
        "model_sha256": "ab" * 32,
        "spladekit_version": __version__,
        "feature_names": FEATURE_NAMES_SCHEME,
    }
    body = mapping("opensearch", meta)
    assert json.loads(json.dumps(body))["mappings"]["_meta"] == meta


def test_unknown_engine() -> None:
    with pytest.raises(ValueError, match="valid engines: opensearch, elasticsearch"):
        mapping("solr")
    result = CliRunner().invoke(main, ["mappings", "--engine", "solr"])
    assert result.exit_code != 0 and "opensearch" in result.output
