"""Without transactions, input offsets never move past an output that was not delivered
(issue 11, item 6).

The broker (one of this test's own) is frozen with SIGSTOP while the monitor's sink has an output
in flight: the send expires, ``flush()`` returns all the same, and the broker is thawed before the
sink commits the input offsets.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from driftwarden.config import parse_config
from driftwarden.monitor.processor import BatchOutput, OutputRecord
from driftwarden.monitor.recovery import transient
from driftwarden.monitor.sink import OutputSink
from driftwarden.testing import TansuBroker, create_topics, resolve_binary
from tests.conftest import TopicNames
from tests.monitor.harness import monitor_config

pytestmark = pytest.mark.kafka

DELIVERY_TIMEOUT_MS = 4000


@pytest.fixture
def own_broker() -> Iterator[TansuBroker]:
    with TansuBroker(binary=resolve_binary()) as broker:
        yield broker


def broker_pid(broker: TansuBroker) -> int:
    """The process listening on the broker's port (found in /proc: loopback, this machine)."""
    wanted = f"tcp://127.0.0.1:{broker.port}".encode()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and wanted in (entry / "cmdline").read_bytes():
                return int(entry.name)
        except OSError:  # the process ended meanwhile
            continue
    raise AssertionError(f"no process runs the broker on port {broker.port}")


def test_without_transactions_offsets_stay_behind_an_undelivered_output(
    own_broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = monitor_config(own_broker.bootstrap, topic_names("sink"), tmp_path / "state")
    config["kafka"]["transactions"] = False
    config["kafka"]["client"] = {
        "request_timeout_ms": 2000,
        "delivery_timeout_ms": DELIVERY_TIMEOUT_MS,
        "retry_backoff_ms": 100,
        "linger_ms": 200,  # the send leaves after the broker is frozen
    }
    parsed = parse_config(config)
    topics = parsed.topics
    outputs = [topics.examples, topics.dead_letter, topics.events, topics.retrain_requests]
    create_topics(own_broker.bootstrap, [topics.predictions, *outputs], partitions=1)
    consumer = KafkaConsumer(
        bootstrap_servers=own_broker.bootstrap,
        group_id=parsed.kafka.group_id,
        enable_auto_commit=False,
    )
    predictions = TopicPartition(topics.predictions, 0)
    consumer.assign([predictions])
    sink = OutputSink(parsed, consumer)
    example = BatchOutput(examples=[OutputRecord(b"churn", b"{}", [])])
    try:
        sink.publish(example)
        sink.commit({(topics.predictions, 0): 1})
        assert consumer.committed(predictions) == 1  # delivered: committed

        pid = broker_pid(own_broker)
        sink.publish(example)
        os.kill(pid, signal.SIGSTOP)
        try:
            failures: list[BaseException] = []

            def commit() -> None:
                try:
                    sink.commit({(topics.predictions, 0): 2})
                except BaseException as exc:  # noqa: BLE001 - examined below
                    failures.append(exc)

            committing = threading.Thread(target=commit, daemon=True)
            committing.start()
            time.sleep(DELIVERY_TIMEOUT_MS / 1000 + 1.5)  # the send expires meanwhile
        finally:
            os.kill(pid, signal.SIGCONT)
        committing.join(30)
        assert not committing.is_alive()
        assert consumer.committed(predictions) == 1, "offset committed past a lost output"
        assert failures and transient(failures[0]), failures  # the monitor reconnects, replays
        assert "not delivered" in str(failures[0])
    finally:
        sink.discard()
        consumer.close()
