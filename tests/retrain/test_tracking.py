"""Retrain runs tracked in MLflow: the real broker's examples, the real MLflow server."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import sklearn
from mlflow import MlflowClient
from mlflow.entities import Run
from prometheus_client import CollectorRegistry

import driftwarden
from driftwarden.config import parse_config
from driftwarden.contracts.requests import RetrainRequest
from driftwarden.core.mlflow_names import (
    GATE_REPORT_ARTIFACT,
    MODEL_CARD_ARTIFACT,
    PROFILE_ARTIFACT,
)
from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.retrain.audit import AuditLog
from driftwarden.retrain.metrics import WorkerMetrics
from driftwarden.retrain.registry_backend import open_registry
from driftwarden.retrain.run import RetrainJob, RunOutcome
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.testing import TansuBroker, free_port, produce
from driftwarden.testing.mlflow_server import MlflowServer
from tests.conftest import TopicNames
from tests.retrain.test_retrain_loop import loop_config, world

pytestmark = [pytest.mark.kafka, pytest.mark.mlflow]

EXAMPLES = 200
MODEL = "churn"  # each test registers its own model: see fresh_model


@pytest.fixture(autouse=True)
def fresh_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's MLflow server is shared and a model's versions outlive a test: every test
    gets a registered model of its own (``MODEL``, read when the test runs)."""
    monkeypatch.setattr(sys.modules[__name__], "MODEL", f"churn-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def settings(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path, mlflow_server: MlflowServer
) -> RetrainSettings:
    """The loop's config with 200 joined examples on the topic, tracked in its own experiment."""
    config = loop_config(broker, topic_names, tmp_path)
    config["models"][0]["name"] = MODEL
    config["models"][0]["training"]["gate"] = {"metric": "accuracy", "min_improvement": 0.01}
    examples = [
        orjson.dumps(
            {
                "schema": 1,
                "prediction_id": f"e-{i}",
                "model": MODEL,
                "model_version": "0",
                "features": {k: row[k] for k in ("x1", "x2", "plan")},
                "label": row["label"],
                "prediction_timestamp": 1_795_600_000.0 + i,
            }
        )
        for i, row in enumerate(world(EXAMPLES, seed=3, changed=False))
    ]
    produce(broker.bootstrap, [(config["topics"]["examples"], MODEL.encode(), v) for v in examples])
    tracking = MlflowSettings(mlflow_server.uri, experiment_prefix=f"t-{uuid.uuid4().hex[:8]}/")
    return dataclasses.replace(RetrainSettings.from_config(parse_config(config)), mlflow=tracking)


def retrain(settings: RetrainSettings, events: list[dict[str, Any]] | None = None) -> RunOutcome:
    job = RetrainJob(settings, (events if events is not None else []).append)
    return job.run(RetrainRequest.new(MODEL, None, "manual", timestamp=time.time()))


def tracked_run(settings: RetrainSettings, outcome: RunOutcome) -> Run:
    """The outcome's MLflow run, checked to be in the model's experiment."""
    assert settings.mlflow is not None and outcome.mlflow_run_id is not None
    client = MlflowClient(settings.mlflow.tracking_uri)
    run = client.get_run(outcome.mlflow_run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == f"{settings.mlflow.experiment_prefix}{MODEL}"
    return run


def artifact(settings: RetrainSettings, run: Run, path: str, tmp_path: Path) -> str:
    assert settings.mlflow is not None
    client = MlflowClient(settings.mlflow.tracking_uri)
    return Path(client.download_artifacts(run.info.run_id, path, str(tmp_path))).read_text()


def audited_run_ids(settings: RetrainSettings, outcome: RunOutcome) -> dict[str, str | None]:
    """Action -> ``mlflow_run_id`` of the audit entries of the outcome's request."""
    entries = AuditLog(settings.registry / "audit.jsonl").entries()
    return {
        e.action: e.details.get("mlflow_run_id")
        for e in entries
        if e.details.get("request_id") == outcome.request_id
    }


def test_a_promoted_run_is_an_mlflow_run_with_its_params_metrics_tags_and_artifacts(
    settings: RetrainSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = retrain(settings)
    assert capsys.readouterr().out == ""  # `retrain run` prints its outcome there as JSON
    assert outcome.outcome == "promoted" and not outcome.tracking_failed
    run = tracked_run(settings, outcome)
    version = open_registry(settings).get(MODEL, "1")
    meta = version.metadata
    assert run.info.status == "FINISHED"
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["estimator"] == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert (params["params.max_iter"], params["seed"], params["training.risk_tier"]) == (
        "60",
        "0",
        "low",
    )
    assert params["training.gate.metric"] == "accuracy"
    assert metrics["challenger.accuracy"] == pytest.approx(
        meta["metrics"]["challenger"]["accuracy"]
    )
    assert not any(key.startswith("champion.") for key in metrics)  # the first version
    assert metrics["gate.primary:accuracy.passed"] == 1.0
    assert tags["driftwarden.outcome"] == "promoted"
    assert "promoted automatically" in tags["driftwarden.outcome_reason"]
    assert (tags["driftwarden.trigger"], tags["driftwarden.request_id"]) == (
        "manual",
        outcome.request_id,
    )
    assert (tags["driftwarden.risk_tier"], tags["driftwarden.version"]) == ("low", "1")
    assert "driftwarden.parent_version" not in tags
    assert tags["driftwarden.library.scikit-learn"] == sklearn.__version__
    assert tags["driftwarden.library.driftwarden"] == driftwarden.__version__
    assert {"driftwarden.library.river", "driftwarden.library.skops"} <= set(tags)
    data = meta["data"]
    assert tags["driftwarden.data.offsets.0"] == f"0-{EXAMPLES}"
    assert data["partitions"] == [{"partition": 0, "start": 0, "end": EXAMPLES}]
    assert tags["driftwarden.data.base.path"] == data["base"]["path"]
    assert tags["driftwarden.data.base.sha256"] == data["base"]["sha256"]
    assert tags["driftwarden.data.sha256"] == data["sha256"]
    profile = json.loads(artifact(settings, run, PROFILE_ARTIFACT, tmp_path))
    assert profile == open_registry(settings).profile(MODEL, "1")
    gates = json.loads(artifact(settings, run, GATE_REPORT_ARTIFACT, tmp_path))
    assert gates == meta["gates"]
    card = artifact(settings, run, MODEL_CARD_ARTIFACT, tmp_path)
    assert MODEL in card and "accuracy" in card  # the version's card (MLflow holds it there)
    assert meta["mlflow_run_id"] == outcome.mlflow_run_id
    assert audited_run_ids(settings, outcome) == {
        "run_started": outcome.mlflow_run_id,
        "gate_evaluated": outcome.mlflow_run_id,
        "promoted": outcome.mlflow_run_id,
    }


def test_a_rejected_run_is_recorded_with_the_gates_that_failed(
    settings: RetrainSettings, tmp_path: Path
) -> None:
    first = retrain(settings)
    # The same data and seed again: the challenger ties the champion, short of the improvement.
    second = retrain(settings)
    assert (first.outcome, second.outcome) == ("promoted", "rejected")
    run = tracked_run(settings, second)
    assert run.info.status == "FINISHED"
    assert run.info.run_id != first.mlflow_run_id
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["driftwarden.outcome"] == "rejected"
    assert tags["driftwarden.outcome_reason"].startswith("the gates failed: primary:accuracy")
    assert tags["driftwarden.parent_version"] == "1"
    assert metrics["champion.accuracy"] == pytest.approx(metrics["challenger.accuracy"])
    assert metrics["gate.primary:accuracy.passed"] == 0.0
    assert "rejected" in artifact(settings, run, MODEL_CARD_ARTIFACT, tmp_path)
    rejected = open_registry(settings).get(MODEL, "2")
    assert rejected.metadata["mlflow_run_id"] == second.mlflow_run_id
    assert audited_run_ids(settings, second) == {
        "run_started": second.mlflow_run_id,
        "gate_evaluated": second.mlflow_run_id,
        "rejected": second.mlflow_run_id,
    }


def test_a_failed_run_is_a_failed_mlflow_run_with_its_reason(
    settings: RetrainSettings, tmp_path: Path
) -> None:
    model = settings.models[MODEL]
    data = model.training.data.model_copy(update={"base": str(tmp_path / "missing.csv")})
    training = model.training.model_copy(update={"data": data})
    broken = dataclasses.replace(
        settings, models={MODEL: dataclasses.replace(model, training=training)}
    )
    outcome = retrain(broken)
    assert outcome.outcome == "failed" and outcome.error
    run = tracked_run(broken, outcome)
    assert run.info.status == "FAILED"
    assert run.data.tags["driftwarden.outcome"] == "failed"
    assert run.data.tags["driftwarden.outcome_reason"] == outcome.error
    assert "missing.csv" in outcome.error
    assert run.data.params["training.data.base"] == str(tmp_path / "missing.csv")
    assert not open_registry(settings).versions(MODEL)
    assert audited_run_ids(broken, outcome) == {
        "run_started": outcome.mlflow_run_id,
        "run_failed": outcome.mlflow_run_id,
    }


def test_an_mlflow_outage_fails_the_run_fast_and_says_where(
    settings: RetrainSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """With registry: {backend: mlflow}, the server is the registry too: a run cannot register
    while it is down, so it fails (nothing half-registered), within seconds, naming the server;
    the tracking failure is counted as well."""
    down = MlflowSettings(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    unreachable = dataclasses.replace(settings, mlflow=down)
    events: list[dict[str, Any]] = []
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="driftwarden.retrain.tracking"):
        outcome = retrain(unreachable, events)
    assert time.monotonic() - started < 60  # seconds of retries, not MLflow's minutes
    assert outcome.outcome == "failed" and outcome.error
    assert down.tracking_uri in outcome.error
    assert (outcome.tracking_failed, outcome.mlflow_run_id) == (True, None)
    assert [(e["type"], e["outcome"]) for e in events] == [("retrain_completed", "failed")]
    [warning] = [r for r in caplog.records if "experiment tracking" in r.getMessage()]
    assert down.tracking_uri in warning.getMessage()
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry, [MODEL])
    labels = {"model": MODEL}
    assert registry.get_sample_value("driftwarden_tracking_failures_total", labels) == 0
    metrics.finished(outcome, time.time())
    assert registry.get_sample_value("driftwarden_tracking_failures_total", labels) == 1
    metrics.finished(retrain(settings), time.time())  # tracked again once the server is up
    assert registry.get_sample_value("driftwarden_tracking_failures_total", labels) == 1
