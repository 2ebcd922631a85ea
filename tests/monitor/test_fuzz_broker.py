"""Fuzz run on the real broker: over 10,000 generated bad messages, interleaved with valid
ones, on both input topics; the monitor consumes them all without crashing or stalling, and
consumed = applied + dead-lettered exactly, in the metrics and in the dead-letter topic."""

from __future__ import annotations

import random
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from driftwarden.testing import TansuBroker, create_topics
from tests.conftest import TopicNames
from tests.monitor.badinput import (
    BAD,
    BASE_TIME,
    DuplicateOracle,
    Message,
    RawKey,
    generate,
    message,
    models_config,
)
from tests.monitor.harness import ThreadedMonitor, monitor_config, read_topic, total

pytestmark = pytest.mark.kafka

PARTITIONS = 4
MAX_PENDING = 100_000
COUNT = 13_000  # of which about 80% bad
LARGE = 8  # messages over 1 MB (up to 2 MB: Tansu accepts 2 MB)
ONE_MB = 1_048_576

Source = tuple[str, int, int]


def fuzz_messages(seed: int) -> list[Message]:
    rng = random.Random(seed)
    base_ms = int(BASE_TIME * 1000)
    small_bad = tuple(kind for kind in BAD if kind != "too_large")
    messages = generate(rng, COUNT, PARTITIONS, 3000, 0.8, ONE_MB, base_ms, small_bad)
    for _ in range(LARGE):
        size = ONE_MB + rng.randint(0, 900_000)
        at = rng.randrange(len(messages))
        messages.insert(at, message(rng, "too_large", at, PARTITIONS, 3000, size, base_ms))
    return messages


def produce_all(bootstrap: str, topics: dict[str, str], messages: list[Message]) -> list[Source]:
    """Send every message to its partition; the (topic, partition, offset) of each."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, batch_size=262144, max_request_size=3 * ONE_MB
    )
    futures = [
        producer.send(
            topics[m.topic],
            key=m.key,
            value=m.value,
            headers=m.headers,
            partition=m.partition,
            timestamp_ms=m.kafka_ms,
        )
        for m in messages
    ]
    producer.flush()
    sources = []
    for future in futures:
        meta = future.get(timeout=30)
        sources.append((meta.topic, meta.partition, meta.offset))
    producer.close()
    return sources


def header(record: Any, name: str) -> list[bytes]:
    return [value for key, value in record.headers if key == name]


def test_fuzzed_input_is_applied_or_dead_lettered_exactly_once(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = monitor_config(broker.bootstrap, topic_names("fuzz"), tmp_path / "state")
    config["models"] = models_config(MAX_PENDING)
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], PARTITIONS)
    messages = fuzz_messages(seed=7)
    sources = produce_all(broker.bootstrap, topics, messages)
    oracle = DuplicateOracle(MAX_PENDING // PARTITIONS)
    expected = {source: oracle.reason(m) for source, m in zip(sources, messages, strict=True)}
    bad = {source: reason for source, reason in expected.items() if reason is not None}
    assert len(bad) >= 10_000 and len(expected) == len(messages)

    with ThreadedMonitor(config) as monitor:
        samples = monitor.wait_consumed(len(messages), timeout=90)
        with urllib.request.urlopen(f"{monitor.url}/readyz", timeout=5) as response:  # noqa: S310
            assert response.status == 200
        assert total(samples, "driftwarden_consumer_lag") == 0

    # Metrics: consumed = applied + dead-lettered, per reason as the generator expects.
    by_reason = Counter((topic, reason) for (topic, _, _), reason in bad.items())
    exported: Counter[tuple[str, str]] = Counter()
    for (name, labels), value in samples.items():
        if name == "driftwarden_invalid_events_total":  # one series per input partition
            exported[(dict(labels)["topic"], dict(labels)["reason"])] += int(value)
    assert exported == by_reason
    applied = total(samples, "driftwarden_predictions_total") + total(
        samples, "driftwarden_labels_total"
    )
    assert applied == len(messages) - len(bad)
    assert total(samples, "driftwarden_invalid_events_total") == len(bad)
    for (topic, reason), count in by_reason.items():
        assert (
            total(samples, "driftwarden_invalid_events_total", topic=topic, reason=reason) == count
        )

    # Dead-letter topic: one record per bad input, pointing at it, with its reason.
    letters = read_topic(broker.bootstrap, topics["dead_letter"], len(bad), timeout=60)
    assert len(letters) == len(bad)
    seen: dict[Source, str] = {}
    for letter in letters:
        [error] = header(letter, "error")
        source = _source(letter)
        assert source not in seen
        seen[source] = error.decode()
    assert seen == bad
    # Header keys that were not UTF-8 on the wire are read as U+FFFD and copied.
    assert any(header(letter, "\ufffd\ufffd-key") for letter in letters)
    truncated = [letter for letter in letters if header(letter, "value-truncated")]
    assert len(truncated) == LARGE
    for letter in truncated:
        assert seen[_source(letter)] == "message_too_large"
        assert int(header(letter, "value-truncated")[0]) > ONE_MB > len(letter.value)


def _source(record: Any) -> Source:
    [topic], [partition], [offset] = (
        header(record, f"source-{p}") for p in ("topic", "partition", "offset")
    )
    return topic.decode(), int(partition), int(offset)


def test_a_header_key_that_is_not_utf8_stops_nothing(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    """kafka-python cannot read such a key by itself: the record, and the rest of its batch,
    used to make every poll fail. Now the key reads as U+FFFD and the records are processed."""
    config = monitor_config(broker.bootstrap, topic_names("hdr"), tmp_path / "state")
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], 1)
    base = {"model": "churn", "timestamp": BASE_TIME}
    prediction = {**base, "model_version": "1", "features": {}, "prediction": 1}
    raw_key = [(RawKey("x"), b"v")]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50)
    sends = [
        ("predictions", {**prediction, "prediction_id": "a"}, []),
        ("predictions", {**prediction, "prediction_id": "b"}, raw_key),
        ("predictions", {**prediction, "prediction_id": "c"}, []),
        ("labels", {**base, "prediction_id": "a", "label": 1}, raw_key),
        ("labels", {**base, "prediction_id": "b", "label": 0}, []),
        ("labels", {**base, "prediction_id": "c"}, raw_key),  # no label: dead-lettered
    ]
    for topic, doc, headers in sends:  # one batch per topic: the bad keys sit mid-batch
        producer.send(topics[topic], value=orjson.dumps(doc), headers=headers, partition=0)
    producer.flush()
    producer.close()

    with ThreadedMonitor(config) as monitor:
        samples = monitor.wait_consumed(len(sends), timeout=60)
    assert total(samples, "driftwarden_predictions_total") == 3
    assert total(samples, "driftwarden_labels_total") == 2
    assert total(samples, "driftwarden_joined_total") == 2
    [letter] = read_topic(broker.bootstrap, topics["dead_letter"], 1)
    assert header(letter, "error") == [b"schema_violation"]
    assert header(letter, "\ufffd\ufffd-key") == [b"v"]
    assert _source(letter) == (topics["labels"], 0, 2)
