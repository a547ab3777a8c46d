"""SPLADE pooling: the validated options, and the torch reference encoder the ONNX graph must match.

SPLADE turns masked-LM logits ``[batch, seq, vocab]`` into one vocabulary-sized vector per text:
``max`` (SPLADE-max, the default) or ``sum`` over the non-padded positions of ``log1p(relu(logits))``.

>>> SpladePooling().to_dict()
{'strategy': 'max'}
>>> SpladePooling.from_dict({'strategy': 'sum'}).strategy
'sum'
>>> SpladePooling('mean')
Traceback (most recent call last):
...
ValueError: pooling strategy 'mean' is not supported; valid values: 'max', 'sum'

torch and transformers are imported inside the functions that need them, so the runtime can read pooling
options without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from spladekit.errors import missing_extra

if TYPE_CHECKING:
    import torch

PoolingStrategy = Literal["max", "sum"]
_STRATEGIES: tuple[str, ...] = get_args(PoolingStrategy)


@dataclass(frozen=True)
class SpladePooling:
    """How token activations become one vector: ``strategy`` is ``"max"`` (SPLADE-max) or ``"sum"``."""

    strategy: PoolingStrategy = "max"

    def __post_init__(self) -> None:
        if self.strategy not in _STRATEGIES:
            valid = ", ".join(repr(s) for s in _STRATEGIES)
            raise ValueError(f"pooling strategy {self.strategy!r} is not supported; valid values: {valid}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpladePooling:
        unknown = set(data) - {"strategy"}
        if unknown:
            raise ValueError(f"unknown pooling options {sorted(unknown)}; valid keys: ['strategy']")
        return cls(**data)

    def pool(self, logits: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The textbook SPLADE pooling: ``max`` or ``sum`` over positions of ``log1p(relu(logits)) * mask``."""
        import torch

        act = torch.log1p(torch.relu(logits)) * attention_mask.unsqueeze(-1).to(logits.dtype)
        if self.strategy == "max":
            return act.max(dim=1).values
        return act.sum(dim=1)


def _import_torch_stack() -> tuple[Any, Any]:
    try:
        import torch
    except ImportError:
        raise missing_extra("torch", "export") from None
    try:
        import transformers
    except ImportError:
        raise missing_extra("transformers", "export") from None
    return torch, transformers


class TorchSpladeEncoder:
    """The reference: a transformers masked LM and SPLADE pooling, no fusion, no tricks.

    ``encode(texts)`` returns dense float32 ``[len(texts), vocab]`` rows.
    """

    def __init__(self, model_dir: str | Path, pooling: SpladePooling | None = None, max_length: int = 256,
                 device: str = "cpu") -> None:
        torch, transformers = _import_torch_stack()
        self.torch = torch
        self.pooling = pooling or SpladePooling()
        self.max_length = int(max_length)
        self.device = torch.device(device)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
        self.model = transformers.AutoModelForMaskedLM.from_pretrained(str(model_dir)).to(self.device).eval()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        torch = self.torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(list(texts[start : start + batch_size]), padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt").to(self.device)
                logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                out.append(self.pooling.pool(logits, batch["attention_mask"]).float().cpu().numpy())
        vocab = self.model.config.vocab_size
        return np.concatenate(out) if out else np.zeros((0, vocab), np.float32)
