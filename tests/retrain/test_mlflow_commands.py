"""``retrain run|reproduce`` and ``models ...`` on the MLflow backend: the real commands, broker
and MLflow server, the audit log local and hash-chained."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import skops.io as sio
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from driftwarden.cli import main
from driftwarden.core.mlflow_names import CHALLENGER_ALIAS, PRODUCTION_ALIAS
from driftwarden.retrain.audit import AuditLog
from driftwarden.retrain.dataset import read_base_table
from driftwarden.retrain.features import make_pipeline
from driftwarden.testing import TansuBroker
from driftwarden.testing.mlflow_server import MlflowServer
from tests.conftest import TopicNames
from tests.monitor.harness import write_config
from tests.retrain.test_retrain_loop import loop_config

pytestmark = [pytest.mark.kafka, pytest.mark.mlflow]


def test_models_commands_on_mlflow(
    broker: TansuBroker,
    topic_names: TopicNames,
    mlflow_server: MlflowServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = loop_config(broker, topic_names, tmp_path)
    model = f"churn-{uuid.uuid4().hex[:8]}"  # the MLflow server is shared by the session
    config["models"][0]["name"] = model
    config["models"][0]["training"]["risk_tier"] = "high"
    config["registry"] = {
        "backend": "mlflow",
        "tracking_uri": mlflow_server.uri,
        "path": str(tmp_path / "registry"),
    }
    path = str(write_config(tmp_path / "driftwarden.yaml", config))
    client = MlflowClient(mlflow_server.uri)

    def run(*args: str) -> str:
        assert main([*args, "--config", path]) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    def aliases() -> dict[str, str]:
        return {k: str(v) for k, v in client.get_registered_model(model).aliases.items()}

    def decide(*args: str) -> str:
        return run("models", *args, "--by", "alice", "--reason", "reviewed")

    run("retrain", "run", "--model", model)
    assert aliases() == {CHALLENGER_ALIAS: "1"}
    decide("approve", model, "1")
    assert aliases() == {PRODUCTION_ALIAS: "1"}
    shown = orjson.loads(run("models", "show", model))
    assert shown["version"] == "1" and shown["stage"] == "production"
    assert client.get_model_version(model, "1").run_id == shown["mlflow_run_id"]

    base = config["models"][0]["training"]["data"]["base"]
    examples, _ = read_base_table(base, "label", None)
    fitted = make_pipeline(LogisticRegression()).fit(
        [dict(e.features) for e in examples], [e.label for e in examples]
    )
    artifact = tmp_path / "elsewhere.skops"
    artifact.write_bytes(sio.dumps(fitted))
    register = ("models", "register", "--model", model, "--artifact", str(artifact))
    for _ in range(2):
        run(*register, "--data", base, "--by", "bob")
    decide("reject", model, "2")
    decide("approve", model, "3")
    assert aliases() == {PRODUCTION_ALIAS: "3"}
    decide("rollback", model)
    assert aliases() == {PRODUCTION_ALIAS: "1"}
    decide("promote", model, "3")
    assert aliases() == {PRODUCTION_ALIAS: "3"}
    listed = [line.split("\t")[:3] for line in run("models", "list").splitlines()]
    assert [row for row in listed if row[0] == model] == [
        [model, "1", "archived"],
        [model, "2", "rejected"],
        [model, "3", "production"],
    ]

    assert "audit log intact" in run("models", "audit", "--verify")
    audit = AuditLog(tmp_path / "registry" / "audit.jsonl")
    promoted: list[dict[str, Any]] = [e.details for e in audit.entries() if e.action == "promoted"]
    runs = {client.get_model_version(model, v).run_id for v in ("1", "3")}
    assert {d["mlflow_run_id"] for d in promoted} == runs
    assert run("retrain", "reproduce", model, "1").strip() == f"{model} 1: reproduced"
