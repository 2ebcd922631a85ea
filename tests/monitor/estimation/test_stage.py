"""Estimation through the stream processor (no broker): estimates before labels, the policy
firing on them, reconciliation when labels land, divergence under concept drift, and a restart
from the state document that neither loses nor double-counts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pytest

from driftwarden.config import MonitorConfig, parse_config
from driftwarden.core.calibration import Calibration
from driftwarden.core.profile import ReferenceProfile, build_profile
from driftwarden.monitor.codec import dump_document, load_document
from driftwarden.monitor.exporter import MetricsSnapshot
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.state import MonitorState
from tests.monitor.harness import Record

START = 1_795_600_000.0
WINDOW = 200


def config(floor: float = 0.0) -> MonitorConfig:
    model: dict[str, Any] = {
        "name": "churn",
        "task": "binary",
        "positive_label": 1,
        "label_ttl": "1h",
        "window": 500,
        "future_tolerance": None,
        "estimation": {"window": WINDOW, "divergence_windows": 2},
    }
    if floor:
        model["retrain"] = {
            "when": {
                "estimated_performance_below": {
                    "metric": "accuracy",
                    "value": floor,
                    "min_predictions": WINDOW,
                }
            }
        }
    return parse_config(
        {"topics": {"predictions": "t.predictions", "labels": "t.labels"}, "models": [model]}
    )


def stream(n: int, seed: int, flipped: bool = False) -> tuple[list[Record], list[Record]]:
    """``n`` scored predictions, labels drawn from the scores (calibrated) or, ``flipped``,
    against them (concept drift); the labels come after all the predictions."""
    rng = np.random.default_rng(seed)
    predictions, labels = [], []
    for i in range(n):
        p = float(rng.beta(2, 2))
        y = int(rng.random() < p) ^ int(flipped)
        pid, ts = f"p{i}", START + i
        doc = {
            "prediction_id": pid,
            "model": "churn",
            "model_version": "1",
            "timestamp": ts,
            "features": {"x": p},
            "prediction": int(p > 0.5),
            "scores": {"0": round(1 - p, 6), "1": round(p, 6)},
        }
        predictions.append(Record("t.predictions", 0, i, pid.encode(), orjson.dumps(doc)))
        label = {"prediction_id": pid, "model": "churn", "label": y, "timestamp": ts + n + 10}
        labels.append(Record("t.labels", 0, i, pid.encode(), orjson.dumps(label)))
    return predictions, labels


def run(processor: StreamProcessor, records: list[Record], batch: int = 97) -> list[Any]:
    out: list[Any] = []
    for start in range(0, len(records), batch):
        result = processor.process(records[start : start + batch])
        out += [orjson.loads(e.value) for e in result.events]
        out += [orjson.loads(r.value) for r in result.requests]
    return out


def snapshot(processor: StreamProcessor) -> Any:
    return MetricsSnapshot.of(processor.state, ["churn"], {}, None).estimation


def test_estimates_come_before_labels_and_the_policy_fires_on_them() -> None:
    processor = StreamProcessor(config(floor=0.99), MonitorState())
    predictions, _ = stream(600, seed=1)
    outputs = run(processor, predictions)
    estimates = snapshot(processor).estimates
    value, lower, upper = estimates[("churn", "1", "accuracy", "rolling")]
    assert lower < value < upper and 0.6 < value < 0.8
    assert snapshot(processor).calibrated == {("churn", "1"): 0}
    [request] = [o for o in outputs if o.get("reason") == "estimated_performance_below"]
    assert request["evidence"]["metric"] == "accuracy"
    assert request["evidence"]["estimated"] < 0.99 and request["evidence"]["predictions"] >= WINDOW
    assert processor.state.totals().joined["churn", "1"] == 0  # not one label yet


def test_windows_reconcile_when_labels_land_and_hold_the_realized_value() -> None:
    processor = StreamProcessor(config(), MonitorState())
    predictions, labels = stream(1000, seed=2)
    assert not run(processor, predictions + labels)
    snap = snapshot(processor)
    assert snap.windows[("churn", "1", "reconciled")] == 1000 // WINDOW
    assert set(snap.errors) == {("churn", "1", m) for m in ("accuracy", "precision", "recall")} | {
        ("churn", "1", m) for m in ("f1", "roc_auc")
    }
    assert all(abs(error) < 0.1 for error in snap.errors.values())
    assert not processor.state.estimation["churn", "1"].awaiting


def test_concept_drift_diverges_and_says_so() -> None:
    processor = StreamProcessor(config(), MonitorState())
    predictions, labels = stream(1000, seed=3, flipped=True)
    events = [e for e in run(processor, predictions + labels) if "type" in e]
    assert events and all(e["type"] == "estimation_diverged" for e in events)
    first = events[0]
    assert first["windows"] == 2 and "concept drift" in first["reason"]
    accuracy = next(m for m in first["metrics"] if m["metric"] == "accuracy")
    assert not accuracy["lower"] <= accuracy["realized"] <= accuracy["upper"]
    assert snapshot(processor).within[("churn", "1", "accuracy")] == 0


def test_a_calibrated_profile_is_used_and_reported() -> None:
    rng = np.random.default_rng(4)
    raw = rng.random(5000)
    calibration = Calibration.fit(
        np.column_stack([1 - raw, raw]), (rng.random(5000) < raw).astype(int), ["0", "1"]
    )
    profile = build_profile("churn", {"x": [1.0, 2.0]})
    calibrated = ReferenceProfile(**{**vars(profile), "calibration": calibration})
    processor = StreamProcessor(config(), MonitorState(), profiles=lambda m, v: calibrated)
    predictions, _ = stream(300, seed=5)
    run(processor, predictions)
    assert snapshot(processor).calibrated == {("churn", "1"): 1}


@pytest.mark.parametrize("cut", [333, 1000, 1517])
def test_a_restart_from_the_state_document_neither_loses_nor_double_counts(cut: int) -> None:
    predictions, labels = stream(1000, seed=6, flipped=True)
    records = predictions + labels
    straight = StreamProcessor(config(), MonitorState())
    straight_events = run(straight, records)
    first = StreamProcessor(config(), MonitorState())
    events = run(first, records[:cut])
    blob = dump_document("state", first.state.to_state())
    restored = MonitorState.from_state(load_document(blob, "state", 1 << 26))
    events += run(StreamProcessor(config(), restored), records[cut:])
    assert events == straight_events
    assert _comparable(snapshot(StreamProcessor(config(), restored))) == _comparable(
        snapshot(straight)
    )


def _comparable(snap: Any) -> Any:
    """The snapshot with NaN made comparable."""
    return {
        name: {
            k: tuple(-1.0 if math.isnan(x) else x for x in np.atleast_1d(v)) for k, v in d.items()
        }
        for name, d in vars(snap).items()
    }
