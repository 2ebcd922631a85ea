"""Misrouted keys, through the real broker: predictions placed as a confluent-kafka (librdkafka
``consistent_random``) producer places them, labels as a Java producer does (murmur2). The pairs
whose partitions differ never join; the monitor says so in a metric and one log line."""

from __future__ import annotations

import logging
import uuid
import zlib
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from driftwarden.testing import TansuBroker, create_topics
from tests.conftest import TopicNames
from tests.monitor.harness import ThreadedMonitor, monitor_config, total

pytestmark = pytest.mark.kafka

PARTITIONS = 4
PAIRS = 400


def _java_partition(key: bytes) -> int:
    """The Java client's default partitioner, written out here from its definition."""
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


def _librdkafka_partition(key: bytes) -> int:
    """librdkafka's default ``consistent_random`` for a non-empty key: CRC32 % partitions."""
    return zlib.crc32(key) % PARTITIONS


def _prediction(pid: str, ts: float) -> bytes:
    return orjson.dumps(
        {
            "schema": 1,
            "prediction_id": pid,
            "model": "churn",
            "model_version": "1",
            "timestamp": ts,
            "features": {"tenure": 3.0, "plan": "pro"},
            "prediction": 1,
            "scores": {"0": 0.2, "1": 0.8},
        }
    )


def _label(pid: str, ts: float) -> bytes:
    return orjson.dumps({"prediction_id": pid, "model": "churn", "label": 1, "timestamp": ts})


def test_misrouted_predictions_are_counted_applied_and_reported_once(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kafka")
    caplog.set_level(logging.INFO)
    config = monitor_config(broker.bootstrap, topic_names("dw"), tmp_path / "state")
    topics = config["topics"]
    predictions, labels = topics["predictions"], topics["labels"]
    create_topics(broker.bootstrap, [predictions, labels], PARTITIONS)

    ids = [str(uuid.UUID(int=i + 1)).encode() for i in range(PAIRS)]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
    for i, pid in enumerate(ids):
        producer.send(
            predictions,
            key=pid,
            value=_prediction(pid.decode(), 1000.0 + i),
            partition=_librdkafka_partition(pid),
        )
        producer.send(
            labels,
            key=pid,
            value=_label(pid.decode(), 1001.0 + i),
            partition=_java_partition(pid),
        )
    producer.flush()
    producer.close()
    misrouted = sum(_librdkafka_partition(k) != _java_partition(k) for k in ids)
    assert 0 < misrouted < PAIRS

    with ThreadedMonitor(config) as monitor:
        samples = monitor.wait_consumed(2 * PAIRS)

    name = "driftwarden_misrouted_records_total"
    assert total(samples, name, topic=predictions) == misrouted
    assert total(samples, name, topic=labels) == 0
    # Misrouted records are applied, not dropped; only the pairs on one partition join.
    assert total(samples, "driftwarden_predictions_total") == PAIRS
    assert total(samples, "driftwarden_labels_total") == PAIRS
    assert total(samples, "driftwarden_joined_total") == PAIRS - misrouted

    reports = [r.getMessage() for r in caplog.records if r.name == "driftwarden.monitor.routing"]
    assert len(reports) == 1, reports
    assert f"topic {predictions}" in reports[0]
    assert "CRC32" in reports[0] and "consistent_random" in reports[0]
    assert "partitioner=murmur2_random" in reports[0]
