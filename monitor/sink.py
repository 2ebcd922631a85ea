"""Publishes joined examples and dead letters, and commits input offsets with them.

With transactions (the default) the outputs of a checkpoint interval, the partition state
snapshots of the changelog and the input offsets are committed in one Kafka transaction; without,
outputs and snapshots are flushed and the offsets committed after, only once every one of them
was confirmed: a send that failed fails the commit, and the monitor resumes from its last
checkpoint, publishing the lost outputs again.
Either way the offsets committed in Kafka mark how far outputs were delivered, which is what
:class:`~driftwarden.monitor.processor.StreamProcessor` uses to publish nothing twice after a crash.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.partitioner.default import murmur2
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata, TopicPartition

from driftwarden.config import MonitorConfig
from driftwarden.monitor.changelog import SnapshotRecord
from driftwarden.monitor.processor import BatchOutput, OutputRecord
from driftwarden.monitor.recovery import fenced

__all__ = ["OutputSink"]

log = logging.getLogger(__name__)

# kafka-python's transactional calls wait forever while the broker is down (and, against Tansu,
# even after it is back): a commit that takes longer than this fails the session instead.
COMMIT_TIMEOUT_S = 30.0


class OutputSink:
    def __init__(self, config: MonitorConfig, consumer: KafkaConsumer) -> None:
        self._consumer = consumer
        self._examples = config.topics.examples
        self._dead_letter = config.topics.dead_letter
        self._events = config.topics.events
        self._requests = config.topics.retrain_requests
        self._changelog = config.changelog_topic
        self._transactional = config.kafka.transactions
        # Without transactions: the sends since the last commit, checked before it.
        self._unconfirmed: list[FutureRecordMetadata] = []
        options: dict[str, Any] = {
            "linger_ms": 20,
            "batch_size": 262144,
            "acks": "all",
            **config.kafka.client_options("producer"),
        }
        if self._transactional:
            options["transactional_id"] = config.transactional_id
            options["enable_idempotence"] = True
        self._producer = KafkaProducer(**options)
        if self._transactional:
            self._producer.init_transactions()
            self._producer.begin_transaction()

    @property
    def fenced(self) -> bool:
        """Whether another producer with this transactional id took over. kafka-python keeps
        that error in its transaction manager; what later calls raise may only quote it."""
        manager = self._producer._transaction_manager  # noqa: SLF001 - no public accessor
        return self._transactional and manager is not None and fenced(manager.last_error)

    def publish(self, output: BatchOutput) -> None:
        self._send_all(self._examples, output.examples)
        self._send_all(self._dead_letter, output.dead_letters)
        self._send_all(self._events, output.events)
        self._send_all(self._requests, output.requests)

    def commit(
        self,
        offsets: Mapping[TopicPartition, int],
        snapshots: Sequence[tuple[int, SnapshotRecord]] = (),
    ) -> None:
        """Make every output sent so far durable together with ``offsets`` and the partition
        state ``snapshots`` (each sent to its changelog partition)."""
        for partition, record in snapshots:
            self._send(self._changelog, record.key, record.value, record.headers, partition)
        kafka_offsets = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in offsets.items()
        }
        if self._transactional:

            def commit_transaction() -> None:
                if kafka_offsets:
                    self._producer.send_offsets_to_transaction(
                        kafka_offsets, self._consumer.group_metadata()
                    )
                self._producer.commit_transaction()

            _within(COMMIT_TIMEOUT_S, "commit the transaction", commit_transaction)
            self._producer.begin_transaction()
        else:
            self._producer.flush(timeout=COMMIT_TIMEOUT_S)
            self._confirm_sends()
            if kafka_offsets:
                self._consumer.commit(kafka_offsets, timeout_ms=int(COMMIT_TIMEOUT_S * 1000))

    def _confirm_sends(self) -> None:
        """Without transactions: raise unless every send since the last commit was delivered
        (``flush`` returns also when some failed)."""
        sent, self._unconfirmed = self._unconfirmed, []
        failed = [future.exception for future in sent if not future.succeeded()]
        if failed:
            raise KafkaError(
                f"{len(failed)} of {len(sent)} output record(s) were not delivered (first: "
                f"{failed[0]!r}); their input offsets are not committed and the monitor resumes "
                "from its last checkpoint"
            ) from failed[0]

    def abort(self) -> None:
        """Drop what was sent since the last commit (with transactions) and start afresh."""
        if self._transactional:
            self._producer.abort_transaction()
            self._producer.begin_transaction()

    def close(self) -> None:
        if self._transactional:
            try:
                self._producer.abort_transaction()
            except Exception:  # noqa: BLE001 - best effort on shutdown after a commit
                log.debug("no open transaction to abort on close")
        self._producer.close(timeout=5)

    def discard(self) -> None:
        """Drop the producer after a failure, neither committing nor aborting: the next producer
        with the same transactional id fences it. Records it still holds fail once their delivery
        timeout expires; it is closed on a background thread until then."""

        def close() -> None:
            try:
                self._producer.close()
            except Exception as exc:  # noqa: BLE001 - a broken producer, being dropped
                log.debug("discarded producer closed with %s", exc)

        threading.Thread(target=close, name="discard-producer", daemon=True).start()

    def _send_all(self, topic: str, records: list[OutputRecord]) -> None:
        partition_of = self._partitioner(topic)
        for record in records:
            self._send(topic, record.key, record.value, record.headers, partition_of(record.key))

    def _send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        partition: int | None,
    ) -> None:
        future = self._producer.send(
            topic, key=key, value=value, headers=headers, partition=partition
        )
        if not self._transactional:  # a transaction's commit fails for a failed send itself
            self._unconfirmed.append(future)

    def _partitioner(self, topic: str) -> Callable[[bytes | None], int | None]:
        """Kafka's default key -> partition mapping, memoized: output keys repeat (model names)."""
        partitions = sorted(self._producer.partitions_for(topic) or ())
        if not partitions:
            return lambda key: None

        @functools.cache
        def partition_of(key: bytes | None) -> int | None:
            if key is None:
                return None
            return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]

        return partition_of


def _within(timeout: float, what: str, call: Callable[[], None]) -> None:
    """Run ``call`` on a helper thread and wait at most ``timeout`` seconds for it.

    On timeout the thread is left blocked (its producer is then discarded) and
    :class:`~kafka.errors.KafkaTimeoutError` is raised; an error of ``call`` is re-raised.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            errors.append(exc)

    worker = threading.Thread(target=run, name="kafka-commit", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise KafkaTimeoutError(
            f"could not {what} within {timeout:.0f}s; is Kafka reachable? The monitor resumes "
            "from its last checkpoint once it is"
        )
    if errors:
        raise errors[0]
