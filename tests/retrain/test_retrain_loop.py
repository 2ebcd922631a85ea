"""The retraining loop end to end on the real broker: monitor -> request -> worker -> promotion,
on both registry backends (the filesystem, and the session's real MLflow server)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from mlflow import MlflowClient

from driftwarden.cli import main
from driftwarden.config import parse_config
from driftwarden.core.mlflow_names import PRODUCTION_ALIAS
from driftwarden.retrain.audit import AuditLog
from driftwarden.retrain.mlflow_registry import MlflowRegistry
from driftwarden.retrain.registry_backend import RegistryBackend, open_registry
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.testing import TansuBroker, create_topics, free_port, produce
from driftwarden.testing.mlflow_server import MlflowServer
from tests.conftest import TopicNames
from tests.helpers import wait_until
from tests.monitor.harness import (
    ThreadedMonitor,
    monitor_config,
    read_topic,
    scrape,
    total,
    write_config,
)

pytestmark = [pytest.mark.kafka, pytest.mark.mlflow]


def world(n: int, seed: int, changed: bool) -> list[dict[str, Any]]:
    """Rows whose label follows x1 + x2 > 0 before the change and x1 - x2 > 0 after it."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    plan = rng.choice(["basic", "pro"], n)
    y = (x1 - x2 > 0) if changed else (x1 + x2 > 0)
    return [
        {"x1": float(a), "x2": float(b), "plan": str(c), "label": int(d)}
        for a, b, c, d in zip(x1, x2, plan, y, strict=True)
    ]


def base_table(path: Path) -> Path:
    rows = world(1500, seed=1, changed=False)
    path.write_text(
        "x1,x2,plan,label\n"
        + "".join(f"{r['x1']},{r['x2']},{r['plan']},{r['label']}\n" for r in rows)
    )
    return path


def loop_config(broker: TansuBroker, topic_names: TopicNames, tmp_path: Path) -> dict[str, Any]:
    config = monitor_config(
        broker.bootstrap,
        topic_names("loop"),
        tmp_path / "state",
        features={"x1": "numeric", "x2": "numeric", "plan": "categorical"},
        window=300,
    )
    config["models"][0].update(
        {
            "training": {
                "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
                "params": {"max_iter": 60},
                "data": {"examples": 4000, "base": str(base_table(tmp_path / "base.csv"))},
                "seed": 0,
                "risk_tier": "low",
            },
            "retrain": {
                "when": {
                    "performance_below": {"metric": "accuracy", "value": 0.8, "min_examples": 300}
                },
                "cooldown": "1d",
            },
        }
    )
    config["registry"] = str(tmp_path / "registry")
    config["worker"] = {
        "http": {"host": "127.0.0.1", "port": free_port()},
        "max_workers": 1,
        "group_id": f"{config['kafka']['group_id']}-worker",
    }
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=1)
    create_topics(
        broker.bootstrap,
        [topics["examples"], topics["retrain_requests"], topics["events"], topics["dead_letter"]],
        partitions=1,
    )
    return config


def serve(
    registry: RegistryBackend,
    version: str,
    rows: list[dict[str, Any]],
    start: int,
    topics: dict[str, str],
    name: str = "churn",
) -> list[tuple[str, bytes, bytes]]:
    """What a serving system does: predict with a registered version, later publish labels."""
    model = registry.load_artifact(name, version)
    features = [{k: r[k] for k in ("x1", "x2", "plan")} for r in rows]
    predictions = model.predict(features)
    messages = []
    for i, (row, feats, pred) in enumerate(zip(rows, features, predictions, strict=True)):
        pid = f"p-{version}-{start + i}"
        ts = 1_795_600_000.0 + start + i
        messages.append(
            (
                topics["predictions"],
                pid.encode(),
                orjson.dumps(
                    {
                        "prediction_id": pid,
                        "model": name,
                        "model_version": version,
                        "timestamp": ts,
                        "features": feats,
                        "prediction": int(pred),
                    }
                ),
            )
        )
        messages.append(
            (
                topics["labels"],
                pid.encode(),
                orjson.dumps(
                    {
                        "prediction_id": pid,
                        "model": name,
                        "label": row["label"],
                        "timestamp": ts + 5,
                    }
                ),
            )
        )
    return messages


def use_backend(
    backend: str, config: dict[str, Any], request: pytest.FixtureRequest, tmp_path: Path
) -> str:
    """Point ``config`` at the registry ``backend``; the model's name (of its own on the
    session's shared MLflow server)."""
    if backend == "filesystem":
        return "churn"
    server: MlflowServer = request.getfixturevalue("mlflow_server")
    model = f"churn-{uuid.uuid4().hex[:8]}"
    config["models"][0]["name"] = model
    config["registry"] = {
        "backend": "mlflow",
        "tracking_uri": server.uri,
        "path": str(tmp_path / "registry"),
    }
    return model


@pytest.mark.parametrize("backend", ["filesystem", "mlflow"])
def test_drop_in_accuracy_retrains_and_promotes_a_better_version(
    backend: str,
    broker: TansuBroker,
    topic_names: TopicNames,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    config = loop_config(broker, topic_names, tmp_path)
    model = use_backend(backend, config, request, tmp_path)
    path = write_config(tmp_path / "driftwarden.yaml", config)
    topics = config["topics"]
    settings = RetrainSettings.from_config(parse_config(config))
    registry = open_registry(settings)

    def command(*args: str, config_path: Path = path) -> str:
        assert main([*args, "--config", str(config_path)]) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    # Bootstrap: no production version yet, so the first one is trained from the base table.
    command("retrain", "run", "--model", model)
    assert production(registry, model) == "1"

    # A worse challenger (one depth-1 tree instead of 60) is rejected; production stays.
    crippled = {**config["models"][0]["training"], "params": {"max_iter": 1, "max_depth": 1}}
    worse = {**config, "models": [{**config["models"][0], "training": crippled}]}
    command(
        "retrain", "run", "--model", model, config_path=write_config(tmp_path / "w.yaml", worse)
    )
    rejected = registry.get(model, "2")
    assert rejected.stage.value == "rejected"
    challenger, champion = (
        rejected.metadata["metrics"][s]["accuracy"] for s in ("challenger", "champion")
    )
    assert challenger < champion - 0.1
    assert [c["name"] for c in rejected.metadata["gates"]["checks"] if not c["passed"]] == [
        "primary:accuracy"
    ]
    assert production(registry, model) == "1"
    if isinstance(registry, MlflowRegistry):  # the run in MLflow says why
        run = MlflowClient(registry.settings.tracking_uri).get_run(
            rejected.metadata["mlflow_run_id"]
        )
        assert run.data.tags["driftwarden.outcome"] == "rejected"
        reason = run.data.tags["driftwarden.outcome_reason"]
        assert reason.startswith("the gates failed: primary:accuracy")
        assert run.data.metrics["gate.primary:accuracy.passed"] == 0.0
        assert run.data.metrics["challenger.accuracy"] == pytest.approx(challenger)

    worker = subprocess.Popen(  # noqa: S603 - our interpreter, our command
        [sys.executable, "-m", "driftwarden", "retrain", "worker", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "worker.log").open("wb"),
    )
    try:
        after = world(3000, seed=2, changed=True)
        sent = produce(broker.bootstrap, serve(registry, "1", after, 0, topics, model))
        with ThreadedMonitor(config) as monitor:
            monitor.wait_consumed(sent)
            promoted = _wait_for_version(registry, model, "3", worker, tmp_path / "worker.log")
            assert promoted.metadata["parent_version"] == "1"
            assert promoted.metadata["trigger"] == "performance_below"
            later = world(1000, seed=3, changed=True)
            more = produce(broker.bootstrap, serve(registry, "3", later, 10_000, topics, model))
            samples = monitor.wait_consumed(sent + more)
        worker_samples = scrape(f"http://127.0.0.1:{config['worker']['http']['port']}/metrics")
    finally:
        worker.terminate()
        worker.wait(30)

    def accuracy(version: str) -> float:
        return total(
            samples,
            "driftwarden_performance",
            version=version,
            metric="accuracy",
            window="cumulative",
        )

    assert accuracy("1") < 0.7 < 0.85 < accuracy("3")
    assert total(samples, "driftwarden_retrain_requests_total", reason="performance_below") == 1
    # Each version is checked against the profile the registry holds for it.
    assert total(samples, "driftwarden_reference_missing", version="1") == 0
    assert total(samples, "driftwarden_reference_missing", version="3") == 0
    assert total(worker_samples, "driftwarden_retrain_runs_total", outcome="promoted") == 1
    assert (
        total(
            worker_samples, "driftwarden_model_info", model=model, version="3", stage="production"
        )
        == 1
    )
    assert (
        total(worker_samples, "driftwarden_model_info", model=model, version="1", stage="archived")
        == 1
    )

    events = [orjson.loads(r.value) for r in read_topic(broker.bootstrap, topics["events"], 3)]
    promoted_events = [e for e in events if e["type"] == "model_promoted"]
    assert [(e["version"], e["previous_version"]) for e in promoted_events] == [
        ("1", None),
        ("3", "1"),
    ]
    requests = read_topic(broker.bootstrap, topics["retrain_requests"], 1)
    assert [orjson.loads(r.value)["reason"] for r in requests] == ["performance_below"]

    command("models", "rollback", model, "--by", "alice", "--reason", "back to 1")
    assert production(registry, model) == "1"
    assert "audit log intact" in command("models", "audit", "--verify")
    assert AuditLog(tmp_path / "registry" / "audit.jsonl").verify() > 5
    assert command("retrain", "reproduce", model, "3").strip() == f"{model} 3: reproduced"


def production(registry: RegistryBackend, model: str) -> str | None:
    """The production version, checked against MLflow's ``production`` alias on MLflow."""
    info = registry.production(model)
    version = info.version if info is not None else None
    if isinstance(registry, MlflowRegistry):
        client = MlflowClient(registry.settings.tracking_uri)
        aliases = client.get_registered_model(model).aliases
        assert (str(aliases[PRODUCTION_ALIAS]) if PRODUCTION_ALIAS in aliases else None) == version
    return version


def _wait_for_version(
    registry: RegistryBackend,
    model: str,
    version: str,
    worker: subprocess.Popen[bytes],
    log: Path,
    timeout: float = 120,
) -> Any:
    def promoted() -> Any:
        assert worker.poll() is None, log.read_text()[-3000:]
        production = registry.production(model)
        return production if production is not None and production.version == version else None

    return wait_until(
        promoted,
        lambda: f"version {version} to be promoted: {log.read_text()[-3000:]}",
        timeout,
        0.2,
    )
