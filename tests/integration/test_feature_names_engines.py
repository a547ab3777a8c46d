"""Every token of the default vocabulary is a feature name both engines accept, store and query.

All 30,522 tokens of splade-tiny's vocabulary are indexed as features (spread over several documents), read
back unchanged, and a sample (every escaped name plus random ones) is queried: each query finds exactly the
document holding the feature, with the reference score.
"""

from __future__ import annotations

import numpy as np
import pytest

from _support import skip_or_fail
from spladekit import lucene
from spladekit.engines import connect
from spladekit.features import FeatureNames
from spladekit.schema import SCHEMA, ModelIdentity
from spladekit.search import Searcher
from spladekit.vectors import SparseVector

pytestmark = pytest.mark.integration

N_DOCS = 8


@pytest.fixture(scope="module")
def names(ci: bool) -> FeatureNames:
    from spladekit import models
    from spladekit.errors import ModelError

    try:
        model_dir = models.resolve_model(models.DEFAULT_MODEL)
    except ModelError as exc:
        skip_or_fail(f"the default model is needed for the vocabulary: {exc}")
    return FeatureNames.from_tokenizer_file(model_dir / "tokenizer.json")


def _docs(n_tokens: int) -> tuple[list[str], list[SparseVector]]:
    # Token i goes to doc i % N_DOCS with a weight that differs between neighbours.
    ids = np.arange(n_tokens, dtype=np.int32)
    weights = (1.0 + (ids % 97) / 7.0).astype(np.float32)
    keys = [f"vocab-{d}" for d in range(N_DOCS)]
    return keys, [SparseVector(ids[d::N_DOCS], weights[d::N_DOCS]) for d in range(N_DOCS)]


def test_every_token_is_a_feature(engine, index_name, names: FeatureNames) -> None:
    assert len(names) == 30522
    keys, docs = _docs(len(names))
    idx = connect(engine.url, index_name, engine=engine.engine, names=names)
    idx.create(SCHEMA.meta(ModelIdentity("splade-tiny", "vocab-test")))
    results = list(idx.bulk_index(((k, idx.source(v)) for k, v in zip(keys, docs, strict=True)), chunk_size=2))
    assert [(r.id, r.info.get("error")) for r in results if not r.ok] == []
    idx.refresh()

    # Read back: the same names and the same float32 weights.
    stored = idx.get_vectors(keys)
    for key, doc in zip(keys, docs, strict=True):
        assert np.array_equal(stored[key].ids, doc.ids)
        assert np.array_equal(stored[key].weights, doc.weights)

    # Query: every escaped name (dots, %, ...) and a random sample, several per query, within the clause limit.
    escaped = [i for i, n in enumerate(names.names) if "%" in n]
    rng = np.random.default_rng(3)
    sample = sorted(set(escaped) | set(rng.choice(len(names), 300, replace=False).tolist()))
    searcher = Searcher(engine_index=idx, names=names)
    for token_id in sample[:: max(1, len(sample) // 200)] + escaped:
        doc = token_id % N_DOCS
        q = SparseVector.from_dict({token_id: 2.0})
        hits = searcher.search_vector(q, k=N_DOCS)
        expected = np.float32(2.0) * lucene.quantize(docs[doc].weights[docs[doc].ids == token_id])[0]
        assert [(h.id, h.score) for h in hits] == [(keys[doc], expected)], names.tokens[token_id]

    # One query with all escaped names at once: every document holding one of them is found.
    q = SparseVector(np.array(escaped), np.ones(len(escaped), np.float32))
    hits = searcher.search_vector(q, k=N_DOCS)
    assert {h.id for h in hits} == {keys[i % N_DOCS] for i in escaped}
