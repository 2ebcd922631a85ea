"""The monitor service: poll -> process -> publish, checkpoint -> commit, until told to stop.

The service wires the parts and runs the loop: HTTP, notifiers, topics and reconnects are its
own; the partitions and their state belong to
:class:`~driftwarden.monitor.partitions.OwnedPartitions`, the commit protocol to
:class:`~driftwarden.monitor.checkpointing.Checkpoint`. On start the state is restored and every
assigned partition resumes at the offset stored in it.
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
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from driftwarden.config import MonitorConfig
from driftwarden.core import kafka_compat
from driftwarden.core.http import HealthServer
from driftwarden.core.notify import NotificationDispatcher
from driftwarden.core.registry import ProfileLookup
from driftwarden.monitor.changelog import ChangelogRejections
from driftwarden.monitor.checkpoint import CheckpointStore
from driftwarden.monitor.checkpointing import Checkpoint
from driftwarden.monitor.errors import InstanceFenced, StartupError
from driftwarden.monitor.exporter import MetricsSnapshot, MonitorCollector
from driftwarden.monitor.partitions import OwnedPartitions
from driftwarden.monitor.processor import BatchOutput
from driftwarden.monitor.profiles import LookupFailures, ProfileSource
from driftwarden.monitor.recovery import Backoff, ReconnectCounter, fenced, transient
from driftwarden.monitor.routing import RoutingCheck
from driftwarden.monitor.sink import OutputSink
from driftwarden.monitor.topics import prepare_topics

__all__ = ["MonitorService"]

log = logging.getLogger(__name__)

_METRICS_EVERY = 1.0
# Not ready while one pass of the loop (poll, process, publish, checkpoint) takes longer than this:
# with the broker down the loop blocks in Kafka calls until it is back.
_STALLED_AFTER_S = 15.0
_CLOSE_AFTER_FAILURE_MS = 1000


class MonitorService:
    """The monitor: from construction to :meth:`run` no network; :meth:`stop` ends the run after
    a final checkpoint."""

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
        self._profiles: ProfileSource | None = None
        self._routing = RoutingCheck()  # kept across sessions: each topic is reported once
        self._store = CheckpointStore(config.state.dir)
        self._last_checkpoint: float | None = None
        self._last_checkpoint_mono = time.monotonic()
        self._partitions: OwnedPartitions | None = None
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
        self._lookup_failures = LookupFailures(m.name for m in config.models)
        self.registry.register(self._lookup_failures)

    @property
    def ready(self) -> bool:
        """Partitions positioned, and the loop not stuck in a Kafka call (a broker outage)."""
        stalled = time.monotonic() - self._progress > _STALLED_AFTER_S
        partitions = self._partitions
        return partitions is not None and partitions.positioned.is_set() and not stalled

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
            self._profiles = ProfileSource.from_config(
                self.config, self._model_registry, self._lookup_failures
            )
            stack.callback(self._profiles.close)
            partitions: int | None = check_topics(self.config)
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

    def _session(self, partition_count: int) -> None:
        """Consume from the last checkpoint until stopped; on any error drop the clients and the
        work since that checkpoint, and raise."""
        owned = self._partitions = OwnedPartitions(
            self.config,
            self._store,
            partition_count,
            self._profiles,
            self._routing,
            self._rejections,
        )
        consumer = self._consumer = make_consumer(self.config)
        self._sink = None
        try:
            sink = self._sink = OutputSink(self.config, consumer)
            checkpoint = Checkpoint(owned, sink, self._store, self._checkpointed)
            owned.subscribe(consumer, checkpoint.commit_revoked)
            self._loop(consumer, sink, owned, checkpoint)
            checkpoint.commit(final=True)
        except BaseException:
            self._drop_clients()
            raise
        owned.close()  # closing the consumer revokes; everything is committed already
        sink.close()
        consumer.close()
        log.info("stopped after a final checkpoint")

    def _drop_clients(self) -> None:
        """After a failure: not ready, producer discarded, consumer closed without waiting long."""
        if self._partitions is not None:
            self._partitions.close(failed=True)  # the revocation on close must commit nothing
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
                return check_topics(self.config)
            except StartupError as failed:
                if not transient(failed):
                    raise
                exc = failed

    def _loop(
        self,
        consumer: KafkaConsumer,
        sink: OutputSink,
        owned: OwnedPartitions,
        checkpoint: Checkpoint,
    ) -> None:
        every = self.config.state.checkpoint_every
        last_metrics = 0.0
        self._last_checkpoint_mono = time.monotonic()
        while not self._stop.is_set():
            self._progress = time.monotonic()
            polled = consumer.poll(timeout_ms=200, max_records=self.config.kafka.max_poll_records)
            if owned.lost:
                checkpoint.roll_back()
                polled = {}  # fetched at positions the rollback moves back
            if owned.rebalanced:
                positioned = owned.resume_assigned()
                polled = {tp: rs for tp, rs in polled.items() if tp not in positioned}
            with owned.lock:
                processor = owned.processor
                for records in polled.values():
                    output = processor.process(records)
                    sink.publish(output)
                    self._notify(output)
                if self._profiles is not None:  # the registry answered after a failure
                    processor.reprofile(self._profiles.retry())
            now = time.monotonic()
            if now - self._last_checkpoint_mono >= every:
                checkpoint.commit()
                self._backoff.reset()  # Kafka took a commit: the next outage starts afresh
            elif now - last_metrics >= _METRICS_EVERY:
                self._publish_metrics()
                last_metrics = now

    def _notify(self, output: BatchOutput) -> None:
        """Hand the events just published to the direct notifiers; never blocks."""
        if self._notifications is None or not self.config.notifiers:
            return
        for record in output.events:
            if record.value is not None:
                self._notifications.submit(orjson.loads(record.value))

    def _checkpointed(self) -> None:
        """After each checkpoint: note its time and export the metrics."""
        self._last_checkpoint = self._clock()
        self._last_checkpoint_mono = time.monotonic()
        self._publish_metrics()

    def _publish_metrics(self) -> None:
        if self._partitions is None or self._consumer is None:
            return
        state = self._partitions.processor.state
        self.collector.snapshot = MetricsSnapshot.of(
            state,
            [m.name for m in self.config.models],
            consumer_lag(self._consumer, state.offsets),
            self._last_checkpoint,
        )


def consumer_lag(
    consumer: KafkaConsumer, offsets: dict[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Records behind the high watermark of each assigned partition, from the consumer's last
    fetch (Tansu's ``end_offsets`` is wrong when producers batch)."""
    lag = {}
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is not None:
            lag[tp] = max(high - offsets.get(tp, 0), 0)
    return lag


def check_topics(config: MonitorConfig) -> int:
    """Check the input topics, create missing output and changelog topics (see
    :func:`~driftwarden.monitor.topics.prepare_topics`); return the input partition count."""
    try:
        admin = KafkaAdminClient(
            **config.kafka.client_options("admin"), client_id="driftwarden-monitor-admin"
        )
    except KafkaError as exc:
        raise StartupError(
            f"cannot reach Kafka at {','.join(config.kafka.bootstrap_servers)}: {exc}"
        ) from exc
    try:
        return prepare_topics(config, admin)
    finally:
        admin.close()


def make_consumer(config: MonitorConfig) -> KafkaConsumer:
    """The input consumer of one session: manual commits, read_committed, range assignment."""
    kafka_compat.install()  # header keys that are not UTF-8 must not stop a partition
    kafka = config.kafka
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
