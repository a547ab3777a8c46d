"""Fine-tune a SPLADE model with sentence-transformers' sparse training stack.

The pieces are sentence-transformers' own, assembled the way its SPLADE recipes do:

- model: :class:`SparseEncoder` = the base masked-LM (``Transformer`` with ``transformer_task="fill-mask"``,
  the successor of ``MLMTransformer``) + :class:`SpladePooling` (max over tokens of log(1 + relu(logit)));
- loss: :class:`SpladeLoss` wrapping :class:`SparseMultipleNegativesRankingLoss` (in-batch negatives plus
  optional hard negatives) with FLOPS regularisation of queries (``lambda_q``) and documents (``lambda_d``),
  whose weights warm up from 0 (:class:`SpladeRegularizerWeightSchedulerCallback`, quadratic, first third);
- loop: :class:`SparseEncoderTrainer` with a no-duplicates batch sampler, so a query or document never appears
  twice in a batch (it would be its own false negative).

The result is a plain Hugging Face masked-LM directory (``config.json``, ``model.safetensors``,
``tokenizer.json``) that ``spladekit export`` and :func:`spladekit.encoder.store.onnx_dir` accept, plus
``spladekit_training.json`` recording the base model, every setting, the seed and the loss history.
Checkpoints go to ``OUT/checkpoints``; a run started again with ``resume=True`` continues from the last one.

Asymmetric models (``query_side``), built the way sentence-transformers builds them, with a
``Router.for_query_document`` whose routes the trainer picks per column (``router_mapping``: the query column
to ``query``, the documents to ``document``):

- ``separate``: two copies of the base model, one per route, fine-tuned together (Efficient SPLADE's separate
  query and document encoders); written as ``OUT/query`` and ``OUT/document`` with a model card;
- ``inference-free``: the query route is a ``SparseStaticEmbedding`` (one weight per vocabulary token,
  initialised with IDF over the training documents, its own learning rate ``query_lr`` through
  ``learning_rate_mapping``), no query regulariser; written as ``OUT/document`` and ``OUT/idf.json`` with a card
  (:mod:`spladekit.encoder.card`). Either card loads with ``SpladeEncoder.load(OUT)``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from spladekit import __version__
from spladekit.encoder.card import write_card
from spladekit.encoder.static import IDF_JSON, StaticQueryEncoder, idf_weights
from spladekit.errors import InputError, missing_extra
from spladekit.training.data import Pair, validate_pairs

DEVICES = ("cpu", "cuda")
#: How queries are encoded: by the model itself, by a second copy of it, or by a weight table (no transformer).
QUERY_SIDES = ("shared", "separate", "inference-free")
TRAINING_RECORD = "spladekit_training.json"


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run; recorded next to the model. Defaults suit splade-tiny on a CPU."""

    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    lambda_q: float = 5e-4
    lambda_d: float = 3e-4
    regularizer_warmup_ratio: float = 1 / 3
    max_length: int = 256
    hard_negatives: int = 0
    seed: int = 13
    device: str = "cpu"
    save_steps: int = 200
    query_side: str = "shared"
    #: Learning rate of the inference-free query table (sentence-transformers' recipe: 1e-3 for the table).
    query_lr: float = 1e-3

    def check(self) -> None:
        if self.query_side not in QUERY_SIDES:
            raise ValueError(f"query_side must be one of {', '.join(QUERY_SIDES)}, got {self.query_side!r}")
        if self.query_lr <= 0:
            raise ValueError(f"query_lr must be > 0, got {self.query_lr}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (in-batch negatives), got {self.batch_size}")
        if self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        if self.lambda_q < 0 or self.lambda_d < 0:
            raise ValueError(f"lambda_q and lambda_d must be >= 0, got {self.lambda_q}, {self.lambda_d}")
        if self.hard_negatives < 0:
            raise ValueError(f"hard_negatives must be >= 0, got {self.hard_negatives}")
        if self.max_length < 8:
            raise ValueError(f"max_length must be >= 8, got {self.max_length}")


def _require() -> None:
    try:
        import datasets  # noqa: F401
        import sentence_transformers  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise missing_extra(exc.name or "sentence-transformers", "train") from exc


def build_model(base_dir: str | Path, max_length: int = 256, device: str = "cpu", query_side: str = "shared",
                idf_documents: Sequence[str] = ()) -> Any:
    """A :class:`SparseEncoder` (fill-mask Transformer + SPLADE max pooling) over an HF masked-LM folder; with
    ``query_side`` "separate" or "inference-free", a ``Router`` of a query and a document route (see the module
    docstring; ``idf_documents`` initialise the inference-free table)."""
    _require()
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.modules import Router, Transformer
    from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding, SpladePooling

    def splade() -> list[Any]:
        mlm = Transformer(str(base_dir), transformer_task="fill-mask", max_seq_length=max_length)
        return [mlm, SpladePooling(pooling_strategy="max")]

    if query_side == "shared":
        return SparseEncoder(modules=splade(), device=device)
    document = splade()
    if query_side == "separate":
        query = splade()
    else:
        import torch

        tokenizer = document[0].tokenizer
        weight = torch.from_numpy(initial_query_table(Path(base_dir) / "tokenizer.json", idf_documents))
        query = [SparseStaticEmbedding(tokenizer=tokenizer, weight=weight, frozen=False)]
    router = Router.for_query_document(query_modules=query, document_modules=document)
    return SparseEncoder(modules=[router], device=device)


def initial_query_table(tokenizer_file: Path, documents: Sequence[str]) -> np.ndarray:
    """IDF over ``documents`` (their distinct tokens) per vocabulary id: where an inference-free table starts."""
    tok = Tokenizer.from_file(str(tokenizer_file))
    size = tok.get_vocab_size(with_added_tokens=True)
    df = np.zeros(size, np.int64)
    unique = list(dict.fromkeys(documents))
    for enc in tok.encode_batch(unique, add_special_tokens=False):
        df[np.unique(np.asarray(enc.ids, dtype=np.int64))] += 1
    return idf_weights(df, max(len(unique), 1))


def build_loss(model: Any, lambda_q: float, lambda_d: float, query_side: str = "shared") -> Any:
    """SpladeLoss(SparseMultipleNegativesRankingLoss) with FLOPS regularisation on both sides (on documents only
    for an inference-free query table, whose query vectors are the query's own tokens)."""
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

    return SpladeLoss(
        model,
        loss=SparseMultipleNegativesRankingLoss(model),
        document_regularizer_weight=lambda_d,
        query_regularizer_weight=None if query_side == "inference-free" else lambda_q,
    )


def pairs_dataset(pairs: Sequence[Pair]) -> Any:
    """A ``datasets.Dataset`` with columns query, positive, negative_1..negative_n (n = fewest negatives).

    The loss reads columns by position: the first is the query, the others documents.
    """
    from datasets import Dataset

    n_neg = min(len(p.negatives) for p in pairs)
    columns: dict[str, list[str]] = {"query": [p.query for p in pairs], "positive": [p.positive for p in pairs]}
    for j in range(n_neg):
        columns[f"negative_{j + 1}"] = [p.negatives[j] for p in pairs]
    return Dataset.from_dict(columns)


def last_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest ``checkpoint-N`` folder under ``OUT/checkpoints``, or None."""
    ckpts = [p for p in (Path(out_dir) / "checkpoints").glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1])) if ckpts else None


def train_model(
    pairs: Sequence[Pair],
    base_dir: str | Path,
    out_dir: str | Path,
    config: TrainConfig = TrainConfig(),
    *,
    resume: bool = False,
    silent: bool = False,
    base_name: str | None = None,
    extra_record: dict | None = None,
    trainer_hook: Callable[[Any], None] | None = None,
) -> Path:
    """Train on ``pairs`` starting from the HF masked-LM folder ``base_dir``; write the result to ``out_dir``.

    ``resume``: continue from the newest checkpoint in ``OUT/checkpoints`` (same pairs and settings).
    ``trainer_hook`` is called with the trainer before training (tests use it to inspect the loss).
    """
    config.check()
    pairs = validate_pairs(pairs)
    _require()
    import torch
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sparse_encoder import SparseEncoderTrainer, SparseEncoderTrainingArguments
    from sentence_transformers.sparse_encoder.callbacks.splade_callbacks import (
        SpladeRegularizerWeightSchedulerCallback,
    )
    from transformers import set_seed

    if config.device == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = last_checkpoint(out) if resume else None
    if resume and ckpt is None:
        raise InputError(f"nothing to resume: {out / 'checkpoints'} holds no checkpoint-N folder; "
                         "start without --resume")

    set_seed(config.seed)  # before the model exists, so anything it initialises is seeded too
    documents = [p.positive for p in pairs] + [n for p in pairs for n in p.negatives]
    model = build_model(base_dir, config.max_length, config.device, config.query_side, idf_documents=documents)
    loss = build_loss(model, config.lambda_q, config.lambda_d, config.query_side)
    dataset = pairs_dataset(pairs)
    routes: dict[str, Any] = {}
    if config.query_side != "shared":
        routes["router_mapping"] = {name: "query" if name == "query" else "document" for name in dataset.column_names}
    if config.query_side == "inference-free":
        # parameter names, not module classes, are matched: the table is the query route's only parameter
        routes["learning_rate_mapping"] = {r"sub_modules\.query\.": config.query_lr}
    args = SparseEncoderTrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=math.ceil(config.warmup_ratio * _steps(len(pairs), config)),
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=1,
        logging_steps=max(1, min(10, _steps(len(pairs), config) // 10)),
        report_to="none",
        use_cpu=config.device == "cpu",
        disable_tqdm=silent,
        dataloader_num_workers=0,
        **routes,
    )
    trainer = SparseEncoderTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=loss,
        callbacks=[SpladeRegularizerWeightSchedulerCallback(
            loss, scheduler_type="quadratic", warmup_ratio=config.regularizer_warmup_ratio)],
    )
    if silent:  # with tqdm off, transformers prints every log line instead; silent means neither
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    if trainer_hook is not None:
        trainer_hook(trainer)
    result = trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    save_trained(model, out, config.query_side)
    record = {
        "base": base_name or str(base_dir),
        "base_dir": str(base_dir),
        "config": asdict(config),
        "pairs": len(pairs),
        "hard_negative_columns": len(dataset.column_names) - 2,
        "resumed_from": ckpt.name if ckpt else None,
        "global_step": trainer.state.global_step,
        "train_loss": result.training_loss,
        "log_history": trainer.state.log_history,
        "versions": _versions(),
    } | (extra_record or {})
    (out / TRAINING_RECORD).write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    return out


def _steps(n_pairs: int, config: TrainConfig) -> int:
    return max(1, math.ceil(n_pairs / config.batch_size) * math.ceil(config.epochs))


def save_trained(model: Any, out_dir: str | Path, query_side: str = "shared") -> Path:
    """Write what :func:`train_model` trained: one masked-LM folder, or (asymmetric) the document model in
    ``OUT/document``, the query model in ``OUT/query`` or its table in ``OUT/idf.json``, and a model card."""
    out = Path(out_dir)
    if query_side == "shared":
        return save_mlm_dir(model, out)
    routes = model[0].sub_modules
    save_mlm_dir(routes["document"], out / "document")
    if query_side == "separate":
        save_mlm_dir(routes["query"], out / "query")
        return write_card(out, document=str(out / "document"), query=str(out / "query"))
    weight = routes["query"][0].weight.detach().float().cpu().numpy()
    StaticQueryEncoder(out / "document" / "tokenizer.json", weight, source=IDF_JSON).save_idf_json(out / IDF_JSON)
    return write_card(out, document=str(out / "document"), query_table=str(out / IDF_JSON))


def save_mlm_dir(model: Any, out_dir: str | Path) -> Path:
    """Save the trained masked-LM and its tokenizer as a plain HF folder (what export and the encoder read)."""
    out = Path(out_dir)
    first = model[0]
    first.auto_model.save_pretrained(str(out), safe_serialization=True)
    first.tokenizer.save_pretrained(str(out))
    if not (out / "tokenizer.json").is_file():
        raise InputError(f"the base tokenizer is not a fast tokenizer, so {out} has no tokenizer.json; "
                         "spladekit's encoder needs one: start from a model that ships tokenizer.json")
    return out


def _versions() -> dict[str, str]:
    import sentence_transformers
    import torch
    import transformers

    return {"spladekit": __version__, "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__, "torch": torch.__version__,
            "threads": str(torch.get_num_threads()), "cpu_count": str(os.cpu_count())}
