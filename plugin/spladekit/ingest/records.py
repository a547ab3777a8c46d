"""What the record policy makes of a row: a usable :class:`Record`, or a :class:`~spladekit.readers.Reject`
bound for the dead letter with one of :data:`REASONS`.

Every record carries its input ``position`` (see :class:`spladekit.readers.Raw`); the checkpoint stores one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spladekit.readers import Raw, Reject
from spladekit.schema import encoder_text

__all__ = ["REASONS", "Raw", "Record", "Reject"]

#: Every reason a record can be rejected for; the dead letter and the report use exactly these strings.
REASONS = {
    "malformed_json": "the line is not valid JSON",
    "malformed_csv": "the CSV/TSV row cannot be parsed or has another number of fields than the header",
    "not_an_object": "the JSON value is not an object",
    "invalid_utf8": "the bytes are not valid UTF-8 (or the text holds lone surrogates); --decode-errors replace "
                    "or skip repairs them",
    "invalid_encoding": "the bytes are not valid in the --encoding given; --decode-errors replace or skip "
                        "repairs them",
    "missing_id": "no id and --require-id was given",
    "invalid_id": "the id is not a string or an integer, is blank, or is longer than 512 UTF-8 bytes",
    "missing_text": "the text field is absent or null",
    "non_string_text": "the text or title is not a string",
    "empty_text": "title and text are empty or whitespace only",
    "too_large": "title + text exceed max_doc_bytes",
    "duplicate_id": "an earlier record of this job has the same id (first occurrence wins)",
    "engine_rejected": "the engine refused the document (not retryable); the detail says why",
}


@dataclass(slots=True)
class Record:
    position: int
    id: str
    text: str
    title: str = ""
    #: UTF-8 size of title + text (used for the in-flight memory budget and bulk chunking)
    nbytes: int = 0
    #: The vector, when it was computed before the pipeline (distributed ingestion encodes on Ray workers)
    vector: Any = None
    #: With ``vector``: what encoding it cost (an ``EncodeStats`` of this one text)
    encoding: Any = None

    @property
    def encoder_text(self) -> str:
        """What the encoder sees (:func:`spladekit.schema.encoder_text`)."""
        return encoder_text(self.title, self.text)
