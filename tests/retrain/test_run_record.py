"""What a retrain run records in its tracker, and the guard that keeps a tracking failure from
stopping the run: pure logic, no server."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping

import pytest

from driftwarden.config.training import TrainingConfig
from driftwarden.retrain.run_record import (
    MAX_KEY,
    MAX_PARAM_VALUE,
    MAX_TAG_VALUE,
    clean_key,
    config_params,
    lineage_tags,
    outcome_tags,
    run_metrics,
)
from driftwarden.retrain.tracking import GuardedTracker

MLFLOW_KEY = re.compile(r"^[/\w.\- :]*$")


@pytest.mark.parametrize(
    "key",
    [
        "gate.segment:plan=pro",
        "gate.segment:city=../../etc/passwd",
        "gate.segment:name=<script>\x00\n",
        "gate.segment:région=Zürich",
        "x" * 1000,
    ],
)
def test_keys_from_the_data_are_made_safe_for_mlflow(key: str) -> None:
    cleaned = clean_key(key)
    assert MLFLOW_KEY.match(cleaned) and cleaned.isascii()
    assert "/" not in cleaned and len(cleaned) <= MAX_KEY
    assert cleaned[:12] == key[:12]  # the readable part stays


def test_the_training_section_becomes_flat_params_within_the_limits() -> None:
    training = TrainingConfig.model_validate(
        {
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"C": 0.5, "class_weight": None, "long": "v" * 10_000},
            "data": {"examples": 4000},
            "seed": 7,
            "risk_tier": "high",
        }
    )
    params = config_params(training.model_dump(mode="json"))
    assert params["estimator"] == "sklearn.linear_model.LogisticRegression"
    assert (params["seed"], params["params.C"], params["params.class_weight"]) == (
        "7",
        "0.5",
        "null",
    )
    assert (params["training.data.examples"], params["training.risk_tier"]) == ("4000", "high")
    assert len(params["params.long"]) == MAX_PARAM_VALUE
    assert params["params.long"].endswith("(truncated)")
    assert not any(key.startswith("training.params") for key in params)  # logged once
    assert all(isinstance(value, str) for value in params.values())


def test_metrics_take_both_sides_and_every_gate_value_and_skip_what_is_not_a_number() -> None:
    metrics = {
        "challenger": {"accuracy": 0.9, "log_loss": math.nan},
        "champion": {"accuracy": 0.8, "log_loss": 0.3},
    }
    gates = {
        "passed": False,
        "checks": [
            {"name": "primary:accuracy", "passed": True, "detail": "", "values": {"gain": 0.1}},
            {"name": "segment:plan=pro", "passed": False, "detail": "", "values": {"drop": 0.2}},
            {"name": "fairness:x", "passed": True, "detail": "skipped", "values": {"note": "n/a"}},
        ],
    }
    flat = run_metrics(metrics, gates)
    assert math.isnan(flat.pop("challenger.log_loss"))
    assert flat == {
        "challenger.accuracy": 0.9,
        "champion.accuracy": 0.8,
        "champion.log_loss": 0.3,
        "gate.primary:accuracy.passed": 1.0,
        "gate.primary:accuracy.gain": 0.1,
        "gate.segment:plan_pro.passed": 0.0,
        "gate.segment:plan_pro.drop": 0.2,
        "gate.fairness:x.passed": 1.0,
    }


def test_lineage_tags_name_every_partition_and_both_digests() -> None:
    lineage = {
        "examples_topic": "examples",
        "partitions": [
            {"partition": 0, "start": 10, "end": 20},
            {"partition": 3, "start": 0, "end": 5},
        ],
        "base": {"path": "/data/base.csv", "sha256": "b" * 64, "rows": 9},
    }
    assert lineage_tags(lineage, "c" * 64) == {
        "driftwarden.data.examples_topic": "examples",
        "driftwarden.data.offsets.0": "10-20",
        "driftwarden.data.offsets.3": "0-5",
        "driftwarden.data.base.path": "/data/base.csv",
        "driftwarden.data.base.sha256": "b" * 64,
        "driftwarden.data.sha256": "c" * 64,
    }


def test_a_long_failure_reason_is_cut_to_the_tag_limit() -> None:
    tags = outcome_tags("failed", "boom " * 5000)
    assert tags["driftwarden.outcome"] == "failed"
    assert len(tags["driftwarden.outcome_reason"]) == MAX_TAG_VALUE


class FailingTracker:
    """Records the calls it gets; fails those named in ``failing``."""

    def __init__(self, *failing: str) -> None:
        self.failing = set(failing)
        self.calls: list[str] = []
        self._run_id: str | None = None

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def _record(self, name: str) -> None:
        self.calls.append(name)
        if name in self.failing:
            raise ConnectionError(f"{name}: connection refused")

    def start(self, model: str, name: str, tags: Mapping[str, str]) -> None:
        self._record("start")
        self._run_id = "run-1"

    def log_params(self, params: Mapping[str, str]) -> None:
        self._record("log_params")

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        self._record("log_metrics")

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._record("set_tags")

    def log_artifact(self, path: str, content: str) -> None:
        self._record("log_artifact")

    def end(self, outcome: str, reason: str | None) -> None:
        self._record("end")


def drive(tracker: GuardedTracker) -> None:
    tracker.start("churn", "retrain", {})
    tracker.log_params({"seed": "0"})
    tracker.log_metrics({"challenger.accuracy": 0.9})
    tracker.set_tags({"driftwarden.trigger": "drift"})
    tracker.log_artifact("driftwarden/gate_report.json", "{}")
    tracker.end("promoted", "the gates passed")


def test_the_first_failure_is_logged_once_and_later_calls_skipped_but_the_run_is_ended(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner = FailingTracker("log_metrics")
    guarded = GuardedTracker(inner, "http://mlflow:5000")
    with caplog.at_level(logging.WARNING, logger="driftwarden.retrain.tracking"):
        drive(guarded)
    assert inner.calls == ["start", "log_params", "log_metrics", "end"]
    assert guarded.failed and guarded.run_id == "run-1"
    [record] = caplog.records
    message = record.getMessage()
    assert "churn" in message and "http://mlflow:5000" in message and "run-1" in message
    assert "connection refused" in message


def test_a_run_that_never_started_is_not_ended() -> None:
    inner = FailingTracker("start")
    guarded = GuardedTracker(inner)
    drive(guarded)
    assert inner.calls == ["start"]
    assert guarded.failed and guarded.run_id is None


def test_a_healthy_tracker_gets_every_call() -> None:
    inner = FailingTracker()
    guarded = GuardedTracker(inner)
    drive(guarded)
    assert inner.calls == [
        "start",
        "log_params",
        "log_metrics",
        "set_tags",
        "log_artifact",
        "end",
    ]
    assert not guarded.failed
