"""Reads joined examples back from the examples topic, addressed by offsets.

Timestamp lookups and end offsets are unreliable on some brokers, so the reader scans the topic
up to each partition's high watermark (known from fetch responses) and records, per partition,
the offset range it used. Re-reading those ranges and keeping the newest ``limit`` examples again
gives exactly the same data: the lineage a version records for reproduction.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from retrain.errors import TrainingError

__all__ = ["OffsetRange", "read_examples"]

_POLL_MS = 200


@dataclass(frozen=True)
class OffsetRange:
    partition: int
    start: int
    end: int  # exclusive

    def to_dict(self) -> dict[str, int]:
        return {"partition": self.partition, "start": self.start, "end": self.end}


def read_examples(
    consumer_options: dict[str, Any],
    topic: str,
    model: str,
    limit: int,
    ranges: Iterable[OffsetRange] | None = None,
    timeout: float = 60.0,
) -> tuple[list[bytes], list[OffsetRange]]:
    """The newest ``limit`` examples of ``model`` (by prediction time, then id) and the offset
    ranges they came from; with ``ranges``, only those ranges are read."""
    consumer = KafkaConsumer(
        **consumer_options,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        bounds = _assign(consumer, topic, ranges, timeout)
        newest: list[tuple[float, str, int, int, bytes]] = []
        for record in _scan(consumer, bounds, timeout):
            if record.key != model.encode() or record.value is None:
                continue
            doc = orjson.loads(record.value)
            item = (
                float(doc["prediction_timestamp"]),
                str(doc["prediction_id"]),
                record.partition,
                record.offset,
                record.value,
            )
            if len(newest) < limit:
                heapq.heappush(newest, item)
            else:
                heapq.heappushpop(newest, item)
    finally:
        consumer.close()
    newest.sort()
    return [item[4] for item in newest], _ranges(newest)


def _assign(
    consumer: KafkaConsumer, topic: str, ranges: Iterable[OffsetRange] | None, timeout: float
) -> dict[TopicPartition, tuple[int, int | None]]:
    deadline = time.monotonic() + timeout
    partitions = consumer.partitions_for_topic(topic)
    while partitions is None and time.monotonic() < deadline:
        time.sleep(0.1)
        partitions = consumer.partitions_for_topic(topic)
    if partitions is None:
        raise TrainingError(f"examples topic {topic!r} does not exist")
    wanted = {r.partition: (r.start, r.end) for r in ranges} if ranges is not None else None
    bounds: dict[TopicPartition, tuple[int, int | None]] = {}
    for partition in sorted(partitions):
        if wanted is None:
            bounds[TopicPartition(topic, partition)] = (0, None)
        elif partition in wanted:
            bounds[TopicPartition(topic, partition)] = wanted[partition]
    consumer.assign(list(bounds))
    for tp, (start, _) in bounds.items():
        consumer.seek(tp, start) if start else consumer.seek_to_beginning(tp)
    return bounds


def _scan(
    consumer: KafkaConsumer, bounds: dict[TopicPartition, tuple[int, int | None]], timeout: float
) -> Iterable[Any]:
    """Records of every assigned partition up to its end (given, else the high watermark)."""
    deadline = time.monotonic() + timeout
    open_partitions = set(bounds)
    while open_partitions:
        if time.monotonic() > deadline:
            raise TrainingError(f"examples not read within {timeout:.0f}s")
        for tp, records in consumer.poll(timeout_ms=_POLL_MS).items():
            end = bounds[tp][1]
            for record in records:
                if end is None or record.offset < end:
                    yield record
        for tp in list(open_partitions):
            end = bounds[tp][1]
            if end is None:
                end = consumer.highwater(tp)
            if end is not None and consumer.position(tp) >= end:
                open_partitions.discard(tp)


def _ranges(items: list[tuple[float, str, int, int, bytes]]) -> list[OffsetRange]:
    spans: dict[int, tuple[int, int]] = {}
    for _, _, partition, offset, _ in items:
        low, high = spans.get(partition, (offset, offset))
        spans[partition] = (min(low, offset), max(high, offset))
    return [OffsetRange(p, low, high + 1) for p, (low, high) in sorted(spans.items())]
