"""The real default model: the ONNX encoder against the torch reference on real queries and long documents.

Identical non-zero term sets and max abs difference <= 1e-4, over 350 texts from datasets/
(the 150 queries also one at a time, through the single-text query graph).
"""

from __future__ import annotations

import json
import os
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from _support import need, skip_or_fail

pytestmark = pytest.mark.integration

QUERIES = {"cranfield": 100, "npl": 50}
DOCUMENTS = {"cranfield": 100, "npl": 50, "dbpedia-entity-sub5k": 50}


def _texts(path, n, with_title):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in islice(f, n):
            row = json.loads(line)
            out.append(f"{row.get('title', '')} {row['text']}".strip() if with_title else row["text"])
    return out


@pytest.fixture(scope="module")
def default_model(ci):
    need("torch", "the torch reference needs the 'export' extra")
    os.environ.setdefault("SPLADEKIT_CACHE", str(Path(__file__).resolve().parents[2] / ".cache"))
    from spladekit import models
    from spladekit.encoder.store import onnx_dir
    from spladekit.errors import ModelError

    try:
        return models.resolve_model(models.DEFAULT_MODEL), onnx_dir(models.DEFAULT_MODEL)
    except ModelError as exc:
        skip_or_fail(f"the default model is not available: {exc}")


def test_onnx_matches_torch_on_real_texts(default_model, datasets_dir):
    from spladekit.encoder.pooling import TorchSpladeEncoder
    from spladekit.encoder.runtime import SpladeEncoder

    model_dir, onnx_dir = default_model
    queries = [t for name, n in QUERIES.items() for t in _texts(datasets_dir / name / "queries.jsonl", n, False)]
    docs = [t for name, n in DOCUMENTS.items() for t in _texts(datasets_dir / name / "corpus.jsonl", n, True)]
    assert len(queries) + len(docs) >= 300

    encoder = SpladeEncoder.load(onnx_dir)
    reference = TorchSpladeEncoder(model_dir, max_length=encoder.max_length)
    got = encoder.encode_queries(queries) + encoder.encode_documents(docs)
    assert encoder.last_stats.truncated > 0, "no document reached max_length: the long-text path went untested"
    # One query at a time runs the single-text query graph: checked on the same queries.
    got_alone = []
    for text in queries:
        got_alone += encoder.encode_queries([text])
        assert encoder.last_stats.graph == "query", f"{text!r} did not run the query graph"
    got += got_alone
    expected = reference.encode(queries + docs)
    expected = np.concatenate([expected, expected[:len(queries)]])

    worst = 0.0
    for i, (vec, dense) in enumerate(zip(got, expected, strict=True)):
        want = np.flatnonzero(dense > 0)
        assert np.array_equal(vec.ids, want), f"text {i}: term sets differ ({len(vec)} vs {len(want)} terms)"
        worst = max(worst, float(np.abs(vec.weights - dense[want]).max(initial=0.0)))
    assert worst <= 1e-4, f"max abs difference {worst:.3g} > 1e-4"


@pytest.mark.parametrize("long_text", ["truncate", "split"])
def test_the_torch_backend_equals_the_onnx_backend_on_the_default_model(default_model, datasets_dir, long_text):
    """The product's torch backend (float32, CPU) on splade-tiny: the ONNX vectors, term for term, within 1e-4."""
    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.encoder.torch_backend import TorchEncoder

    _, onnx_dir = default_model
    queries = _texts(datasets_dir / "cranfield" / "queries.jsonl", 50, False)
    docs = [t for name, n in DOCUMENTS.items() for t in _texts(datasets_dir / name / "corpus.jsonl", n, True)]
    onnx = SpladeEncoder.load(onnx_dir, long_text=long_text, max_length=128)  # 128: many documents are longer
    torch_enc = SpladeEncoder.load("splade-tiny", backend="torch", long_text=long_text, max_length=128)
    assert isinstance(torch_enc, TorchEncoder) and torch_enc.names.names == onnx.names.names
    want = onnx.encode_documents(docs)
    long_docs = onnx.last_stats.truncated if long_text == "truncate" else onnx.last_stats.split
    assert long_docs > 10, "too few documents past max_length: the long-text path went untested"
    want += onnx.encode_queries(queries)
    got = torch_enc.encode_documents(docs) + torch_enc.encode_queries(queries)
    # Every term within 1e-4, an absent term counting as 0; so the term sets are identical but for terms whose
    # weight is itself within the tolerance of 0 (rounding around a logit of exactly -bias: 1 term in 2,000
    # documents, 8e-7, in benchmarks/ingest_scale.py's run).
    worst, tiny = 0.0, 0
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        da, db = a.to_dict(), b.to_dict()
        for term in da.keys() | db.keys():
            gap = abs(da.get(term, 0.0) - db.get(term, 0.0))
            worst = max(worst, gap)
            if (term in da) != (term in db):
                assert max(da.get(term, 0.0), db.get(term, 0.0)) < 1e-4, f"text {i}: term {term} in one set only"
                tiny += 1
    assert worst <= 1e-4, f"max abs difference {worst:.3g} > 1e-4"
    assert tiny <= 2, f"{tiny} terms in one backend's vectors only (each under 1e-4)"
    ident, ref = torch_enc.identity(), onnx.identity()
    assert (ident.backend, ident.dtype, ref.backend) == ("torch", "float32", "onnx")
    assert (ident.weights_sha256, ident.max_length, ident.long_text) == (ref.weights_sha256, 128, long_text)
