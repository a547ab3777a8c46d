"""The record policy: what each kind of bad input becomes. Documented for users in ``ingest/README.md``.

=====================================  ==========================================================
case                                   outcome
=====================================  ==========================================================
malformed JSON line                    dead letter ``malformed_json`` (excerpt of the line)
JSON value that is not an object       dead letter ``not_an_object``
invalid UTF-8 bytes / lone surrogates  dead letter ``invalid_utf8`` (excerpt, bytes escaped), or repaired by
                                       the reader under ``--decode-errors replace|skip``
id absent, null or ``""``              id derived from the content (``auto-<sha256>``), or dead
                                       letter ``missing_id`` under ``require_id``
id a number                            kept as its decimal string (``7`` -> ``"7"``)
id bool/float/list/object/blank/long   dead letter ``invalid_id``
text absent or null                    dead letter ``missing_text``
text or title not a string             dead letter ``non_string_text`` (never coerced)
title + text empty or whitespace       dead letter ``empty_text``
title + text over ``max_doc_bytes``    dead letter ``too_large`` (excerpt only)
id already seen in this job            dead letter ``duplicate_id`` (first occurrence wins)
=====================================  ==========================================================

>>> p = RecordPolicy()
>>> p.check(1, {"_id": 7, "text": "lift"})
Record(position=1, id='7', text='lift', title='', nbytes=4, vector=None, encoding=None)
>>> p.check(2, {"_id": "x", "text": "  "}).reason
'empty_text'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from spladekit.ingest.ids import MAX_ID_BYTES, SeenIds, derive_id
from spladekit.ingest.records import Record, Reject
from spladekit.readers import excerpt

#: Default cap on title + text (UTF-8 bytes). SPLADE reads only the first max_length tokens anyway; the cap
#: keeps one record from taking the memory budget of the whole pipeline.
DEFAULT_MAX_DOC_BYTES = 1 << 20
#: Parsed records larger than this are kept in the dead letter as an excerpt, not whole.
MAX_DEAD_RECORD_CHARS = 4000
_REPAIR = "--decode-errors replace (U+FFFD) or skip indexes it"


def _shrink(row: dict) -> object:
    """The record for the dead letter: whole when small, else an excerpt of its JSON."""
    try:
        dumped = json.dumps(row, ensure_ascii=False, default=repr)
    except ValueError:
        dumped = repr(row)
    return row if len(dumped) <= MAX_DEAD_RECORD_CHARS else excerpt(dumped)


def _utf8_len(s: str) -> int | None:
    try:
        return len(s.encode("utf-8"))
    except UnicodeEncodeError:
        return None


@dataclass
class RecordPolicy:
    """Turns a parsed row into a :class:`Record` or a :class:`Reject` (see the table above).

    ``id_fields``: the first of these present in a row is its id (default ``_id`` then ``id``).
    """

    id_fields: Sequence[str] = ("_id", "id")
    text_field: str = "text"
    title_field: str | None = "title"
    require_id: bool = False
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    seen: SeenIds = field(default_factory=SeenIds)

    def __post_init__(self) -> None:
        if isinstance(self.id_fields, str):
            self.id_fields = (self.id_fields,)
        if self.max_doc_bytes <= 0:
            raise ValueError(f"max_doc_bytes must be > 0, got {self.max_doc_bytes}")

    @property
    def columns(self) -> list[str]:
        return [*self.id_fields, self.text_field, *([self.title_field] if self.title_field else [])]

    def _raw_id(self, row: dict) -> object:
        for name in self.id_fields:
            if name in row:
                return row[name]
        return None

    def check(self, position: int, row: dict) -> Record | Reject:
        raw_id = self._raw_id(row)
        doc_id: str | None
        if raw_id is None or raw_id == "":
            if self.require_id:
                return Reject(position, None, "missing_id", _shrink(row),
                              f"no {' or '.join(self.id_fields)} field (--require-id)")
            doc_id = None
        elif isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            return Reject(position, None, "invalid_id", _shrink(row), f"id of type {type(raw_id).__name__}")
        else:
            doc_id = str(raw_id)
            id_len = _utf8_len(doc_id)
            if id_len is None:
                return Reject(position, None, "invalid_utf8", _shrink(_escaped(row)),
                              f"lone surrogates in the id; {_REPAIR}")
            if not doc_id.strip() or id_len > MAX_ID_BYTES:
                return Reject(position, None, "invalid_id", _shrink(row),
                              "blank id" if not doc_id.strip() else f"id of {id_len} bytes > {MAX_ID_BYTES}")
        text = row.get(self.text_field)
        title = row.get(self.title_field) if self.title_field else None
        if text is None:
            return Reject(position, doc_id, "missing_text", _shrink(row), f"no {self.text_field!r} field")
        if not isinstance(text, str) or not (title is None or isinstance(title, str)):
            which = self.text_field if not isinstance(text, str) else self.title_field
            bad = text if not isinstance(text, str) else title
            return Reject(position, doc_id, "non_string_text", _shrink(row),
                          f"{which!r} is a {type(bad).__name__}")
        title = title or ""
        n_text, n_title = _utf8_len(text), _utf8_len(title)
        if n_text is None or n_title is None:
            return Reject(position, doc_id, "invalid_utf8", _shrink(_escaped(row)),
                          f"lone surrogates in the text; {_REPAIR}")
        if not text.strip() and not title.strip():
            return Reject(position, doc_id, "empty_text", _shrink(row))
        nbytes = n_text + n_title
        if nbytes > self.max_doc_bytes:
            shown = {"id": doc_id, self.text_field: excerpt(text)}
            return Reject(position, doc_id, "too_large", shown, f"{nbytes} bytes > max_doc_bytes {self.max_doc_bytes}")
        if doc_id is None:
            doc_id = derive_id(title, text)
        if not self.seen.add(doc_id):
            return Reject(position, doc_id, "duplicate_id", _shrink(row))
        return Record(position, doc_id, text, title, nbytes)


def _escaped(row: dict) -> dict:
    return {k: v.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(v, str) else v
            for k, v in row.items()}
