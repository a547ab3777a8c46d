"""The torch backend: the same SPLADE function as the ONNX graph, on torch, for GPUs (bfloat16/float16) and CPUs.

``SpladeEncoder.load(model, backend="torch", device="cuda", dtype="bfloat16")``. Tokenization, windows, the
long-text policy and the counts are the ONNX encoder's (:class:`spladekit.encoder.runtime.SpladeEncoder`, which
this class extends); what differs is how a batch of windows becomes vectors:

- **Batches by a token budget**, not a count: windows sorted by length, longest first, cut into batches of at
  most ``max_batch_tokens`` positions (padded), so a batch of short texts holds many and a batch of long ones
  few, and the device runs full.
- **Pooling fused, in chunks of the vocabulary**: the masked LM runs up to its vocabulary projection (the
  transformed hidden states, ``[batch, length, hidden]``); then for each slice of the vocabulary, the logits
  ``[batch, length, slice]`` are computed, padded positions masked, and reduced over the positions at once, so
  the ``[batch, length, vocab]`` logits never exist whole; bias, ReLU and ``log1p`` run on ``[batch, vocab]``
  after the max, as in the ONNX graph (they are monotone: the same function, see export.py).
- **Only the non-zero terms leave the device**: ``nonzero`` on the pooled ``[batch, vocab]``, then the
  (row, id, weight) triples are copied to pinned host memory with ``non_blocking`` copies.
- **bfloat16 / float16** run the encoder under autocast (the matmuls in the low precision); the pooled values
  are float32. On CPU, float32 equals the ONNX backend within 1e-4 with the same term sets (tested); the low
  precisions change some terms: docs/benchmarks.md gives the overlap measured on a real collection.
- Tokenizing overlaps the model: ingest calls :meth:`tokenize` on its reader thread while this thread runs the
  previous batch on the device.
- ``timing=True`` (benchmarks): the device is synchronized between the phases of each batch and their seconds are
  added up in ``last_stats.extra`` (``seconds_copy_in``: padding and the host-to-device copy; ``seconds_model``:
  the encoder up to the vocabulary projection; ``seconds_pooling``: the sliced projection, max, bias, ReLU,
  log1p and ``nonzero``; ``seconds_copy_out``: the non-zero triples to the host, cut into vectors). The
  synchronizations cost the overlap, so time throughput without it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from torch import nn

from spladekit.encoder.pooling import SpladePooling
from spladekit.encoder.runtime import EncodeStats, SpladeEncoder, default_threads
from spladekit.errors import ModelError
from spladekit.models import model_max_length, resolve_model, sha256_file
from spladekit.vectors import SparseVector

#: Positions (padded tokens) per batch by default: 16k on a GPU keeps it busy; on a CPU it bounds memory.
DEFAULT_MAX_BATCH_TOKENS = {"cuda": 65536, "cpu": 8192}
#: Bytes of logits one vocabulary slice may take ([batch, length, slice] in the compute dtype).
SLICE_BYTES = 256 << 20
_TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class MaskedLMBody(nn.Module):
    """A masked LM up to (not including) its vocabulary projection: ``[batch, seq, hidden]``, plus the
    projection's weight ``[vocab, hidden]`` and bias ``[vocab]`` (used by export.py too)."""

    def __init__(self, mlm: nn.Module) -> None:
        super().__init__()
        mlm = copy.deepcopy(mlm)
        decoder = mlm.get_output_embeddings()
        if not isinstance(decoder, nn.Linear):
            raise ModelError(f"{type(mlm).__name__} has no linear vocabulary projection; is it a masked LM?")
        self.weight = decoder.weight.detach().clone()  # [vocab, hidden]
        self.bias = (decoder.bias.detach().clone() if decoder.bias is not None
                     else torch.zeros(self.weight.shape[0]))
        # Cut the projection off the head: the model then returns the transformed hidden states.
        for parent in mlm.modules():
            for name, child in list(parent.named_children()):
                if child is decoder:
                    setattr(parent, name, nn.Identity())
        self.mlm = mlm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.mlm(input_ids=input_ids, attention_mask=attention_mask).logits


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence what transformers, the tracer and the exporter say on every BERT load and export and is expected,
    for this block only: the TracerWarnings about Python booleans in transformers' masking code (the shapes are
    dynamic axes), the opset-11 advanced-indexing note, transformers' weight-loading progress bar and the
    transformer optimizer's log. Other warnings still surface."""
    hf_logging = transformers.utils.logging
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    optimizer_log = logging.getLogger("onnxruntime.transformers")
    level = optimizer_log.level
    optimizer_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=r"Exporting aten::index operator", category=UserWarning)
            warnings.filterwarnings("ignore", message=r".*TorchScript-based ONNX export", category=DeprecationWarning)
            # torch's own exporter deprecating its own helpers: nothing the user can act on.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            yield
    finally:
        optimizer_log.setLevel(level)
        if bar_was_on:
            hf_logging.enable_progress_bar()


def _weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise ModelError(f"{model_dir} has no model.safetensors or pytorch_model.bin")


class TorchEncoder(SpladeEncoder):
    """:class:`SpladeEncoder` on torch (see the module docstring). Load it with :meth:`load`."""

    backend = "torch"

    def __init__(self, model_dir: str | Path, device: str = "cpu", dtype: str = "float32", threads: int | None = None,
                 batch_size: int = 32, long_text: str = "truncate", stride: int | None = None,
                 max_length: int | None = None, max_windows: int | None = None, max_batch_tokens: int | None = None,
                 source_name: str | None = None, timing: bool = False) -> None:
        if dtype not in _TORCH_DTYPES:
            raise ValueError(f"dtype {dtype!r} is not supported; valid values: {', '.join(map(repr, _TORCH_DTYPES))}")
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device {device!r} is not supported; valid values: 'cpu', 'cuda'")
        if device == "cuda" and not torch.cuda.is_available():
            raise ModelError(
                "device='cuda' needs a CUDA GPU that torch can use, and torch.cuda.is_available() is False here "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); check nvidia-smi and the driver, "
                "install a CUDA build of torch, or use --device cpu"
            )
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None (all cores), got {threads}")
        self.dtype = dtype
        self.model_dir = Path(model_dir)
        with quiet():
            mlm = transformers.AutoModelForMaskedLM.from_pretrained(str(self.model_dir), attn_implementation="eager")
        positions = int(getattr(mlm.config, "max_position_embeddings", 512))
        tokenizer = self.model_dir / "tokenizer.json"
        if not tokenizer.is_file():
            raise ModelError(f"{self.model_dir} has no tokenizer.json (a fast tokenizer); the torch backend reads "
                             "the same tokenizer file as the ONNX one")
        body = MaskedLMBody(mlm.eval())
        self._init_text(tokenizer, SpladePooling(), model_max_length(self.model_dir, positions),
                        int(body.weight.shape[0]), batch_size=batch_size, long_text=long_text, stride=stride,
                        max_length=max_length, max_windows=max_windows)
        self._device = device
        self._torch_device = torch.device(device)
        self._compute = _TORCH_DTYPES[dtype]
        self.threads = int(threads) if threads else default_threads()
        if device == "cpu":
            torch.set_num_threads(self.threads)
        self._body = body.to(self._torch_device).eval()
        # The projection is applied by slices below, in the compute dtype (matmuls accumulate in float32).
        self._weight = body.weight.to(self._torch_device, dtype=self._compute)
        self._bias = body.bias.to(self._torch_device, dtype=torch.float32)
        self.max_batch_tokens = int(max_batch_tokens or DEFAULT_MAX_BATCH_TOKENS[device])
        if self.max_batch_tokens < self.max_length:
            raise ValueError(f"max_batch_tokens must be >= max_length ({self.max_length}), got {self.max_batch_tokens}")
        self._query_config = None  # no separate single-text graph: one query is a batch of one
        self._timings: dict[str, float] | None = {} if timing else None
        self._query = None
        self._export_top_k = None
        weights = _weights_file(self.model_dir)
        self.info = {
            "source_model": source_name or str(self.model_dir), "directory": str(self.model_dir),
            "weights_file": weights.name, "weights_sha256": sha256_file(weights), "backend": self.backend,
            "dtype": dtype, "device": device, "threads": self.threads, "torch": torch.__version__,
            "pooling": self.pooling.to_dict(), "vocab_size": self.vocab_size, "max_length": self.max_length,
            "export_max_length": self.export_max_length, "long_text": self.long_text, "stride": self.stride,
            "max_windows": self.max_windows, "max_batch_tokens": self.max_batch_tokens,
            "model_type": mlm.config.model_type,
        }
        self.last_stats = EncodeStats()

    @classmethod
    def load(cls, dir_or_name: str | Path = "splade-tiny", device: str = "cpu", threads: int | None = None,
             dtype: str = "float32", **options: Any) -> TorchEncoder:
        """The torch encoder of a model name (``splade-tiny``, an HF id) or an HF model folder."""
        path = Path(str(dir_or_name)).expanduser()
        if path.is_dir() and (path / "spladekit_encoder.json").is_file() and not (path / "config.json").is_file():
            source = json.loads((path / "spladekit_encoder.json").read_text(encoding="utf-8")).get("source_model")
            raise ModelError(f"{path} is an ONNX export; the torch backend runs the model itself: pass the model "
                             f"({source or 'its name or folder'}) instead")
        return cls(resolve_model(dir_or_name), device=device, dtype=dtype, threads=threads,
                   source_name=str(dir_or_name), **options)

    def __repr__(self) -> str:
        return (f"TorchEncoder({self.info.get('source_model')!r}, device={self._device!r}, dtype={self.dtype!r}, "
                f"max_length={self.max_length})")

    # --------------------------------------------------------------------------------------------- batches
    def _batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Window indices longest first, cut so that a batch's padded positions stay within the token budget."""
        order = np.argsort(-lengths, kind="stable")
        batches, start = [], 0
        while start < len(order):
            width = int(lengths[order[start]])  # the longest of this batch: the batch's padded width
            size = max(1, min(self.max_batch_tokens // max(width, 1), len(order) - start))
            batches.append(order[start:start + size])
            start += size
        return batches

    def _phase(self, name: str, since: float) -> float:
        """With ``timing``: wait for the device, add the seconds since ``since`` to phase ``name``; the time now."""
        if self._timings is None:
            return since
        if self._torch_device.type == "cuda":
            torch.cuda.synchronize()
        now = time.perf_counter()
        self._timings[name] = self._timings.get(name, 0.0) + now - since
        return now

    def _run_windows(self, windows: list[list[int]], stats: EncodeStats, progress: bool) -> list[SparseVector]:
        lengths = np.fromiter((len(w) for w in windows), dtype=np.int64, count=len(windows))
        rows: list[SparseVector] = [SparseVector.empty()] * len(windows)
        batches = self._batches(lengths)
        stats.graph = "torch"
        if self._timings is not None:
            self._timings.clear()
        pending: list[tuple[np.ndarray, Any]] = []
        for idx in batches:
            width = int(lengths[idx].max())
            stats.tokens += int(lengths[idx].sum())
            stats.positions += int(idx.size * width)
            stats.batches += 1
            ids = np.zeros((idx.size, width), dtype=np.int64)
            mask = np.zeros((idx.size, width), dtype=np.int64)
            for r, w in enumerate(idx):
                ids[r, : lengths[w]] = windows[w]
                mask[r, : lengths[w]] = 1
            pending.append((idx, self._pool(ids, mask)))
            # Copy batch N back while batch N + 1 runs (asynchronous on a GPU); timed phases wait for each other.
            if len(pending) > (0 if self._timings is not None else 1):
                self._collect(*pending.pop(0), rows)
        for item in pending:
            self._collect(*item, rows)
        if self._timings is not None:
            stats.extra.update({f"seconds_{k}": round(v, 6) for k, v in self._timings.items()})
        return rows

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self._torch_device.type == "cuda":
            return tensor.pin_memory().to(self._torch_device, non_blocking=True)
        return tensor

    @torch.inference_mode()
    def _pool(self, ids: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """SPLADE-max of one padded batch, on the device; returns the non-zero (rows, ids, weights), still there."""
        mark = time.perf_counter()
        input_ids, attention = self._to_device(ids), self._to_device(mask)
        mark = self._phase("copy_in", mark)
        autocast = self._compute != torch.float32
        with torch.autocast(self._torch_device.type, dtype=self._compute, enabled=autocast):
            hidden = self._body(input_ids, attention)  # [batch, length, hidden]
            mark = self._phase("model", mark)
            batch, length, _ = hidden.shape
            vocab = self._weight.shape[0]
            slice_size = max(1, min(vocab, SLICE_BYTES // max(1, batch * length * hidden.element_size())))
            pad = ~attention.bool()
            maxes = torch.empty((batch, vocab), dtype=torch.float32, device=self._torch_device)
            for start in range(0, vocab, slice_size):
                logits = torch.matmul(hidden, self._weight[start:start + slice_size].T)  # [batch, length, slice]
                logits = logits.masked_fill(pad[:, :, None], float("-inf"))
                maxes[:, start:start + slice_size] = logits.amax(dim=1).float()
        pooled = torch.log1p(torch.relu(maxes + self._bias))  # float32, as the ONNX graph: bias after the max
        row, col = torch.nonzero(pooled, as_tuple=True)
        values = pooled[row, col]
        self._phase("pooling", mark)
        if self._torch_device.type == "cuda":
            out = tuple(torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in (row, col, values))
            for dst, src in zip(out, (row, col, values), strict=True):
                dst.copy_(src, non_blocking=True)
            return out  # type: ignore[return-value]
        return row, col, values

    def _collect(self, idx: np.ndarray, found: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                 rows: list[SparseVector]) -> None:
        mark = time.perf_counter()
        if self._torch_device.type == "cuda":
            torch.cuda.current_stream().synchronize()
        row, col, values = (t.numpy() for t in found)
        # nonzero() returns rows in order: split the triples at the row boundaries.
        bounds = np.searchsorted(row, np.arange(idx.size + 1))
        for r, w in enumerate(idx):
            lo, hi = bounds[r], bounds[r + 1]
            rows[w] = SparseVector(col[lo:hi].astype(np.int32), values[lo:hi])
        self._phase("copy_out", mark)
