"""Which shard holds a document: the engines' routing of an ``_id``, for a reference that sees the shards as the
engine does.

spladekit indexes documents by ``_id`` without custom routing. Both engines then put a document on shard
``floorMod(murmur3_x86_32(UTF-16LE(_id), seed 0), routing_num_shards) // (routing_num_shards // number_of_shards)``
(Elasticsearch ``IndexRouting.IdOnly`` and ``Murmur3HashFunction``; OpenSearch, a fork of Elasticsearch 7.10,
``OperationRouting.calculateScaledShardId``). ``routing_num_shards`` is in the index's metadata
(:meth:`spladekit.engines.EngineIndex.routing`); by default it is the shard count times a power of two.

What needs it: a two-phase search rescores the top ``window`` hits of *each shard* (the engines' ``rescore``
runs per shard), so the local reference of :mod:`spladekit.parity` takes the first pass's top ``window`` per
shard, and for that it must know the shards. The integration tests check :func:`shard_of` against the shards a
real cluster reports for every document.

>>> murmur3_32(b"hello")
613153351
>>> shard_of("1", 1)
0
>>> [shard_of(i, 3, 768) for i in ("doc-1", "doc-2", "doc-3", "doc-4")]
[0, 2, 0, 1]
"""

from __future__ import annotations

from collections.abc import Iterable

_C1, _C2, _MASK = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit of ``data`` as a signed 32-bit int (Lucene's ``StringHelper.murmurhash3_x86_32``)."""
    h = seed & _MASK
    n = len(data)
    tail = n - n % 4
    for i in range(0, tail, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (_rotl((k * _C1) & _MASK, 15) * _C2) & _MASK
        h = (_rotl(h ^ k, 13) * 5 + 0xE6546B64) & _MASK
    k = int.from_bytes(data[tail:], "little") if n % 4 else 0
    if n % 4:
        h ^= (_rotl((k * _C1) & _MASK, 15) * _C2) & _MASK
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def routing_shards(shards: int) -> int:
    """The routing shards both engines give a new index of ``shards`` primary shards unless told otherwise
    (Elasticsearch 7+ and OpenSearch ``MetadataCreateIndexService.calculateNumRoutingShards``): ``shards`` times the
    largest power of two that keeps the product at most 1024, and at least times 2.

    >>> routing_shards(1), routing_shards(3), routing_shards(5), routing_shards(600)
    (1024, 768, 640, 1200)
    """
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    log2_shards = (shards - 1).bit_length()  # 32 - Integer.numberOfLeadingZeros(shards - 1)
    return shards << max(1, 10 - log2_shards)


def shard_of(doc_id: str, shards: int, routing_shards: int | None = None) -> int:
    """The shard (0-based) that holds ``doc_id`` in an index of ``shards`` primary shards and ``routing_shards``
    routing shards (default: ``shards``)."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    routing = routing_shards or shards
    if routing % shards:
        raise ValueError(f"routing_shards ({routing}) must be a multiple of shards ({shards})")
    # Java's String is UTF-16 code units; Murmur3HashFunction hashes each as two little-endian bytes.
    return (murmur3_32(str(doc_id).encode("utf-16-le")) % routing) // (routing // shards)


def partition(ids: Iterable[str], shards: int, routing_shards: int | None = None) -> list[list[str]]:
    """``ids`` grouped by the shard that holds each (a list per shard, in the order given)."""
    out: list[list[str]] = [[] for _ in range(shards)]
    for doc_id in ids:
        out[shard_of(doc_id, shards, routing_shards)].append(str(doc_id))
    return out
