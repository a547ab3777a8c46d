"""The one place where vocabulary ids become engine feature names and back.

A feature name is the token itself, readable in engine responses (``##ing``, ``wing``), with the characters
that engines treat specially escaped as ``%XX`` (the UTF-8 bytes, upper-case hex):

- ``.``: OpenSearch's ``rank_feature`` query splits the field path on the last dot, so a dotted name
  silently matches nothing;
- ``%``: the escape character itself, so the mapping is injective (collision-free);
- whitespace and control/format/unassigned characters: invisible in logs and fragile in JSON tooling.

The mapping is reversible without the vocabulary (``unescape``) and, with it, name -> id is a dict lookup.

>>> escape("wing"), escape("##ing"), escape("."), escape("%"), escape("a.b")
('wing', '##ing', '%2E', '%25', 'a%2Eb')
>>> unescape("a%2Eb")
'a.b'
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from spladekit.errors import InputError
from spladekit.vectors import SparseVector

_ALWAYS_ESCAPED = frozenset(".%")


def _needs_escape(ch: str) -> bool:
    return ch in _ALWAYS_ESCAPED or ch.isspace() or unicodedata.category(ch)[0] in ("C", "Z")


def escape(token: str) -> str:
    """Token -> engine-safe feature name (no dots, no whitespace, no control characters)."""
    if not token:
        raise InputError("an empty token cannot be a feature name")
    if not any(_needs_escape(ch) for ch in token):
        return token
    return "".join(
        "".join(f"%{b:02X}" for b in ch.encode("utf-8")) if _needs_escape(ch) else ch for ch in token
    )


def unescape(name: str) -> str:
    """Feature name -> token; the inverse of :func:`escape`."""
    if "%" not in name:
        return name
    out = bytearray()
    i = 0
    raw = name.encode("utf-8")
    while i < len(raw):
        if raw[i] == 0x25:  # '%'
            hexpair = raw[i + 1 : i + 3]
            if len(hexpair) != 2:
                raise InputError(f"feature name {name!r} has a truncated %XX escape")
            out.append(int(hexpair, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8")


class FeatureNames:
    """Bidirectional id <-> feature-name table for one vocabulary.

    >>> names = FeatureNames(["[PAD]", "wing", ".", "##s"])
    >>> names.to_features(SparseVector.from_dict({1: 2.0, 2: 0.5}))
    {'wing': 2.0, '%2E': 0.5}
    >>> names.from_features({'%2E': 0.5, 'wing': 2.0}).to_dict()
    {1: 2.0, 2: 0.5}
    """

    def __init__(self, vocab: Sequence[str]) -> None:
        self.tokens: list[str] = list(vocab)
        self.names: list[str] = [escape(t) for t in self.tokens]
        self._ids: dict[str, int] = {n: i for i, n in enumerate(self.names)}
        if len(self._ids) != len(self.names):
            dupes = len(self.names) - len(self._ids)
            raise InputError(f"the vocabulary maps {dupes} tokens onto names already taken; tokens must be unique")

    @classmethod
    def from_vocab(cls, vocab: Mapping[str, int]) -> FeatureNames:
        """From a token -> id mapping (as ``tokenizers.Tokenizer.get_vocab()`` returns)."""
        size = max(vocab.values()) + 1
        tokens: list[str | None] = [None] * size
        for tok, i in vocab.items():
            tokens[i] = tok
        missing = [i for i, t in enumerate(tokens) if t is None]
        if missing:
            raise InputError(f"vocabulary has holes at ids {missing[:5]}...; expected ids 0..{size - 1}")
        return cls(tokens)  # type: ignore[arg-type]

    @classmethod
    def from_tokenizer_file(cls, path: str | Path) -> FeatureNames:
        """From a Hugging Face ``tokenizer.json`` (no tokenizers import needed)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        model = data.get("model", {})
        vocab = model.get("vocab")
        if not isinstance(vocab, dict):
            raise InputError(f"{path} has no WordPiece-style model.vocab mapping")
        return cls.from_vocab(vocab)

    def __len__(self) -> int:
        return len(self.names)

    def name(self, token_id: int) -> str:
        return self.names[token_id]

    def id(self, name: str) -> int:
        try:
            return self._ids[name]
        except KeyError:
            raise InputError(f"feature {name!r} is not in this model's vocabulary") from None

    def to_features(self, vec: SparseVector) -> dict[str, float]:
        """SparseVector -> {feature name: weight}; zero and negative weights are dropped (engines reject them)."""
        vec = vec.positive()
        names = self.names
        return {names[i]: w for i, w in zip(vec.ids.tolist(), vec.weights.tolist(), strict=True)}

    def from_features(self, features: Mapping[str, float]) -> SparseVector:
        ids = np.fromiter((self.id(n) for n in features), dtype=np.int32, count=len(features))
        weights = np.fromiter(features.values(), dtype=np.float32, count=len(features))
        return SparseVector(ids, weights)

    def decode(self, vec: SparseVector, top_k: int | None = None) -> list[tuple[str, float]]:
        """``[(token, weight)]`` by decreasing weight (ties by id), at most ``top_k`` of them: how ``spladekit
        encode`` and the query service show a vector.

        >>> FeatureNames(["[PAD]", "wing", "stall"]).decode(SparseVector.from_dict({1: 0.5, 2: 2.0}))
        [('stall', 2.0), ('wing', 0.5)]
        """
        if top_k is not None:
            vec = vec.top_k(top_k)
        order = np.lexsort((vec.ids, -vec.weights))
        tokens = self.tokens
        return [(tokens[int(vec.ids[k])], float(vec.weights[k])) for k in order]

    def ids_of(self, names: Iterable[str]) -> np.ndarray:
        return np.fromiter((self.id(n) for n in names), dtype=np.int32)
