"""The input partitions this instance owns, and their state.

:class:`OwnedPartitions` alone decides which partitions the processor holds and where they resume;
besides the processor itself (which applies records), it is the only writer of their state. It
restores the last checkpoint, holds newly assigned partitions until they are positioned
(:mod:`driftwarden.monitor.handover` says where), drops the state of partitions that moved to
another instance, goes back to the checkpoint after an eviction, and schedules the partition
snapshots on the changelog. :class:`RebalanceListener` hands it the consumer's rebalance
callbacks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.structs import TopicPartition

from driftwarden.config import MonitorConfig
from driftwarden.monitor.changelog import (
    ChangelogRejections,
    PartitionSnapshot,
    SnapshotRecord,
    encode_snapshot,
    snapshot_limit,
    snapshot_offsets,
)
from driftwarden.monitor.checkpoint import CheckpointStore
from driftwarden.monitor.drift.factory import drift_factory
from driftwarden.monitor.handover import Resume, choose_resume, read_snapshots
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.profiles import ProfileSource
from driftwarden.monitor.record_limits import DEFAULT_MAX_REQUEST_SIZE
from driftwarden.monitor.routing import RoutingCheck
from driftwarden.monitor.shares import pending_share
from driftwarden.monitor.state import MonitorState

__all__ = ["DueSnapshot", "OwnedPartitions", "RebalanceListener"]

log = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]
# A partition's snapshot to send: its number, the input offsets it is at, its changelog records.
DueSnapshot = tuple[int, Offsets, list[SnapshotRecord]]


class OwnedPartitions:
    """The partitions of one consumer session and the processor holding their state.

    Built before the consumer (it loads the checkpoint), then given the consumer by
    :meth:`subscribe`. The rebalance callbacks run on the consumer's IO thread while the loop
    waits in ``poll``; they only pause and flag, and the loop positions the partitions
    (:meth:`resume_assigned`) or rolls back (:meth:`roll_back`) on its own thread.
    """

    def __init__(
        self,
        config: MonitorConfig,
        store: CheckpointStore,
        partition_count: int,
        profiles: ProfileSource | None,
        routing: RoutingCheck,
        rejections: ChangelogRejections,
    ) -> None:
        self._config = config
        self._store = store
        self._partition_count = partition_count
        self._profiles = profiles
        self._routing = routing
        self._rejections = rejections
        self._consumer: KafkaConsumer | None = None
        # Held while a batch is applied or checkpointed, so a revocation (on the consumer's IO
        # thread) never checkpoints half a batch.
        self.lock = threading.RLock()
        self.positioned = threading.Event()  # set once assigned partitions are positioned
        self._assign_lock = threading.Lock()
        self._pending: list[TopicPartition] = []
        self._rebalanced = False
        self._lost = False  # evicted from the group: roll back before going on
        self._closing = False  # the session ends: revocations must not commit
        # partition -> offsets and monotonic time of its last snapshot on the changelog
        self._snapshotted: dict[int, tuple[Offsets, float]] = {}
        self._processor = self._restore({})

    @property
    def processor(self) -> StreamProcessor:
        return self._processor

    @property
    def rebalanced(self) -> bool:
        """Partitions were assigned (or the session rolled back): position them before going on."""
        return self._rebalanced

    @property
    def lost(self) -> bool:
        """Evicted from the group: roll back before processing again."""
        return self._lost

    def subscribe(
        self, consumer: KafkaConsumer, commit_revoked: Callable[[list[TopicPartition]], None]
    ) -> None:
        """Subscribe ``consumer`` to the input topics; revoked partitions are committed with
        ``commit_revoked`` before they move."""
        self._consumer = consumer
        topics = self._config.topics
        consumer.subscribe(
            [topics.predictions, topics.labels],
            listener=RebalanceListener(self, commit_revoked),
        )

    def close(self, failed: bool = False) -> None:
        """The session ends: revocations (closing the consumer revokes) commit nothing; after a
        failure the partitions no longer count as positioned."""
        if failed:
            self.positioned.clear()
        self._closing = True

    def assigned(self) -> set[TopicPartition]:
        """The input partitions the consumer is assigned now."""
        if self._consumer is None:
            return set()
        return set(self._consumer.assignment())

    def assign(self, partitions: list[TopicPartition]) -> None:
        """Listener, on the consumer's IO thread: hold the partitions until they are positioned."""
        if self._consumer is not None and partitions:
            self._consumer.pause(*partitions)
        with self._assign_lock:
            self._pending = list(partitions)
            self._rebalanced = True

    def revoke(
        self,
        partitions: list[TopicPartition],
        commit: Callable[[list[TopicPartition]], None],
    ) -> None:
        """Listener, on the consumer's IO thread while the loop waits in ``poll``: ``commit``
        what was done on the revoked partitions, with their state snapshots, before they move."""
        if not partitions or self._closing:
            return
        self.positioned.clear()
        with self.lock:
            commit(partitions)
        log.info("revoked %d partition(s); committed their work and state", len(partitions))

    def lose(self, partitions: list[TopicPartition]) -> None:
        """Listener: this member was evicted, its partitions may already be someone else's.
        Nothing may be committed for them; the loop rolls back before processing again."""
        if partitions and not self._closing:
            self.mark_lost()

    def mark_lost(self) -> None:
        """What this member holds is no longer its to commit (the group moved on without it)."""
        self.positioned.clear()
        self._lost = True

    def roll_back(self) -> None:
        """Back to the last checkpoint, every partition to be positioned again; the caller has
        dropped the outputs since (aborted the transaction)."""
        with self.lock:
            self._processor = self._restore(self._processor.delivered)
            self._lost = False
        with self._assign_lock:
            self._pending = list(self._subscribed().assignment())
            self._rebalanced = True

    def resume_assigned(self) -> set[TopicPartition]:
        """Position newly assigned partitions (see :mod:`driftwarden.monitor.handover`) and resume
        them.

        Runs on the loop's thread: the rebalance listener only pauses. State of partitions this
        instance no longer owns is dropped, so its counters are no longer exported from here.
        """
        consumer = self._subscribed()
        with self._assign_lock:
            partitions, self._pending = self._pending, []
            self._rebalanced = False
        assigned = consumer.assignment()
        partitions = [tp for tp in partitions if tp in assigned]
        self._drop_unowned({tp.partition for tp in assigned})
        for resume in self._plan(sorted({tp.partition for tp in partitions})):
            self._apply(resume)
        if partitions:
            consumer.resume(*partitions)
            log.info("resumed %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))
        self.positioned.set()
        return set(partitions)

    def due_snapshots(
        self, assigned: set[TopicPartition], forced: set[int] | None, now: float
    ) -> list[DueSnapshot]:
        """Changelog records of the owned partitions whose offsets moved since their last
        snapshot and that are due: never snapshotted here, older than ``state.changelog_every``,
        or ``forced`` (None: all)."""
        state, config = self._processor.state, self._config
        inputs = (config.topics.predictions, config.topics.labels)
        writer = config.transactional_id
        size = config.kafka.client_options("producer").get("max_request_size")
        key = config.state.changelog_secret()
        out = []
        for number, partition_state in state.partitions.items():
            if TopicPartition(config.topics.predictions, number) not in assigned:
                continue
            at = snapshot_offsets(state.offsets, inputs, number)
            last = self._snapshotted.get(number)
            if last is not None and last[0] == at:
                continue
            due = (
                last is None
                or now - last[1] >= config.state.changelog_every
                or forced is None
                or number in forced
            )
            if not due:
                continue
            snapshot = PartitionSnapshot(number, at, partition_state, writer)
            records = encode_snapshot(
                snapshot, f"{writer}:{time.time_ns()}", size or DEFAULT_MAX_REQUEST_SIZE, key
            )
            out.append((number, at, records))
        return out

    def snapshots_sent(self, snapshots: list[DueSnapshot], now: float) -> None:
        """``snapshots`` are committed on the changelog: the next of each is due from ``now``."""
        for number, at, _ in snapshots:
            self._snapshotted[number] = (at, now)

    def _subscribed(self) -> KafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("no consumer yet: subscribe() first")
        return self._consumer

    def _restore(self, delivered: Mapping[TopicPartition, int]) -> StreamProcessor:
        """A processor over the last checkpoint (or an empty state)."""
        config = self._config
        state = self._store.load(drift_factory(config, self._profiles)) or MonitorState()
        self._snapshotted.clear()
        return StreamProcessor(
            config,
            state,
            self._partition_count,
            delivered,
            profiles=self._profiles,
            routing=self._routing,
        )

    def _plan(self, numbers: list[int]) -> list[Resume]:
        """How each of ``numbers`` resumes; reads the changelog only where the local copy is
        not exactly at Kafka's committed offsets."""
        consumer, config = self._subscribed(), self._config
        state, topics = self._processor.state, config.topics
        inputs = {
            p: (TopicPartition(topics.predictions, p), TopicPartition(topics.labels, p))
            for p in numbers
        }
        committed = {tp: consumer.committed(tp) for p in numbers for tp in inputs[p]}
        stale = [
            p
            for p in numbers
            if p not in state.partitions
            or any(state.offsets.get(tp, 0) != (committed[tp] or 0) for tp in inputs[p])
        ]
        pending_bytes = sum(
            pending_share(m.max_pending_bytes, 0, self._partition_count) for m in config.models
        )
        snapshots = read_snapshots(
            config.kafka.client_options("consumer"),
            config.changelog_topic,
            stale,
            config.state.changelog_secret(),
            self._rejections,
            max_bytes=snapshot_limit(pending_bytes),
        )
        me = config.transactional_id
        return [
            choose_resume(
                p,
                inputs[p],
                state.partitions.get(p),
                state.offsets,
                snapshots.get(p),
                committed,
                me,
            )
            for p in numbers
        ]

    def _apply(self, resume: Resume) -> None:
        consumer, processor = self._subscribed(), self._processor
        if resume.state is not None:
            processor.adopt(resume.partition, resume.state)
        for tp, start in resume.start.items():
            processor.start_at(tp, start)
            if start is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
        # Outputs of records before Kafka's committed offset were already published.
        processor.replay_to(resume.delivered)
        if resume.source == "changelog" and not resume.delivered:
            # Its snapshot is on the changelog already: the next is due in changelog_every.
            self._snapshotted[resume.partition] = (
                {tp: o for tp, o in resume.start.items() if o is not None},
                time.monotonic(),
            )
        log.info(
            "partition %d resumes from %s at %s%s",
            resume.partition,
            resume.source,
            ", ".join(f"{t}={o}" for (t, _), o in resume.start.items()),
            "".join(f"; replaying {t} to {o}" for (t, _), o in resume.delivered.items()),
        )

    def _drop_unowned(self, owned: Collection[int]) -> None:
        for number in self._processor.retain(owned):
            self._snapshotted.pop(number, None)
            log.info("partition %d moved to another instance; its state is dropped here", number)


class RebalanceListener(ConsumerRebalanceListener):
    """Hands the consumer's rebalance callbacks to :class:`OwnedPartitions`."""

    def __init__(
        self, partitions: OwnedPartitions, commit: Callable[[list[TopicPartition]], None]
    ) -> None:
        self._partitions = partitions
        self._commit = commit

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._partitions.revoke(list(revoked), self._commit)

    def on_partitions_lost(self, lost: list[TopicPartition]) -> None:
        self._partitions.lose(list(lost))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._partitions.assign(list(assigned))
