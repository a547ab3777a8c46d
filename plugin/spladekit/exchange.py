"""Vectors out of spladekit, into the systems the SPLADE papers index with: Anserini (Lucene impact indexes) and
PISA (through pyterrier-pisa).

:func:`export_vectors` writes a local index's document vectors, and optionally its queries encoded by the
index's own query encoder, to a folder:

- ``format="anserini"``: Anserini's ``JsonVectorCollection``, one ``{"id", "contents", "vector": {term: int}}``
  per line in ``docs/docs.jsonl``, weights quantized as ``round(w * scale)`` (``scale`` 100, the SPLADE
  convention) and zeros dropped; ``queries.tsv`` (``qid<TAB>term term ...``, each term repeated by its integer
  weight: the pre-tokenized impact topics, ``-topicReader TsvString``) and ``queries.jsonl`` (``{"qid",
  "vector"}``: :func:`read_vectors`, :func:`pisa_queries`);
- ``format="jsonl"``: the same layout with the float32 weights as the index scores them (``{"id", "vector":
  {term: float}}``, queries ``{"qid", "vector"}``), lossless.

Terms are spladekit's feature names (``spladekit.features``: the tokens, with ``.``, ``%`` and whitespace
escaped), so a pre-tokenized whitespace analyzer sees each as one term. ``export.json`` records the format,
scale, model identity and counts, with the commands that index and search the files:

- Anserini: ``IndexCollection -collection JsonVectorCollection -input OUT/docs -index IDX -impact -pretokenized``,
  then ``SearchCollection -index IDX -topics OUT/queries.tsv -topicReader TsvString -impact -pretokenized``
  (checked with Anserini 1.5.0 by ``benchmarks/anserini_check.py``: the same score list as spladekit's integer
  scoring for every query of three collections);
- PISA through pyterrier-pisa: ``PisaIndex(IDX, stemmer="none").toks_indexer(scale=1).index(pisa_documents(OUT))``
  then ``index.quantized(toks_scale=1)`` on ``pisa_queries(OUT)`` (the integers as they are; pyterrier-pisa's own
  default multiplies float weights by 100, which is the same quantization).

:func:`read_vectors` reads either file back (the round trip is tested). Integer scores of an export are
``sum_t q_int * d_int``; ``benchmarks/efficiency.py`` measures what the quantization changes in nDCG@10.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from spladekit import __version__
from spladekit.errors import InputError
from spladekit.features import FeatureNames
from spladekit.readers import read_queries
from spladekit.search import Searcher, model_tokenizer
from spladekit.vectors import SparseVector

Format = Literal["anserini", "jsonl"]
FORMATS: tuple[str, ...] = ("anserini", "jsonl")
#: SPLADE's weights become Anserini/PISA impacts as round(w * 100) (the convention of the SPLADE indexes
#: Anserini and Pyserini publish).
DEFAULT_SCALE = 100
DOCS_FILE = "docs/docs.jsonl"
MANIFEST = "export.json"


def quantize(vec: SparseVector, scale: float = DEFAULT_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """(ids, int64 impacts) of ``vec``: ``round(w * scale)`` (half to even, numpy's), zeros dropped.

    >>> quantize(SparseVector.from_dict({3: 0.004, 5: 0.006, 9: 1.2345}))
    (array([5, 9], dtype=int32), array([  1, 123]))
    """
    impacts = np.rint(vec.weights.astype(np.float64) * scale).astype(np.int64)
    keep = impacts > 0
    return vec.ids[keep], impacts[keep]


def _vector(vec: SparseVector, names: FeatureNames, fmt: str, scale: float) -> dict[str, Any]:
    if fmt == "anserini":
        ids, impacts = quantize(vec, scale)
        return {names.name(i): v for i, v in zip(ids.tolist(), impacts.tolist(), strict=True)}
    return {names.name(i): w for i, w in zip(vec.ids.tolist(), vec.weights.tolist(), strict=True)}


def export_vectors(
    index: str | Path,
    out_dir: str | Path,
    *,
    format: str = "anserini",  # noqa: A002 (the CLI's word)
    queries: str | Path | Mapping[str, str] | None = None,
    query_vectors: Mapping[str, SparseVector] | None = None,
    model: str | None = None,
    inference_free: bool = False,
    names: FeatureNames | None = None,
    scale: float = DEFAULT_SCALE,
) -> dict[str, Any]:
    """Write the local index at ``index`` to ``out_dir`` in ``format`` (see the module docstring); returns the
    manifest (also written as ``export.json``).

    ``queries`` (a BEIR ``queries.jsonl``, a ``qid<TAB>text`` file, or ``{qid: text}``) are encoded by the
    index's query encoder (its model or model card; ``model`` overrides it, ``inference_free`` weighs the
    query tokens by the card's table or the index's IDF, as ``search --inference-free``); ``query_vectors``
    gives them already encoded. ``names`` (the vocabulary's feature names) defaults to the index's model's.
    """
    if format not in FORMATS:
        raise ValueError(f"format {format!r} is not supported; valid: {', '.join(FORMATS)}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if queries is not None and query_vectors is not None:
        raise InputError("give queries (texts to encode) or query_vectors (encoded), not both")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise InputError(f"{out} exists and holds something else than a vector export; give an empty or new folder")
    searcher = Searcher(local_dir=index, model=model, names=names, inference_free=inference_free)
    local = searcher.local
    assert local is not None
    texts = None
    if queries is not None:
        texts = dict(queries) if isinstance(queries, Mapping) else read_queries(queries)
    encoded: dict[str, SparseVector] = dict(query_vectors or {})
    if texts:
        encoder = searcher.encoder  # loads (and checks) the index's query encoder
        encoded = dict(zip(texts, encoder.encode_queries(list(texts.values())), strict=True))
    if names is not None:
        vocab = names
    elif texts:
        vocab = searcher.encoder.names
    else:  # the vocabulary alone: no model is loaded
        vocab = FeatureNames.from_tokenizer_file(model_tokenizer(searcher.model))
    ids, batch = local.documents()
    (out / "docs").mkdir(parents=True, exist_ok=True)
    postings = 0
    with (out / DOCS_FILE).open("w", encoding="utf-8") as fh:
        for doc_id, vec in zip(ids, batch, strict=True):
            vector = _vector(vec, vocab, format, scale)
            postings += len(vector)
            row = {"id": doc_id, "contents": "", "vector": vector} if format == "anserini" else {
                "id": doc_id, "vector": vector}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    files = {"docs": DOCS_FILE}
    if encoded:
        files |= _write_queries(out, encoded, vocab, format, scale)
    manifest = {
        "format": format, "scale": scale if format == "anserini" else None, "terms": "spladekit feature names "
        "(escaped-token-v1)", "index": str(index), "index_mode": local.mode, "docs": len(ids),
        "postings": postings, "postings_in_index": int(batch.nnz().sum()), "queries": len(encoded),
        "query_encoder": _query_encoder_name(searcher.encoder) if texts else None,
        "model": {k: v for k, v in local.meta.items() if k not in ("eval_key", "eval_dataset")},
        "files": files, "spladekit_version": __version__, "commands": _commands(format),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _write_queries(out: Path, encoded: Mapping[str, SparseVector], names: FeatureNames, fmt: str,
                   scale: float) -> dict[str, str]:
    files = {"queries": "queries.jsonl"}
    with (out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid, vec in encoded.items():
            fh.write(json.dumps({"qid": str(qid), "vector": _vector(vec, names, fmt, scale)}, ensure_ascii=False)
                     + "\n")
    if fmt == "anserini":
        files["queries_tsv"] = "queries.tsv"
        with (out / "queries.tsv").open("w", encoding="utf-8") as fh:
            for qid, vec in encoded.items():
                vector = _vector(vec, names, fmt, scale)
                if "\t" in str(qid) or "\n" in str(qid):
                    raise InputError(f"query id {qid!r} holds a tab or newline; it cannot be written to queries.tsv")
                fh.write(f"{qid}\t{' '.join(' '.join([t] * n) for t, n in vector.items())}\n")
    return files


def _commands(fmt: str) -> dict[str, str]:
    if fmt != "anserini":
        return {}
    return {
        "anserini_index": "bin/run.sh io.anserini.index.IndexCollection -collection JsonVectorCollection "
                          "-input OUT/docs -index IDX -generator DefaultLuceneDocumentGenerator -impact "
                          "-pretokenized -threads 4",
        "anserini_search": "bin/run.sh io.anserini.search.SearchCollection -index IDX -topics OUT/queries.tsv "
                           "-topicReader TsvString -output run.trec -impact -pretokenized -hits 1000",
        "pyterrier_pisa": "PisaIndex(IDX, stemmer='none').toks_indexer(scale=1).index(pisa_documents(OUT)); "
                          "PisaIndex(IDX).quantized(toks_scale=1)(pandas.DataFrame(pisa_queries(OUT)))",
    }


def read_vectors(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, {term: weight}) of each line of an exported documents or queries JSONL file (``id`` or ``qid``); an
    export folder reads its documents."""
    path = Path(path)
    if path.is_dir():
        path = path / DOCS_FILE
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                yield str(row["id"] if "id" in row else row["qid"]), dict(row["vector"])
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path}:{lineno}: not an exported vector ({exc}); expected "
                                 '{"id" or "qid", "vector": {term: weight}}') from None


def pisa_documents(export_dir: str | Path) -> Iterator[dict[str, Any]]:
    """The exported documents as pyterrier-pisa's ``toks_indexer`` takes them: ``{"docno", "toks"}``."""
    for doc_id, vector in read_vectors(export_dir):
        yield {"docno": doc_id, "toks": vector}


def pisa_queries(export_dir: str | Path) -> list[dict[str, Any]]:
    """The exported queries as pyterrier-pisa's retrievers take them: ``{"qid", "query_toks"}`` rows."""
    path = Path(export_dir) / "queries.jsonl"
    if not path.is_file():
        raise InputError(f"{path} does not exist: export the queries too (--queries FILE)")
    return [{"qid": qid, "query_toks": vector} for qid, vector in read_vectors(path)]


def _query_encoder_name(encoder: object) -> str:
    ident = encoder.identity()  # type: ignore[attr-defined]
    return ident.query_model or ident.model
