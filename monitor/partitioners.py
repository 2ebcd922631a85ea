"""Key -> partition functions of common Kafka producers, and which one explains observed records.

The label join needs a prediction and its label, both keyed by prediction id, on the same
partition number of the two input topics. driftwarden relies on the partitioner of the Java client
and kafka-python (murmur2 of the key); producers built on librdkafka (confluent-kafka, the Go and
.NET clients) default to CRC32 of the key, Sarama to FNV-1a, and route the same key elsewhere.

Definitions, each for a key that is not ``None``:

- ``murmur2``: ``toPositive(murmur2(key)) % partitions``, Java's ``BuiltInPartitioner`` /
  ``Utils.murmur2`` (seed ``0x9747b28c``), kafka-python's ``DefaultPartitioner`` and librdkafka's
  ``murmur2`` and ``murmur2_random`` (``(rd_murmur2(key) & 0x7fffffff) % partition_cnt``).
- ``crc32``: ``crc32(key) % partitions`` with the CRC-32 of zlib (reflected polynomial
  ``0x04c11db7``, initial value and final XOR ``0xffffffff``), librdkafka's ``consistent`` and
  its default ``consistent_random`` (``rd_crc32(key, keylen) % partition_cnt``; an empty key goes
  to a random partition under ``consistent_random``).
- ``fnv1a``: ``abs(int32(fnv1a_32(key))) % partitions``, Sarama's default ``NewHashPartitioner``
  and librdkafka's ``fnv1a`` and ``fnv1a_random`` (``rd_fnv1a``, which takes the absolute value
  to match Sarama). FNV-1a 32: offset basis ``0x811c9dc5``, prime ``0x01000193``, per byte
  ``h = (h ^ byte) * prime mod 2**32``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from kafka.partitioner.default import murmur2

__all__ = [
    "PARTITIONERS",
    "UNKNOWN",
    "crc32_partition",
    "fnv1a_32",
    "fnv1a_partition",
    "guess_partitioner",
    "murmur2_partition",
]

UNKNOWN: Final = "unknown"

_FNV_OFFSET: Final = 0x811C9DC5
_FNV_PRIME: Final = 0x01000193
_MASK32: Final = 0xFFFFFFFF


def murmur2_partition(key: bytes, partitions: int) -> int:
    """The partition of ``key`` under the Java client's default partitioner.

    Kafka's ``UtilsTest.testMurmur2`` pins ``murmur2(b"21") == -973932308`` and
    ``murmur2(b"foobar") == -790332482`` (as signed 32-bit integers):

    >>> murmur2(b"21") - 2**32, murmur2(b"foobar") - 2**32
    (-973932308, -790332482)
    >>> murmur2_partition(b"21", 4), murmur2_partition(b"foobar", 4), murmur2_partition(b"abc", 7)
    (0, 2, 4)
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def crc32_partition(key: bytes, partitions: int) -> int:
    """The partition of ``key`` under librdkafka's ``consistent`` / ``consistent_random``.

    The CRC-32 check value (CRC catalogue: ``crc32(b"123456789") == 0xCBF43926``):

    >>> hex(zlib.crc32(b"123456789"))
    '0xcbf43926'
    >>> crc32_partition(b"123456789", 4), crc32_partition(b"123456789", 7)
    (2, 5)
    """
    return zlib.crc32(key) % partitions


def fnv1a_32(key: bytes) -> int:
    """The 32-bit FNV-1a hash of ``key`` (unsigned).

    Values from the FNV reference test vectors:

    >>> hex(fnv1a_32(b"")), hex(fnv1a_32(b"a")), hex(fnv1a_32(b"foobar"))
    ('0x811c9dc5', '0xe40c292c', '0xbf9cf968')
    """
    h = _FNV_OFFSET
    for byte in key:
        h = ((h ^ byte) * _FNV_PRIME) & _MASK32
    return h


def fnv1a_partition(key: bytes, partitions: int) -> int:
    """The partition of ``key`` under Sarama's default / librdkafka's ``fnv1a``.

    librdkafka's ``unittest_fnv1a`` pins ``rd_fnv1a`` (FNV-1a, then the absolute value as a
    signed 32-bit integer): ``"kafka"`` -> ``0xd33c4e1``, ``"giberish123456789"`` ->
    ``0x77a58295``, ``""`` -> ``0x7ee3623b``:

    >>> [hex(_abs_int32(fnv1a_32(k))) for k in (b"kafka", b"giberish123456789", b"")]
    ['0xd33c4e1', '0x77a58295', '0x7ee3623b']
    >>> fnv1a_partition(b"kafka", 4), fnv1a_partition(b"giberish123456789", 7)
    (1, 5)
    """
    return _abs_int32(fnv1a_32(key)) % partitions


def _abs_int32(h: int) -> int:
    """``|h|`` of the unsigned 32-bit ``h`` read as a signed integer (``-2**31`` stays ``2**31``,
    as the C cast to ``uint32_t`` makes it)."""
    return (-h & _MASK32) if h & 0x80000000 else h


Partitioner = Callable[[bytes, int], int]

# Name -> partition function; the names are those of the metric docs and the log line.
PARTITIONERS: Final[Mapping[str, Partitioner]] = {
    "murmur2": murmur2_partition,
    "crc32": crc32_partition,
    "fnv1a": fnv1a_partition,
}


def guess_partitioner(samples: Iterable[tuple[bytes, int]], partitions: int) -> str | None:
    """The one partitioner of :data:`PARTITIONERS` that put every ``(key, partition)`` sample
    where it was observed; :data:`UNKNOWN` when none did, ``None`` while several still could (more
    samples are needed).

    >>> keys = [f"pred-{i}".encode() for i in range(8)]
    >>> guess_partitioner([(k, crc32_partition(k, 4)) for k in keys], 4)
    'crc32'
    >>> guess_partitioner([(k, fnv1a_partition(k, 4)) for k in keys], 4)
    'fnv1a'
    >>> guess_partitioner([(k, (murmur2_partition(k, 4) + 1) % 4) for k in keys], 4) == UNKNOWN
    True
    >>> guess_partitioner([], 4) is None
    True
    """
    candidates = dict(PARTITIONERS)
    for key, partition in samples:
        candidates = {n: f for n, f in candidates.items() if f(key, partitions) == partition}
        if not candidates:
            return UNKNOWN
    return next(iter(candidates)) if len(candidates) == 1 else None
