"""The local index on real vectors: npl encoded with the real default model (SpladeEncoder.load()).

numba and numpy kernels give identical ids and bit-identical float32 scores, the pruned search equals the
exhaustive one, and lucene mode equals the FeatureField reference scorer; exact mode equals float32 products
summed in float64. A save/load round trip (mmap) and index-local on a small corpus close the loop.
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration

N_DOCS = 800  # about 25 s of encoding on the (shared) 2-core development machine
N_QUERIES = 25


def _rows(path: Path, n: int) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in islice(fh, n)]


@pytest.fixture(scope="module")
def npl(default_encoder, datasets_dir):
    encoder = default_encoder
    docs = _rows(datasets_dir / "npl" / "corpus.jsonl", N_DOCS)
    queries = _rows(datasets_dir / "npl" / "queries.jsonl", N_QUERIES)
    doc_vecs = encoder.encode_documents([f"{d.get('title', '')} {d['text']}".strip() for d in docs])
    q_vecs = encoder.encode_queries([q["text"] for q in queries])
    # keys that sort like insertion order, so lucene.reference_ranking's tie order is the index's
    keys = [f"{i:05d}-{d['_id']}" for i, d in enumerate(docs)]
    return encoder, keys, doc_vecs, q_vecs


def _reference(mode, query, doc_vecs):
    from spladekit import lucene
    from spladekit.vectors import SparseBatch

    batch = SparseBatch.from_vectors([v.positive() for v in doc_vecs])
    values = lucene.encode(batch.weights) if mode == "lucene" else batch.weights
    if mode == "lucene":
        return lucene.reference_scores(query.ids, query.weights, batch.offsets, batch.ids, values)
    out = np.zeros(len(batch), np.float32)
    q = query.to_dict()
    for d in range(len(batch)):
        total = 0.0
        lo, hi = batch.offsets[d], batch.offsets[d + 1]
        for t, w in zip(batch.ids[lo:hi].tolist(), values[lo:hi].tolist(), strict=True):
            if t in q:
                total += float(np.float32(np.float32(q[t]) * np.float32(w)))
        out[d] = np.float32(total)
    return out


@pytest.mark.parametrize("mode", ["lucene", "exact"])
def test_real_vectors_numba_numpy_pruned_and_reference_agree(npl, mode):
    from spladekit import lucene
    from spladekit.local.index import LocalIndex

    _, keys, doc_vecs, q_vecs = npl
    fast, slow = LocalIndex(mode=mode), LocalIndex(mode=mode, use_numba=False)
    assert (fast.backend, slow.backend) == ("numba", "numpy")
    for index in (fast, slow):
        index.add(keys, doc_vecs)
    hits = 0
    for i, q in enumerate(q_vecs):
        got = fast.search(q, k=10)
        fast.prune = False
        exhaustive = fast.search(q, k=10)
        fast.prune = True
        assert got[0] == exhaustive[0]
        np.testing.assert_array_equal(got[1].view(np.uint32), exhaustive[1].view(np.uint32))
        if i < 4:  # the plain-Python kernels are slow
            plain = slow.search(q, k=10)
            assert plain[0] == got[0]
            np.testing.assert_array_equal(plain[1].view(np.uint32), got[1].view(np.uint32))
        if i < 4:  # and so is the reference scorer
            ranking = lucene.reference_ranking(_reference(mode, q, doc_vecs), keys, 10)
            assert got[0] == [h[0] for h in ranking]
            np.testing.assert_array_equal(got[1], np.array([h[1] for h in ranking], np.float32))
        hits += len(got[0])
    assert hits >= 10 * len(q_vecs) // 2


def test_real_vectors_round_trip_and_threads(npl, tmp_path):
    from spladekit.local.index import LocalIndex

    encoder, keys, doc_vecs, q_vecs = npl
    index = LocalIndex(meta={"model": "splade-tiny", "model_sha256": encoder.info.get("weights_sha256")})
    index.add(keys, doc_vecs)
    index.save(tmp_path / "ix")
    loaded = LocalIndex.load(tmp_path / "ix", mmap=True, model=encoder.info.get("weights_sha256"))
    want = [index.search(q, k=10) for q in q_vecs]
    for threads in (1, 2):
        for got, w in zip(loaded.search_many(q_vecs, k=10, threads=threads), want, strict=True):
            assert got[0] == w[0]
            np.testing.assert_array_equal(got[1].view(np.uint32), w[1].view(np.uint32))


def test_ingest_builds_a_searchable_local_index(npl, tmp_path, datasets_dir):
    from spladekit.ingest import ingest
    from spladekit.local.index import LocalIndex

    encoder, *_ = npl
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in _rows(datasets_dir / "npl" / "corpus.jsonl", 60)))
    report = ingest(corpus, local_dir=tmp_path / "ix", encoder=encoder, checkpoint=tmp_path / "job" / "cp.json")
    assert report.indexed == 60 and report.model == "splade-tiny" and report.exit_code == 0
    index = LocalIndex.load(tmp_path / "ix", model="splade-tiny")
    first = _rows(corpus, 1)[0]
    ids, _ = index.search(encoder.encode_queries([first["text"]])[0], k=5)
    assert first["_id"] in ids  # a document's own text finds it
