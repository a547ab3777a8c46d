"""torch -> ONNX export of a SPLADE masked LM with the pooling fused into the graph (needs the ``export`` extra).

The graph takes ``input_ids`` and ``attention_mask`` (int64, dynamic batch and sequence axes) and returns
``splade``, the pooled ``[batch, vocab]`` vector, plus ``top_weights``/``top_ids`` when exported with a top-k.

Why the max-pooled graph is cheaper than the textbook formula, yet equal to it:

- ``log1p``, ``relu`` and ``+ bias`` are monotone non-decreasing (also after float rounding), so
  ``max_s log1p(relu(x_s + b)) == log1p(relu(max_s x_s + b))``: the activation and the vocabulary bias run on
  ``[batch, vocab]`` instead of ``[batch, seq, vocab]``;
- padded positions are replaced by position 0 (``[CLS]``, always a real token) before the vocabulary
  projection, so the max needs no mask: a copy of a row already in the max cannot change it;
- the vocabulary projection (about 90% of the FLOPs of a small encoder) runs in an ONNX ``Loop`` over the
  texts of the batch: each iteration slices its text's real tokens (padding is never projected) and runs
  ``vocab_blocks`` ``MatMul -> ReduceMax`` pairs over slices of the vocabulary, so the ``[batch, seq, 30522]``
  logits are never materialised: each block's ``[tokens, ~254]`` logits are reduced while still in cache;
- ``log1p`` is computed as ``log(u) * r / (u - 1)`` with ``u = 1 + r`` (exact for tiny ``r``, where
  ``log(1 + r)`` would round to 0 and drop a term).

A second graph, ``query.onnx``, serves one unpadded short text (a query): the encoder, then an exact int8
screen of the whole vocabulary (``MatMulInteger``); with ``query_vocab.npz`` the runtime's compiled
:mod:`spladekit.encoder.screen` keeps the screen's candidates and scores them exactly in float32, the same
function term for term (see :func:`_query_graph`). Both graphs run the encoder layers after onnxruntime's
transformer fusions (fused attention, layer norms, GELU), which cut a short query's encoder time by a third.

The ``sum`` strategy has no such shortcut and is exported as the textbook formula (one graph).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import transformers
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.transformers import optimizer
from torch import nn

from spladekit import __version__
from spladekit.encoder import (
    CONFIG_NAME,
    CONFIG_VERSION,
    EXPORT_REVISION,
    ONNX_NAME,
    QUERY_ONNX_NAME,
    QUERY_TABLE_NAME,
)
from spladekit.encoder.card import is_card, read_card, write_card
from spladekit.encoder.pooling import SpladePooling
from spladekit.encoder.static import IDF_JSON
from spladekit.encoder.torch_backend import MaskedLMBody, quiet
from spladekit.errors import ModelError
from spladekit.models import model_max_length, resolve_model, sha256_file, verify_model_dir

DEFAULT_OPSET = 17
DEFAULT_VOCAB_BLOCKS = 120  # ~254 columns: a 256-token block of logits (260 KB) stays in L2
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


class _SumPooled(nn.Module):
    """The textbook SPLADE-sum graph (no shortcut exists for sum)."""

    def __init__(self, hidden: MaskedLMBody) -> None:
        super().__init__()
        self.hidden = hidden
        self.register_buffer("weight_t", hidden.weight.t().contiguous())
        self.register_buffer("bias", hidden.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = torch.matmul(self.hidden(input_ids, attention_mask), self.weight_t) + self.bias
        act = torch.log1p(torch.relu(logits)) * attention_mask.unsqueeze(-1).to(logits.dtype)
        return act.sum(dim=1)


def _add_fused_max_pooling(model: onnx.ModelProto, weight: np.ndarray, bias: np.ndarray, vocab_blocks: int,
                           top_k: int | None) -> onnx.ModelProto:
    """Replace the graph output ``hidden`` [B, S, H] by the SPLADE-max vector ``splade`` [B, V].

    A Loop runs over the texts of the batch; each iteration slices its text's real tokens (no padding) and
    runs ``vocab_blocks`` MatMul -> ReduceMax pairs over slices of the vocabulary, so each block's logits
    ([tokens, V / vocab_blocks]) stay in cache and the [B, S, V] logits never exist. Bias, relu and log1p run
    once on [B, V] after the max (they are monotone, see the module docstring).
    """
    vocab = weight.shape[0]
    bounds = np.linspace(0, vocab, vocab_blocks + 1).astype(int)
    inits = [numpy_helper.from_array(np.ascontiguousarray(weight[a:b].T, dtype=np.float32), f"spladekit_w{i}")
             for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]
    inits += [
        numpy_helper.from_array(np.array([0], np.int64), "spladekit_zero1"),
        numpy_helper.from_array(np.array([0], np.int64), "spladekit_axis0"),
        numpy_helper.from_array(np.array([1], np.int64), "spladekit_axis1"),
    ]
    mk = helper.make_node
    body_nodes = [
        mk("Gather", ["hidden", "i"], ["h_i"], axis=0),  # [S, H]
        mk("Gather", ["spladekit_lengths", "i"], ["len_i"], axis=0),
        mk("Unsqueeze", ["len_i", "spladekit_axis0"], ["len_i1"]),
        mk("Slice", ["h_i", "spladekit_zero1", "len_i1", "spladekit_axis0"], ["h_real"]),  # [L, H]
        mk("Identity", ["cond_in"], ["cond_out"]),
    ]
    maxes = []
    for i in range(vocab_blocks):
        body_nodes.append(mk("MatMul", ["h_real", f"spladekit_w{i}"], [f"logits{i}"]))
        body_nodes.append(mk("ReduceMax", [f"logits{i}"], [f"max{i}"], axes=[0], keepdims=0))
        maxes.append(f"max{i}")
    body_nodes.append(mk("Concat", maxes, ["row"], axis=0))
    body = helper.make_graph(
        body_nodes, "spladekit_max_over_tokens",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("row", TensorProto.FLOAT, [vocab])],
    )
    nodes = [
        mk("Cast", ["attention_mask"], ["spladekit_mask64"], to=TensorProto.INT64),
        mk("ReduceSum", ["spladekit_mask64", "spladekit_axis1"], ["spladekit_lengths"], keepdims=0),
        mk("Shape", ["input_ids"], ["spladekit_shape"]),
        mk("Gather", ["spladekit_shape", "spladekit_zero1"], ["spladekit_batch1"], axis=0),
        mk("Squeeze", ["spladekit_batch1", "spladekit_zero1"], ["spladekit_batch"]),
        mk("Loop", ["spladekit_batch", ""], ["spladekit_maxes"], body=body),
    ]
    return _finish_pooling(model, nodes, inits, bias, top_k)


#: Weights of the query graph's screening pass are 7-bit (|q| <= 63): u8 x s8 products summed in pairs then fit
#: in int16, so onnxruntime's AVX2 kernels (no VNNI) cannot saturate and the integer logits are exact.
SCREEN_LEVELS = 63
#: Slack added to the screening bound, in logit units: about 16 integer units for the default model, far above
#: the rounding of the bound's few float operations (~0.01 units).
SCREEN_SLACK = 1e-3


def _query_graph(model: onnx.ModelProto, weight: np.ndarray,
                 bias: np.ndarray) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The query path's graph and vocabulary table: ONE unpadded text in; the runtime finishes the pooling.

    A single text needs only the ~20-50 vocabulary entries whose max logit plus bias is positive, but the
    float32 projection reads the whole vocabulary matrix, which bounds its latency. So the graph ends with an
    exact (not approximate) **screen**: the hidden states ``h`` ([tokens, hidden], output ``hidden``) are
    quantized to uint8 (``DynamicQuantizeLinear``, step ``s_h``, output ``screen_step``) and multiplied by the
    vocabulary matrix quantized to 7 bits per row (step ``s_v``, a quarter of the bytes) in exact integer
    arithmetic (``MatMulInteger``, output ``screen``, [tokens, vocab] int32). With ``|h - h~| <= s_h / 2``
    and ``|w_v - w~_v| <= s_v / 2`` per element, ``h . w_v <= h~ . w~_v + ||h||_1 s_v / 2 + ||w~_v||_1 s_h / 2``,
    so every entry whose true ``max_t h_t . w_v + b_v`` is positive passes the test, in integer-logit units
    (divided by ``s_h s_v``):
    ``max_t screen_tv + max_t ||h_t||_1 / (2 s_h) + ||q_v||_1 / 2 + (b_v + slack) / (s_v s_h) > 0``.

    The table (``half_l1q`` = ||q_v||_1 / 2 and ``bias_units`` = (b_v + slack) / s_v in float64, the float32
    ``weight`` rows and ``bias``) lets :mod:`spladekit.encoder.screen` run that test and score the ~100-200
    candidates exactly in one compiled pass; in onnxruntime those steps cost more than the screen saves.
    The result is the batch graph's, term for term (tested); the batch axis must be 1.
    """
    weight = np.asarray(weight, dtype=np.float32)  # [V, H]
    step = np.abs(weight).max(axis=1) / SCREEN_LEVELS
    step[step == 0] = 1.0  # an all-zero row: any step gives q = 0 and no error
    quantized = np.clip(np.rint(weight / step[:, None]), -SCREEN_LEVELS, SCREEN_LEVELS).astype(np.int8)
    table = {
        "half_l1q": np.abs(quantized.astype(np.float64)).sum(axis=1) / 2,
        "bias_units": (bias.astype(np.float64) + SCREEN_SLACK) / step.astype(np.float64),
        "weight": np.ascontiguousarray(weight),
        "bias": bias.astype(np.float32),
    }
    mk = helper.make_node
    _zero_segments(model)
    # The traced graph's output `hidden` is [1, S, H]; the query graph hands on the squeezed [S, H] as `hidden`.
    for node in model.graph.node:
        node.output[:] = ["spladekit_hidden3" if o == "hidden" else o for o in node.output]
    model.graph.initializer.extend([
        numpy_helper.from_array(np.ascontiguousarray(quantized.T), "spladekit_wq"),  # [H, V] int8
        numpy_helper.from_array(np.array([0], np.int64), "spladekit_axis0"),
    ])
    model.graph.node.extend([
        mk("Squeeze", ["spladekit_hidden3", "spladekit_axis0"], ["hidden"]),  # one text, no padding
        mk("DynamicQuantizeLinear", ["hidden"], ["spladekit_hq", "screen_step", "spladekit_hzero"]),
        mk("MatMulInteger", ["spladekit_hq", "spladekit_wq", "spladekit_hzero"], ["screen"]),  # int32
    ])
    del model.graph.output[:]
    model.graph.output.extend([
        helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["tokens", weight.shape[1]]),
        helper.make_tensor_value_info("screen", TensorProto.INT32, ["tokens", weight.shape[0]]),
        helper.make_tensor_value_info("screen_step", TensorProto.FLOAT, []),
    ])
    return model, table


def _zero_segments(model: onnx.ModelProto) -> None:
    """Feed the fused embedding's segment ids as ``input_ids * 0`` instead of the traced token-type buffer.

    A BERT trace computes the all-zero token types from a buffer sliced, expanded and gathered to the input's
    shape: 15 small operators, ~0.1 ms of operator overhead on a query of 20 tokens. spladekit never passes
    token types, so one ``Mul`` gives the same zeros; the orphaned operators are then removed.
    """
    nodes = list(model.graph.node)
    for pos, node in enumerate(nodes):
        if node.op_type == "EmbedLayerNormalization" and len(node.input) > 1 and node.input[1]:
            node.input[1] = "spladekit_segments"
            model.graph.initializer.append(numpy_helper.from_array(np.array(0, np.int32), "spladekit_zero_i32"))
            nodes.insert(pos, helper.make_node("Mul", [node.input[0], "spladekit_zero_i32"], ["spladekit_segments"]))
            break
    else:
        return
    needed = {o.name for o in model.graph.output}
    kept = []
    for node in reversed(nodes):  # nodes are in topological order: walk back from the outputs
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    used = {i for node in kept for i in node.input}
    inits = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)


def _log1p_nodes(x: str, out: str) -> list:
    """``log1p(x)`` for ``x >= 0`` without losing tiny values: ``u = 1 + x``; ``x`` where ``u == 1``, else
    ``log(u) * x / (u - 1)`` (``log(1 + x)`` would round tiny activations to 0 and drop terms)."""
    mk = onnx.helper.make_node
    return [
        mk("Add", [x, "spladekit_one"], [f"{out}_u"]),
        mk("Equal", [f"{out}_u", "spladekit_one"], [f"{out}_u_is_1"]),
        mk("Log", [f"{out}_u"], [f"{out}_log_u"]),
        mk("Sub", [f"{out}_u", "spladekit_one"], [f"{out}_u_1"]),
        mk("Mul", [f"{out}_log_u", x], [f"{out}_num"]),
        mk("Div", [f"{out}_num", f"{out}_u_1"], [f"{out}_ratio"]),
        mk("Where", [f"{out}_u_is_1", x, f"{out}_ratio"], [out]),
    ]


def _finish_pooling(model: onnx.ModelProto, nodes: list, inits: list, bias: np.ndarray,
                    top_k: int | None) -> onnx.ModelProto:
    """Append bias, relu and the exact log1p to ``spladekit_maxes`` [B, V]; outputs ``splade`` (+ top-k)."""
    vocab = int(bias.shape[0])
    mk = helper.make_node
    inits = inits + [
        numpy_helper.from_array(bias.astype(np.float32), "spladekit_bias"),
        numpy_helper.from_array(np.array(1.0, np.float32), "spladekit_one"),
    ]
    nodes = nodes + [
        mk("Add", ["spladekit_maxes", "spladekit_bias"], ["spladekit_z"]),
        mk("Relu", ["spladekit_z"], ["spladekit_r"]),
        *_log1p_nodes("spladekit_r", "splade"),
    ]
    outputs = [helper.make_tensor_value_info("splade", TensorProto.FLOAT, ["batch", vocab])]
    if top_k is not None:
        inits.append(numpy_helper.from_array(np.array([min(top_k, vocab)], np.int64), "spladekit_k"))
        nodes.append(mk("TopK", ["splade", "spladekit_k"], ["top_weights", "top_ids"], axis=-1))
        outputs += [helper.make_tensor_value_info("top_weights", TensorProto.FLOAT, ["batch", min(top_k, vocab)]),
                    helper.make_tensor_value_info("top_ids", TensorProto.INT64, ["batch", min(top_k, vocab)])]
    graph = model.graph
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    del graph.output[:]
    graph.output.extend(outputs)
    return model


def _fuse_transformer(path: Path, config: Any) -> None:
    """Rewrite the traced encoder at ``path`` with onnxruntime's BERT fusions (same function, fewer ops).

    Fused ``Attention``, ``EmbedLayerNormalization``, ``SkipLayerNormalization`` and ``BiasGelu`` are
    onnxruntime contrib operators (CPU and CUDA providers). It cuts a short query's encoder time by about a
    third on the development machine; parity with the torch reference is tested on the fused graphs.
    """
    heads = getattr(config, "num_attention_heads", getattr(config, "n_heads", 0))
    width = getattr(config, "hidden_size", getattr(config, "dim", 0))
    fused = optimizer.optimize_model(str(path), model_type="bert", num_heads=int(heads), hidden_size=int(width),
                                     opt_level=1)
    fused.save_model_to_file(str(path))


def _weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise ModelError(f"{model_dir} has no model.safetensors or pytorch_model.bin")


def export(model_dir: str | Path, out_dir: str | Path, *, opset: int = DEFAULT_OPSET,
           max_length: int | None = None, top_k: int | None = None,
           pooling: SpladePooling | None = None, vocab_blocks: int = DEFAULT_VOCAB_BLOCKS,
           source_name: str | None = None, fuse: bool = True) -> Path:
    """Export the masked LM in ``model_dir`` (HF format) to ``out_dir``: graphs, tokenizer files, config.

    Returns ``out_dir``. ``top_k`` adds the in-graph ``top_weights``/``top_ids`` outputs. With max pooling two
    graphs are written, the same function computed two ways: ``model.onnx`` (per-text Loop over vocabulary
    blocks, for batches) and ``query.onnx`` with ``query_vocab.npz`` (an exact int8 screen of the vocabulary,
    then float32 on the candidates, for a single short text).
    ``fuse`` runs onnxruntime's transformer fusions (fused attention, layer norms, GELU) on the encoder layers.
    ``max_length`` (default: the model's own, :func:`model_max_length`) is the longest window the runtime may
    run; it can run any shorter one (``SpladeEncoder(max_length=...)``).
    """
    with quiet():
        return _export(Path(model_dir), Path(out_dir), opset=opset, max_length=max_length, top_k=top_k,
                       pooling=pooling, vocab_blocks=vocab_blocks, source_name=source_name, fuse=fuse)


def _export(model_dir: Path, out_dir: Path, *, opset: int, max_length: int | None, top_k: int | None,
            pooling: SpladePooling | None, vocab_blocks: int, source_name: str | None, fuse: bool) -> Path:
    model_dir = verify_model_dir(model_dir)
    pooling = pooling or SpladePooling()
    if max_length is not None and max_length < 8:
        raise ValueError(f"max_length must be at least 8, got {max_length}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    mlm = transformers.AutoModelForMaskedLM.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    config = mlm.config
    limit = int(getattr(config, "max_position_embeddings", max_length or 512))
    if max_length is None:
        max_length = model_max_length(model_dir, int(getattr(config, "max_position_embeddings", 512)))
    if max_length > limit:
        raise ValueError(f"max_length {max_length} exceeds the model's {limit} positions")
    hidden = MaskedLMBody(mlm).eval()
    vocab_size = int(hidden.weight.shape[0])
    if vocab_blocks < 1:
        raise ValueError(f"vocab_blocks must be a positive integer, got {vocab_blocks}")
    vocab_blocks = min(vocab_blocks, vocab_size)  # a block holds at least one vocabulary entry
    module: nn.Module = hidden if pooling.strategy == "max" else _SumPooled(hidden).eval()

    dummy_ids = torch.randint(0, vocab_size, (2, 16), dtype=torch.int64)
    dummy_mask = torch.ones_like(dummy_ids)
    dummy_mask[1, 10:] = 0
    outputs = ["splade"] + (["top_weights", "top_ids"] if top_k is not None else [])
    traced_output = "hidden" if pooling.strategy == "max" else "splade"
    dynamic = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
               traced_output: {0: "batch"}}
    path = out_dir / ONNX_NAME
    with torch.inference_mode():
        torch.onnx.export(
            module, (dummy_ids, dummy_mask), str(path), input_names=["input_ids", "attention_mask"],
            output_names=[traced_output], dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True,
            dynamo=False,
        )
    if fuse:
        _fuse_transformer(path, config)
    graph = onnx.load(str(path))
    query_graph = None
    if pooling.strategy == "max":
        weight, bias = hidden.weight.numpy(), hidden.bias.numpy()
        query_graph, query_table = _query_graph(copy.deepcopy(graph), weight, bias)
        graph = _add_fused_max_pooling(graph, weight, bias, vocab_blocks, top_k)
    elif top_k is not None:
        graph.graph.initializer.append(numpy_helper.from_array(np.array([min(top_k, vocab_size)], np.int64),
                                                               "spladekit_k"))
        graph.graph.node.append(helper.make_node("TopK", ["splade", "spladekit_k"], ["top_weights", "top_ids"],
                                                 axis=-1))
        graph.graph.output.extend([helper.make_tensor_value_info("top_weights", TensorProto.FLOAT, None),
                                   helper.make_tensor_value_info("top_ids", TensorProto.INT64, None)])
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))
    if query_graph is not None:
        onnx.checker.check_model(query_graph)
        onnx.save(query_graph, str(out_dir / QUERY_ONNX_NAME))
        np.savez(out_dir / QUERY_TABLE_NAME, **query_table)

    for name in _TOKENIZER_FILES:
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, out_dir / name)
    weights = _weights_file(model_dir)
    info = {
        "format_version": CONFIG_VERSION,
        "onnx": ONNX_NAME,
        "query_onnx": QUERY_ONNX_NAME if query_graph is not None else None,
        "query_table": QUERY_TABLE_NAME if query_graph is not None else None,
        "fused_transformer": bool(fuse),
        "pooling": pooling.to_dict(),
        "max_length": int(max_length),
        "vocab_size": vocab_size,
        "top_k": top_k,
        "vocab_blocks": int(vocab_blocks),
        "export_revision": EXPORT_REVISION,
        "opset": int(opset),
        "inputs": ["input_ids", "attention_mask"],
        "outputs": outputs,
        "source_model": source_name or str(model_dir),
        "weights_file": weights.name,
        "weights_sha256": sha256_file(weights),
        "model_type": config.model_type,
        "hidden_size": int(getattr(config, "hidden_size", getattr(config, "dim", 0))),
        "num_layers": int(getattr(config, "num_hidden_layers", getattr(config, "n_layers", 0))),
        "intermediate_size": int(getattr(config, "intermediate_size", getattr(config, "hidden_dim", 0))),
        "spladekit_version": __version__,
    }
    (out_dir / CONFIG_NAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out_dir


def export_card(card_dir: str | Path, out_dir: str | Path, **options: Any) -> Path:
    """Export both sides of a model card (:mod:`spladekit.encoder.card`): ``OUT/document`` and ``OUT/query``
    (each as :func:`export` writes it, with ``options``) or the query weight table copied as ``OUT/idf.json``, and
    a card in ``OUT`` naming them. ``SpladeEncoder.load(OUT)`` then loads the pair without exporting again."""
    card = read_card(card_dir)
    out = Path(out_dir)
    document = card.document_model
    export(resolve_model(document), out / "document", source_name=document, **options)
    if card.query_model is not None:
        export(resolve_model(card.query_model), out / "query", source_name=card.query_model, **options)
        return write_card(out, document="document", query="query")
    table = card.table_path
    if table is None or not table.is_file():
        raise ModelError(f"the model card in {card_dir} names the query table {card.query_table}, which is missing")
    shutil.copyfile(table, out / IDF_JSON)
    return write_card(out, document="document", query_table=IDF_JSON)


def export_named(name: str | Path, out_dir: str | Path, **options: Any) -> Path:
    """Export ``name`` (``splade-tiny``, an HF id or a model folder), or both sides of a model card folder."""
    if is_card(name):
        return export_card(name, out_dir, **options)
    return export(resolve_model(name), out_dir, source_name=str(name), **options)
