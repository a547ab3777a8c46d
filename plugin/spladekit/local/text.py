"""The local index's BM25 side: the engines' standard analyzer, and text postings row-aligned with the vectors.

**Analyzer.** OpenSearch and Elasticsearch index a ``text`` field with the ``standard`` analyzer: Lucene's
``StandardTokenizer`` (word boundaries of Unicode UAX #29) then lowercasing, no stop words. :func:`analyze` is
that, written as one regular expression:

- a token is a run of letters, digits and ``_``, each with the combining marks and format characters after it
  (UAX #29's Extend and Format: accents, vowel signs of Indic and Southeast Asian scripts, Hebrew points,
  left-to-right marks), joined across a single ``'``, ``’``, ``‘``, ``.``, ``:`` or ``·`` between two letters
  ("don't", "u.s.a", "www.example.com") and across a single ``.``, ``,``, ``;``, ``'``, ``’`` or ``⁄`` between two
  digits ("3.14", "1,000", "1⁄2"); letters and digits join directly ("3.5x"); a run of Thai, Lao, Myanmar or
  Khmer (no spaces between words) is one token, as Lucene emits it;
- every Han ideograph, every Hiragana character and every pictograph (©, ®, ™, U+2600-27BF, U+1F000-1FAFF and
  the other emoji, with its modifiers and ZWJ sequences) is a token of its own; "other numbers" (², ½) are no
  part of a token;
- tokens longer than 255 characters are cut into pieces of 255 (Lucene's ``maxTokenLength``); a token of
  underscores alone is dropped; the rest is lowercased (Python's ``str.lower``).

What it does not do: the rarer UAX #29 rules (Hebrew letters with quotes, Katakana next to Latin letters, regional
indicator flags, digits right after Southeast Asian letters). Checked against OpenSearch 2.19 and Elasticsearch
8.19: identical tokens for every cranfield text, 499 of 500 dbpedia abstracts (names in 20 scripts) and 3,000 of
3,000 documents drawn from the large corpus of ``benchmarks/corpus_large.py``.
``tests/integration/test_local_bm25_engines.py`` compares it with the engines' ``_analyze`` on real collections.

**Text postings** (:class:`TextIndex`): a term-major segment whose term ids number the index's vocabulary of
tokens and whose values are term frequencies, plus each row's length in tokens, built and merged with the same
kernels as the SPLADE segments (:mod:`spladekit.local.kernels.segments`) and scored by
:mod:`spladekit.local.kernels.bm25` with Lucene's BM25 (:mod:`spladekit.lucene`: k1 = 1.2, b = 0.75, lengths
in one-byte norms), so that scores equal an engine's for the same documents. Statistics (document count,
total length, document frequencies) count every row until the next merge, deleted ones too, as Lucene's do.

>>> analyze("Don't stall: U.S.A. wings at 3.5x, 1,000 ft — 東京")
["don't", 'stall', 'u.s.a', 'wings', 'at', '3.5x', '1,000', 'ft', '東', '京']
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

from spladekit import lucene

#: Lucene StandardTokenizer's default maximum token length.
MAX_TOKEN_LENGTH = 255

_SINGLE = "\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Hiragana, CJK ideographs: one token each
# Pictographs (Unicode's Emoji=Yes outside digits, # and *): one token each, with their modifiers and ZWJ sequences
_EMOJI = ("\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
          "\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf\u2934\u2935\u2b05-\u2b07"
          "\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff")
# MidLetter + MidNumLet + Single_Quote (between two letters), MidNum + MidNumLet + Single_Quote (between two digits)
_MID_LETTER = "'\u2018\u2019\u2024.:\u00b7\u0387\u05f4\u2027\ufe13\ufe52\ufe55\uff07\uff0e\uff1a"
_MID_NUM = ",;.'\u2018\u2019\u2024\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe52\ufe54" \
    "\uff07\uff0c\uff0e\uff1b"

#: What params.json records about the analyzer and the scoring of the text.
ANALYZER = "standard (UAX #29 word boundaries, lowercase), as spladekit.local.text.analyze"


def _ranges(points: list[int]) -> str:
    """A regular-expression class body for these code points (ascending), as ranges."""
    out, i = [], 0
    while i < len(points):
        j = i
        while j + 1 < len(points) and points[j + 1] == points[j] + 1:
            j += 1
        out.append(re.escape(chr(points[i])) + (f"-{re.escape(chr(points[j]))}" if j > i else ""))
        i = j + 1
    return "".join(out)


@functools.cache
def _token_pattern() -> re.Pattern[str]:
    # Built from this Python's Unicode tables on first use (about 0.1 s): combining marks and format characters
    # (UAX #29's Extend, Format, ZWJ) stay with the character before them; "other numbers" (², ½) are no word
    # characters, unlike in Python's \w.
    category = unicodedata.category
    attach, other_numbers = [], []
    for i in itertools.chain(range(0x30000), range(0xE0000, 0xE0200)):
        c = category(chr(i))
        if c[0] == "M" or (c == "Cf" and i != 0x200B):
            attach.append(i)
        elif c == "No":
            other_numbers.append(i)
    ext = f"[{_ranges(attach)}]*"
    word = rf"(?:[^\W{_SINGLE}{_EMOJI}{_ranges(other_numbers)}]{ext})"
    letter_before = rf"(?<=[^\W\d_]|[{_ranges(attach)}])"
    letter_after = r"(?=[^\W\d_])"
    mid = rf"(?:{letter_before}[{re.escape(_MID_LETTER)}]{letter_after}|(?<=\d)[{re.escape(_MID_NUM)}](?=\d))"
    emoji = rf"[{_EMOJI}]{ext}"
    return re.compile(rf"{word}+(?:{mid}{word}+)*|[{_SINGLE}]{ext}|{emoji}(?:(?<=\u200d){emoji})*")


def analyze(text: str) -> list[str]:
    """The tokens the engines' ``standard`` analyzer makes of ``text`` (see the module docstring)."""
    out = []
    for token in _token_pattern().findall(text):
        if len(token) > MAX_TOKEN_LENGTH:
            out.extend(token[i:i + MAX_TOKEN_LENGTH] for i in range(0, len(token), MAX_TOKEN_LENGTH))
        else:
            out.append(token)
    return [t.lower() for t in out if t.strip("_")]


def _postings_per_term(offsets: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """How many postings each term has in a segment (0 for terms it does not know yet)."""
    out = np.zeros(terms.shape[0], np.int64)
    known = terms < offsets.shape[0] - 1
    t = terms[known]
    out[known] = offsets[t + 1] - offsets[t]
    return out


class Vocabulary:
    """Token -> term id, growing as documents arrive; saved as one packed utf-8 block with offsets."""

    def __init__(self, blob: np.ndarray | None = None, offsets: np.ndarray | None = None) -> None:
        self._blob = np.zeros(0, np.uint8) if blob is None else blob
        self._offsets = np.zeros(1, np.int64) if offsets is None else offsets
        self._ids: dict[str, int] | None = None if blob is not None and self._offsets.shape[0] > 1 else {}
        self._packed = int(self._offsets.shape[0] - 1)
        self._extra: list[str] = []

    def __len__(self) -> int:
        return self._packed + len(self._extra)

    def ids(self) -> dict[str, int]:
        if self._ids is None:  # built on first use: loading an index stays cheap for SPLADE-only searches
            data = bytes(self._blob)
            offs = self._offsets.tolist()
            self._ids = {data[offs[i]:offs[i + 1]].decode("utf-8"): i for i in range(self._packed)}
        return self._ids

    def get(self, token: str) -> int:
        return self.ids().get(token, -1)

    def add(self, token: str) -> int:
        ids = self.ids()
        tid = ids.get(token)
        if tid is None:
            tid = len(self)
            ids[token] = tid
            self._extra.append(token)
        return tid

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(blob, offsets) of every token in id order, for saving."""
        if self._extra:
            encoded = [t.encode("utf-8") for t in self._extra]
            offsets = np.zeros(len(encoded) + 1, np.int64)
            np.cumsum([len(e) for e in encoded], out=offsets[1:])
            self._blob = np.concatenate([np.asarray(self._blob, np.uint8), np.frombuffer(b"".join(encoded), np.uint8)])
            self._offsets = np.concatenate([np.asarray(self._offsets, np.int64), offsets[1:] + self._offsets[-1]])
            self._packed = len(self)
            self._extra = []
        return self._blob, self._offsets


class TextIndex:
    """BM25 postings of the documents' text, rows numbered as the :class:`~spladekit.local.index.LocalIndex`
    that holds them (it calls :meth:`add`, :meth:`merge`, :meth:`permute` with its own rows)."""

    def __init__(self, kernels, vocabulary: Vocabulary | None = None,
                 main: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                 lengths: np.ndarray | None = None) -> None:
        self._k = kernels
        self.vocabulary = vocabulary or Vocabulary()
        self._main = main or (np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32))
        self._lengths = np.zeros(0, np.int32) if lengths is None else lengths  # tokens per row, main rows first
        self._n_rows = int(self._lengths.shape[0])
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_lengths: list[np.ndarray] = []
        self._tail: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._norms: np.ndarray | None = None
        self._stats: tuple[int, int] | None = None
        self._work: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_main(self) -> int:
        return int(self._main_rows)

    @property
    def _main_rows(self) -> int:
        return self._n_rows - sum(int(x.shape[0]) for x in self._pending_lengths)

    def nbytes(self) -> int:
        """Bytes of the saved text arrays (postings, lengths, vocabulary)."""
        blob, offsets = self.vocabulary.arrays()
        return int(sum(a.nbytes for a in self._main) + self.lengths().nbytes + blob.nbytes + offsets.nbytes)

    def lengths(self) -> np.ndarray:
        if self._pending_lengths:
            return np.concatenate([self._lengths, *self._pending_lengths])
        return self._lengths

    # --- writing ---------------------------------------------------------------------------------------------

    def add(self, texts: Sequence[str | None]) -> None:
        """Append one row per text (None or "" gives a row without text)."""
        offsets = np.zeros(len(texts) + 1, np.int64)
        terms: list[int] = []
        freqs: list[int] = []
        lengths = np.zeros(len(texts), np.int32)
        vocab = self.vocabulary
        for i, text in enumerate(texts):
            tokens = analyze(text) if text else []
            lengths[i] = len(tokens)
            counts = Counter(vocab.add(t) for t in tokens)
            for tid in sorted(counts):
                terms.append(tid)
                freqs.append(counts[tid])
            offsets[i + 1] = len(terms)
        self._pending.append((offsets, np.asarray(terms, np.int32), np.asarray(freqs, np.int32)))
        self._pending_lengths.append(lengths)
        self._n_rows += len(texts)
        self._tail, self._norms, self._stats = None, None, None

    def merge(self, renumber: np.ndarray) -> None:
        """Fold the tail into the main segment, keeping rows with ``renumber >= 0`` (the vectors' merge)."""
        n_terms = len(self.vocabulary)
        tail = self._tail_segment()
        self._main = self._k.merge_segments(self._main, tail, renumber, n_terms)
        lengths = self.lengths()
        self._lengths = np.ascontiguousarray(lengths[renumber[:lengths.shape[0]] >= 0])
        self._n_rows = int(self._lengths.shape[0])
        self._pending, self._pending_lengths, self._tail, self._norms, self._stats = [], [], None, None, None

    def permute(self, order: np.ndarray) -> None:
        """Renumber the (merged) rows: row ``i`` becomes the row that was ``order[i]``."""
        rows = self._k.doc_major(*self._main, self._n_rows)
        rows = self._k.take_rows(*rows, order)
        self._main = self._k.build_segment(*rows, len(self.vocabulary), 0)
        self._lengths = np.ascontiguousarray(self._lengths[order])
        self._norms, self._stats = None, None

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays :meth:`LocalIndex.save` writes (after a merge)."""
        blob, offsets = self.vocabulary.arrays()
        return {"text_offsets": self._main[0], "text_docs": self._main[1], "text_freqs": self._main[2],
                "text_lengths": self._lengths, "text_terms": blob, "text_term_offsets": offsets}

    # --- searching -------------------------------------------------------------------------------------------

    def stats(self) -> tuple[int, int]:
        """(docCount, sumTotalTermFreq): rows with text, and their total length (deleted rows until a merge)."""
        if self._stats is None:
            lengths = self.lengths()
            self._stats = int(np.count_nonzero(lengths)), int(lengths.sum(dtype=np.int64))
        return self._stats

    def query(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(term ids, clause weights) of a query text: its known tokens, repeats as one clause with boost n."""
        counts = Counter(self.vocabulary.get(t) for t in analyze(text))
        counts.pop(-1, None)
        terms = np.array(sorted(counts), np.int64)
        if not terms.size:
            return terms, np.zeros(0, np.float32)
        df = _postings_per_term(self._main[0], terms) + _postings_per_term(self._tail_segment()[0], terms)
        doc_count, _ = self.stats()
        idf = lucene.bm25_idf(df, doc_count)
        return terms, lucene.bm25_weights(np.array([counts[int(t)] for t in terms]), idf)

    def search(self, text: str, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows for a query text: (rows, float32 scores), best first, ties by row."""
        terms, weights = self.query(text)
        out_docs, out_scores = np.zeros(k, np.int32), np.zeros(k, np.float32)
        if not terms.size:
            return out_docs[:0], out_scores[:0]
        doc_count, total = self.stats()
        cache = lucene.bm25_norm_cache(total, doc_count)
        acc, touched = self._workspace()
        tail = self._tail_segment()
        n = self._k.bm25_search(*self._main, *tail, terms, weights, self._norm_array(), cache, allowed, k, acc,
                                touched, out_docs, out_scores)
        return out_docs[:n], out_scores[:n]

    def _norm_array(self) -> np.ndarray:
        if self._norms is None:
            self._norms = lucene.length_norm(self.lengths())
        return self._norms

    def _workspace(self) -> tuple[np.ndarray, np.ndarray]:
        if self._work is None or self._work[0].shape[0] < self._n_rows:
            size = max(self._n_rows, 1)
            self._work = (np.zeros(size, np.float64), np.zeros(size, np.int32))
        return self._work

    def _tail_segment(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._tail is None:
            if not self._pending:
                self._tail = (np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32))
            else:
                chunks = self._pending
                lengths = np.concatenate([np.diff(c[0]) for c in chunks])
                offsets = np.zeros(lengths.shape[0] + 1, np.int64)
                np.cumsum(lengths, out=offsets[1:])
                terms = np.concatenate([c[1] for c in chunks])
                freqs = np.concatenate([c[2] for c in chunks])
                self._tail = self._k.build_segment(offsets, terms, freqs, len(self.vocabulary), self._main_rows)
        return self._tail
