"""Randomly initialised tiny masked LMs (BERT and DistilBERT) with a real WordPiece tokenizer, built offline.

Used by the encoder unit tests: no download, a few hundred kilobytes, exported to ONNX in about a second.
"""

from __future__ import annotations

import json
from pathlib import Path

WORDS = ("the wing stall air flow over a plane of high angle attack boundary layer heat pressure supersonic "
         "shock wave at low speed is on and in to for with by mach number jet").split()


def vocab() -> list[str]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789.,%-")
    return (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + letters + ["##" + ch for ch in letters]
            + [w for w in dict.fromkeys(WORDS) if w not in letters])


def make_tiny_tokenizer(directory: Path, max_positions: int = 64) -> Path:
    """Write the tiny WordPiece tokenizer (``tokenizer.json``, ``tokenizer_config.json``) to ``directory``; no
    torch needed. Returns the ``tokenizer.json`` path."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    directory.mkdir(parents=True, exist_ok=True)
    tokens = vocab()
    ids = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    tok.add_special_tokens(tokens[:5])
    tok.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizerFast", "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "unk_token": "[UNK]", "mask_token": "[MASK]", "model_max_length": max_positions,
    }))
    return directory / "tokenizer.json"


def make_tiny_model(directory: Path, kind: str = "bert", seed: int = 0, max_positions: int = 64) -> Path:
    """Write a random tiny masked LM of ``kind`` ("bert" or "distilbert") with its tokenizer to ``directory``."""
    import torch
    import transformers

    make_tiny_tokenizer(directory, max_positions)
    tokens = vocab()
    torch.manual_seed(seed)
    if kind == "bert":
        config = transformers.BertConfig(vocab_size=len(tokens), hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, intermediate_size=64,
                                         max_position_embeddings=max_positions)
        model = transformers.BertForMaskedLM(config)
    elif kind == "distilbert":
        config = transformers.DistilBertConfig(vocab_size=len(tokens), dim=32, n_layers=2, n_heads=2,
                                               hidden_dim=64, max_position_embeddings=max_positions)
        model = transformers.DistilBertForMaskedLM(config)
    else:
        raise ValueError(f"kind must be 'bert' or 'distilbert', got {kind!r}")
    # Random init puts most logits near zero; a larger bias spread gives vectors with many active terms
    # and a few inactive ones, so that term-set comparisons mean something.
    with torch.no_grad():
        model.get_output_embeddings().bias.normal_(0.0, 0.5)
    model.save_pretrained(directory)
    return directory
