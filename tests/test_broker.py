"""Smoke test: the Tansu broker round-trips keyed messages through a consumer group."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer

from monitor.embedded_broker import TansuBroker, create_topics
from tests.conftest import TopicNames

N_MESSAGES = 100


@pytest.mark.kafka
def test_produce_and_consume_in_group(broker: TansuBroker, topic_names: TopicNames) -> None:
    topic = topic_names("roundtrip")
    create_topics(broker.bootstrap, [topic], partitions=2)

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    try:
        for i in range(N_MESSAGES):
            producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
        producer.flush(timeout=10)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=topic_names("group"),
        session_timeout_ms=6000,
        heartbeat_interval_ms=1500,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received: dict[bytes, bytes] = {}
    partitions: set[int] = set()
    try:
        deadline = time.monotonic() + 30
        while len(received) < N_MESSAGES and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                partitions.add(tp.partition)
                for record in records:
                    assert record.key is not None
                    received[record.key] = record.value
        consumer.commit()
    finally:
        consumer.close()

    assert received == {f"k{i}".encode(): f"v{i}".encode() for i in range(N_MESSAGES)}
    assert partitions == {0, 1}
