"""Fine-tuning SPLADE models on a user's own data (needs the ``train`` extra: sentence-transformers, datasets).

``train(pairs, base, out_dir)`` reads and checks the pairs, optionally mines hard negatives with the base model
and spladekit's local index, trains with sentence-transformers' sparse stack and writes an HF masked-LM folder
that ``spladekit export``, ingest and search use like any other model. ``make_split`` is the recipe for a
collection with few judged queries (seeded train/test split of its queries, optional title pseudo-queries).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from spladekit.datasets import load_corpus
from spladekit.models import resolve_model
from spladekit.training.data import Pair, load_pairs, validate_pairs
from spladekit.training.negatives import mine_hard_negatives
from spladekit.training.split import make_split, split_queries
from spladekit.training.train import TrainConfig, train_model

__all__ = ["Pair", "TrainConfig", "load_pairs", "make_split", "split_queries", "train", "validate_pairs"]


def train(
    pairs: str | Path | Sequence[Pair],
    base: str | Path,
    out_dir: str | Path,
    *,
    epochs: float = 1.0,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    lambda_q: float = 5e-4,
    lambda_d: float = 3e-4,
    hard_negatives: int = 0,
    corpus: str | Path | None = None,
    max_length: int = 256,
    device: str = "cpu",
    seed: int = 13,
    save_steps: int = 200,
    query_side: str = "shared",
    query_lr: float = 1e-3,
    resume: bool = False,
    silent: bool = False,
) -> Path:
    """Fine-tune ``base`` on ``pairs`` and write the model to ``out_dir``; returns ``out_dir``.

    ``pairs``: a JSONL file, a BEIR folder (its ``qrels/train.tsv``) or a list of :class:`Pair`.
    ``base``: a model name or HF directory (:func:`spladekit.models.resolve_model`).
    ``hard_negatives``: how many negatives per pair to mine with the base model (0: in-batch only), from
    ``corpus`` (a corpus.jsonl) or, for a BEIR folder, its corpus, else from the pairs' own documents.
    ``query_side``: ``"shared"`` (one model), ``"separate"`` (a query and a document encoder fine-tuned together)
    or ``"inference-free"`` (a learned query weight table, ``query_lr``, beside the document encoder); the last
    two write a model card (see :mod:`spladekit.training.train`).
    """
    config = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, lambda_q=lambda_q,
                         lambda_d=lambda_d, max_length=max_length, hard_negatives=hard_negatives, seed=seed,
                         device=device, save_steps=save_steps, query_side=query_side, query_lr=query_lr)
    config.check()  # fail on a bad option before reading data or loading a model
    source = None
    if isinstance(pairs, (str, Path)):
        source = Path(pairs)
        pairs = load_pairs(source)
    else:
        pairs = validate_pairs(pairs)
    base_dir = resolve_model(base)
    if hard_negatives:
        docs = None
        corpus_file = Path(corpus) if corpus else (source / "corpus.jsonl" if source and source.is_dir() else None)
        if corpus_file is not None:
            docs = {i: d.full_text() for i, d in load_corpus(corpus_file).items() if d.full_text().strip()}
        pairs = mine_hard_negatives(pairs, str(base_dir), hard_negatives, corpus=docs, seed=seed)
    return train_model(pairs, base_dir, out_dir, config, resume=resume, silent=silent, base_name=str(base),
                       extra_record={"pairs_source": str(source) if source else None,
                                     "negatives_corpus": str(corpus) if corpus else None})
