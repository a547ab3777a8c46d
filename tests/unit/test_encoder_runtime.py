"""SpladeEncoder on onnxruntime: parity with torch, order, batching stats, long-text policies, bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from _support import need

need("torch", "building the test encoder needs the 'export' extra (torch, transformers)")

from _tiny_models import WORDS, make_tiny_model  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from spladekit.encoder import CONFIG_NAME  # noqa: E402
from spladekit.encoder.export import export  # noqa: E402
from spladekit.encoder.pooling import TorchSpladeEncoder  # noqa: E402
from spladekit.encoder.runtime import SpladeEncoder  # noqa: E402
from spladekit.errors import InputError, ModelError  # noqa: E402
from spladekit.hits import explain  # noqa: E402
from spladekit.vectors import SparseVector  # noqa: E402

MAX_LENGTH = 32
TEXTS = ["the wing stall", "air flow over a plane at high angle of attack", "x", "shock wave at mach 2.5",
         "boundary layer heat and pressure in supersonic jet flow with low speed"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny-bert"), kind="bert")


@pytest.fixture(scope="module")
def onnx_dir(model_dir, tmp_path_factory):
    return export(model_dir, tmp_path_factory.mktemp("onnx") / "enc", max_length=MAX_LENGTH, vocab_blocks=3)


@pytest.fixture(scope="module")
def encoder(onnx_dir):
    return SpladeEncoder.load(onnx_dir, batch_size=2)


def _words(n: int, offset: int = 0) -> str:
    # Every word of WORDS is one token of the tiny vocabulary, so n words are n tokens (+2 special).
    return " ".join(WORDS[(offset + i) % len(WORDS)] for i in range(n))


def test_matches_torch_reference(encoder, model_dir):
    expected = TorchSpladeEncoder(model_dir, max_length=MAX_LENGTH).encode(TEXTS)
    got = encoder.encode_documents(TEXTS)
    for vec, dense in zip(got, expected, strict=True):
        np.testing.assert_array_equal(vec.ids, np.flatnonzero(dense > 0))
        np.testing.assert_allclose(vec.weights, dense[vec.ids], atol=1e-5, rtol=0)


def test_order_is_kept_despite_length_sorting(encoder):
    together = encoder.encode_documents(TEXTS)
    assert encoder.last_stats.batches == 3  # batch_size=2 over 5 texts
    for text, vec in zip(TEXTS, together, strict=True):
        (alone,) = encoder.encode_documents([text])
        np.testing.assert_array_equal(alone.ids, vec.ids)
        np.testing.assert_allclose(alone.weights, vec.weights, atol=1e-6)


def test_one_short_text_runs_the_query_graph_with_the_same_result(encoder, monkeypatch):
    from spladekit.encoder import runtime

    monkeypatch.setattr(runtime, "QUERY_GRAPH_MAX_TOKENS", 8)
    short, long = _words(6), _words(7)  # 8 and 9 tokens with [CLS] and [SEP]
    for text, graph in ((short, "query"), (long, "batch")):
        (alone,) = encoder.encode_queries([text])
        assert encoder.last_stats.graph == graph
        batched = encoder.encode_documents([text, _words(3, offset=1)])[0]  # documents: the batch graph
        assert encoder.last_stats.graph == "batch"
        np.testing.assert_array_equal(alone.ids, batched.ids)
        np.testing.assert_allclose(alone.weights, batched.weights, atol=1e-6, rtol=0)


@pytest.mark.parametrize("threads", [1, 3])
def test_queries_encoded_together_equal_each_alone_bit_for_bit(onnx_dir, threads, monkeypatch):
    """A query's vector does not depend on the queries it is encoded with (a service batching concurrent requests
    must return what a search of that one query computes): on CPU each query runs as it would alone, a list on
    ``threads`` threads (single-threaded sessions) giving the same bits as one query on the multi-threaded one."""
    from spladekit.encoder import runtime

    monkeypatch.setattr(runtime, "QUERY_GRAPH_MAX_TOKENS", 8)
    encoder = SpladeEncoder.load(onnx_dir, threads=threads)
    alone_encoder = SpladeEncoder.load(onnx_dir, threads=4)
    texts = [_words(6), _words(7, offset=2), "", _words(2, offset=5), _words(40)] * 3  # short, long, empty, cut
    alone = []
    for text in texts:
        alone += alone_encoder.encode_queries([text])
    together = encoder.encode_queries(texts)
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.weights, b.weights)
    stats = encoder.last_stats
    assert (stats.texts, stats.empty, stats.truncated) == (15, 3, 3)
    assert stats.graph == "batch+query"
    assert [len(v) for v in encoder.encode_queries(texts, top_k=2)] == [min(2, len(v)) for v in alone]


def test_without_numba_a_single_query_runs_the_batch_graph(onnx_dir, encoder, monkeypatch):
    from spladekit.local import _numba

    monkeypatch.setattr(_numba, "USE_NUMBA", False)
    plain = SpladeEncoder.load(onnx_dir)
    text = _words(6)
    (vec,) = plain.encode_queries([text])
    assert plain.last_stats.graph == "batch"
    (fast,) = encoder.encode_queries([text])
    assert encoder.last_stats.graph == "query"
    np.testing.assert_array_equal(vec.ids, fast.ids)
    np.testing.assert_allclose(vec.weights, fast.weights, atol=1e-5, rtol=0)


def test_single_query_stats_and_empty_text(encoder):
    (vec,) = encoder.encode_queries([_words(5)])
    stats = encoder.last_stats
    assert (stats.texts, stats.windows, stats.batches, stats.graph) == (1, 1, 1, "query")
    assert stats.tokens == stats.positions == 7 and len(vec) > 0
    (blank,) = encoder.encode_queries(["  \n "])
    assert len(blank) == 0 and encoder.last_stats.empty == 1


def test_padding_waste_is_reported_and_sorting_cuts_it(encoder):
    texts = [_words(2), _words(25), _words(3), _words(24)]
    encoder.encode_documents(texts)
    stats = encoder.last_stats
    assert stats.tokens == sum(n + 2 for n in (2, 25, 3, 24))
    # Sorted: batches (27, 26) and (5, 4) pad 1 + 1 positions; input order would pad 23 + 21.
    assert stats.positions == stats.tokens + 2
    assert stats.padding_waste == pytest.approx(2 / stats.positions)
    assert stats.to_dict()["padding_waste"] == pytest.approx(stats.padding_waste, abs=1e-6)


def test_truncate_policy_is_default_counted_and_equals_the_prefix(encoder):
    long_text = _words(100)
    prefix = _words(MAX_LENGTH - 2)
    vec, ref = encoder.encode_documents([long_text, prefix])
    assert encoder.last_stats.truncated == 1
    np.testing.assert_array_equal(vec.ids, ref.ids)
    np.testing.assert_allclose(vec.weights, ref.weights, atol=1e-6, rtol=0)  # other batch shape, same math


def test_split_policy_max_pools_windows(encoder, onnx_dir):
    long_text = _words(70) + " zebra"  # the tail word exists only beyond the first window
    (split,) = encoder.encode_documents([long_text], long_text="split")
    stats = encoder.last_stats
    assert stats.split == 1 and stats.windows > 1 and stats.truncated == 0
    (truncated,) = encoder.encode_documents([long_text])
    # Independently: the windows the tokenizer makes, encoded as texts of their own, then max-pooled.
    tok = Tokenizer.from_file(str(onnx_dir / "tokenizer.json"))
    tok.enable_truncation(MAX_LENGTH, stride=encoder.stride)
    enc = tok.encode(long_text)
    windows = [tok.decode(w.ids, skip_special_tokens=True) for w in [enc, *enc.overflowing]]
    assert len(windows) == stats.windows
    dense = np.max([v.to_dense(encoder.vocab_size) for v in encoder.encode_documents(windows)], axis=0)
    np.testing.assert_allclose(split.to_dense(encoder.vocab_size), dense, atol=1e-6)
    assert np.all(split.to_dense(encoder.vocab_size) >= truncated.to_dense(encoder.vocab_size) - 1e-7)
    assert len(split) > len(truncated)


def test_split_windows_boundaries_and_stride_on_the_tiny_tokenizer(onnx_dir):
    # n words are n tokens here: a window holds MAX_LENGTH - 2 of them (plus [CLS] and [SEP]), and each window
    # after the first starts `stride` tokens before the previous one ended.
    enc = SpladeEncoder.load(onnx_dir, long_text="split", stride=6)
    body = MAX_LENGTH - 2
    for n, windows in ((body, 1), (body + 1, 2), (body + (body - 6), 2), (body + (body - 6) + 1, 3)):
        enc.encode_documents([_words(n)])
        assert (enc.last_stats.windows, enc.last_stats.split, enc.last_stats.truncated) == (
            windows, int(windows > 1), 0), n
    tok = Tokenizer.from_file(str(onnx_dir / "tokenizer.json"))
    tok.enable_truncation(MAX_LENGTH, stride=6)
    e = tok.encode(_words(body + 10))
    first, second = [w.ids[1:-1] for w in [e, *e.overflowing]]
    assert len(first) == body and second[:6] == first[-6:]  # the overlap is the stride


def test_max_windows_bounds_the_cost_and_counts_what_it_drops(onnx_dir):
    enc = SpladeEncoder.load(onnx_dir, long_text="split", stride=0, max_windows=2)
    body = MAX_LENGTH - 2
    (bounded,) = enc.encode_documents([_words(4 * body)])
    stats = enc.last_stats
    assert (stats.windows, stats.split, stats.truncated, stats.tokens_dropped) == (2, 1, 1, 2 * body)
    (two,) = SpladeEncoder.load(onnx_dir, long_text="split", stride=0).encode_documents([_words(2 * body)])
    np.testing.assert_array_equal(bounded.ids, two.ids)  # the first two windows, exactly
    with pytest.raises(ValueError, match="max_windows"):
        SpladeEncoder.load(onnx_dir, max_windows=0)


def test_truncation_counts_the_tokens_dropped(encoder):
    encoder.encode_documents([_words(MAX_LENGTH - 2), _words(MAX_LENGTH + 8), _words(100)])
    stats = encoder.last_stats
    assert stats.truncated == 2 and stats.tokens_dropped == 10 + (100 - (MAX_LENGTH - 2))
    encoder.encode_queries([_words(MAX_LENGTH + 3)])  # the single-text path counts the same way
    assert encoder.last_stats.truncated == 1 and encoder.last_stats.tokens_dropped == 5


def test_a_shorter_runtime_length_is_a_prefix_window_and_is_recorded(onnx_dir):
    short = SpladeEncoder.load(onnx_dir, max_length=16)
    full = SpladeEncoder.load(onnx_dir)
    assert (short.max_length, short.export_max_length, full.max_length) == (16, MAX_LENGTH, MAX_LENGTH)
    (cut,) = short.encode_documents([_words(40)])
    (prefix,) = full.encode_documents([_words(14)])
    np.testing.assert_array_equal(cut.ids, prefix.ids)
    np.testing.assert_allclose(cut.weights, prefix.weights, atol=1e-6, rtol=0)
    assert short.identity().max_length == 16 and full.identity().max_length == MAX_LENGTH
    assert short.identity().weights_sha256 == full.identity().weights_sha256
    with pytest.raises(ValueError, match=f"max_length must be in \\[8, {MAX_LENGTH}\\]"):
        SpladeEncoder.load(onnx_dir, max_length=MAX_LENGTH + 1)


def test_queries_are_truncated(encoder):
    (q,) = encoder.encode_queries([_words(100)])
    assert encoder.last_stats.truncated == 1 and encoder.last_stats.windows == 1
    assert len(q) > 0


def test_empty_and_whitespace_give_empty_vectors(encoder):
    vecs = encoder.encode_documents(["", "   \n\t", "wing"])
    assert [len(v) for v in vecs[:2]] == [0, 0] and len(vecs[2]) > 0
    assert encoder.last_stats.empty == 2 and encoder.last_stats.windows == 1
    assert encoder.encode_queries([]) == []


@pytest.mark.parametrize("bad", [[None], ["ok", 3], [b"bytes"]])
def test_non_strings_are_rejected(encoder, bad):
    with pytest.raises(InputError, match=r"texts\[\d\] is a .*expected str"):
        encoder.encode_documents(bad)


def test_a_bare_string_is_rejected(encoder):
    with pytest.raises(InputError, match="not a single string"):
        encoder.encode_queries("wing stall")  # type: ignore[arg-type]


def test_one_megabyte_text(encoder):
    big = (_words(len(WORDS)) + " ") * (1_000_000 // (len(_words(len(WORDS))) + 1) + 1)
    assert len(big) >= 1_000_000
    vec, ref = encoder.encode_documents([big, _words(MAX_LENGTH - 2)])
    assert encoder.last_stats.truncated == 1
    np.testing.assert_array_equal(vec.ids, ref.ids)
    (split,) = encoder.encode_documents([big[:20_000]], long_text="split")
    assert encoder.last_stats.windows > 100 and len(split) >= len(vec)


def test_top_k(encoder):
    (full,) = encoder.encode_documents([TEXTS[1]])
    (top,) = encoder.encode_documents([TEXTS[1]], top_k=3)
    assert len(full) > 3 and len(top) == 3
    assert set(top.ids.tolist()) == set(full.top_k(3).ids.tolist())
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        encoder.encode_documents(["x"], top_k=0)


def test_decode(encoder):
    (vec,) = encoder.encode_documents([TEXTS[1]])
    pairs = encoder.decode(vec, top_k=4)
    assert len(pairs) == 4
    weights = [w for _, w in pairs]
    assert weights == sorted(weights, reverse=True) and weights[0] == pytest.approx(float(vec.weights.max()))
    assert all(encoder.names.tokens[encoder.names.id(encoder.names.names[encoder.names.tokens.index(t)])] == t
               for t, _ in pairs)
    assert len(encoder.decode(vec)) == len(vec)


def test_explain_contributions_sum_to_the_dot_product(encoder):
    q, d = encoder.encode_documents(["wing stall angle", TEXTS[1]])
    parts = explain(q, d, encoder.names)
    assert parts, "query and document share no term: pick other texts"
    assert math.isclose(sum(p.contribution for p in parts), q.dot(d), rel_tol=1e-6)  # float32 clauses
    for p in parts:
        assert p.contribution == float(np.float32(np.float32(p.query_weight) * np.float32(p.doc_weight)))
        assert encoder.names.tokens[p.token_id] == p.token
    contributions = [p.contribution for p in parts]
    assert contributions == sorted(contributions, reverse=True)
    assert explain(q, d, encoder.names, top_k=1) == parts[:1]
    assert explain(q, SparseVector.empty(), encoder.names) == []


def test_names_and_info(encoder, model_dir):
    assert len(encoder.names) == encoder.vocab_size
    assert encoder.info["weights_sha256"] and encoder.info["max_length"] == MAX_LENGTH
    assert encoder.info["providers"] == ["CPUExecutionProvider"]


def test_cuda_without_provider_is_a_clear_error(onnx_dir):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        enc = SpladeEncoder.load(onnx_dir, device="cuda")
        assert enc.info["providers"][0] == "CUDAExecutionProvider"
        return
    with pytest.raises(ModelError, match="CUDAExecutionProvider.*onnxruntime-gpu"):
        SpladeEncoder.load(onnx_dir, device="cuda")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"device": "tpu"}, "valid values: 'cpu', 'cuda'"), ({"long_text": "drop"}, "valid values: 'truncate', 'split'"),
    ({"batch_size": 0}, "batch_size"), ({"threads": 0}, "threads"), ({"stride": 40}, "stride"),
])
def test_bad_options(onnx_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpladeEncoder(onnx_dir, **kwargs)


def test_not_an_export_and_wrong_format(tmp_path, onnx_dir):
    with pytest.raises(ModelError, match="not an exported encoder"):
        SpladeEncoder(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    config = json.loads((onnx_dir / CONFIG_NAME).read_text()) | {"format_version": 999}
    (bad / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(ModelError, match="format_version 999.*re-export"):
        SpladeEncoder(bad)


def test_runtime_never_imports_torch(onnx_dir):
    code = (
        "import sys, json\n"
        "from spladekit.encoder.runtime import SpladeEncoder\n"
        f"enc = SpladeEncoder.load({str(onnx_dir)!r})\n"
        "vec, = enc.encode_documents(['the wing stall'])\n"
        "from spladekit.hits import explain; enc.decode(vec, 3); explain(vec, vec, enc.names)\n"
        "print(json.dumps([m for m in ('torch', 'transformers') if m in sys.modules]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_export_top_k_applies_to_the_query_graph_too(model_dir, tmp_path):
    enc = SpladeEncoder.load(export(model_dir, tmp_path / "top3", max_length=MAX_LENGTH, top_k=3))
    text = _words(6)
    (alone,) = enc.encode_queries([text])
    assert enc.last_stats.graph == "query"
    batched = enc.encode_documents([text, _words(2)])[0]
    assert enc.last_stats.graph == "batch"
    assert len(alone) == 3
    np.testing.assert_array_equal(alone.ids, batched.ids)
    np.testing.assert_allclose(alone.weights, batched.weights, atol=1e-6, rtol=0)
