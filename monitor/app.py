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
from collections.abc import Callable
from contextlib import ExitStack
from types import FrameType

import orjson
from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from monitor.checkpoint import CheckpointStore
from monitor.config import MonitorConfig
from monitor.errors import StartupError
from monitor.exporter import MetricsSnapshot, MonitorCollector
from monitor.processor import BatchOutput, StreamProcessor
from monitor.profiles import ProfileSource
from monitor.sink import OutputSink
from monitor.state import MonitorState
from monitor.topics import prepare_topics
from retrain.http import HealthServer
from retrain.notify import NotificationDispatcher

__all__ = ["MonitorService"]

log = logging.getLogger(__name__)

_SNAPSHOT_EVERY = 1.0


class MonitorService:
    def __init__(
        self,
        config: MonitorConfig,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.registry = registry or CollectorRegistry()
        self.collector = MonitorCollector()
        self.registry.register(self.collector)
        self._clock = clock
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._assign_lock = threading.Lock()
        self._pending_assignment: list[TopicPartition] = []
        self._store = CheckpointStore(config.state.dir)
        self._last_checkpoint: float | None = None
        self._processor: StreamProcessor | None = None
        self._consumer: KafkaConsumer | None = None
        self._sink: OutputSink | None = None
        self.http: HealthServer | None = None
        self._notifications: NotificationDispatcher | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

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
            profiles = ProfileSource.from_config(self.config)
            partitions = self._prepare_topics()
            state = self._store.load() or MonitorState()
            self._processor = StreamProcessor(self.config, state, partitions, profiles=profiles)
            self._consumer = self._make_consumer()
            stack.callback(self._consumer.close)
            self._sink = OutputSink(self.config, self._consumer)
            stack.callback(self._sink.close)
            self._notifications = NotificationDispatcher(
                self.config.notifiers, registry=self.registry
            )
            stack.callback(self._notifications.close)  # drains for at most 10s
            self._consumer.subscribe(
                [self.config.topics.predictions, self.config.topics.labels],
                listener=_Rebalance(self),
            )
            self._loop()
            self.checkpoint()
            log.info("stopped after a final checkpoint")

    def _loop(self) -> None:
        assert self._consumer is not None and self._processor is not None  # noqa: S101
        assert self._sink is not None  # noqa: S101
        consumer, processor, sink = self._consumer, self._processor, self._sink
        every = self.config.state.checkpoint_every
        last_snapshot = 0.0
        self._last_checkpoint_mono = time.monotonic()
        while not self._stop.is_set():
            polled = consumer.poll(timeout_ms=200, max_records=self.config.kafka.max_poll_records)
            if self._pending_assignment:
                positioned = self._resume_assigned()
                polled = {tp: rs for tp, rs in polled.items() if tp not in positioned}
            for records in polled.values():
                output = processor.process(records)
                sink.publish(output)
                self._notify(output)
            now = time.monotonic()
            if now - self._last_checkpoint_mono >= every:
                self.checkpoint()
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

    def checkpoint(self) -> None:
        """Commit outputs and offsets to Kafka, then write the state file."""
        if self._processor is None or self._sink is None:
            return
        state, delivered = self._processor.state, self._processor.delivered
        assigned = self._assigned()
        # Never move Kafka's offsets behind what a run before a crash already delivered.
        offsets = {
            tp: max(offset, delivered.get(tp, 0))
            for tp, offset in state.offsets.items()
            if tp in assigned
        }
        self._sink.commit(offsets)
        self._store.save(state)
        if all(state.offsets.get(tp, 0) >= offset for tp, offset in delivered.items()):
            delivered.clear()  # the replay has caught up with what was published before
        self._last_checkpoint = self._clock()
        self._last_checkpoint_mono = time.monotonic()
        self._publish_snapshot()

    def _resume_assigned(self) -> set[TopicPartition]:
        """Seek newly assigned partitions to their checkpointed offset (else Kafka's, else the
        start) and resume them. Runs on the loop's thread: the rebalance listener only pauses."""
        assert self._consumer is not None and self._processor is not None  # noqa: S101
        with self._assign_lock:
            partitions, self._pending_assignment = self._pending_assignment, []
        state = self._processor.state
        assigned = self._consumer.assignment()
        partitions = [tp for tp in partitions if tp in assigned]
        for tp in partitions:
            committed = self._consumer.committed(tp)
            stored = state.offsets.get((tp.topic, tp.partition))
            if stored is not None:
                self._consumer.seek(tp, stored)
                # Outputs of records before Kafka's committed offset were already published.
                delivered = max(stored, committed or 0)
                self._processor.delivered[(tp.topic, tp.partition)] = delivered
            elif committed is not None:
                self._consumer.seek(tp, committed)
            else:
                self._consumer.seek_to_beginning(tp)
        if partitions:
            self._consumer.resume(*partitions)
            log.info("resumed %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))
        self._ready.set()
        return set(partitions)

    def _on_assigned(self, partitions: list[TopicPartition]) -> None:
        """Listener, on the consumer's IO thread: hold the partitions until they are positioned."""
        if not partitions:
            self._ready.set()  # a member with nothing to consume is ready all the same
            return
        if self._consumer is not None:
            self._consumer.pause(*partitions)
        with self._assign_lock:
            self._pending_assignment.extend(partitions)

    def _on_revoked(self, partitions: list[TopicPartition]) -> None:
        if partitions:
            self._ready.clear()

    def _assigned(self) -> set[tuple[str, int]]:
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

    def _lag(self) -> dict[tuple[str, int], int]:
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
        kafka = self.config.kafka
        return KafkaConsumer(
            **kafka.client_options("consumer"),
            group_id=kafka.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            isolation_level="read_committed",
            max_poll_records=kafka.max_poll_records,
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        )


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, service: MonitorService) -> None:
        self._service = service

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._service._on_revoked(list(revoked))  # noqa: SLF001 - the service's own listener

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._service._on_assigned(list(assigned))  # noqa: SLF001 - the service's own listener
