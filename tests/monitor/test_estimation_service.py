"""Performance estimation in the running monitor, on the real broker: estimates and a retrain
request before any label, a kill -9, then the labels: every window reconciled once, and the
estimation series equal to an uninterrupted run's."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftwarden.testing import TansuBroker, create_topics, free_port, produce
from tests.conftest import TopicNames
from tests.monitor.harness import (
    MonitorProcess,
    Samples,
    ThreadedMonitor,
    monitor_config,
    read_topic,
    stream_counters,
    total,
    write_config,
)

pytestmark = pytest.mark.kafka

START = 1_795_600_000.0
PREDICTIONS = 1200
WINDOW = 200
ESTIMATION_FAMILIES = (
    "driftwarden_estimated_performance",
    "driftwarden_estimated_performance_lower",
    "driftwarden_estimated_performance_upper",
    "driftwarden_estimation_calibrated",
    "driftwarden_estimation_error",
    "driftwarden_estimation_within_band",
    "driftwarden_estimation_windows_total",
)


def events(topics: dict[str, str]) -> tuple[list[Any], list[Any]]:
    """Scored predictions one a second whose labels follow the scores (a calibrated model),
    and the labels, 30 s to 10 min later, in label-time order."""
    rng = random.Random(7)  # noqa: S311 - synthetic data
    predictions, labels = [], []
    for i in range(PREDICTIONS):
        p, pid, ts = rng.betavariate(2, 2), f"e-{i:05d}", START + i
        doc = {
            "prediction_id": pid,
            "model": "churn",
            "model_version": "1",
            "timestamp": ts,
            "features": {"tenure": p * 48, "plan": "pro"},
            "prediction": int(p > 0.5),
            "scores": {"0": round(1 - p, 6), "1": round(p, 6)},
        }
        predictions.append((topics["predictions"], pid.encode(), orjson.dumps(doc)))
        label = {
            "prediction_id": pid,
            "model": "churn",
            "label": int(rng.random() < p),
            "timestamp": ts + rng.uniform(30, 600),
        }
        labels.append((label["timestamp"], (topics["labels"], pid.encode(), orjson.dumps(label))))
    return predictions, [record for _, record in sorted(labels, key=lambda x: x[0])]


def estimation_series(samples: Samples) -> Samples:
    return {k: v for k, v in stream_counters(samples).items() if k[0] in ESTIMATION_FAMILIES}


def test_estimates_lead_the_labels_survive_kill_9_and_reconcile_once(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    prefix = topic_names("estimation")
    config = monitor_config(
        broker.bootstrap,
        prefix,
        tmp_path / "state",
        free_port(),
        estimation={"window": WINDOW},
        retrain={
            "when": {
                "estimated_performance_below": {
                    "metric": "accuracy",
                    "value": 0.95,
                    "min_predictions": WINDOW,
                }
            }
        },
    )
    config["state"]["checkpoint_every"] = "300ms"
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=1)
    predictions, labels = events(topics)
    produce(broker.bootstrap, predictions)

    proc = MonitorProcess(
        write_config(tmp_path / "monitor.yaml", config), config["http"]["port"], tmp_path / "log"
    )
    proc.start().wait_ready()
    before = proc.wait_consumed(PREDICTIONS)
    # Estimates and a retrain request, and not one label yet.
    assert total(before, "driftwarden_joined_total") == 0
    accuracy = total(before, "driftwarden_estimated_performance", metric="accuracy")
    lower = total(before, "driftwarden_estimated_performance_lower", metric="accuracy")
    upper = total(before, "driftwarden_estimated_performance_upper", metric="accuracy")
    assert lower < accuracy < upper and 0.6 < accuracy < 0.85
    assert total(before, "driftwarden_estimation_calibrated") == 0  # no profile: raw scores
    assert total(before, "driftwarden_estimation_windows_total") == 0
    [request] = read_topic(broker.bootstrap, topics["retrain_requests"], expected=1)
    doc = orjson.loads(request.value)
    assert doc["reason"] == "estimated_performance_below"
    assert doc["evidence"]["lower"] <= doc["evidence"]["estimated"] < 0.95
    assert doc["evidence"]["predictions"] >= WINDOW

    proc.kill9()
    sent = PREDICTIONS + produce(broker.bootstrap, labels)
    proc.start().wait_ready()
    try:
        after = proc.wait_consumed(sent)
    finally:
        assert proc.terminate() == 0
    # Every window reconciled exactly once, despite the crash and the replay.
    reconciled = total(after, "driftwarden_estimation_windows_total", outcome="reconciled")
    assert reconciled == PREDICTIONS // WINDOW
    errors = [v for (name, _), v in after.items() if name == "driftwarden_estimation_error"]
    assert len(errors) == 5 and all(abs(e) < 0.15 for e in errors)

    # An uninterrupted monitor that reads predictions and labels interleaved agrees exactly.
    reference = {
        **config,
        "kafka": {
            **config["kafka"],
            "group_id": f"{prefix}-ref",
            "transactional_id": f"{prefix}-ref-tx",
        },
        "http": {"host": "127.0.0.1", "port": 0},
        "state": {"dir": str(tmp_path / "ref-state"), "checkpoint_every": "500ms"},
    }
    with ThreadedMonitor(reference) as monitor:
        expected = monitor.wait_consumed(sent)
    assert estimation_series(after) == estimation_series(expected)
    assert {name for name, _ in estimation_series(expected)} == set(ESTIMATION_FAMILIES)
