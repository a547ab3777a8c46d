"""``--max-errors``: when a job stops because too many of its records fail, and what it tells the user.

A limit is an absolute count (``--max-errors 100``: stop once more than 100 records failed) or a ratio of the
records read so far (``--max-errors 5%``). A ratio is judged once :data:`MIN_RECORDS` records were read (a few
bad records at the start of a good file must not stop it), and at the end of a smaller input. The default,
:data:`DEFAULT`, stops a job whose records mostly fail: a file of the wrong format, or a wrong
``--text-field``, stops after its first hundred records with one line naming the likely cause, instead of
sending the whole file to the dead letter and exiting 0. The job stops checkpointed; every record read is
indexed or in the dead letter.

>>> limit = ErrorLimit.parse("5%")
>>> limit.exceeded(4, 100), limit.exceeded(6, 100), limit.exceeded(6, 20), limit.exceeded(6, 20, final=True)
(False, True, False, True)
>>> ErrorLimit.parse("10").exceeded(11, 11)
True
>>> ErrorLimit.parse("-3")
Traceback (most recent call last):
...
ValueError: --max-errors must be a count >= 0 (e.g. 100) or a percentage in (0, 100] (e.g. 5%), got '-3'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spladekit.errors import SpladekitError

#: Records a ratio needs before it is judged (except at the end of the input).
MIN_RECORDS = 100
#: The default limit: nearly every record fails (the command is wrong, not the data). A messy corpus still runs:
#: ingest/bad_input.jsonl, the bad-input sample, is 74% bad by design.
DEFAULT = "90%"


class TooManyErrors(SpladekitError):
    """More records failed than ``--max-errors`` allows; the job stopped (checkpointed)."""


@dataclass(frozen=True)
class ErrorLimit:
    """At most ``count`` failed records, or at most ``ratio`` of the records read (one of the two)."""

    count: int | None = None
    ratio: float | None = 0.9

    @classmethod
    def parse(cls, text: str | int | float | None) -> ErrorLimit:
        if text is None:
            return cls()
        raw = str(text).strip()
        bad = ValueError(f"--max-errors must be a count >= 0 (e.g. 100) or a percentage in (0, 100] (e.g. 5%), "
                         f"got {raw!r}")
        try:
            if raw.endswith("%"):
                pct = float(raw[:-1])
                if not 0 < pct <= 100:
                    raise bad
                return cls(count=None, ratio=pct / 100.0)
            count = int(raw)
        except ValueError:
            raise bad from None
        if count < 0:
            raise bad
        return cls(count=count, ratio=None)

    def describe(self) -> str:
        return f"{self.count}" if self.count is not None else f"{100 * (self.ratio or 0):g}%"

    def exceeded(self, failed: int, read: int, final: bool = False) -> bool:
        if self.count is not None:
            return failed > self.count
        if self.ratio is None or read == 0 or (read < MIN_RECORDS and not final):
            return False
        return failed / read > self.ratio

    def error(self, failed: int, read: int, counts: Mapping[str, int], first: Mapping[str, Any],
              policy: Any) -> TooManyErrors:
        """The one-paragraph error: how many failed and why, the likely cause, and what to do."""
        top = max(counts, key=lambda r: counts[r])
        reasons = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        return TooManyErrors(
            f"stopped: {failed} of the {read} records read failed ({reasons}), more than --max-errors "
            f"{self.describe()}. {likely_cause(top, first.get(top), policy)} The records read are in the dead "
            f"letter; fix the command and run it again (or raise --max-errors, e.g. --max-errors 100%, to "
            f"index what can be indexed)."
        )


def likely_cause(reason: str, reject: Any, policy: Any) -> str:
    """What a run of one reject reason usually means, naming the option that fixes it."""
    text_field = getattr(policy, "text_field", "text")
    if reason in ("malformed_json", "not_an_object"):
        return ("The input does not look like JSON lines: give its format with --format csv|tsv|parquet, or "
                "point at the right file.")
    if reason == "malformed_csv":
        return "The rows do not match the header: is it really CSV (not TSV)? Give --format tsv or --format csv."
    if reason in ("missing_text", "empty_text", "non_string_text"):
        row = getattr(reject, "record", None)
        fields = f" (fields in the first such record: {', '.join(map(str, row))})" if isinstance(row, dict) else ""
        return f"The records have no usable {text_field!r} field{fields}: name the text field with --text-field."
    if reason in ("missing_id", "invalid_id", "duplicate_id"):
        return "The ids are missing or invalid: name the id field with --id-field, or drop --require-id."
    if reason in ("invalid_utf8", "invalid_encoding"):
        return ("The input is not in the codec read: name its codec with --encoding (e.g. --encoding cp1252), or "
                "repair the undecodable bytes with --decode-errors replace.")
    if reason == "engine_rejected":
        detail = getattr(reject, "detail", "") or ""
        return f"The engine refuses the documents ({detail[:160]}): check the index's mapping."
    return f"Most records fail with {reason!r} (see ingest/README.md for what it means)."
