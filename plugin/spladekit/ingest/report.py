"""The final report of an ingest job, as a dataclass and as JSON.

Counts satisfy ``read == skipped + indexed + sum(failed.values())``: ``read`` counts every record of the
input (blank lines are not records), ``skipped`` those at or before the ``--resume`` checkpoint (done by an
earlier run), ``failed`` the dead-lettered ones by reason. ``repaired`` counts the records past the checkpoint
whose undecodable bytes were replaced or dropped (``--decode-errors replace|skip``); each of them is also in
``indexed`` or, failing for another reason, in ``failed``. ``retries`` counts documents sent again after a
retryable failure (429, 502/503/504, connection errors). Nothing here ever holds a credential: the target
is written without user info (see :func:`redact_url`).

>>> redact_url("https://elastic:s3cret@db.example:9200/x")
'https://db.example:9200/x'
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit, urlunsplit

from spladekit.engines.base import split_urls, split_userinfo

#: ``spladekit ingest`` exit statuses: everything indexed; the job completed but records went to the dead
#: letter; the job stopped before the end (engine down past retries, interrupted, --max-errors) and
#: ``--resume`` continues it. 2 is a usage error (click), 1 any other error (one line, no traceback).
EXIT_OK = 0
EXIT_DEAD_LETTER = 3
EXIT_STOPPED = 4
EXIT_CODES = {EXIT_OK: "everything indexed", 1: "error (nothing or not everything done; the message says why)",
              2: "usage error (a bad option or argument)",
              EXIT_DEAD_LETTER: "completed, but some records went to the dead letter (the report says how many "
                                "and where)",
              EXIT_STOPPED: "stopped before the end (engine down past retries, interrupted, --max-errors "
                            "exceeded): fix the cause and run the same command with --resume"}


def redact_url(url: str) -> str:
    """``url`` without ``user:password@`` (and without a query string, which may hold a token); each URL of a
    comma-separated list (a cluster's nodes).

    >>> redact_url("http://u:p@n1:9200/?t=1,http://u:p@n2:9201")
    'http://n1:9200/,http://n2:9201'
    """
    urls = split_urls(url)
    if len(urls) > 1:
        return ",".join(redact_url(u) for u in urls)
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
    """What a job did. ``complete``: the whole input was read and every record is indexed or in the dead
    letter; ``stopped``: why a job ended early (``--resume`` continues it). ``encoding``: the encoder's counts
    (texts truncated at ``max_length`` and tokens dropped, texts split and windows encoded). ``doc_prune``: the
    static pruning rule, and ``pruning`` the terms the encoder gave (``terms_in``) and those indexed
    (``terms_kept``)."""

    target: str = ""
    input: str = ""
    model: str = ""
    model_sha256: str | None = None
    max_length: int | None = None
    long_text: str | None = None
    doc_prune: str | None = None
    input_encoding: str = "utf-8"
    decode_errors: str = "strict"
    read: int = 0
    indexed: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    repaired: int = 0
    retries: int = 0
    encoding: dict[str, int] = field(default_factory=dict)
    #: Distributed jobs: documents encoded per Ray worker (host:pid).
    workers: dict[str, int] = field(default_factory=dict)
    pruning: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    docs_per_s: float = 0.0
    resumed_from: int | None = None
    checkpoint: str | None = None
    dead_letter: str | None = None
    forced: bool = False
    #: of an engine index: what the job created, or checked on an existing one (None: not read); replicas "0-1":
    #: as many as the cluster's data nodes allow, up to 1 (``auto_expand_replicas``)
    shards: int | None = None
    replicas: int | str | None = None
    complete: bool = False
    stopped: str | None = None

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    @property
    def exit_code(self) -> int:
        """The ``spladekit ingest`` exit status for this report (see :data:`EXIT_CODES`)."""
        if not self.complete:
            return EXIT_STOPPED
        return EXIT_DEAD_LETTER if self.failed_total else EXIT_OK

    def summary(self) -> str:
        """One human line: what happened and, when records failed or the job stopped, what to do."""
        head = (f"{'stopped' if not self.complete else 'done'}: read {self.read}, indexed {self.indexed}, "
                f"failed {self.failed_total}" + (f", skipped {self.skipped} (resumed)" if self.skipped else "")
                + (f", repaired {self.repaired} (--decode-errors {self.decode_errors})" if self.repaired else "")
                + f" into {self.target} ({self.docs_per_s:.0f} docs/s"
                + (f", encoded by {len(self.workers)} Ray workers" if self.workers else "") + ")")
        if self.doc_prune and self.pruning.get("terms_in"):
            kept = self.pruning["terms_kept"] / self.pruning["terms_in"]
            head += f"; pruned by {self.doc_prune}: {100 * kept:.1f}% of the terms kept"
        if self.failed_total:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.failed.items(), key=lambda kv: -kv[1]))
            head += f"; dead letter ({reasons}): {self.dead_letter}"
            if {"invalid_utf8", "invalid_encoding"} & set(self.failed):
                head += "; --encoding names the input's codec, --decode-errors replace repairs undecodable bytes"
        if not self.complete:
            head += f"; {self.stopped or 'stopped'}; run the same command with --resume to continue"
        return head

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)
