"""The index layout every backend shares, and the one record of which model made an index's vectors.

- :data:`SCHEMA`: field names (the sparse vector ``splade``, BM25 ``text``, ``title``) and the ``_meta`` an index
  carries. Engines store ``_meta`` in the mapping; the local index in ``params.json``.
- :class:`ModelIdentity`: what a document vector depends on (model weights, pooling, the token length and the
  long-text policy it was encoded with, the backend and dtype). Export writes the model part into
  ``spladekit_encoder.json``; the encoder adds how it runs (:meth:`spladekit.encoder.SpladeEncoder.identity`);
  ingest writes it into ``_meta``; ingest, search, parity and eval check it with :func:`check_identity` before
  mixing vectors or scoring queries against them.
- :func:`encoder_text`: what the encoder sees of a document (title and text, BEIR's convention), the one place.

>>> ident = ModelIdentity("splade-tiny", "ab12", max_length=512)
>>> meta = SCHEMA.meta(ident)
>>> meta["model"], meta["model_sha256"], meta["max_length"], meta["feature_names"]
('splade-tiny', 'ab12', 512, 'escaped-token-v1')
>>> identity_mismatch(meta, ModelIdentity("splade-tiny", "ab12", max_length=256))
['max_length']
>>> encoder_text("Wings", "stall at high angles")
'Wings stall at high angles'
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from spladekit import __version__
from spladekit.errors import IndexFormatError

#: How token ids became feature names (spladekit.features): bump when that scheme changes.
FEATURE_NAMES_SCHEME = "escaped-token-v1"


def encoder_text(title: str | None, text: str) -> str:
    """The text the encoder sees for a document: ``f"{title} {text}"`` stripped, or the text alone (BEIR)."""
    return f"{title} {text}".strip() if title else text


class MixedBackendWarning(UserWarning):
    """An index receives vectors from another backend at the same precision (allowed: the same function)."""


@dataclass(frozen=True)
class ModelIdentity:
    """Which model, run how, made a set of vectors. Two vectors may share an index only if these agree.

    ``model`` is the name the user gave (``splade-tiny``, an HF id, a folder), ``weights_sha256`` the hash of its
    weights (the real identity), ``max_length`` the tokens per window, ``long_text`` how longer documents were
    handled (``truncate`` or ``split``), ``backend``/``dtype`` the runtime (``onnx``/``float32`` on CPU),
    ``doc_prune`` the static pruning rule applied to every document vector at ingest (``str`` of a
    :class:`spladekit.vectors.Pruning`, None: none). ``query_model``/``query_sha256`` name the query encoder when
    it is not the document model itself (a separate query encoder, or an inference-free weight table; see
    :mod:`spladekit.encoder.card`): search refuses another query encoder for such an index.
    """

    model: str
    weights_sha256: str | None
    pooling: str = "max"
    max_length: int = 256
    long_text: str = "truncate"
    backend: str = "onnx"
    dtype: str = "float32"
    doc_prune: str | None = None
    query_model: str | None = None
    query_sha256: str | None = None

    #: Fields that change a document vector; ``model`` (a name) is compared only when no hash is known.
    GUARDED = ("weights_sha256", "pooling", "max_length", "long_text", "backend", "dtype", "doc_prune")
    #: Written into ``_meta`` only when set, so an index of a plain model reads as before.
    OPTIONAL = ("doc_prune", "query_model", "query_sha256")
    #: Differences the guard reports but allows: onnx and torch at the same dtype compute the same vectors
    #: (within 1e-4, the same terms; tested), so mixing them is said, not refused.
    SOFT = ("backend",)

    def to_meta(self) -> dict[str, Any]:
        """As ``_meta`` keys (``model_sha256`` is the key earlier indexes used for the weights' hash)."""
        out = {k: v for k, v in asdict(self).items() if v is not None or k not in self.OPTIONAL}
        out["model_sha256"] = out.pop("weights_sha256")
        return out

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> ModelIdentity:
        """From an index's ``_meta``; keys an older index lacks take the values every such index was written
        with (:data:`LEGACY`)."""
        known = {f.name for f in fields(cls)}
        values = {**LEGACY, **{k: v for k, v in meta.items() if k in known}}
        values["weights_sha256"] = meta.get("model_sha256", meta.get("weights_sha256"))
        values.setdefault("model", str(meta.get("model") or "unknown"))
        return cls(**{k: v for k, v in values.items() if k in known})


#: What indexes written before spladekit recorded these fields were all made with (export default 256 tokens,
#: truncation, onnxruntime float32, max pooling).
LEGACY: dict[str, Any] = {"pooling": "max", "max_length": 256, "long_text": "truncate", "backend": "onnx",
                          "dtype": "float32"}


def identity_mismatch(existing: Mapping[str, Any], ident: ModelIdentity) -> list[str]:
    """The guarded fields on which an index's ``_meta`` and ``ident`` differ, as ``key`` names."""
    theirs = ModelIdentity.from_meta(existing)
    differ = [k for k in ModelIdentity.GUARDED if k != "weights_sha256" and getattr(theirs, k) != getattr(ident, k)]
    if theirs.weights_sha256 and ident.weights_sha256:
        if theirs.weights_sha256 != ident.weights_sha256:
            differ.insert(0, "weights_sha256")
    elif theirs.model != ident.model:
        differ.insert(0, "model")
    return differ


def check_identity(existing: Mapping[str, Any] | None, ident: ModelIdentity, where: str, force: bool = False) -> bool:
    """Refuse to mix vectors made another way in one index; True when ``force`` overrode a mismatch.

    ``existing`` is the index's ``_meta`` (None or empty for a new index: nothing to check).
    """
    if not existing:
        return False
    differ = identity_mismatch(existing, ident)
    if not differ:
        return False
    theirs = ModelIdentity.from_meta(existing)
    if all(k in ModelIdentity.SOFT for k in differ):
        warnings.warn(f"{where} was written by the {theirs.backend} backend, this job runs {ident.backend} "
                      f"({ident.dtype}): the same vectors within 1e-4, so they are mixed", MixedBackendWarning,
                      stacklevel=3)
        return False

    def show(obj: ModelIdentity, key: str) -> str:
        value = obj.model if key == "model" else getattr(obj, key)
        if key == "weights_sha256":
            return f"model {obj.model!r} (weights sha256 {str(value)[:12]})"
        if key == "doc_prune" and value is None:
            return "no document pruning"
        return f"{key}={value}"

    fixes = [f"--{k.replace('_', '-')} {getattr(theirs, k)}" for k in differ
             if k in ("max_length", "long_text", "doc_prune") and getattr(theirs, k) is not None]
    if "doc_prune" in differ and theirs.doc_prune is None:
        fixes.append("without --doc-prune")
    msg = (f"{where} was written with {', '.join(show(theirs, k) for k in differ)}; this job has "
           f"{', '.join(show(ident, k) for k in differ)}. Vectors made another way do not mix in one index: use "
           f"another index, run with the settings the index was built with"
           + (f" ({' '.join(fixes)})" if fixes else " (its model)")
           + ", or pass --force to write anyway")
    if not force:
        raise IndexFormatError(msg)
    warnings.warn("FORCED: " + msg, stacklevel=3)
    return True


@dataclass(frozen=True)
class IndexSchema:
    """Field names of a spladekit index, and the ``_meta`` it records."""

    sparse: str = "splade"
    text: str = "text"
    title: str = "title"

    def meta(self, ident: ModelIdentity | None = None, **extra: Any) -> dict[str, Any]:
        """``_meta`` for an index of vectors made by ``ident`` (without it: only the feature-name scheme, the
        template that ``spladekit mappings`` prints)."""
        out: dict[str, Any] = {"feature_names": FEATURE_NAMES_SCHEME}
        if ident is not None:
            out = {**ident.to_meta(), "spladekit_version": __version__, **out}
        return {**out, **extra}


SCHEMA = IndexSchema()
