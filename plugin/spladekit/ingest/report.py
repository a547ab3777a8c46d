"""The final report of an ingest job, as a dataclass and as JSON.

Counts satisfy ``read == skipped + indexed + sum(failed.values())``: ``read`` counts every record of the
input (blank lines are not records), ``skipped`` those at or before the ``--resume`` checkpoint (done by an
earlier run), ``failed`` the dead-lettered ones by reason. ``retries`` counts documents sent again after a
retryable failure (429, 502/503/504, connection errors). Nothing here ever holds a credential: the target
is written without user info (see :func:`redact_url`).

>>> redact_url("https://elastic:s3cret@db.example:9200/x")
'https://db.example:9200/x'
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit, urlunsplit

from spladekit.engines.base import split_userinfo


def redact_url(url: str) -> str:
    """``url`` without ``user:password@`` (and without a query string, which may hold a token)."""
    clean, _, _ = split_userinfo(url)
    try:
        parts = urlsplit(clean)
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme:
        return clean.split("@")[-1]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass
class IngestReport:
    target: str = ""
    input: str = ""
    model: str = ""
    model_sha256: str | None = None
    read: int = 0
    indexed: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    retries: int = 0
    seconds: float = 0.0
    docs_per_s: float = 0.0
    resumed_from: int | None = None
    checkpoint: str | None = None
    dead_letter: str | None = None
    forced: bool = False
    complete: bool = False

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)
