"""Reading a topic from given offsets up to given ends, or up to each partition's high watermark.

Timestamp lookups and end offsets are unreliable on some brokers, so a scan reads up to the high
watermark known from fetch responses instead. Used by the examples reader (offset ranges for
lineage) and by ``models audit --verify`` (the audit heads on the events topic).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition

__all__ = ["Bounds", "assign", "scan"]

_POLL_MS = 200

Bounds = dict[TopicPartition, tuple[int, int | None]]
"""Per partition: the first offset to read and the end (exclusive; None: the high watermark)."""


def assign(
    consumer: KafkaConsumer,
    topic: str,
    ranges: Mapping[int, tuple[int, int]] | None,
    timeout: float,
) -> Bounds:
    """Assign ``consumer`` the partitions of ``topic`` (those of ``ranges`` only, if given) and
    seek each to its start; :class:`LookupError` if the topic does not exist."""
    deadline = time.monotonic() + timeout
    partitions = consumer.partitions_for_topic(topic)
    while partitions is None and time.monotonic() < deadline:
        time.sleep(0.1)
        partitions = consumer.partitions_for_topic(topic)
    if partitions is None:
        raise LookupError(f"topic {topic!r} does not exist")
    bounds: Bounds = {}
    for partition in sorted(partitions):
        if ranges is None:
            bounds[TopicPartition(topic, partition)] = (0, None)
        elif partition in ranges:
            bounds[TopicPartition(topic, partition)] = ranges[partition]
    consumer.assign(list(bounds))
    for tp, (start, _) in bounds.items():
        consumer.seek(tp, start) if start else consumer.seek_to_beginning(tp)
    return bounds


def scan(consumer: KafkaConsumer, bounds: Bounds, timeout: float) -> Iterator[Any]:
    """Records of every assigned partition up to its end (given, else the high watermark);
    :class:`TimeoutError` if that takes longer than ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    open_partitions = set(bounds)
    while open_partitions:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not read to its end within {timeout:.0f}s")
        for tp, records in consumer.poll(timeout_ms=_POLL_MS).items():
            end = bounds[tp][1]
            yield from _before(records, end)
        for tp in list(open_partitions):
            end = bounds[tp][1]
            if end is None:
                end = consumer.highwater(tp)
            if end is not None and consumer.position(tp) >= end:
                open_partitions.discard(tp)


def _before(records: Iterable[Any], end: int | None) -> Iterator[Any]:
    for record in records:
        if end is None or record.offset < end:
            yield record
