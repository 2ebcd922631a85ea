"""The embedded Tansu broker round-trips keyed messages through a consumer group, and
:func:`driftwarden.testing.produce` sends what it is given, headers and tombstones included."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from driftwarden.testing import OutgoingRecord, TansuBroker, create_topics, produce
from tests.conftest import TopicNames

pytestmark = pytest.mark.kafka

N_MESSAGES = 100


def test_produce_sends_keys_values_headers_and_tombstones_in_order(
    broker: TansuBroker, topic_names: TopicNames
) -> None:
    topic = topic_names("produced")
    create_topics(broker.bootstrap, [topic])
    large = b"x" * 1_500_000  # over kafka-python's default max_request_size of 1 MiB
    records: list[OutgoingRecord] = [
        (topic, b"k1", b"v1"),
        (topic, None, b"v2", [("source", b"test"), ("empty", b"")]),
        (topic, b"k3", None),
        (topic, b"k4", large),
    ]
    assert produce(broker.bootstrap, records, max_request_size=2_000_000) == 4

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        received: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]] = []
        deadline = time.monotonic() + 30
        while len(received) < len(records) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                received.extend((r.key, r.value, list(r.headers)) for r in batch)
    finally:
        consumer.close()
    assert received == [
        (b"k1", b"v1", []),
        (None, b"v2", [("source", b"test"), ("empty", b"")]),
        (b"k3", None, []),
        (b"k4", large, []),
    ]


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


def test_s3_storage_keeps_records_and_committed_offsets_across_a_restart(
    restartable_broker: TansuBroker, topic_names: TopicNames
) -> None:
    broker = restartable_broker
    topic, group = topic_names("durable"), topic_names("group")
    create_topics(broker.bootstrap, [topic], partitions=2)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    try:
        for i in range(N_MESSAGES):
            producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=i % 2)
        producer.flush(timeout=10)
    finally:
        producer.close()
    committed = {TopicPartition(topic, 0): 17, TopicPartition(topic, 1): 33}
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group)
    try:
        consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in committed.items()})
    finally:
        consumer.close()

    port = broker.port
    broker.halt()
    assert not broker.is_running()
    broker.start()
    assert broker.port == port

    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False
    )
    try:
        assert {tp: consumer.committed(tp) for tp in committed} == committed
        consumer.assign(list(committed))
        consumer.seek_to_beginning()
        values: set[bytes] = set()
        deadline = time.monotonic() + 30
        while len(values) < N_MESSAGES and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                values.update(r.value for r in records)
    finally:
        consumer.close()
    assert values == {f"v{i}".encode() for i in range(N_MESSAGES)}
