"""Document ids: the content-derived id for records without one, and duplicate detection in bounded memory.

A record without an id (field absent, null or ``""``) gets ``auto-`` + the first 32 hex digits (128 bits) of
``sha256(utf8(title) + b"\\x1f" + utf8(text))``: the same content always gets the same id, so a re-run
overwrites instead of duplicating, and two records with identical title and text are duplicates.

>>> derive_id("", "Wings stall at high angles of attack.")
'auto-d65654bc5d6102534a85cedc5af6f8f1'
>>> seen = SeenIds()
>>> seen.add("a"), seen.add("b"), seen.add("a")
(True, True, False)
"""

from __future__ import annotations

import hashlib

import numpy as np

#: Elasticsearch and OpenSearch refuse an _id longer than 512 bytes.
MAX_ID_BYTES = 512


def derive_id(title: str, text: str) -> str:
    digest = hashlib.sha256(title.encode("utf-8") + b"\x1f" + text.encode("utf-8")).hexdigest()
    return "auto-" + digest[:32]


def _key(doc_id: str) -> int:
    """A non-zero 64-bit hash (0 marks an empty slot in :class:`SeenIds`)."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "little") or 1


class SeenIds:
    """A set of 64-bit id hashes in one numpy open-addressing table: 16 to 32 bytes per distinct id.

    No Python object is kept per id (a Python set of strings costs ~100 bytes per id and fragments the heap).
    Linear probing in a power-of-two ``uint64`` table kept at most half full; 0 marks an empty slot. Two
    different ids collide with probability about n^2 / 2^65 (3e-8 at 1M ids); a collision would send the
    second record to the dead letter as ``duplicate_id``.
    """

    def __init__(self, capacity: int = 1 << 16) -> None:
        size = 1 << max(4, (capacity - 1).bit_length())
        self._table = np.zeros(size, dtype=np.uint64)
        self._mask = size - 1
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def _probe(self, key: int) -> tuple[int, bool]:
        """(slot index, found): where ``key`` is, or the empty slot where it would go (linear probing)."""
        table, mask = self._table, self._mask
        i = key & mask
        while True:
            slot = int(table[i])
            if slot == key:
                return i, True
            if slot == 0:
                return i, False
            i = (i + 1) & mask

    def __contains__(self, doc_id: str) -> bool:
        return self._probe(_key(doc_id))[1]

    def add(self, doc_id: str) -> bool:
        """Remember ``doc_id``; True when it was new."""
        key = _key(doc_id)
        i, found = self._probe(key)
        if found:
            return False
        self._table[i] = key
        self._n += 1
        if 2 * self._n > self._table.size:
            self._grow()
        return True

    def _grow(self) -> None:
        old = self._table[self._table != 0]
        size = self._table.size * 2
        self._table = np.zeros(size, dtype=np.uint64)
        self._mask = size - 1
        table, mask = self._table, self._mask
        for start in range(0, old.size, 4096):  # in chunks: never a Python int per id all at once
            for key in old[start : start + 4096].tolist():
                i = key & mask
                while int(table[i]) != 0:
                    i = (i + 1) & mask
                table[i] = key

    @property
    def nbytes(self) -> int:
        return int(self._table.nbytes)
