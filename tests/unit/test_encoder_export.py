"""ONNX export of random tiny BERT and DistilBERT masked LMs: parity with the torch reference, config, options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _support import need

need("torch", "the export tests need the 'export' extra (torch, transformers, onnx)")
need("transformers", "the export tests need the 'export' extra")

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from _tiny_models import make_tiny_model  # noqa: E402

from spladekit import __version__  # noqa: E402
from spladekit.encoder import CONFIG_NAME, ONNX_NAME, QUERY_ONNX_NAME, QUERY_TABLE_NAME  # noqa: E402
from spladekit.encoder.export import export  # noqa: E402
from spladekit.encoder.pooling import SpladePooling, TorchSpladeEncoder  # noqa: E402
from spladekit.models import sha256_file  # noqa: E402

TEXTS = [
    "the wing stall",
    "air flow over a plane at high angle of attack and the boundary layer heat",
    "x",
    "supersonic shock wave, mach number 2.5 at low speed?!",
    "jet " * 40,  # longer than max_length: truncated by both sides
]


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def tiny(request, tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp(request.param), kind=request.param)


def _onnx_outputs(out_dir, batch):
    session = ort.InferenceSession(str(out_dir / ONNX_NAME), providers=["CPUExecutionProvider"])
    feeds = {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask")}
    return session.run(None, feeds)


@pytest.mark.parametrize("strategy", ["max", "sum"])
def test_onnx_matches_torch_reference(tiny, tmp_path, strategy):
    pooling = SpladePooling(strategy)
    out = export(tiny, tmp_path / "onnx", max_length=32, pooling=pooling, vocab_blocks=5)
    ref = TorchSpladeEncoder(tiny, pooling=pooling, max_length=32)
    expected = ref.encode(TEXTS)
    batch = ref.tokenizer(TEXTS, padding=True, truncation=True, max_length=32, return_tensors="np")
    assert batch["attention_mask"].min() == 0, "the batch must contain padding for this test to mean anything"
    (got,) = _onnx_outputs(out, batch)
    assert got.shape == expected.shape == (len(TEXTS), len(ref.tokenizer.get_vocab()))
    active = expected > 0
    assert 0 < active.sum() < active.size, "degenerate model: every or no term active"
    np.testing.assert_array_equal(got > 0, active)
    assert np.abs(got - expected).max() <= 1e-5


def _query_path(out_dir):
    """The runtime's single-text path (query.onnx, then the compiled screen test and exact scoring)."""
    from spladekit.encoder.runtime import SpladeEncoder

    encoder = SpladeEncoder.load(out_dir)
    path = encoder._query_path()
    assert path is not None, "numba is installed in the test environment: the query path must load"
    return encoder, path


def test_query_graph_equals_the_batch_graph_and_the_reference(tiny, tmp_path):
    out = export(tiny, tmp_path / "onnx", max_length=32, vocab_blocks=4)
    config = json.loads((out / CONFIG_NAME).read_text())
    assert config["query_onnx"] == QUERY_ONNX_NAME and config["query_table"] == QUERY_TABLE_NAME
    assert config["fused_transformer"] is True
    ref = TorchSpladeEncoder(tiny, max_length=32)
    expected = ref.encode(TEXTS)
    batch = ref.tokenizer(TEXTS, padding=True, truncation=True, max_length=32, return_tensors="np")
    (loop,) = _onnx_outputs(out, batch)
    _, path = _query_path(out)
    for row, text in enumerate(TEXTS):  # the query path takes one unpadded text
        one = ref.tokenizer([text], truncation=True, max_length=32, return_tensors="np")
        vec = path(one["input_ids"][0].tolist())
        np.testing.assert_array_equal(vec.ids, np.flatnonzero(expected[row] > 0))
        assert np.abs(vec.weights - expected[row][vec.ids]).max(initial=0.0) <= 1e-5
        np.testing.assert_allclose(vec.weights, loop[row][vec.ids], atol=1e-5, rtol=0)


@pytest.mark.parametrize("shift", [-1e4, 1e4])
def test_query_graph_with_no_or_every_term_active(tiny, tmp_path, shift):
    """Decoder bias pushed far down (no candidate survives the screen) or up (all 30-odd thousand do)."""
    import transformers

    mlm = transformers.AutoModelForMaskedLM.from_pretrained(str(tiny))
    with torch.no_grad():
        mlm.get_output_embeddings().bias.add_(shift)
    shifted = tmp_path / "shifted"
    mlm.save_pretrained(shifted)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (tiny / name).is_file():
            (shifted / name).write_bytes((tiny / name).read_bytes())
    out = export(shifted, tmp_path / "onnx", max_length=32)
    _, path = _query_path(out)
    ref = TorchSpladeEncoder(shifted, max_length=32)
    one = ref.tokenizer([TEXTS[1]], truncation=True, max_length=32, return_tensors="np")
    vec = path(one["input_ids"][0].tolist())
    expected = ref.encode([TEXTS[1]])[0]
    np.testing.assert_array_equal(vec.ids, np.flatnonzero(expected > 0))
    assert len(vec) == (0 if shift < 0 else expected.size)
    np.testing.assert_allclose(vec.weights, expected[vec.ids], rtol=1e-6, atol=1e-5)


def test_sum_pooling_has_no_query_graph(tiny, tmp_path):
    out = export(tiny, tmp_path / "onnx", max_length=32, pooling=SpladePooling("sum"), fuse=False)
    config = json.loads((out / CONFIG_NAME).read_text())
    assert config["query_onnx"] is None and config["query_table"] is None and config["fused_transformer"] is False
    assert not (out / QUERY_ONNX_NAME).exists() and not (out / QUERY_TABLE_NAME).exists()


def test_vocab_blocks_do_not_change_the_result(tiny, tmp_path):
    ref = TorchSpladeEncoder(tiny, max_length=32)
    batch = ref.tokenizer(TEXTS, padding=True, truncation=True, max_length=32, return_tensors="np")
    outs = [_onnx_outputs(export(tiny, tmp_path / str(n), max_length=32, vocab_blocks=n), batch)[0] for n in (1, 7)]
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-6, rtol=0)


def test_in_graph_top_k(tiny, tmp_path):
    out = export(tiny, tmp_path / "onnx", max_length=32, top_k=6)
    ref = TorchSpladeEncoder(tiny, max_length=32)
    batch = ref.tokenizer(TEXTS, padding=True, truncation=True, max_length=32, return_tensors="np")
    pooled, top_weights, top_ids = _onnx_outputs(out, batch)
    assert top_weights.shape == top_ids.shape == (len(TEXTS), 6)
    for row in range(len(TEXTS)):
        np.testing.assert_array_equal(np.sort(pooled[row])[::-1][:6], top_weights[row])
        np.testing.assert_array_equal(pooled[row][top_ids[row]], top_weights[row])


def test_config_and_files(tiny, tmp_path):
    out = export(tiny, tmp_path / "onnx", max_length=48, top_k=10, source_name="tiny-test")
    config = json.loads((out / CONFIG_NAME).read_text())
    assert config["pooling"] == {"strategy": "max"}
    assert config["max_length"] == 48
    assert config["vocab_size"] == len(json.loads((tiny / "tokenizer.json").read_text())["model"]["vocab"])
    assert config["source_model"] == "tiny-test"
    assert config["weights_sha256"] == sha256_file(tiny / "model.safetensors")
    assert config["spladekit_version"] == __version__
    assert config["top_k"] == 10 and config["outputs"] == ["splade", "top_weights", "top_ids"]
    assert (out / "tokenizer.json").is_file() and (out / "tokenizer_config.json").is_file()


def test_dynamic_batch_and_sequence_axes(tiny, tmp_path):
    import onnx

    out = export(tiny, tmp_path / "onnx", max_length=32)
    graph = onnx.load(str(out / ONNX_NAME)).graph
    for inp in graph.input:
        dims = inp.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "sequence"], inp.name
    session = ort.InferenceSession(str(out / ONNX_NAME), providers=["CPUExecutionProvider"])
    for shape in [(1, 3), (5, 17), (2, 32)]:
        ids = np.full(shape, 7, dtype=np.int64)
        ids[:, 0] = 2
        (res,) = session.run(["splade"], {"input_ids": ids, "attention_mask": np.ones(shape, np.int64)})
        assert res.shape[0] == shape[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_length": 4}, "max_length must be at least 8"), ({"max_length": 1000}, "exceeds the model's"),
     ({"top_k": 0}, "top_k must be a positive integer"),
     ({"vocab_blocks": 0, "max_length": 32}, "vocab_blocks must be a positive integer")],
)
def test_bad_export_options(tiny, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export(tiny, tmp_path / "onnx", **kwargs)


def test_pooling_options_are_validated():
    assert SpladePooling.from_dict(SpladePooling("sum").to_dict()) == SpladePooling("sum")
    with pytest.raises(ValueError, match="valid values: 'max', 'sum'"):
        SpladePooling("mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown pooling options"):
        SpladePooling.from_dict({"strategy": "max", "activation": "relu"})


def test_export_is_quiet_but_real_warnings_still_surface(tmp_path):
    import subprocess
    import sys
    import warnings

    from _tiny_models import make_tiny_model

    from spladekit.encoder import torch_backend

    model = make_tiny_model(tmp_path / "m", kind="bert")
    code = ("import sys; from spladekit.encoder.export import export; "
            f"export({str(model)!r}, {str(tmp_path / 'out')!r}, max_length=32, vocab_blocks=3)")
    out = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr and "it/s" not in out.stderr, out.stderr  # no tracer notes, no progress bar
    with pytest.warns(UserWarning, match="a real problem"), torch_backend.quiet():
        warnings.warn("a real problem", UserWarning, stacklevel=1)


def test_export_length_defaults_to_the_model_s_own(tmp_path):
    import json

    from _tiny_models import make_tiny_model

    from spladekit.encoder import CONFIG_NAME
    from spladekit.encoder.export import export

    model = make_tiny_model(tmp_path / "m", kind="bert", max_positions=48)
    out = export(model, tmp_path / "out", vocab_blocks=3)
    assert json.loads((out / CONFIG_NAME).read_text())["max_length"] == 48
