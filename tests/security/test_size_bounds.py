"""Issue 11, item 4: bounds on size, not only count, attacked as a hostile producer would.

Before: a prediction with 60k features was held whole while pending (~7 MiB), its undeclared
features were published in joined examples, ids of any length were held and remembered, and a
retrain over such examples made 120k dense columns. Each test runs the monitor service on the
real broker (Tansu) as a user runs it, or the trainer on the examples the monitor publishes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftwarden.config.training import TrainingConfig
from driftwarden.contracts.inputs import parse_prediction
from driftwarden.monitor.bounds import footprint
from driftwarden.monitor.checkpoint import CheckpointStore
from driftwarden.retrain.dataset import build_training_set, parse_example
from driftwarden.retrain.trainer import train
from driftwarden.testing import TansuBroker, create_topics, produce
from tests.conftest import TopicNames
from tests.monitor.harness import ThreadedMonitor, monitor_config, read_topic, total

pytestmark = pytest.mark.kafka

PARTITIONS = 4
BASE_TIME = 1_795_600_000.0


def prediction(pid: str, features: dict[str, Any], **fields: Any) -> bytes:
    doc = {
        "prediction_id": pid,
        "model": "churn",
        "model_version": "1",
        "timestamp": BASE_TIME,
        "features": features,
        "prediction": 1,
        "scores": {"0": 0.4, "1": 0.6},
    }
    return orjson.dumps({**doc, **fields})


def label(pid: str) -> bytes:
    doc = {"prediction_id": pid, "model": "churn", "label": 1, "timestamp": BASE_TIME + 5}
    return orjson.dumps(doc)


def setup(broker: TansuBroker, name: str, tmp_path: Path, **model: Any) -> dict[str, Any]:
    config = monitor_config(broker.bootstrap, name, tmp_path / "state", **model)
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], PARTITIONS)
    return config


def test_too_many_features_and_oversized_ids_are_dead_lettered_with_their_reasons(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = setup(broker, topic_names("bounds-dl"), tmp_path, max_features=50)
    topics = config["topics"]
    p, lb = topics["predictions"], topics["labels"]
    wide = {f"f{i}": float(i) for i in range(51)}  # max_features + 1
    just_fits = {"tenure": 1.0, **{f"f{i}": float(i) for i in range(49)}}
    long_id = "p" * 257
    bad = {
        b"wide": (p, prediction("wide", wide), "too_many_features"),
        b"long-pid": (p, prediction(long_id, {"tenure": 1.0}), "id_too_long"),
        b"long-model": (p, prediction("m", {}, model="\u00e9" * 129), "id_too_long"),
        b"long-version": (p, prediction("v", {}, model_version="9" * 300), "id_too_long"),
        b"long-label-id": (lb, orjson.dumps({**orjson.loads(label("x")), "prediction_id": long_id}),
                           "id_too_long"),
    }  # fmt: skip
    messages = [(topic, key, value) for key, (topic, value, _) in bad.items()]
    messages += [(p, b"ok", prediction("ok", just_fits)), (lb, b"ok", label("ok"))]
    sent = produce(broker.bootstrap, messages)

    with ThreadedMonitor(config) as monitor:
        samples = monitor.wait_consumed(sent)
    dead = read_topic(broker.bootstrap, topics["dead_letter"], expected=len(bad))
    reasons = {r.key: dict(r.headers)["error"].decode() for r in dead}
    assert reasons == {key: reason for key, (_, _, reason) in bad.items()}
    invalid = "driftwarden_invalid_events_total"
    assert total(samples, invalid, topic=p, reason="too_many_features") == 1
    assert total(samples, invalid, topic=p, reason="id_too_long") == 3
    assert total(samples, invalid, topic=lb, reason="id_too_long") == 1
    assert total(samples, "driftwarden_joined_total") == 1  # 50 features is within the bound


def test_undeclared_features_are_not_published_and_are_counted(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = setup(broker, topic_names("bounds-undeclared"), tmp_path)  # tenure, plan declared
    topics = config["topics"]
    messages = []
    for i in range(20):
        features = {"tenure": float(i), "plan": "pro", "ssn": f"{i:09}", f"junk-{i}": "x" * 500}
        messages.append((topics["predictions"], f"p-{i}".encode(), prediction(f"p-{i}", features)))
        messages.append((topics["labels"], f"p-{i}".encode(), label(f"p-{i}")))
    sent = produce(broker.bootstrap, messages)

    with ThreadedMonitor(config) as monitor:
        samples = monitor.wait_consumed(sent)
    examples = read_topic(broker.bootstrap, topics["examples"], expected=20)
    published = [orjson.loads(r.value)["features"] for r in examples]
    assert len(published) == 20
    assert all(set(features) == {"tenure", "plan"} for features in published)
    assert total(samples, "driftwarden_undeclared_features_dropped_total", model="churn") == 40


def test_a_flood_of_maximal_predictions_stays_within_max_pending_bytes(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    """Predictions at the max_features limit, with maximal ids and long string values, that
    never get a label: the held state stays within max_pending_bytes and the rest is evicted."""
    budget = 2 * 2**20
    config = setup(
        broker,
        topic_names("bounds-flood"),
        tmp_path,
        features={},  # nothing declared: every feature is held
        max_features=200,
        max_pending_bytes=budget,
        max_pending=100_000,
    )
    topics = config["topics"]
    flood = []
    for i in range(120):
        pid = f"{i:0>256}"
        features = {f"{i}-{j:0>60}": f"{j}" * 100 for j in range(200)}
        flood.append((topics["predictions"], pid.encode(), prediction(pid, features)))
    sent = produce(broker.bootstrap, flood)
    held_each = footprint(parse_prediction(flood[0][2]))
    assert 120 * held_each > 4 * budget  # the flood is 4x the budget

    with ThreadedMonitor(config) as monitor:
        samples = monitor.wait_consumed(sent)
    state = CheckpointStore(tmp_path / "state").load()  # written on stop
    assert state is not None
    joins = [p.joins["churn"] for p in state.partitions.values()]
    held = [w.event for join in joins for w in join.predictions.values()]
    pending_bytes = sum(join.pending_bytes for join in joins)
    assert pending_bytes == sum(footprint(event) for event in held) <= budget
    assert sum(deep_size(event) for event in held) <= budget  # what the state really holds
    assert len(held) >= budget // held_each - PARTITIONS  # the budget was used, not less
    evicted = total(samples, "driftwarden_unmatched_total", kind="prediction", reason="evicted")
    assert evicted == 120 - len(held) > 0
    assert total(samples, "driftwarden_pending", kind="prediction") == len(held)


def deep_size(obj: object) -> int:
    """Bytes of ``obj`` and everything it refers to (tuples, dicts, strings, numbers)."""
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k) + deep_size(v) for k, v in obj.items())
    elif isinstance(obj, tuple):
        size += sum(deep_size(item) for item in obj)
    return size


def test_a_retrain_over_examples_with_60k_feature_names_stays_within_the_column_bound() -> None:
    """One joined example carrying 60,000 distinct feature names (published by a monitor
    before the bounds, or by anyone with produce rights on the examples topic) made 120,000
    dense columns: 17.9 GiB for 20,000 rows. The run now keeps at most max_columns."""
    records = []
    for i in range(300):
        features: dict[str, Any] = {"tenure": float(i % 40), "plan": "pro" if i % 2 else "free"}
        if i == 150:
            features.update({f"attack-{j}": float(j) for j in range(60_000)})
        doc = {
            "schema": 1,
            "prediction_id": f"p-{i:04}",
            "model": "churn",
            "model_version": "1",
            "features": features,
            "prediction": 1,
            "scores": None,
            "label": int(i % 40 >= 20),
            "prediction_timestamp": BASE_TIME + i,
            "label_timestamp": BASE_TIME + i + 5,
        }
        records.append(orjson.dumps(doc))
    training_set = build_training_set([], [parse_example(r) for r in records], {})
    config = TrainingConfig(estimator="sklearn.linear_model.LogisticRegression", max_columns=500)

    capped = train(config, training_set)
    names = list(capped.pipeline.named_steps["features"].get_feature_names_out())
    assert capped.columns == len(names) == 500
    assert capped.dropped_columns == 2 * 60_000 + 3 - 500  # values + missing indicators
    assert {"tenure", "plan=pro", "plan=free"} <= set(names)  # the features every row has

    declared = train(config, training_set, features={"tenure", "plan"})
    names = list(declared.pipeline.named_steps["features"].get_feature_names_out())
    assert sorted(names) == ["plan=free", "plan=pro", "tenure"]
    assert declared.dropped_columns == 0
