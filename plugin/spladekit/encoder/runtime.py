"""Encode texts with an exported SPLADE graph on onnxruntime and tokenizers; torch is never imported here.

>>> from spladekit.encoder.runtime import EncodeStats
>>> EncodeStats(tokens=75, positions=100).padding_waste
0.25

Texts are tokenized in one parallel call, sorted by length so that a batch pads little (the waste is
reported in :class:`EncodeStats`), run through the graph, and returned in their input order.

Long texts. ``max_length`` is the tokens per window (special tokens included): the export's own length (the
model's, 512 for the default) unless a shorter one is asked for. Documents longer than that follow an explicit
policy, never a silent one: ``truncate`` (cut; counted in :attr:`EncodeStats.truncated` with the tokens
dropped) or ``split`` into windows of ``max_length`` tokens overlapping by ``stride``, encoded in the same
batches as everything else and max-pooled per document (SPLADE's own aggregation over tokens, so a split
document is SPLADE-max over its whole text, up to the windows' context); ``max_windows`` bounds the windows per
document (the rest is dropped and counted). Queries are always truncated. Empty and whitespace-only texts
encode to an empty vector without running the model.
"""

from __future__ import annotations

import bisect
import copy
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from spladekit.encoder import CONFIG_NAME, CONFIG_VERSION, screen
from spladekit.encoder.card import is_card, read_card
from spladekit.encoder.pair import PairEncoder
from spladekit.encoder.pooling import SpladePooling
from spladekit.encoder.static import StaticQueryEncoder
from spladekit.encoder.store import is_export, onnx_dir
from spladekit.errors import InputError, ModelError, missing_extra
from spladekit.features import FeatureNames
from spladekit.schema import ModelIdentity
from spladekit.vectors import Pruning, SparseVector

LongTextPolicy = Literal["truncate", "split"]
#: A single text of at most this many tokens runs the export's query graph (an exact int8 screen of the
#: vocabulary, then float32 on the candidates; see export.py); longer texts and batches run the Loop graph,
#: whose vocabulary blocks keep the logits in cache.
QUERY_GRAPH_MAX_TOKENS = 64
Device = Literal["cpu", "cuda"]
Backend = Literal["onnx", "torch"]
DType = Literal["float32", "bfloat16", "float16"]
_POLICIES: tuple[str, ...] = get_args(LongTextPolicy)
_DEVICES: tuple[str, ...] = get_args(Device)
_BACKENDS: tuple[str, ...] = get_args(Backend)
_DTYPES: tuple[str, ...] = get_args(DType)


@dataclass
class EncodeStats:
    """What one ``encode_*`` call did: counts of texts, tokens, padding and long-text handling."""

    texts: int = 0
    empty: int = 0  # empty or whitespace-only texts, encoded as empty vectors
    truncated: int = 0  # texts that lost tokens: cut at max_length ("truncate"), or past max_windows ("split")
    tokens_dropped: int = 0  # tokens of those texts the model never saw
    split: int = 0  # texts split into several windows (policy "split")
    windows: int = 0  # sequences actually run through the model
    tokens: int = 0  # real tokens run through the model, special tokens included
    positions: int = 0  # tokens + padding
    batches: int = 0
    graph: str = ""  # "query" (one short text, the query graph) or "batch" (the per-text Loop graph)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, other: EncodeStats) -> None:
        """Accumulate another call's counts (for a job's report)."""
        for name in ("texts", "empty", "truncated", "tokens_dropped", "split", "windows", "tokens", "positions",
                     "batches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def padding_waste(self) -> float:
        """Fraction of the positions the model ran on that were padding."""
        return 0.0 if self.positions == 0 else 1.0 - self.tokens / self.positions

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra")
        out["padding_waste"] = round(self.padding_waste, 6)
        return out | self.extra


@dataclass
class Prepared:
    """Texts tokenized and cut into windows, ready for the model (:meth:`SpladeEncoder.tokenize`)."""

    n_texts: int
    live: list[int]  # the non-empty texts, by position
    windows: list[list[int]]  # token ids of each window
    owners: list[int]  # window -> index into ``live``
    stats: EncodeStats
    #: per live text: (windows, split, truncated, tokens dropped); :meth:`text_stats` reads it
    per_text: list[tuple[int, int, int, int]] = field(default_factory=list)

    def text_stats(self, i: int) -> EncodeStats:
        """What text ``i`` alone counts for in :attr:`stats` (its windows and long-text handling), so that a
        caller that keeps only some of the texts (distributed ingestion) can add up exactly those."""
        j = bisect.bisect_left(self.live, i)
        if j == len(self.live) or self.live[j] != i:
            return EncodeStats(texts=1, empty=1)
        windows, split, truncated, dropped = self.per_text[j]
        return EncodeStats(texts=1, windows=windows, split=split, truncated=truncated, tokens_dropped=dropped)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str | bytes):
        raise InputError("pass a list of texts, not a single string: encode_documents([text])")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InputError(f"texts[{i}] is a {type(text).__name__}, expected str; convert or drop it first")
    return out


class SpladeEncoder:
    """A SPLADE encoder exported by :func:`spladekit.encoder.export.export`, run on onnxruntime.

    Load it with :meth:`load`; ``encode_documents``/``encode_queries`` return one :class:`SparseVector` per
    text (``SparseBatch.from_vectors`` turns the list into the CSR batch type); ``last_stats`` describes the
    last call.
    """

    #: Which runtime computes the vectors, and in which precision (recorded in every index's identity).
    backend = "onnx"
    dtype = "float32"

    def __init__(self, directory: str | Path, device: Device = "cpu", threads: int | None = None,
                 batch_size: int = 32, long_text: LongTextPolicy = "truncate", stride: int | None = None,
                 max_length: int | None = None, max_windows: int | None = None) -> None:
        if device not in _DEVICES:
            raise ValueError(f"device {device!r} is not supported; valid values: {', '.join(map(repr, _DEVICES))}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None (all cores), got {threads}")
        self.directory = Path(directory)
        config_path = self.directory / CONFIG_NAME
        if not config_path.is_file():
            raise ModelError(f"{self.directory} is not an exported encoder (no {CONFIG_NAME}); create one with "
                             f"`spladekit export MODEL -o {self.directory}`")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("format_version") != CONFIG_VERSION:
            raise ModelError(f"{config_path} has format_version {config.get('format_version')}, this spladekit "
                             f"reads {CONFIG_VERSION}; re-export the model with `spladekit export`")
        self._init_text(self.directory / "tokenizer.json", SpladePooling.from_dict(config["pooling"]),
                        int(config["max_length"]), int(config["vocab_size"]), batch_size=batch_size,
                        long_text=long_text, stride=stride, max_length=max_length, max_windows=max_windows)
        self._onnx_name = config.get("onnx", "model.onnx")
        self._device = device
        self.threads = int(threads) if threads else default_threads()
        self._session = self._load_session(self._onnx_name, device, self.threads)
        # For many batches on CPU: one single-threaded session run from `threads` Python threads, each on
        # its own batches. Coarse-grained parallelism has no per-operator synchronisation, which costs more
        # than it gains for the small per-text MatMuls of the fused pooling (and more so on a busy machine).
        self._batch_session: Any = None
        # One short text (a query) runs the query path, when the export has one (see export.py); loaded on
        # first use, so that a documents-only job never pays for it.
        self._query_config = config if config.get("query_onnx") and config.get("query_table") else None
        self._query: _QueryPath | None = None
        self._query_single: _QueryPath | None = None  # the same on a single-threaded session, for lists of queries
        self._top_outputs = config.get("top_k") is not None
        self._export_top_k: int | None = config.get("top_k")  # the query graph leaves this cut to us
        self.info: dict[str, Any] = dict(config) | {
            "directory": str(self.directory), "device": device, "backend": self.backend, "dtype": self.dtype,
            "providers": self._session.get_providers(), "threads": self.threads,
            "max_length": self.max_length, "export_max_length": self.export_max_length,
            "long_text": self.long_text, "stride": self.stride, "max_windows": self.max_windows,
        }

    def _init_text(self, tokenizer_file: Path, pooling: SpladePooling, export_max_length: int, vocab_size: int, *,
                   batch_size: int, long_text: str, stride: int | None, max_length: int | None,
                   max_windows: int | None) -> None:
        """What every backend shares: the tokenizer, the window length and long-text policy, feature names."""
        if long_text not in _POLICIES:
            raise ValueError(f"long_text {long_text!r} is not supported; valid values: "
                             f"{', '.join(map(repr, _POLICIES))}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.pooling = pooling
        #: The longest window the model supports (its position embeddings; the model's own maximum).
        self.export_max_length = int(export_max_length)
        if max_length is not None and not 8 <= max_length <= self.export_max_length:
            raise ValueError(f"max_length must be in [8, {self.export_max_length}] (this export's maximum), "
                             f"got {max_length}")
        self.max_length = int(max_length) if max_length is not None else self.export_max_length
        self.vocab_size = int(vocab_size)
        self.batch_size = int(batch_size)
        self.long_text: LongTextPolicy = long_text  # type: ignore[assignment]
        # Windows overlap by a quarter by default so that a term near a cut sees context on both sides.
        self.stride = int(stride) if stride is not None else self.max_length // 4
        if not 0 <= self.stride < self.max_length - 2:
            raise ValueError(f"stride must be in [0, {self.max_length - 2}), got {self.stride}")
        if max_windows is not None and max_windows < 1:
            raise ValueError(f"max_windows must be >= 1 or None (no bound), got {max_windows}")
        self.max_windows = max_windows
        self._tokenizer_file = Path(tokenizer_file)
        self._tokenizer = self._load_tokenizer()
        self._split_tokenizer: Any = None
        self.names = FeatureNames.from_tokenizer_file(self._tokenizer_file)
        if len(self.names) != self.vocab_size:
            raise ModelError(f"tokenizer.json has {len(self.names)} tokens but the model {self.vocab_size}; "
                             "the export is inconsistent, re-export it")
        self.last_stats = EncodeStats()

    @property
    def tokenizer_file(self) -> Path:
        """The ``tokenizer.json`` this encoder tokenizes with (an inference-free query side reads it too)."""
        return self._tokenizer_file

    def identity(self) -> ModelIdentity:
        """Which model made this encoder's document vectors, and how (the record indexes keep and check)."""
        return ModelIdentity(
            model=str(self.info.get("source_model") or self.directory), weights_sha256=self.info.get("weights_sha256"),
            pooling=self.pooling.strategy, max_length=self.max_length, long_text=self.long_text, backend=self.backend,
            dtype=self.dtype,
        )

    @classmethod
    def load(cls, dir_or_name: str | Path = "splade-tiny", device: Device = "cpu", threads: int | None = None,
             backend: Backend = "onnx", dtype: DType = "float32", *, doc_model: str | Path | None = None,
             query_model: str | Path | None = None, **options: Any) -> Any:
        """An encoder for a model name or folder: ``backend="onnx"`` (default) runs its ONNX export (exported
        once into the cache; loading needs only onnxruntime and tokenizers), ``backend="torch"`` the model itself
        on torch (the ``export`` extra), on ``device`` "cpu" or "cuda", in ``dtype`` float32, bfloat16 or
        float16 (torch only). Same SPLADE function, same vectors (within 1e-4 at float32), same feature names.

        Separate query and document encoders: a model card folder (:mod:`spladekit.encoder.card`), or
        ``doc_model=...`` with ``query_model=...`` (a model, or an ``idf.json`` weight table for inference-free
        queries), give a :class:`spladekit.encoder.pair.PairEncoder`: documents by the document model (with
        ``options``: length, long-text policy), queries by the query model.
        """
        if doc_model is not None or query_model is not None:
            if query_model is None:
                raise ValueError("doc_model needs query_model too (or load the document model alone)")
            return cls._pair(doc_model or dir_or_name, str(query_model), None, device, threads, backend, dtype,
                             options)
        if is_card(dir_or_name):
            card = read_card(dir_or_name)
            query = card.query_model if card.query is not None else str(card.table_path)
            return cls._pair(card.document_model, query, str(dir_or_name), device, threads, backend, dtype,
                             options)
        if backend not in _BACKENDS:
            raise ValueError(f"backend {backend!r} is not supported; valid values: {', '.join(map(repr, _BACKENDS))}")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype {dtype!r} is not supported; valid values: {', '.join(map(repr, _DTYPES))}")
        if backend == "torch":
            try:
                # torch and transformers: the optional `export` extra, needed only by this backend.
                from spladekit.encoder.torch_backend import TorchEncoder
            except ImportError as exc:
                raise missing_extra(exc.name or "torch", "export") from None
            return TorchEncoder.load(dir_or_name, device=device, threads=threads, dtype=dtype, **options)
        if dtype != "float32":
            raise ValueError(f"the onnx backend computes in float32; dtype={dtype!r} needs backend='torch' "
                             "(--backend torch)")
        for name in ("max_batch_tokens", "timing"):  # torch-backend options: fixed-size onnx batches, no phases
            options.pop(name, None)
        path = Path(str(dir_or_name)).expanduser()
        if not is_export(path):
            path = onnx_dir(dir_or_name)
        return cls(path, device=device, threads=threads, **options)

    @classmethod
    def _pair(cls, doc_model: str | Path, query_model: str, name: str | None, device: Device, threads: int | None,
              backend: Backend, dtype: DType, options: dict[str, Any]) -> PairEncoder:
        documents = cls.load(doc_model, device=device, threads=threads, backend=backend, dtype=dtype, **options)
        if query_model.endswith(".json") and Path(query_model).is_file():
            queries: Any = StaticQueryEncoder.from_idf_json(query_model, documents.tokenizer_file)
        else:
            # The query side truncates at its own length; the document options (length, long text) are not its.
            queries = cls.load(query_model, device=device, threads=threads, backend=backend, dtype=dtype)
        return PairEncoder(documents, queries, name=name)

    def _load_tokenizer(self) -> Any:
        path = self._tokenizer_file
        if not path.is_file():
            raise ModelError(f"{path.parent} has no tokenizer.json; re-export the model (or give a complete model "
                             "folder)")
        tok = Tokenizer.from_file(str(path))
        tok.no_padding()
        tok.enable_truncation(self.max_length, stride=0)
        return tok

    def _load_session(self, onnx_name: str, device: str, threads: int) -> Any:
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelError(
                    "device='cuda' needs onnxruntime's CUDAExecutionProvider, which this onnxruntime lacks "
                    f"(available: {', '.join(ort.get_available_providers())}); install onnxruntime-gpu "
                    "(pip uninstall onnxruntime && pip install onnxruntime-gpu) or use device='cpu'"
                )
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        path = self.directory / onnx_name
        if not path.is_file():
            raise ModelError(f"{path} is missing; re-export the model with `spladekit export`")
        try:
            return ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for corrupt graphs
            raise ModelError(f"onnxruntime could not load {path}: {exc}; re-export the model") from exc

    # ----------------------------------------------------------------------------------------- encoding
    def encode_documents(self, texts: Sequence[str], *, long_text: LongTextPolicy | None = None,
                         top_k: int | None = None, prune: Pruning | str | dict[str, Any] | None = None,
                         progress: bool = False) -> list[SparseVector]:
        """One SparseVector per document (input order); long documents follow ``long_text``. ``prune``: static
        pruning of each vector (:class:`spladekit.vectors.Pruning` or its spelling, ``"top_k:64"``), as
        ``ingest(doc_prune=...)`` applies it."""
        rule = Pruning.of(prune)
        vectors = self._encode(texts, long_text or self.long_text, top_k, progress)
        return vectors if rule is None else [rule.apply(v) for v in vectors]

    def encode_queries(self, texts: Sequence[str], *, top_k: int | None = None,
                       progress: bool = False) -> list[SparseVector]:
        """One SparseVector per query (input order); a query longer than max_length is truncated.

        On CPU, when the export has the single-text query path, each query runs alone, as a search of that one
        query would run it: a query's vector never depends on the queries it was encoded with (a query service
        that batches concurrent requests returns what ``spladekit search`` computes). A list runs on ``threads``
        threads, each query on one core (coarse-grained, as the batch graph's batches are): 2.3x the queries/s
        of the padded batch graph on splade-tiny (docs/serve.md). onnxruntime splits a matrix product over
        threads by rows and columns, never along the sum, so the vectors are the same bits (tested).
        """
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
        texts = _check_texts(texts)
        if len(texts) > 1 and self._device == "cpu" and self._query_path() is not None:
            return self._encode_each(texts, top_k, progress)
        return self._encode(texts, "truncate", top_k, progress)

    def _encode_each(self, texts: list[str], top_k: int | None, progress: bool) -> list[SparseVector]:
        each = [EncodeStats(texts=1) for _ in texts]
        bar = tqdm(total=len(texts), desc="encoding", unit="query", disable=not progress)
        if self.threads > 1:
            path = self._single_threaded_query_path()
            with ThreadPoolExecutor(max_workers=min(self.threads, len(texts))) as pool:
                # onnxruntime and the compiled screen release the GIL: one query per core at a time.
                vectors = []
                for vec in pool.map(lambda i: self._encode_one(texts[i], each[i], path), range(len(texts))):
                    vectors.append(vec)
                    bar.update()
        else:
            vectors = []
            for text, one in zip(texts, each, strict=True):
                vectors.append(self._encode_one(text, one))
                bar.update()
        bar.close()
        stats = EncodeStats()
        for one in each:
            stats.add(one)
        stats.graph = "+".join(sorted({one.graph for one in each} - {""}))
        self.last_stats = stats
        return [vec.top_k(top_k) if top_k is not None else vec for vec in vectors]

    def _single_threaded_query_path(self) -> _QueryPath:
        if self._query_single is None:
            path = self._query_path()
            assert path is not None and self._query_config is not None  # only called when the path exists
            session = self._load_session(self._query_config["query_onnx"], "cpu", 1)
            self._query_single = path.on(session)
        return self._query_single

    def _encode(self, texts: Sequence[str], long_text: str, top_k: int | None, progress: bool) -> list[SparseVector]:
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
        texts = _check_texts(texts)
        if len(texts) == 1 and long_text == "truncate" and self._query_path() is not None:
            stats = EncodeStats(texts=1)
            self.last_stats = stats
            vec = self._encode_one(texts[0], stats)  # a single text: no sorting, batching or pooling
            return [vec.top_k(top_k) if top_k is not None else vec]
        return self.encode_prepared(self.tokenize(texts, long_text), top_k=top_k, progress=progress)

    def tokenize(self, texts: Sequence[str], long_text: str | None = None) -> Prepared:
        """The first half of :meth:`encode_documents`: tokenize and cut into windows (no model run). Ingest calls
        it on its reader thread, so that tokenizing batch N+1 overlaps running batch N on the model."""
        long_text = long_text or self.long_text
        if long_text not in _POLICIES:
            valid = ", ".join(map(repr, _POLICIES))
            raise ValueError(f"long_text {long_text!r} is not supported; valid values: {valid}")
        texts = _check_texts(texts)
        stats = EncodeStats(texts=len(texts))
        live = [i for i, t in enumerate(texts) if t.strip()]
        stats.empty = len(texts) - len(live)
        owners: list[int] = []  # window -> position in `live`
        windows: list[list[int]] = []
        if not live:
            return Prepared(len(texts), live, windows, owners, stats)
        split = long_text == "split"
        if split and self._split_tokenizer is None:
            # A second tokenizer, so that no call mutates the truncation settings another thread relies on.
            self._split_tokenizer = self._load_tokenizer()
            self._split_tokenizer.enable_truncation(self.max_length, stride=self.stride)
        tokenizer = self._split_tokenizer if split else self._tokenizer
        encodings = tokenizer.encode_batch([texts[i] for i in live], add_special_tokens=True)
        limit = self.max_windows if split and self.max_windows is not None else None
        per_text: list[tuple[int, int, int, int]] = []
        for j, enc in enumerate(encodings):
            more = enc.overflowing
            windows.append(enc.ids)
            owners.append(j)
            if not more:
                per_text.append((1, 0, 0, 0))
                continue
            kept = more if split else []
            if limit is not None:
                kept = more[: limit - 1]
            dropped = more[len(kept):]
            for extra in kept:
                windows.append(extra.ids)
                owners.append(j)
            # An overflow window repeats `stride` tokens of the one before it (split mode only).
            overlap = self.stride if split else 0
            lost = sum(max(0, len(o.ids) - sum(o.special_tokens_mask) - overlap) for o in dropped)
            per_text.append((1 + len(kept), int(split), int(bool(dropped)), lost))
        stats.split = sum(t[1] for t in per_text)
        stats.truncated = sum(t[2] for t in per_text)
        stats.tokens_dropped = sum(t[3] for t in per_text)
        stats.windows = len(windows)
        return Prepared(len(texts), live, windows, owners, stats, per_text)

    def encode_prepared(self, prepared: Prepared, *, top_k: int | None = None,
                        progress: bool = False) -> list[SparseVector]:
        """The second half of :meth:`encode_documents`: run the windows and max-pool them per text."""
        stats = prepared.stats
        self.last_stats = stats
        out: list[SparseVector] = [SparseVector.empty()] * prepared.n_texts
        if not prepared.windows:
            return out
        rows = self._run_windows(prepared.windows, stats, progress)
        # Max-pool the windows of each text (one window for all but split texts).
        pooled: dict[int, SparseVector] = {}
        for w, j in enumerate(prepared.owners):
            vec = rows[w]
            if j in pooled:
                vec = _sparse_max(pooled[j], vec)
            pooled[j] = vec
        for j, i in enumerate(prepared.live):
            vec = pooled[j]
            out[i] = vec.top_k(top_k) if top_k is not None else vec
        return out

    def _encode_one(self, text: str, stats: EncodeStats, path: _QueryPath | None = None) -> SparseVector:
        """One text (policy ``truncate``): the query path when it fits (``path``: another session of it), else the
        batch graph, tokenized once."""
        if not text.strip():
            stats.empty = 1
            return SparseVector.empty()
        encoding = self._tokenizer.encode(text, add_special_tokens=True)
        window = encoding.ids
        if encoding.overflowing:
            stats.truncated = 1
            stats.tokens_dropped = sum(len(o.ids) - sum(o.special_tokens_mask) for o in encoding.overflowing)
        stats.windows = 1
        if len(window) > QUERY_GRAPH_MAX_TOKENS:
            return self._run_windows([window], stats, False)[0]
        stats.batches = 1
        stats.tokens = stats.positions = len(window)
        stats.graph = "query"
        return self._run_query(window, path)

    def _run_windows(self, windows: list[list[int]], stats: EncodeStats, progress: bool) -> list[SparseVector]:
        lengths = np.fromiter((len(w) for w in windows), dtype=np.int64, count=len(windows))
        order = np.argsort(-lengths, kind="stable")
        rows: list[SparseVector] = [SparseVector.empty()] * len(windows)
        batches = [order[start : start + self.batch_size] for start in range(0, len(windows), self.batch_size)]
        for idx in batches:
            stats.tokens += int(lengths[idx].sum())
            stats.positions += int(idx.size * lengths[idx].max())
            stats.batches += 1

        # Always the batch graph here, even for one short window: the query graph gives the same terms but may
        # differ in the last bit, and a document's vector must not depend on the batch it happened to be in
        # (ingest's batches are cut by windows of the input; distributed ingestion cuts them by blocks).
        stats.graph = "batch"

        def run(idx: np.ndarray, session: Any) -> None:
            width = int(lengths[idx].max())
            ids = np.zeros((idx.size, width), dtype=np.int64)
            mask = np.zeros((idx.size, width), dtype=np.int64)
            for r, w in enumerate(idx):
                n = lengths[w]
                ids[r, :n] = windows[w]
                mask[r, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if self._top_outputs:
                weights, top_ids = session.run(["top_weights", "top_ids"], feeds)
                for r, w in enumerate(idx):
                    keep = weights[r] > 0
                    rows[w] = SparseVector(top_ids[r][keep], weights[r][keep])
            else:
                (dense,) = session.run(["splade"], feeds)
                for r, w in enumerate(idx):
                    nz = np.flatnonzero(dense[r] > 0)
                    rows[w] = SparseVector(nz, dense[r, nz])

        bar = None
        if progress:
            bar = tqdm(total=len(batches), desc="encoding", unit="batch")
        if len(batches) > 1 and self.threads > 1 and self._device == "cpu":
            if self._batch_session is None:
                self._batch_session = self._load_session(self._onnx_name, "cpu", 1)
            # onnxruntime releases the GIL in run(); each worker computes whole batches on its own core.
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                for _ in pool.map(lambda idx: run(idx, self._batch_session), batches):
                    if bar is not None:
                        bar.update()
        else:
            for idx in batches:
                run(idx, self._session)
                if bar is not None:
                    bar.update()
        if bar is not None:
            bar.close()
        return rows

    def _query_path(self) -> _QueryPath | None:
        """The single-text path, loaded on first use; None when the export has none or numba is missing."""
        if self._query is None and self._query_config is not None:
            kernel = screen.compiled()
            if kernel is None:  # without numba the screen's test would run as plain Python: use the batch graph
                self._query_config = None
                return None
            session = self._load_session(self._query_config["query_onnx"], self._device, self.threads)
            self._query = _QueryPath(self.directory, self._query_config, kernel, session)
        return self._query

    def _run_query(self, window: list[int], path: _QueryPath | None = None) -> SparseVector:
        """One unpadded text through the query path, which returns only its non-zero terms."""
        vec = (path or self._query)(window)
        return vec.top_k(self._export_top_k) if self._export_top_k is not None else vec

    # ----------------------------------------------------------------------------------- interpretation
    def decode(self, vec: SparseVector, top_k: int | None = None) -> list[tuple[str, float]]:
        """``[(token, weight)]`` by decreasing weight (ties by id), at most ``top_k`` of them."""
        return self.names.decode(vec, top_k)

    def __repr__(self) -> str:
        return (f"SpladeEncoder({self.info.get('source_model')!r}, max_length={self.max_length}, "
                f"device={self.info['device']!r})")


class _QueryPath:
    """The export's single-text path: ``query.onnx`` (encoder and exact int8 screen), then
    :func:`spladekit.encoder.screen.query_terms` (the screen's test and exact scoring of the candidates).
    Same function as the batch graph, term for term."""

    def __init__(self, directory: Path, config: dict[str, Any], kernel: Any, session: Any) -> None:
        table_path = directory / config["query_table"]
        if not table_path.is_file():
            raise ModelError(f"{table_path} is missing; re-export the model with `spladekit export`")
        with np.load(table_path) as table:
            self.half_l1q = np.ascontiguousarray(table["half_l1q"], dtype=np.float64)
            self.bias_units = np.ascontiguousarray(table["bias_units"], dtype=np.float64)
            self.weight = np.ascontiguousarray(table["weight"], dtype=np.float32)
            self.bias = np.ascontiguousarray(table["bias"], dtype=np.float32)
        self.kernel = kernel
        self.session = session

    def on(self, session: Any) -> _QueryPath:
        """The same path (the same vocabulary table, not a copy) run on another session."""
        other = copy.copy(self)
        other.session = session
        return other

    def __call__(self, window: list[int]) -> SparseVector:
        ids = np.array([window], dtype=np.int64)
        hidden, screen, step = self.session.run(["hidden", "screen", "screen_step"],
                                                {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        s_h = float(step)
        if s_h > 0.0:
            offset = float(np.abs(hidden).sum(axis=1, dtype=np.float64).max()) / (2.0 * s_h)
            inv_step = 1.0 / s_h
        else:  # every hidden state is 0: the logits are the biases; let every entry through to exact scoring
            offset, inv_step = np.inf, 0.0
        term_ids, weights = self.kernel.query_terms(screen, hidden, offset, inv_step, self.half_l1q,
                                                    self.bias_units, self.weight, self.bias)
        return SparseVector(term_ids, weights)


def _sparse_max(a: SparseVector, b: SparseVector) -> SparseVector:
    ids = np.union1d(a.ids, b.ids)
    out = np.zeros(ids.size, dtype=np.float32)
    out[np.searchsorted(ids, a.ids)] = a.weights
    pos = np.searchsorted(ids, b.ids)
    out[pos] = np.maximum(out[pos], b.weights)
    return SparseVector(ids, out)


def default_threads() -> int:
    """The number of CPU cores this process may use (what ``threads=None`` lets onnxruntime pick from)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
