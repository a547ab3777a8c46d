"""The query path's second half, after ``query.onnx``: the screen's test and the exact scoring, one numba pass.

``query.onnx`` returns the text's hidden states ``h`` ([tokens, hidden] float32), the exact integer products
``screen`` ([tokens, vocab] int32) of the uint8-quantized ``h`` with the 7-bit-quantized vocabulary matrix, and
the quantization step ``s_h`` of ``h`` (export.py, ``_query_graphs``, derives the bound). :func:`query_terms`

1. takes the max of ``screen`` over the tokens and keeps the vocabulary entries ``v`` whose upper bound
   ``max_t screen_tv + offset + half_l1q_v + bias_units_v / s_h`` is positive (``offset`` =
   ``max_t ||h_t||_1 / (2 s_h)``): a superset of the active entries, about 100-200 per query;
2. scores each candidate exactly, ``max_t h_t . w_v + b_v`` (products summed in float64, rounded to float32,
   plus the float32 bias as the batch graph adds it), and returns the positive ones with ``log1p``.

Compiled by numba (:mod:`spladekit.jit`): in onnxruntime the same steps cost about 0.6 ms more per
query (its ``ReduceMax`` over the [tokens, vocab] integers alone 0.37 ms at 22 tokens), in numpy with a
second small graph about 0.4 ms more. Without numba the runtime sends single queries to the batch graph.

>>> import numpy as np
>>> screen = np.array([[5, -9], [1, 2]], np.int32)
>>> hidden = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
>>> weight = np.array([[1.0, 0.0], [0.0, -1.0]], np.float32)
>>> ids, weights = query_terms(screen, hidden, 0.0, 1.0, np.zeros(2), np.zeros(2), weight, np.zeros(2, np.float32))
>>> ids.tolist(), [round(w, 4) for w in weights.tolist()]
([0], [0.6931])
"""

from __future__ import annotations

import math
import sys

import numpy as np

from spladekit import jit


def query_terms(screen: np.ndarray, hidden: np.ndarray, offset: float, inv_step: float, half_l1q: np.ndarray,
                bias_units: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted int32 ids and float32 SPLADE weights of one text's active terms (see the module docstring)."""
    tokens, vocab = screen.shape
    top = screen[0].copy()
    for t in range(1, tokens):  # row by row, so that the compiled loop is a vectorised max
        row = screen[t]
        for v in range(vocab):
            top[v] = max(top[v], row[v])
    candidates = np.empty(vocab, np.int64)
    n = 0
    for v in range(vocab):
        if top[v] + offset + half_l1q[v] + bias_units[v] * inv_step > 0.0:
            candidates[n] = v
            n += 1
    width = hidden.shape[1]
    columns = np.empty((width, tokens))  # h transposed, float64: the inner loop below runs over tokens
    for t in range(tokens):
        for i in range(width):
            columns[i, t] = hidden[t, i]
    logits = np.empty(tokens)
    ids = np.empty(n, np.int32)
    weights = np.empty(n, np.float32)
    kept = 0
    for j in range(n):
        v = candidates[j]
        logits[:] = 0.0
        for i in range(width):  # every token's sum in its own lane, i in order: no reassociation needed
            w = np.float64(weight[v, i])
            for t in range(tokens):
                logits[t] += columns[i, t] * w
        z = np.float32(logits.max()) + bias[v]
        if z > 0:
            ids[kept] = v
            weights[kept] = np.float32(math.log1p(np.float64(z)))
            kept += 1
    return ids[:kept], weights[:kept]


COMPILED = ("query_terms",)


def compiled() -> jit.Functions | None:
    """The numba-compiled :func:`query_terms`, or None when numba is unavailable or switched off."""
    fn = jit.functions(sys.modules[__name__], COMPILED)
    return fn if fn.backend == "numba" else None
