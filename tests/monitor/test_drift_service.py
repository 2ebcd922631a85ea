"""Drift detection through the real broker: events topic and metrics."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from driftwarden.core.profile_json import save_profile
from driftwarden.testing import TansuBroker, create_topics, generate_stream, produce, stream_profile
from tests.conftest import TopicNames
from tests.monitor.harness import ThreadedMonitor, monitor_config, read_topic, total

pytestmark = pytest.mark.kafka


def test_covariate_shift_raises_one_event_and_the_metrics(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = monitor_config(
        broker.bootstrap,
        topic_names("drift"),
        tmp_path / "state",
        reference=str(save_profile(stream_profile(), tmp_path / "churn.json")),
        drift={"window": 1000, "every": 250},
    )
    config["models"].append({"name": "fraud", "task": "binary", "positive_label": 1})
    topics = config["topics"]
    # One partition: the drift window sees the stream in order, so the outcome is exact.
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=1)
    stream = list(generate_stream(8000, seed=5, shift_at=4000))
    fraud = orjson.dumps(
        {
            "prediction_id": "f-1",
            "model": "fraud",
            "model_version": "9",
            "timestamp": 0,
            "features": {},
            "prediction": 0,
        }
    )
    sent = produce(
        broker.bootstrap,
        [(topics[e.topic], e.key, e.value) for e in stream]
        + [(topics["predictions"], b"f-1", fraud)],
    )
    with ThreadedMonitor(config) as monitor:
        samples = monitor.wait_consumed(sent)

    events = [orjson.loads(r.value) for r in read_topic(broker.bootstrap, topics["events"], 1)]
    detected = [e for e in events if e["type"] == "drift_detected" and e["kind"] == "data"]
    assert [f["name"] for e in detected for f in e["features"]] == ["tenure"]
    [event] = detected
    assert event["model"] == "churn" and event["version"] == "1"
    assert event["window"]["size"] == 1000
    assert 4000 < event["events_seen"] <= 5000
    feature = event["features"][0]
    assert feature["statistic"] == "ks" and feature["score"] > feature["threshold"] > 0

    labels = {"model": "churn", "version": "1"}
    assert total(samples, "driftwarden_drift_active", kind="data", feature="tenure", **labels) == 1
    assert (
        total(samples, "driftwarden_drift_alarms_total", kind="data", feature="tenure", **labels)
        == 1
    )
    assert total(samples, "driftwarden_drift_active", kind="data", feature="plan", **labels) == 0
    score = total(samples, "driftwarden_drift_score", feature="tenure", statistic="ks", **labels)
    threshold = total(samples, "driftwarden_drift_threshold", feature="tenure", **labels)
    assert score > threshold > 0
    assert (
        total(
            samples, "driftwarden_data_quality_ratio", feature="tenure", check="missing", **labels
        )
        == 0
    )
    assert total(samples, "driftwarden_reference_missing", **labels) == 0
    assert total(samples, "driftwarden_reference_missing", model="fraud", version="9") == 1
    assert total(samples, "driftwarden_predictions_total", model="fraud") == 1
