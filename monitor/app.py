"""The monitor service: poll -> process -> publish, checkpoint -> commit, until told to stop.

Offsets only move together with a checkpoint: outputs and input offsets are committed to Kafka,
then the state (which holds the same offsets) is written atomically. On start the state is
restored and every assigned partition resumes at the offset stored in it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from types import FrameType

import orjson
from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import CommitFailedError, FencedInstanceIdError, KafkaError
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from driftwarden.config import MonitorConfig
from driftwarden.core import kafka_compat
from driftwarden.core.http import HealthServer
from driftwarden.core.notify import NotificationDispatcher
from driftwarden.core.registry import ProfileLookup
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
from driftwarden.monitor.errors import InstanceFenced, StartupError
from driftwarden.monitor.exporter import MetricsSnapshot, MonitorCollector
from driftwarden.monitor.handover import Resume, choose_resume, read_snapshots
from driftwarden.monitor.processor import BatchOutput, StreamProcessor
from driftwarden.monitor.profiles import ProfileSource
from driftwarden.monitor.record_limits import DEFAULT_MAX_REQUEST_SIZE
from driftwarden.monitor.recovery import Backoff, ReconnectCounter, fenced, transient
from driftwarden.monitor.routing import RoutingCheck
from driftwarden.monitor.shares import pending_share
from driftwarden.monitor.sink import OutputSink
from driftwarden.monitor.state import MonitorState
from driftwarden.monitor.topics import prepare_topics

__all__ = ["MonitorService"]

log = logging.getLogger(__name__)

_SNAPSHOT_EVERY = 1.0
# Not ready while one pass of the loop (poll, process, publish, checkpoint) takes longer than this:
# with the broker down the loop blocks in Kafka calls until it is back.
_STALLED_AFTER_S = 15.0
_CLOSE_AFTER_FAILURE_MS = 1000


class MonitorService:
    def __init__(
        self,
        config: MonitorConfig,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        model_registry: ProfileLookup | None = None,
    ) -> None:
        self.config = config
        self._model_registry = model_registry
        self.registry = registry or CollectorRegistry()
        self.collector = MonitorCollector()
        self.registry.register(self.collector)
        self._clock = clock
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._assign_lock = threading.Lock()
        self._pending_assignment: list[TopicPartition] = []
        self._rebalanced = False
        self._lost = False  # evicted from the group: roll back before going on
        self._closing = False  # the session ends: revocations must not commit
        self._profiles: ProfileSource | None = None
        self._partition_count = 1
        self._routing = RoutingCheck()  # kept across sessions: each topic is reported once
        # Held while a batch is applied or checkpointed, so a revocation (on the consumer's IO
        # thread) never checkpoints half a batch.
        self._process_lock = threading.RLock()
        # partition -> offsets and monotonic time of its last snapshot on the changelog
        self._snapshotted: dict[int, tuple[dict[TopicPartition, int], float]] = {}
        self._store = CheckpointStore(config.state.dir)
        self._last_checkpoint: float | None = None
        self._processor: StreamProcessor | None = None
        self._consumer: KafkaConsumer | None = None
        self._sink: OutputSink | None = None
        self.http: HealthServer | None = None
        self._notifications: NotificationDispatcher | None = None
        self._progress = time.monotonic()
        self._backoff = Backoff()
        self._reconnects = ReconnectCounter()
        self.registry.register(self._reconnects)
        self._rejections = ChangelogRejections()
        self.registry.register(self._rejections)

    @property
    def ready(self) -> bool:
        """Partitions positioned, and the loop not stuck in a Kafka call (a broker outage)."""
        stalled = time.monotonic() - self._progress > _STALLED_AFTER_S
        return self._ready.is_set() and not stalled

    def stop(self) -> None:
        """Ask the loop to finish its batch, checkpoint and return."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        def handle(signum: int, frame: FrameType | None) -> None:
            if self._stop.is_set():
                raise KeyboardInterrupt
            log.info("signal %d: finishing the batch, checkpointing and stopping", signum)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run(self) -> None:
        with ExitStack() as stack:
            self.http = HealthServer.from_config(
                self.registry, self.config.http, lambda: self.ready
            ).start()
            stack.callback(self.http.stop)
            log.info("serving /metrics on %s:%d", self.config.http.host, self.http.port)
            self._profiles = ProfileSource.from_config(self.config, self._model_registry)
            partitions: int | None = self._prepare_topics()
            self._notifications = NotificationDispatcher(
                self.config.notifiers, registry=self.registry
            )
            stack.callback(self._notifications.close)  # drains for at most 10s
            while partitions is not None:
                try:
                    self._session(partitions)
                    return
                except Exception as exc:
                    if self._fenced(exc):
                        raise InstanceFenced(self.config.transactional_id) from exc
                    if not transient(exc):
                        raise
                    partitions = self._recover(exc)

    def _fenced(self, exc: Exception) -> bool:
        """Whether another instance with this transactional id took over."""
        sink_fenced = self._sink is not None and self._sink.fenced
        return self.config.kafka.transactions and (fenced(exc) or sink_fenced)

    def _session(self, partitions: int) -> None:
        """Consume from the last checkpoint until stopped; on any error drop the clients and the
        work since that checkpoint, and raise."""
        self._partition_count = partitions
        self._processor = self._restore({})
        with self._assign_lock:
            self._pending_assignment = []
            self._rebalanced = self._lost = self._closing = False
        self._consumer = self._make_consumer()
        self._sink = None
        try:
            self._sink = OutputSink(self.config, self._consumer)
            self._consumer.subscribe(
                [self.config.topics.predictions, self.config.topics.labels],
                listener=_Rebalance(self),
            )
            self._loop()
            self.checkpoint(final=True)
        except BaseException:
            self._drop_clients()
            raise
        self._closing = True  # closing the consumer revokes; everything is committed already
        self._sink.close()
        self._consumer.close()
        log.info("stopped after a final checkpoint")

    def _drop_clients(self) -> None:
        """After a failure: not ready, producer discarded, consumer closed without waiting long."""
        self._ready.clear()
        self._closing = True  # the revocation on close must not commit anything
        if self._sink is not None:
            self._sink.discard()
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False, timeout_ms=_CLOSE_AFTER_FAILURE_MS)
            except KafkaError as exc:
                log.debug("closing the consumer after a failure: %s", exc)

    def _recover(self, exc: Exception) -> int | None:
        """Wait (backing off), then check the topics again; ``None`` when asked to stop."""
        while True:
            if self._stop.is_set():
                log.warning("Kafka failed while stopping (%s); the last checkpoint stands", exc)
                return None
            delay = self._backoff.next()
            self._reconnects.inc()
            log.warning(
                "Kafka failed (%s); reconnecting in %.1fs to resume from the last checkpoint "
                "(attempt %d)",
                exc if isinstance(exc, KafkaError) else f"{type(exc).__name__}: {exc}",
                delay,
                self._backoff.attempts,
            )
            if self._stop.wait(delay):
                return None
            try:
                return self._prepare_topics()
            except StartupError as failed:
                if not transient(failed):
                    raise
                exc = failed

    def _restore(self, delivered: dict[TopicPartition, int]) -> StreamProcessor:
        """A processor over the last checkpoint (or an empty state)."""
        state = self._store.load(drift_factory(self.config, self._profiles)) or MonitorState()
        self._snapshotted.clear()
        return StreamProcessor(
            self.config,
            state,
            self._partition_count,
            delivered,
            profiles=self._profiles,
            routing=self._routing,
        )

    def _roll_back(self) -> None:
        """After this member was evicted from the group (or fenced on commit): abort the open
        transaction, go back to the last checkpoint and position every partition again."""
        assert self._sink is not None and self._processor is not None  # noqa: S101
        assert self._consumer is not None  # noqa: S101
        with self._process_lock:
            self._sink.abort()
            self._processor = self._restore(self._processor.delivered)
            self._lost = False
        with self._assign_lock:
            self._pending_assignment = list(self._consumer.assignment())
            self._rebalanced = True
        log.warning("evicted from the group: rolled back to the last checkpoint")

    def _loop(self) -> None:
        assert self._consumer is not None and self._sink is not None  # noqa: S101
        consumer, sink = self._consumer, self._sink
        every = self.config.state.checkpoint_every
        last_snapshot = 0.0
        self._last_checkpoint_mono = time.monotonic()
        while not self._stop.is_set():
            self._progress = time.monotonic()
            polled = consumer.poll(timeout_ms=200, max_records=self.config.kafka.max_poll_records)
            if self._lost:
                self._roll_back()
                polled = {}  # fetched at positions the rollback moves back
            if self._rebalanced:
                positioned = self._resume_assigned()
                polled = {tp: rs for tp, rs in polled.items() if tp not in positioned}
            with self._process_lock:
                processor = self._processor
                assert processor is not None  # noqa: S101
                for records in polled.values():
                    output = processor.process(records)
                    sink.publish(output)
                    self._notify(output)
            now = time.monotonic()
            if now - self._last_checkpoint_mono >= every:
                with self._process_lock:
                    self.checkpoint()
                self._backoff.reset()  # Kafka took a commit: the next outage starts afresh
            elif now - last_snapshot >= _SNAPSHOT_EVERY:
                self._publish_snapshot()
                last_snapshot = now

    def _notify(self, output: BatchOutput) -> None:
        """Hand the events just published to the direct notifiers; never blocks."""
        if self._notifications is None or not self.config.notifiers:
            return
        for record in output.events:
            if record.value is not None:
                self._notifications.submit(orjson.loads(record.value))

    def checkpoint(self, also: Iterable[TopicPartition] = (), final: bool = False) -> None:
        """Commit outputs, offsets and due partition snapshots to Kafka, then write the state
        file. ``also``: partitions being revoked, still this instance's to commit; they, and
        with ``final`` every partition, get a snapshot now so the next owner replays nothing."""
        if self._processor is None or self._sink is None:
            return
        state, delivered = self._processor.state, self._processor.delivered
        also = list(also)
        assigned = self._assigned() | {(tp.topic, tp.partition) for tp in also}
        # Never move Kafka's offsets behind what a run before a crash already delivered.
        offsets = {
            tp: max(offset, delivered.get(tp, 0))
            for tp, offset in state.offsets.items()
            if tp in assigned
        }
        now = time.monotonic()
        snapshots = self._snapshots(assigned, None if final else {tp.partition for tp in also}, now)
        try:
            self._sink.commit(offsets, [(p, r) for p, _, records in snapshots for r in records])
        except (CommitFailedError, FencedInstanceIdError) as exc:
            # The group moved on without this member: what it holds is no longer its to commit.
            log.warning("checkpoint refused by the group coordinator: %s", exc)
            self._ready.clear()
            self._lost = True
            return
        for number, at, _ in snapshots:
            self._snapshotted[number] = (at, now)
        self._store.save(state)
        if all(state.offsets.get(tp, 0) >= offset for tp, offset in delivered.items()):
            delivered.clear()  # the replay has caught up with what was published before
        self._last_checkpoint = self._clock()
        self._last_checkpoint_mono = time.monotonic()
        self._publish_snapshot()

    def _snapshots(
        self, assigned: set[TopicPartition], forced: set[int] | None, now: float
    ) -> list[tuple[int, dict[TopicPartition, int], list[SnapshotRecord]]]:
        """Changelog records of the owned partitions whose offsets moved since their last
        snapshot and that are due: never snapshotted here, older than ``state.changelog_every``,
        or ``forced`` (None: all)."""
        assert self._processor is not None  # noqa: S101
        state, topics = self._processor.state, self.config.topics
        inputs = (topics.predictions, topics.labels)
        writer = self.config.transactional_id
        every = self.config.state.changelog_every
        size = self.config.kafka.client_options("producer").get("max_request_size")
        key = self.config.state.changelog_secret()
        out = []
        for number, partition_state in state.partitions.items():
            if (topics.predictions, number) not in assigned:
                continue
            at = snapshot_offsets(state.offsets, inputs, number)
            last = self._snapshotted.get(number)
            if last is not None and last[0] == at:
                continue
            due = last is None or now - last[1] >= every or forced is None or number in forced
            if not due:
                continue
            snapshot = PartitionSnapshot(number, at, partition_state, writer)
            records = encode_snapshot(
                snapshot, f"{writer}:{time.time_ns()}", size or DEFAULT_MAX_REQUEST_SIZE, key
            )
            out.append((number, at, records))
        return out

    def _resume_assigned(self) -> set[TopicPartition]:
        """Position newly assigned partitions (see :mod:`driftwarden.monitor.handover`) and resume
        them.

        Runs on the loop's thread: the rebalance listener only pauses. State of partitions this
        instance no longer owns is dropped, so its counters are no longer exported from here.
        """
        assert self._consumer is not None and self._processor is not None  # noqa: S101
        with self._assign_lock:
            partitions, self._pending_assignment = self._pending_assignment, []
            self._rebalanced = False
        assigned = self._consumer.assignment()
        partitions = [tp for tp in partitions if tp in assigned]
        self._drop_unowned({tp.partition for tp in assigned})
        for resume in self._plan(sorted({tp.partition for tp in partitions})):
            self._apply(resume)
        if partitions:
            self._consumer.resume(*partitions)
            log.info("resumed %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))
        self._ready.set()
        return set(partitions)

    def _plan(self, numbers: list[int]) -> list[Resume]:
        """How each of ``numbers`` resumes; reads the changelog only where the local copy is
        not exactly at Kafka's committed offsets."""
        assert self._consumer is not None and self._processor is not None  # noqa: S101
        state, topics = self._processor.state, self.config.topics
        inputs = {p: ((topics.predictions, p), (topics.labels, p)) for p in numbers}
        committed = {
            tp: self._consumer.committed(TopicPartition(*tp)) for p in numbers for tp in inputs[p]
        }
        stale = [
            p
            for p in numbers
            if p not in state.partitions
            or any(state.offsets.get(tp, 0) != (committed[tp] or 0) for tp in inputs[p])
        ]
        snapshots = read_snapshots(
            self.config.kafka.client_options("consumer"),
            self.config.changelog_topic,
            stale,
            self.config.state.changelog_secret(),
            self._rejections,
            max_bytes=snapshot_limit(
                sum(
                    pending_share(m.max_pending_bytes, 0, self._partition_count)
                    for m in self.config.models
                )
            ),
        )
        me = self.config.transactional_id
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
        assert self._consumer is not None and self._processor is not None  # noqa: S101
        state, processor = self._processor.state, self._processor
        if resume.state is not None:
            processor.adopt(resume.partition, resume.state)
        for (topic, partition), start in resume.start.items():
            tp = TopicPartition(topic, partition)
            if start is None:
                state.offsets.pop((topic, partition), None)
                self._consumer.seek_to_beginning(tp)
            else:
                state.offsets[(topic, partition)] = start
                self._consumer.seek(tp, start)
        # Outputs of records before Kafka's committed offset were already published.
        processor.delivered.update(resume.delivered)
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

    def _drop_unowned(self, owned: set[int]) -> None:
        assert self._processor is not None  # noqa: S101
        state, delivered = self._processor.state, self._processor.delivered
        for number in [p for p in state.partitions if p not in owned]:
            del state.partitions[number]
            self._snapshotted.pop(number, None)
            log.info("partition %d moved to another instance; its state is dropped here", number)
        for tp in [tp for tp in state.offsets if tp[1] not in owned]:
            del state.offsets[tp]
            delivered.pop(tp, None)

    def _on_assigned(self, partitions: list[TopicPartition]) -> None:
        """Listener, on the consumer's IO thread: hold the partitions until they are positioned."""
        if self._consumer is not None and partitions:
            self._consumer.pause(*partitions)
        with self._assign_lock:
            self._pending_assignment = list(partitions)
            self._rebalanced = True

    def _on_revoked(self, partitions: list[TopicPartition]) -> None:
        """Listener, on the consumer's IO thread while the loop waits in ``poll``: commit what
        was done on the revoked partitions, with their state snapshots, before they move."""
        if not partitions or self._closing:
            return
        self._ready.clear()
        with self._process_lock:
            self.checkpoint(also=partitions)
        log.info("revoked %d partition(s); committed their work and state", len(partitions))

    def _on_lost(self, partitions: list[TopicPartition]) -> None:
        """Listener: this member was evicted, its partitions may already be someone else's.
        Nothing may be committed for them; the loop rolls back before processing again."""
        if partitions and not self._closing:
            self._ready.clear()
            self._lost = True

    def _assigned(self) -> set[TopicPartition]:
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def _publish_snapshot(self) -> None:
        if self._processor is None:
            return
        self.collector.snapshot = MetricsSnapshot.of(
            self._processor.state,
            [m.name for m in self.config.models],
            self._lag(),
            self._last_checkpoint,
        )

    def _lag(self) -> dict[TopicPartition, int]:
        if self._consumer is None or self._processor is None:
            return {}
        offsets = self._processor.state.offsets
        lag = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is not None:
                position = offsets.get((tp.topic, tp.partition), 0)
                lag[(tp.topic, tp.partition)] = max(high - position, 0)
        return lag

    def _prepare_topics(self) -> int:
        try:
            admin = KafkaAdminClient(
                **self.config.kafka.client_options("admin"), client_id="driftwarden-monitor-admin"
            )
        except KafkaError as exc:
            raise StartupError(
                f"cannot reach Kafka at {','.join(self.config.kafka.bootstrap_servers)}: {exc}"
            ) from exc
        try:
            return prepare_topics(self.config, admin)
        finally:
            admin.close()

    def _make_consumer(self) -> KafkaConsumer:
        kafka_compat.install()  # header keys that are not UTF-8 must not stop a partition
        kafka = self.config.kafka
        return KafkaConsumer(
            **kafka.client_options("consumer"),
            group_id=kafka.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            isolation_level="read_committed",
            # Range assigns partition n of both inputs to the same member: the join needs both.
            partition_assignment_strategy=[RangePartitionAssignor],
            max_poll_records=kafka.max_poll_records,
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        )


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, service: MonitorService) -> None:
        self._service = service

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._service._on_revoked(list(revoked))  # noqa: SLF001 - the service's own listener

    def on_partitions_lost(self, lost: list[TopicPartition]) -> None:
        self._service._on_lost(list(lost))  # noqa: SLF001 - the service's own listener

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._service._on_assigned(list(assigned))  # noqa: SLF001 - the service's own listener
