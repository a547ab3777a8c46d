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
