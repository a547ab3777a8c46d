"""torch -> ONNX export of a SPLADE masked LM with the pooling fused into the graph (needs the ``export`` extra).

The graph takes ``input_ids`` and ``attention_mask`` (int64, dynamic batch and sequence axes) and returns
``splade``, the pooled ``[batch, vocab]`` vector, plus ``top_weights``/``top_ids`` when exported with a top-k.

Why the max-pooled graph is cheaper than the textbook formula, yet equal to it:

- ``log1p``, ``relu`` and ``+ bias`` are monotone non-decreasing (also after float rounding), so
  ``max_s log1p(relu(x_s + b)) == log1p(relu(max_s x_s + b))``: the activation and the vocabulary bias run on
  ``[batch, vocab]`` instead of ``[batch, seq, vocab]``;
- padded positions are replaced by position 0 (``[CLS]``, always a real token) before the vocabulary
  projection, so the max needs no mask: a copy of a row already in the max cannot change it;
- the vocabulary projection (about 90% of the FLOPs of a small encoder) runs as ``vocab_blocks`` separate
  ``MatMul -> ReduceMax`` pairs over slices of the vocabulary, so the ``[batch, seq, 30522]`` logits are never
  materialised at once: each block's logits are small, reduced while still in cache, and the buffer reused.

The ``sum`` strategy has no such shortcut and is exported as the textbook formula.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from torch import nn

from spladekit import __version__
from spladekit.encoder import CONFIG_NAME, CONFIG_VERSION, ONNX_NAME
from spladekit.encoder.pooling import SpladePooling
from spladekit.errors import ModelError

DEFAULT_OPSET = 17
DEFAULT_MAX_LENGTH = 256
DEFAULT_VOCAB_BLOCKS = 32
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


class FusedSplade(nn.Module):
    """A masked LM whose vocabulary projection and SPLADE pooling are fused (see the module docstring)."""

    def __init__(self, mlm: nn.Module, pooling: SpladePooling, top_k: int | None = None,
                 vocab_blocks: int = DEFAULT_VOCAB_BLOCKS) -> None:
        super().__init__()
        mlm = copy.deepcopy(mlm)
        decoder = mlm.get_output_embeddings()
        if not isinstance(decoder, nn.Linear):
            raise ModelError(f"{type(mlm).__name__} has no linear vocabulary projection; is it a masked LM?")
        weight = decoder.weight.detach().clone()  # [vocab, hidden]
        bias = decoder.bias.detach().clone() if decoder.bias is not None else torch.zeros(weight.shape[0])
        # Cut the projection off the head: the body then returns the transformed hidden states.
        for parent in mlm.modules():
            for name, child in list(parent.named_children()):
                if child is decoder:
                    setattr(parent, name, nn.Identity())
        self.mlm = mlm
        self.pooling = pooling
        self.top_k = top_k
        self.vocab_size = int(weight.shape[0])
        if not 1 <= vocab_blocks <= self.vocab_size:
            raise ValueError(f"vocab_blocks must be between 1 and the vocabulary size {self.vocab_size}")
        self.register_buffer("bias", bias)
        self.register_buffer("weight_t", weight.t().contiguous())  # for the unfused sum pooling
        bounds = np.linspace(0, self.vocab_size, vocab_blocks + 1).astype(int)
        self.blocks = nn.ParameterList(
            nn.Parameter(weight[a:b].t().contiguous(), requires_grad=False)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        hidden = self.mlm(input_ids=input_ids, attention_mask=attention_mask).logits  # [B, S, H]
        if self.pooling.strategy == "max":
            keep = attention_mask.unsqueeze(-1) > 0
            hidden = torch.where(keep, hidden, hidden[:, :1, :])
            maxes = [torch.matmul(hidden, block).amax(dim=1) for block in self.blocks]
            pooled = torch.log1p(torch.relu(torch.cat(maxes, dim=-1) + self.bias))
        else:
            logits = torch.matmul(hidden, self.weight_t) + self.bias
            act = torch.log1p(torch.relu(logits)) * attention_mask.unsqueeze(-1).to(logits.dtype)
            pooled = act.sum(dim=1)
        if self.top_k is None:
            return pooled
        values, indices = torch.topk(pooled, k=min(self.top_k, self.vocab_size), dim=-1)
        return pooled, values, indices


def _weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise ModelError(f"{model_dir} has no model.safetensors or pytorch_model.bin")


def export(model_dir: str | Path, out_dir: str | Path, *, opset: int = DEFAULT_OPSET,
           max_length: int = DEFAULT_MAX_LENGTH, top_k: int | None = None,
           pooling: SpladePooling | None = None, vocab_blocks: int = DEFAULT_VOCAB_BLOCKS,
           source_name: str | None = None) -> Path:
    """Export the masked LM in ``model_dir`` (HF format) to ``out_dir``: graph, tokenizer files, config.

    Returns ``out_dir``. ``top_k`` adds the in-graph ``top_weights``/``top_ids`` outputs.
    """
    from spladekit.models import sha256_file, verify_model_dir

    model_dir = verify_model_dir(model_dir)
    pooling = pooling or SpladePooling()
    if max_length < 8:
        raise ValueError(f"max_length must be at least 8, got {max_length}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    mlm = transformers.AutoModelForMaskedLM.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    config = mlm.config
    limit = getattr(config, "max_position_embeddings", max_length)
    if max_length > limit:
        raise ValueError(f"max_length {max_length} exceeds the model's {limit} positions")
    module = FusedSplade(mlm, pooling, top_k=top_k, vocab_blocks=vocab_blocks).eval()

    dummy_ids = torch.randint(0, module.vocab_size, (2, 16), dtype=torch.int64)
    dummy_mask = torch.ones_like(dummy_ids)
    dummy_mask[1, 10:] = 0
    outputs = ["splade"] + (["top_weights", "top_ids"] if top_k is not None else [])
    dynamic = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    for name in outputs:
        dynamic[name] = {0: "batch"}
    with torch.inference_mode():
        torch.onnx.export(
            module, (dummy_ids, dummy_mask), str(out_dir / ONNX_NAME), input_names=["input_ids", "attention_mask"],
            output_names=outputs, dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True,
            dynamo=False,
        )

    for name in _TOKENIZER_FILES:
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, out_dir / name)
    weights = _weights_file(model_dir)
    info = {
        "format_version": CONFIG_VERSION,
        "onnx": ONNX_NAME,
        "pooling": pooling.to_dict(),
        "max_length": int(max_length),
        "vocab_size": int(module.vocab_size),
        "top_k": top_k,
        "vocab_blocks": int(vocab_blocks),
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
