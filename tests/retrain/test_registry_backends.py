"""The registry contract on both backends, with the same test functions: the filesystem and a
real MLflow server (the session's ``mlflow_server``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow.sklearn
import pytest
import skops.io as sio
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from driftwarden.core.mlflow_names import (
    CHALLENGER_ALIAS,
    MODEL_CARD_ARTIFACT,
    PRODUCTION_ALIAS,
    STAGE_TAG,
)
from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.retrain.errors import ArtifactTampered, ModelNotFound, RegistryError
from driftwarden.retrain.features import make_pipeline
from driftwarden.retrain.mlflow_registry import MlflowRegistry
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.registry_backend import RegistryBackend
from driftwarden.retrain.versions import Stage
from driftwarden.testing.mlflow_server import MlflowServer
from driftwarden.testing.ports import free_port

pytestmark = pytest.mark.mlflow

KEY = b"k" * 32
ROWS = [{"tenure": float(i % 7), "plan": "pro" if i % 3 else "free"} for i in range(40)]
LABELS = [int(row["tenure"] > 3) for row in ROWS]
PROFILE = {"schema": 1, "model": "whatever", "columns": {}}


def fitted(c: float = 1.0) -> object:
    return make_pipeline(LogisticRegression(C=c)).fit(ROWS, LABELS)


@pytest.fixture(params=["filesystem", "mlflow"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryBackend]:
    if request.param == "filesystem":
        yield ModelRegistry(tmp_path / "registry", key=KEY)
    else:
        server: MlflowServer = request.getfixturevalue("mlflow_server")
        yield MlflowRegistry(MlflowSettings(server.uri), tmp_path / "registry", key=KEY)


@pytest.fixture
def model() -> str:
    return f"churn-{uuid.uuid4().hex[:8]}"  # the MLflow server is shared by the session


def test_register_and_load(backend: RegistryBackend, model: str) -> None:
    estimator = fitted()
    info = backend.register(model, estimator, {"trigger": "test"}, PROFILE, lambda v: f"# v{v}")
    assert (info.version, info.stage, info.metadata["trigger"]) == ("1", Stage.CANDIDATE, "test")
    assert info.metadata["artifact_sha256"] and info.metadata["artifact_hmac"]
    loaded = backend.load_artifact(model, "1")
    assert loaded.predict(ROWS).tolist() == estimator.predict(ROWS).tolist()  # type: ignore[attr-defined]
    assert backend.profile(model, "1") == PROFILE
    assert model in backend.models()
    assert [v.version for v in backend.versions(model)] == ["1"]
    assert backend.production(model) is None
    with pytest.raises(ModelNotFound):
        backend.get(model, "7")
    with pytest.raises(ValueError, match="set by the registry"):
        backend.register(model, estimator, {"stage": "production"}, None, "")


def test_stages_move_with_history(backend: RegistryBackend, model: str) -> None:
    for c in (1.0, 0.5):
        backend.register(model, fitted(c), {}, None, "")
    backend.set_stage(model, "1", Stage.PRODUCTION, by="alice", reason="first")
    backend.update_metadata(model, "2", {"risk_tier": "high"})
    promoted = backend.set_stage(model, "2", Stage.PRODUCTION, by="bob", reason="better")
    assert promoted.stage_history[-1]["replaces"] == "1"
    assert promoted.metadata["risk_tier"] == "high"
    old = backend.get(model, "1")
    assert old.stage is Stage.ARCHIVED and old.stage_history[-1]["superseded_by"] == "2"
    assert backend.production(model).version == "2"  # type: ignore[union-attr]
    assert [e["by"] for e in promoted.stage_history] == ["driftwarden", "bob"]


def test_a_change_made_meanwhile_is_refused(
    backend: RegistryBackend, model: str, tmp_path: Path
) -> None:
    backend.register(model, fitted(), {}, None, "")
    backend.set_stage(model, "1", Stage.REJECTED, by="other process", reason="no")
    with pytest.raises(RegistryError, match="changed meanwhile"):
        backend.set_stage(
            model, "1", Stage.PRODUCTION, by="me", reason="x", from_stages={Stage.CANDIDATE}
        )
    assert backend.get(model, "1").stage is Stage.REJECTED


def test_a_tampered_artifact_is_refused(
    backend: RegistryBackend, model: str, request: pytest.FixtureRequest
) -> None:
    backend.register(model, fitted(), {}, None, "")
    if isinstance(backend, MlflowRegistry):
        server: MlflowServer = request.getfixturevalue("mlflow_server")
        version = MlflowClient(server.uri).get_model_version(model, "1")
        model_id = version.model_id or str(version.source).removeprefix("models:/")
        files = list(server.root.glob(f"artifacts/**/{model_id}/artifacts/model.skops"))
    else:
        files = [backend.root / model / "1" / "model.skops"]
    assert len(files) == 1
    files[0].write_bytes(sio.dumps(fitted(0.01)))
    with pytest.raises(ArtifactTampered, match="does not match"):
        backend.load_artifact(model, "1")


def test_mlflow_aliases_follow_the_stages(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    registry = MlflowRegistry(MlflowSettings(mlflow_server.uri), tmp_path)
    client = MlflowClient(mlflow_server.uri)
    for c in (1.0, 0.5):
        registry.register(model, fitted(c), {}, None, "# card")
    registry.set_stage(model, "1", Stage.PRODUCTION, by="a", reason="r")
    registry.set_stage(model, "2", Stage.AWAITING_APPROVAL, by="a", reason="r")
    assert client.get_model_version_by_alias(model, CHALLENGER_ALIAS).version == "2"
    assert client.get_model_version(model, "2").tags[STAGE_TAG] == "awaiting_approval"
    registry.set_stage(model, "2", Stage.PRODUCTION, by="a", reason="approved")
    assert client.get_model_version_by_alias(model, PRODUCTION_ALIAS).version == "2"
    assert CHALLENGER_ALIAS not in client.get_registered_model(model).aliases
    assert client.get_model_version(model, "1").tags[STAGE_TAG] == "archived"
    registry.set_stage(model, "2", Stage.REJECTED, by="a", reason="pulled")
    assert client.get_registered_model(model).aliases == {}
    run = registry.get(model, "1").metadata["mlflow_run_id"]
    assert client.get_run(run).info.experiment_id == (
        client.get_experiment_by_name(f"driftwarden/{model}").experiment_id  # type: ignore[union-attr]
    )
    registry.write_card(model, "1", "# rewritten")
    card = mlflow.artifacts.load_text(f"runs:/{run}/{MODEL_CARD_ARTIFACT}")
    assert card == "# rewritten"


def test_a_model_server_loads_the_production_alias_without_driftwarden(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    registry = MlflowRegistry(MlflowSettings(mlflow_server.uri), tmp_path)
    estimator = fitted()
    registry.register(model, estimator, {}, None, "")
    registry.set_stage(model, "1", Stage.PRODUCTION, by="a", reason="r")
    expected = estimator.predict_proba(ROWS).tolist()  # type: ignore[attr-defined]
    # A model server's process: importing driftwarden fails there
    server = f"""
import sys, json
sys.modules["driftwarden"] = None
import mlflow.pyfunc, mlflow.sklearn, pandas as pd
mlflow.set_tracking_uri({mlflow_server.uri!r})
frame = pd.DataFrame({ROWS!r})
model = mlflow.sklearn.load_model("models:/{model}@{PRODUCTION_ALIAS}")
served = mlflow.pyfunc.load_model("models:/{model}@{PRODUCTION_ALIAS}")
print(json.dumps([model.predict_proba(frame).tolist(), served.predict(frame).tolist()]))
"""
    done = subprocess.run(  # noqa: S603 - our interpreter, our script
        [sys.executable, "-c", server], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    probabilities, predictions = json.loads(done.stdout.strip().splitlines()[-1])
    assert probabilities == expected
    assert predictions == estimator.predict(ROWS).tolist()  # type: ignore[attr-defined]
    client = MlflowClient(mlflow_server.uri)
    version = client.get_model_version(model, "1")
    model_id = version.model_id or str(version.source).removeprefix("models:/")
    location = client.get_logged_model(model_id).artifact_location
    requirements = mlflow.artifacts.load_text(f"{location}/requirements.txt")
    assert "scikit-learn==" in requirements and "driftwarden" not in requirements


def test_register_into_a_given_run(backend: RegistryBackend, model: str) -> None:
    run = "0123456789abcdef0123456789abcdef"
    if isinstance(backend, MlflowRegistry):
        client = MlflowClient(backend.settings.tracking_uri)
        experiment = client.create_experiment(f"runs-{model}")
        run = client.create_run(experiment).info.run_id
        client.set_terminated(run)
    info = backend.register(model, fitted(), {}, PROFILE, "", run_id=run)
    assert info.metadata["mlflow_run_id"] == run
    if isinstance(backend, MlflowRegistry):
        assert client.get_model_version(model, "1").run_id == run
        assert backend.profile(model, "1") == PROFILE


def test_an_unreachable_server_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    registry = MlflowRegistry(MlflowSettings(uri), tmp_path)
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        registry.models()
    assert time.monotonic() - started < 15
    assert uri in str(caught.value) and "reachable" in str(caught.value)
    with pytest.raises(RegistryError, match=uri):
        registry.register("churn", fitted(), {}, None, "")


def test_mlflow_cleanup_deletes_what_interrupted_registrations_left(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    hours_later = [time.time()]
    registry = MlflowRegistry(
        MlflowSettings(mlflow_server.uri), tmp_path, clock=lambda: hours_later[0]
    )
    registry.register(model, fitted(), {}, None, "")  # finished: version 1
    client = MlflowClient(mlflow_server.uri)
    experiment = client.create_experiment(f"left-{model}")

    def bare_version(run_tags: dict[str, str]) -> str:
        """A version with no tags yet, as a registration killed right after creating it."""
        run = client.create_run(experiment, tags=run_tags).info.run_id
        return str(client.create_model_version(model, f"runs:/{run}/model", run_id=run).version)

    interrupted = bare_version({"driftwarden.model": model})
    foreign = bare_version({"team": "elsewhere"})  # another tool's version: never ours to delete

    def cleanup() -> list[str]:  # the server is shared: other tests' leftovers may go too
        return [uri for uri in registry.cleanup() if uri.startswith(f"models:/{model}/")]

    assert cleanup() == []  # just created: it may be a registration in progress
    hours_later[0] += 2 * 3600
    assert cleanup() == [f"models:/{model}/{interrupted}"]
    remaining = {str(mv.version) for mv in client.search_model_versions(f"name='{model}'")}
    assert remaining == {"1", foreign}
    assert cleanup() == []
    assert [v.version for v in registry.versions(model)] == ["1"]
