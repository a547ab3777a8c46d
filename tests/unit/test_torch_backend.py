"""The torch backend: the same SPLADE function as the ONNX export (float32 on CPU: identical term sets, weights
within 1e-4) on random tiny BERT and DistilBERT models, the token budget, the low precisions, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

from _support import need

need("torch", "the torch backend is the 'export' extra (torch, transformers)")

import torch  # noqa: E402
from _tiny_models import WORDS, make_tiny_model  # noqa: E402

from spladekit.encoder.export import export  # noqa: E402
from spladekit.encoder.runtime import SpladeEncoder  # noqa: E402
from spladekit.encoder.torch_backend import TorchEncoder  # noqa: E402
from spladekit.errors import ModelError  # noqa: E402

MAX_LENGTH = 32


def _words(n: int, offset: int = 0) -> str:
    return " ".join(WORDS[(offset + i) % len(WORDS)] for i in range(n))


TEXTS = [_words(3), _words(9, 2), "x", _words(30, 5), _words(60, 7), "   ", _words(12, 11), "shock wave at mach 2.5"]


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def pair(request, tmp_path_factory):
    model = make_tiny_model(tmp_path_factory.mktemp(request.param), kind=request.param)
    onnx = export(model, tmp_path_factory.mktemp("onnx") / "enc", max_length=MAX_LENGTH, vocab_blocks=3)
    return model, onnx


def assert_same_vectors(a, b, atol=1e-4):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.ids, y.ids)  # identical term sets
        np.testing.assert_allclose(x.weights, y.weights, atol=atol, rtol=0)


@pytest.mark.parametrize("long_text", ["truncate", "split"])
def test_float32_on_cpu_equals_the_onnx_backend(pair, long_text):
    model, onnx = pair
    ref = SpladeEncoder.load(onnx, long_text=long_text)
    enc = SpladeEncoder.load(model, backend="torch", long_text=long_text, max_length=MAX_LENGTH)
    assert isinstance(enc, TorchEncoder) and enc.names.names == ref.names.names  # same feature names
    assert_same_vectors(enc.encode_documents(TEXTS), ref.encode_documents(TEXTS))
    assert_same_vectors(enc.encode_queries(TEXTS[:3]), ref.encode_queries(TEXTS[:3]))
    assert (enc.last_stats.windows, enc.last_stats.texts) == (ref.last_stats.windows, ref.last_stats.texts)
    ident, ref_ident = enc.identity(), ref.identity()
    assert (ident.backend, ident.dtype, ref_ident.backend) == ("torch", "float32", "onnx")
    assert ident.weights_sha256 == ref_ident.weights_sha256 and ident.max_length == ref_ident.max_length


def test_batches_follow_the_token_budget(pair):
    model, _ = pair
    small = SpladeEncoder.load(model, backend="torch", max_length=MAX_LENGTH, max_batch_tokens=MAX_LENGTH)
    big = SpladeEncoder.load(model, backend="torch", max_length=MAX_LENGTH, max_batch_tokens=4096)
    texts = [_words(n) for n in (2, 5, 30, 30, 3, 12)]
    a, b = small.encode_documents(texts), big.encode_documents(texts)
    assert small.last_stats.batches > big.last_stats.batches == 1
    assert small.last_stats.positions <= big.last_stats.positions  # sorted by length: little padding either way
    assert_same_vectors(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="max_batch_tokens must be >= max_length"):
        SpladeEncoder.load(model, backend="torch", max_length=MAX_LENGTH, max_batch_tokens=8)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precisions_run_and_stay_close(pair, dtype):
    model, _ = pair
    full = SpladeEncoder.load(model, backend="torch", max_length=MAX_LENGTH)
    low = SpladeEncoder.load(model, backend="torch", max_length=MAX_LENGTH, dtype=dtype)
    assert low.identity().dtype == dtype
    for x, y in zip(full.encode_documents(TEXTS), low.encode_documents(TEXTS), strict=True):
        if not len(x):
            assert not len(y)
            continue
        overlap = len(np.intersect1d(x.ids, y.ids)) / len(np.union1d(x.ids, y.ids))
        assert overlap > 0.8  # the measured overlap on real text is in docs/benchmarks.md
        assert y.weights.dtype == np.float32


def test_errors_name_the_fix(pair, monkeypatch):
    model, onnx = pair
    with pytest.raises(ModelError, match="is an ONNX export; the torch backend runs the model itself"):
        SpladeEncoder.load(onnx, backend="torch")
    with pytest.raises(ValueError, match="needs backend='torch'"):
        SpladeEncoder.load(onnx, dtype="bfloat16")
    with pytest.raises(ValueError, match="valid values: 'onnx', 'torch'"):
        SpladeEncoder.load(onnx, backend="tensorrt")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="torch.cuda.is_available\\(\\) is False.*--device cpu"):
        SpladeEncoder.load(model, backend="torch", device="cuda")


def _corpus(path, n: int, offset: int = 0):
    path.write_text("".join(f'{{"_id": "d{offset + i}", "text": "{_words(3 + i % 25, i)}"}}\n' for i in range(n)))
    return path


def test_ingest_tokenizes_on_its_reader_thread_while_the_model_runs(pair, tmp_path, monkeypatch):
    import threading

    from spladekit.ingest import ingest

    model, _ = pair
    enc = SpladeEncoder.load(model, backend="torch", max_length=MAX_LENGTH)
    seen: dict[str, set[str]] = {"tokenize": set(), "model": set()}
    tokenize, run = enc.tokenize, enc.encode_prepared

    def tokenize_here(*args, **kwargs):
        seen["tokenize"].add(threading.current_thread().name)
        return tokenize(*args, **kwargs)

    def run_here(*args, **kwargs):
        seen["model"].add(threading.current_thread().name)
        return run(*args, **kwargs)

    monkeypatch.setattr(enc, "tokenize", tokenize_here)
    monkeypatch.setattr(enc, "encode_prepared", run_here)
    report = ingest(_corpus(tmp_path / "c.jsonl", 100), local_dir=tmp_path / "ix", encoder=enc, batch_size=8,
                    checkpoint=tmp_path / "job" / "cp.json")
    assert report.indexed == 100
    # Batch N + 1 is tokenized on the reader thread while the caller's thread runs batch N on the device.
    assert seen == {"tokenize": {"spladekit-ingest-reader"}, "model": {threading.current_thread().name}}


def test_the_index_records_backend_and_dtype_and_the_guard_reports_a_mix(pair, tmp_path):
    from spladekit.errors import IndexFormatError
    from spladekit.ingest import ingest
    from spladekit.local.index import LocalIndex
    from spladekit.schema import MixedBackendWarning

    model, onnx = pair
    ix = tmp_path / "ix"
    ingest(_corpus(tmp_path / "a.jsonl", 5), local_dir=ix, encoder=SpladeEncoder.load(onnx),
           checkpoint=tmp_path / "a" / "cp.json")
    meta = LocalIndex.load(ix).meta
    assert (meta["backend"], meta["dtype"]) == ("onnx", "float32")
    torch32 = SpladeEncoder.load(model, backend="torch", max_length=MAX_LENGTH)
    with pytest.warns(MixedBackendWarning, match="written by the onnx backend, this job runs torch"):
        ingest(_corpus(tmp_path / "b.jsonl", 5, 5), local_dir=ix, encoder=torch32,
               checkpoint=tmp_path / "b" / "cp.json")
    assert len(LocalIndex.load(ix)) == 10  # the same function at the same precision: mixed, and said
    bf16 = SpladeEncoder.load(model, backend="torch", max_length=MAX_LENGTH, dtype="bfloat16")
    with pytest.raises(IndexFormatError, match="dtype=float32; this job has backend=torch, dtype=bfloat16"):
        ingest(_corpus(tmp_path / "c.jsonl", 5, 10), local_dir=ix, encoder=bf16, checkpoint=tmp_path / "c" / "cp.json")


def test_timing_splits_the_time_by_phase_and_changes_no_vector(pair):
    model, _ = pair
    plain = SpladeEncoder.load(model, backend="torch", max_length=MAX_LENGTH, max_batch_tokens=64)
    timed = SpladeEncoder.load(model, backend="torch", max_length=MAX_LENGTH, max_batch_tokens=64, timing=True)
    import time

    started = time.perf_counter()
    got = timed.encode_documents(TEXTS)
    wall = time.perf_counter() - started
    assert_same_vectors(got, plain.encode_documents(TEXTS), atol=0)
    phases = {k: v for k, v in timed.last_stats.to_dict().items() if k.startswith("seconds_")}
    assert set(phases) == {"seconds_copy_in", "seconds_model", "seconds_pooling", "seconds_copy_out"}
    assert all(v > 0 for v in phases.values()) and sum(phases.values()) <= wall
    assert timed.last_stats.batches > 1
    assert not any(k.startswith("seconds_") for k in plain.last_stats.to_dict())
