"""Where a newly assigned input partition resumes, and with which state.

An instance that is assigned partition number ``p`` (of both input topics) has up to two copies
of its state: its own checkpoint (``local``) and the last snapshot on the changelog topic. The
offsets committed in Kafka (``committed``) say how far outputs were delivered. The rules:

1. the local copy is exactly at the committed offsets: keep it;
2. the local copy exists and the snapshot is this instance's own (or older): keep the local copy
   and replay from it to the committed offsets, outputs suppressed (a crash cut the last
   checkpoint short; the replay also refills this instance's windows);
3. a valid snapshot exists (another instance owned the partition since): load it, replay from
   it (a snapshot that fails its checks is skipped, see :mod:`driftwarden.monitor.changelog`: the
   one
   before it counts);
4. neither: start empty at the beginning of both partitions and replay to the committed
   offsets (state that was never snapshotted, e.g. written by a version without a changelog).

Partition state after offset ``n`` depends only on the records before ``n`` (the join is
replay-deterministic), so every rule ends in the same state an uninterrupted owner would hold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from driftwarden.monitor.changelog import (
    MAX_SNAPSHOT_BYTES,
    ChangelogRejections,
    PartitionSnapshot,
    Rejection,
    SnapshotAssembler,
)
from driftwarden.monitor.state import PartitionState

__all__ = ["Resume", "choose_resume", "read_snapshots"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resume:
    """How to resume input partition number ``partition``."""

    partition: int
    source: str  # "local", "replay", "changelog" or "empty"
    state: PartitionState | None  # None: keep the local state
    start: dict[TopicPartition, int | None]  # per input partition; None: from the beginning
    delivered: dict[TopicPartition, int] = field(default_factory=dict)  # replayed up to these


def choose_resume(
    partition: int,
    inputs: tuple[TopicPartition, TopicPartition],
    local: PartitionState | None,
    local_offsets: Mapping[TopicPartition, int],
    snapshot: PartitionSnapshot | None,
    committed: Mapping[TopicPartition, int | None],
    me: str,
) -> Resume:
    """Apply the module's rules.

    >>> inputs = (("p", 0), ("l", 0))
    >>> choose_resume(0, inputs, PartitionState(), {("p", 0): 5}, None, {("p", 0): 5}, "a").source
    'local'
    >>> choose_resume(0, inputs, None, {}, None, {("p", 0): 5}, "a").delivered
    {('p', 0): 5}
    """

    def at(offsets: Mapping[TopicPartition, int | None]) -> tuple[int, ...]:
        return tuple(offsets.get(tp) or 0 for tp in inputs)

    def resume(
        source: str, state: PartitionState | None, start: Mapping[Any, int | None]
    ) -> Resume:
        starts = {tp: start.get(tp) for tp in inputs}
        delivered = {
            tp: offset
            for tp in inputs
            if (offset := committed.get(tp)) is not None and offset > (starts[tp] or 0)
        }
        return Resume(partition, source, state, starts, delivered)

    if local is not None and at(local_offsets) == at(committed):
        return resume("local", None, local_offsets)
    if local is not None and (
        snapshot is None
        or snapshot.writer == me
        or all(s <= c for s, c in zip(at(snapshot.offsets), at(local_offsets), strict=True))
    ):
        return resume("replay", None, local_offsets)
    if snapshot is not None:
        return resume("changelog", snapshot.state, snapshot.offsets)
    return resume("empty", PartitionState(), {})


def read_snapshots(
    options: Mapping[str, Any],
    topic: str,
    partitions: list[int],
    key: bytes | None = None,
    rejections: ChangelogRejections | None = None,
    timeout: float = 30.0,
    max_bytes: int = MAX_SNAPSHOT_BYTES,
) -> dict[int, PartitionSnapshot]:
    """The last valid committed snapshot of each of ``partitions`` on the changelog ``topic``.

    Reads each changelog partition from its beginning to its high watermark (the topic is
    compacted, so that is about one snapshot per partition on a real cluster). Snapshots are
    checked with ``key`` (see :mod:`driftwarden.monitor.changelog`); rejected records are counted in
    ``rejections`` and logged once per partition; a snapshot over ``max_bytes`` is rejected.
    """
    if not partitions:
        return {}
    consumer = KafkaConsumer(
        **options, enable_auto_commit=False, isolation_level="read_committed", group_id=None
    )
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        assembler = SnapshotAssembler(key, max_bytes)
        deadline, idle = time.monotonic() + timeout, 0
        while True:
            polled = consumer.poll(timeout_ms=200, max_records=1000)
            for records in polled.values():
                for record in records:
                    assembler.add(record.key, record.value, record.headers, record.partition)
            highs = {tp: consumer.highwater(tp) for tp in tps}
            if all(h is not None and consumer.position(tp) >= h for tp, h in highs.items()):
                break
            idle = 0 if polled else idle + 1
            if all(h is not None for h in highs.values()) and idle >= 5:
                # read_committed stops before a transaction still open (a writer that died
                # mid-commit); what is behind it is not committed state.
                log.info("changelog %s: read up to the last stable offset", topic)
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"could not read the changelog topic {topic!r} within {timeout:.0f}s"
                )
        _report(topic, assembler.rejected, rejections)
        return assembler.latest()
    finally:
        consumer.close()


_FIXES = {
    "unauthenticated": "give every instance of the group the same state.changelog_key, and let "
    "only the monitor produce to the topic (ACLs)",
}
_FIX = "let only the monitor produce to the topic (ACLs)"


def _report(topic: str, rejected: list[Rejection], rejections: ChangelogRejections | None) -> None:
    """Count every rejection; log the first of each partition with what to do about it."""
    logged: set[int] = set()
    for rejection in rejected:
        if rejections is not None:
            rejections.inc(rejection.reason)
        if rejection.partition in logged:
            continue
        logged.add(rejection.partition)
        log.warning(
            "changelog %s partition %d: skipped a record or snapshot (%s: %s; %d rejected in "
            "this partition); it resumes from its last valid snapshot, or is rebuilt from the "
            "beginning of its inputs. To fix: %s",
            topic,
            rejection.partition,
            rejection.reason,
            rejection.detail,
            sum(r.partition == rejection.partition for r in rejected),
            _FIXES.get(rejection.reason, _FIX),
        )
