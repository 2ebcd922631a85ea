"""Flags input records that are not on the partition the join expects, and says once per topic
which partitioner their producer appears to use and how to fix it.

A misrouted record is still applied like any other: nothing is dropped. Its prediction or label
waits on a partition where its partner never arrives, so it expires or is evicted unjoined; the
counter (``driftwarden_misrouted_records_total``) and the log line say why.
"""

from __future__ import annotations

import logging
from typing import Final

from driftwarden.monitor.partitioners import UNKNOWN, guess_partitioner, murmur2_partition

__all__ = ["RoutingCheck"]

log = logging.getLogger(__name__)

# Misrouted records kept per topic to tell the partitioners apart: a wrong candidate survives a
# sample with probability 1/partitions, so a handful decide; more only when nothing decides.
MAX_SAMPLES: Final = 32

_CULPRITS: Final = {
    "crc32": (
        "CRC32 of the key (librdkafka's default partitioner consistent_random, or consistent: "
        "confluent-kafka and the Go and .NET clients built on librdkafka)",
        "set partitioner=murmur2_random in the librdkafka producer's configuration",
    ),
    "fnv1a": (
        "FNV-1a of the key (Sarama's default hash partitioner, or librdkafka's fnv1a / "
        "fnv1a_random)",
        "use a murmur2 partitioner: partitioner=murmur2_random in librdkafka clients, a "
        "murmur2 hash partitioner in Sarama",
    ),
    UNKNOWN: (
        "an unknown partitioner (neither murmur2, CRC32 nor FNV-1a of the key: explicit "
        "partitions, a custom partitioner, or keys that are not the prediction id)",
        "route each record by murmur2 of its key, as the Java client does "
        "((murmur2(key) & 0x7fffffff) % partitions), e.g. partitioner=murmur2_random in "
        "librdkafka clients",
    ),
}


class RoutingCheck:
    """Compares each keyed input record's partition with murmur2 of its key (the Java and
    kafka-python default partitioner that co-partitions predictions and labels).

    Outlives the processors of one service, so that each topic is reported once per process.
    """

    def __init__(self) -> None:
        self._samples: dict[str, list[tuple[bytes, int]]] = {}
        self._reported: set[str] = set()

    def misrouted(self, topic: str, key: bytes | None, partition: int, partitions: int) -> bool:
        """Whether the record is not on murmur2's partition for its key (never for a record
        without a key, which any partition may hold)."""
        if key is None or partitions <= 1 or murmur2_partition(key, partitions) == partition:
            return False
        if topic not in self._reported and key:  # consistent_random places empty keys randomly
            self._learn(topic, key, partition, partitions)
        return True

    def _learn(self, topic: str, key: bytes, partition: int, partitions: int) -> None:
        samples = self._samples.setdefault(topic, [])
        samples.append((key, partition))
        guess = guess_partitioner(samples, partitions)
        if guess is None and len(samples) < MAX_SAMPLES:
            return
        culprit, fix = _CULPRITS[guess or UNKNOWN]
        log.warning(
            "records of topic %s are not on the partition the join expects: predictions and "
            "labels must be routed by murmur2 of their key (the Java client's default), but the "
            "producer of this topic appears to use %s, so their pairs land on different "
            "partitions and never join. Fix: %s. Misrouted records are still applied (they "
            "expire unjoined); driftwarden_misrouted_records_total{topic=%r} counts them",
            topic,
            culprit,
            fix,
            topic,
        )
        self._reported.add(topic)
        del self._samples[topic]
