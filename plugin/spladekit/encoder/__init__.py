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
# The single-text graph of a max-pooled export (same function as ONNX_NAME, faster for one short text).
QUERY_ONNX_NAME = "query.onnx"
# Format of CONFIG_NAME; bump when a field changes meaning.
CONFIG_VERSION = 1
# How the graph is built; cached exports (models.onnx_dir) from another revision are exported again.
EXPORT_REVISION = 6

__all__ = ["CONFIG_NAME", "ONNX_NAME", "QUERY_ONNX_NAME", "CONFIG_VERSION", "EXPORT_REVISION", "SpladeEncoder"]


def __getattr__(name: str) -> Any:
    if name == "SpladeEncoder":
        from spladekit.encoder.runtime import SpladeEncoder

        return SpladeEncoder
    raise AttributeError(name)
