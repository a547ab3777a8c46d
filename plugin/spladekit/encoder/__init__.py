"""SPLADE encoder: torch -> ONNX export with the pooling fused in, and a torch-free onnxruntime runtime.

- :mod:`spladekit.encoder.pooling`: the pooling options and the torch reference (transformers masked LM +
  SPLADE max pooling), the ground truth the ONNX graph is tested against;
- :mod:`spladekit.encoder.export`: torch -> ONNX (needs the ``export`` extra);
- :mod:`spladekit.encoder.runtime`: :class:`SpladeEncoder`, onnxruntime + tokenizers only.

Importing this package imports neither torch nor onnxruntime; ``SpladeEncoder`` is loaded on first use.
"""

from __future__ import annotations

from typing import Any

# The JSON file written beside an exported graph; its presence marks a directory as an exported encoder.
CONFIG_NAME = "spladekit_encoder.json"
ONNX_NAME = "model.onnx"
# The single-text path of a max-pooled export (same function as ONNX_NAME, faster for one short text): the
# encoder with an exact int8 vocabulary screen, and the table that the runtime's screen test and exact scoring
# of the candidates read (export.py, screen.py).
QUERY_ONNX_NAME = "query.onnx"
QUERY_TABLE_NAME = "query_vocab.npz"
# Format of CONFIG_NAME; bump when a field changes meaning.
CONFIG_VERSION = 1
# How the graph is built; cached exports (store.onnx_dir) from another revision are exported again. 9: the
# default max_length is the model's own (512 for splade-tiny, was 256).
EXPORT_REVISION = 9

__all__ = ["CONFIG_NAME", "ONNX_NAME", "QUERY_ONNX_NAME", "QUERY_TABLE_NAME",
           "CONFIG_VERSION", "EXPORT_REVISION", "SpladeEncoder"]


def __getattr__(name: str) -> Any:
    if name == "SpladeEncoder":
        from spladekit.encoder.runtime import SpladeEncoder

        return SpladeEncoder
    raise AttributeError(name)
