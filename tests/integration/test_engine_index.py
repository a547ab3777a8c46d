"""The EngineIndex protocol on both real engines: lifecycle, _meta, upserts, rejected documents, errors."""

from __future__ import annotations

import numpy as np
import pytest

from spladekit.engines import connect
from spladekit.errors import EngineError, IndexFormatError
from spladekit.features import FeatureNames
from spladekit.schema import SCHEMA, ModelIdentity, check_identity
from spladekit.search import Searcher
from spladekit.vectors import SparseVector

pytestmark = pytest.mark.integration

NAMES = FeatureNames(["[PAD]", "wing", "stall", ".", "x y"])


def test_index_lifecycle_and_meta(engine, index_name) -> None:
    idx = connect(engine.url, index_name, names=NAMES)  # engine auto-detected
    assert idx.engine == engine.engine
    assert not idx.exists() and idx.meta() is None
    meta = SCHEMA.meta(ModelIdentity("splade-tiny", "ab" * 32, max_length=512))
    assert idx.create(meta) is True
    assert idx.exists() and idx.meta() == meta
    assert idx.create(meta) is False  # it exists: its _meta is the caller's to check
    with pytest.raises(IndexFormatError, match="weights sha256 abababababab"):
        check_identity(idx.meta(), ModelIdentity("splade-tiny", "cd" * 32, max_length=512), "index")
    with pytest.raises(IndexFormatError, match="max_length=512"):
        check_identity(idx.meta(), ModelIdentity("splade-tiny", "ab" * 32, max_length=256), "index")
    assert idx.delete_index() is True and not idx.exists() and idx.delete_index() is False


def test_bulk_upserts_and_reports_rejections(engine, index_name) -> None:
    idx = connect(engine.url, index_name, engine=engine.engine, names=NAMES)
    idx.create(SCHEMA.meta(ModelIdentity("m", "0")))
    docs = [
        ("a", idx.source(SparseVector.from_dict({1: 0.5, 3: 1.25}), text="wings stall", title="A")),
        ("b", {"splade": {"wing": -1.0}}),
        ("c", idx.source(SparseVector.from_dict({4: 2.0}))),
        ("a", idx.source(SparseVector.from_dict({2: 3.0}))),  # same id again: overwrites
    ]
    results = list(idx.bulk_index(docs, chunk_size=2))
    assert [(r.ok, r.id) for r in results] == [(True, "a"), (False, "b"), (True, "c"), (True, "a")]
    assert "positive normal float" in results[1].reason and "splade" in results[1].reason
    idx.refresh()
    assert idx.count() == 2
    vectors = idx.get_vectors(["a", "c", "missing"])
    assert vectors["a"].to_dict() == {2: 3.0} and vectors["c"].to_dict() == {4: 2.0} and "missing" not in vectors
    hits = Searcher(engine_index=idx, names=NAMES).search_vector(SparseVector.from_dict({2: 1.0, 4: 1.0}), k=5)
    assert [h.id for h in hits] == ["a", "c"] and hits[0].title is None  # the upsert replaced the titled a
    assert all(h.score == float(np.float32(h.score)) for h in hits)  # the engine's float32, exactly


def test_search_on_missing_index_names_it(engine, index_name) -> None:
    idx = connect(engine.url, index_name, engine=engine.engine, names=NAMES)
    with pytest.raises(EngineError, match=rf"failed to search on index '{index_name}'.*index_not_found"):
        idx.search_body({"query": {"match_all": {}}})
    with pytest.raises(EngineError, match=rf"index '{index_name}' does not exist.*spladekit ingest"):
        Searcher(engine_index=idx, names=NAMES)
