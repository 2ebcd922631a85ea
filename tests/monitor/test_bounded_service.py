"""Bounded resources through the running monitor and the real broker (Tansu)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from driftwarden.testing import TansuBroker, create_topics, produce
from tests.conftest import TopicNames
from tests.monitor.harness import Samples, ThreadedMonitor, consumed, monitor_config, scrape, total

pytestmark = pytest.mark.kafka

PARTITIONS = 4


def _pred(pid: str, version: str = "1") -> bytes:
    return orjson.dumps(
        {
            "prediction_id": pid,
            "model": "churn",
            "model_version": version,
            "timestamp": 1000.0,
            "features": {"tenure": 3.0, "plan": "pro"},
            "prediction": 1,
        }
    )


def _label(pid: str) -> bytes:
    return orjson.dumps({"prediction_id": pid, "model": "churn", "label": 1, "timestamp": 1000.0})


def _consume_within(monitor: ThreadedMonitor, expected: int, bound: int) -> Samples:
    """Scrape until ``expected`` events were consumed, checking the pending gauge every time."""
    url = f"{monitor.url}/metrics"
    deadline = time.monotonic() + 60
    scrapes = 0
    while time.monotonic() < deadline:
        assert monitor.error is None, monitor.error
        samples = scrape(url)
        scrapes += 1
        assert total(samples, "driftwarden_pending") <= bound
        if consumed(samples) >= expected:
            time.sleep(1.2)  # one more snapshot: the gauges of the last batch
            samples = scrape(url)
            assert total(samples, "driftwarden_pending") <= bound
            return samples
        time.sleep(0.05)
    raise AssertionError(f"not all {expected} events consumed in 60 s after {scrapes} scrapes")


def _assert_conserved(samples: Samples) -> None:
    """Every applied event is joined, still waiting, or counted as dropped."""
    joined = total(samples, "driftwarden_joined_total")
    for kind, applied in (
        ("prediction", total(samples, "driftwarden_predictions_total")),
        ("label", total(samples, "driftwarden_labels_total")),
    ):
        pending = total(samples, "driftwarden_pending", kind=kind)
        unmatched = total(samples, "driftwarden_unmatched_total", kind=kind)
        assert applied == joined + pending + unmatched, kind


def test_label_storm_prediction_flood_and_version_flood_stay_bounded(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    # 50 over 4 partitions: shares 13, 13, 12, 12 (rounding each up would allow 52).
    config = monitor_config(
        broker.bootstrap,
        topic_names("bounded"),
        tmp_path / "state",
        max_pending=50,
        max_versions=3,
    )
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], PARTITIONS)
    p, lb = topics["predictions"], topics["labels"]
    storm = [(lb, f"orphan-{i}".encode(), _label(f"orphan-{i}")) for i in range(600)]
    flood = [(p, f"flood-{i}".encode(), _pred(f"flood-{i}")) for i in range(600)]
    versions = []
    for v in range(10):  # ten versions, each prediction answered by its label
        for i in range(20):
            pid = f"v{v}-{i}"
            versions += [(p, pid.encode(), _pred(pid, f"v{v}")), (lb, pid.encode(), _label(pid))]
    sent = produce(broker.bootstrap, storm + flood + versions)

    with ThreadedMonitor(config) as monitor:
        samples = _consume_within(monitor, sent, bound=50)
    assert total(samples, "driftwarden_predictions_total") == 600 + 200
    assert total(samples, "driftwarden_labels_total") == 600 + 200
    pending = total(samples, "driftwarden_pending")
    joined = total(samples, "driftwarden_joined_total")
    assert 0 < pending <= 50 and joined > 0
    evicted = total(samples, "driftwarden_unmatched_total", reason="evicted")
    assert evicted == 1600 - pending - 2 * joined >= 1600 - 50 - 400
    assert total(samples, "driftwarden_unmatched_total", reason="expired") == 0
    _assert_conserved(samples)
    # Ten versions seen, at most three hold state; the rest are counted under __evicted__.
    assert total(samples, "driftwarden_versions_evicted_total", model="churn") >= 7
    series = {
        dict(labels)["version"]
        for name, labels in samples
        if name.startswith("driftwarden_predictions")
    }
    assert "__evicted__" in series and len(series) <= 3 + 1
    performance = {
        dict(labels)["version"] for name, labels in samples if name == "driftwarden_performance"
    }
    assert 0 < len(performance) <= 3

    # Restart with a smaller bound: the restored buffers shrink to it on the next events.
    config["models"][0]["max_pending"] = 20
    more = [(lb, f"late-orphan-{i}".encode(), _label(f"late-orphan-{i}")) for i in range(200)]
    sent += produce(broker.bootstrap, more)
    with ThreadedMonitor(config) as monitor:
        samples = _consume_within(monitor, sent, bound=50)
    assert total(samples, "driftwarden_pending") <= 20
    assert total(samples, "driftwarden_labels_total") == 600 + 200 + 200
    _assert_conserved(samples)
