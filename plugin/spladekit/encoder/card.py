"""A model card: one folder that names a document encoder and a query encoder.

Efficient SPLADE ("An Efficiency Study for SPLADE Models") trains a small query encoder beside a larger document
encoder; inference-free SPLADE (sentence-transformers' ``SparseStaticEmbedding`` behind a ``Router``, OpenSearch's
inference-free models) replaces the query encoder by a weight table. Either way a model is two things, and the
card says which: ``spladekit_model.json`` in a folder::

    {"format": "spladekit-model-card", "format_version": 1, "document": "document", "query": "query"}
    {"format": "spladekit-model-card", "format_version": 1, "document": "document", "query_table": "idf.json"}

``document`` and ``query`` are model names, Hugging Face ids or folders (relative to the card's folder, or
absolute); ``query_table`` an ``idf.json`` (:mod:`spladekit.encoder.static`). ``SpladeEncoder.load(card_folder)``
loads the pair (:class:`spladekit.encoder.pair.PairEncoder`), and everything that takes ``--model`` takes a card:
ingest (the document side, the card recorded in ``_meta``), search (the query side), eval, ``export`` (both sides).
``spladekit train --separate-query-encoder`` and ``--inference-free`` write one.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     _ = write_card(d, document="splade-tiny", query_table="idf.json")
...     card = read_card(d)
>>> card.document, card.query, card.query_table
('splade-tiny', None, 'idf.json')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spladekit.errors import ModelError

CARD_NAME = "spladekit_model.json"
CARD_FORMAT = "spladekit-model-card"
CARD_VERSION = 1


@dataclass(frozen=True)
class ModelCard:
    """A card read from ``directory``: the document model, and a query model or a query weight table."""

    directory: Path
    document: str
    query: str | None = None
    query_table: str | None = None

    def resolve(self, value: str) -> str:
        """A card entry as something :func:`spladekit.models.resolve_model` or a path takes: a folder or file
        beside the card wins over a model name."""
        here = self.directory / value
        return str(here) if here.exists() else value

    @property
    def document_model(self) -> str:
        return self.resolve(self.document)

    @property
    def query_model(self) -> str | None:
        return None if self.query is None else self.resolve(self.query)

    @property
    def table_path(self) -> Path | None:
        return None if self.query_table is None else Path(self.resolve(self.query_table))


def is_card(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a model card."""
    try:
        return (Path(str(path)).expanduser() / CARD_NAME).is_file()
    except OSError:
        return False


def read_card(path: str | Path) -> ModelCard:
    """The card in folder ``path``, checked: a document model and exactly one of query / query_table."""
    directory = Path(str(path)).expanduser()
    file = directory / CARD_NAME
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the model card {file}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != CARD_FORMAT:
        raise ModelError(f"{file} is not a spladekit model card (format {CARD_FORMAT!r})")
    if data.get("format_version") != CARD_VERSION:
        raise ModelError(f"{file} has format_version {data.get('format_version')}, this spladekit reads "
                         f"{CARD_VERSION}; write it again with this version")
    document, query, table = data.get("document"), data.get("query"), data.get("query_table")
    if not isinstance(document, str) or not document:
        raise ModelError(f"{file} names no document model (\"document\": a model name or folder)")
    if (query is None) == (table is None) or not isinstance(query or table, str):
        raise ModelError(f"{file} must name exactly one query side: \"query\" (a model) or \"query_table\" "
                         "(an idf.json weight table)")
    return ModelCard(directory, document, query, table)


def write_card(directory: str | Path, *, document: str, query: str | None = None, query_table: str | None = None,
               extra: dict[str, Any] | None = None) -> Path:
    """Write ``spladekit_model.json`` into ``directory`` (entries relative to it where they are inside it)."""
    directory = Path(directory)
    if (query is None) == (query_table is None):
        raise ValueError("a model card names exactly one query side: query (a model) or query_table (idf.json)")
    directory.mkdir(parents=True, exist_ok=True)

    def rel(value: str) -> str:
        path = Path(value)
        try:
            return str(path.resolve().relative_to(directory.resolve())) if path.exists() else value
        except ValueError:
            return str(path.resolve())

    card: dict[str, Any] = {"format": CARD_FORMAT, "format_version": CARD_VERSION, "document": rel(document)}
    if query is not None:
        card["query"] = rel(query)
    else:
        card["query_table"] = rel(str(query_table))
    card.update(extra or {})
    (directory / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return directory
