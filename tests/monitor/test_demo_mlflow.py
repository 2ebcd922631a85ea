"""``driftwarden demo --registry mlflow``: the loop closes through MLflow, and the model server
follows ``models:/loan@production`` with MLflow's own loader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from mlflow import MlflowClient

from driftwarden.testing.mlflow_server import MlflowServer

pytestmark = [pytest.mark.kafka, pytest.mark.mlflow]


def test_demo_promotes_through_mlflow(tmp_path: Path, mlflow_server: MlflowServer) -> None:
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "driftwarden", "demo", "--events", "12000"]
    command += ["--change-at", "2000", "--out", str(out), "--registry", "mlflow"]
    command += ["--mlflow-uri", mlflow_server.uri]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["loop_closed"] is True
    promoted = summary["promoted_versions"][-1]

    client = MlflowClient(mlflow_server.uri)
    production = client.get_model_version_by_alias("loan", "production")
    assert production.version == promoted
    assert production.tags["driftwarden.stage"] == "production"
    # The model server loaded version 1, then the promoted one, through the alias.
    assert f"loaded v1, v{promoted} from models:/loan@production" in result.stdout
    experiment = client.get_experiment_by_name("driftwarden/loan")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    outcomes = {run.data.tags.get("driftwarden.outcome") for run in runs}
    assert "promoted" in outcomes
    promoted_run = next(r for r in runs if r.data.tags.get("driftwarden.outcome") == "promoted")
    assert production.run_id == promoted_run.info.run_id
