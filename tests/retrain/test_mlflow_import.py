"""``models register --from-mlflow``: a model another tool logged in the real MLflow server,
imported into both registry backends with the real command, broker and server; what is refused."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from driftwarden.cli import main
from driftwarden.config import parse_config
from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.retrain.audit import AuditLog
from driftwarden.retrain.errors import RegistryError, UntrustedArtifact
from driftwarden.retrain.mlflow_import import check_model_uri, read_mlflow_model
from driftwarden.retrain.registry_backend import open_registry
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.testing import TansuBroker
from driftwarden.testing.mlflow_server import MlflowServer
from tests.conftest import TopicNames
from tests.monitor.harness import write_config
from tests.retrain.test_retrain_loop import loop_config

pytestmark = [pytest.mark.kafka, pytest.mark.mlflow]

FEATURES = ["x1", "x2", "plan"]


def frame_model(base: Path) -> tuple[Pipeline, pd.DataFrame]:
    """What a team trains outside driftwarden: a pipeline over a data frame; and the frame."""
    table = pd.read_csv(base)
    columns = ColumnTransformer(
        [
            ("n", StandardScaler(), ["x1", "x2"]),
            ("c", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    pipeline = Pipeline([("columns", columns), ("model", LogisticRegression())])
    return pipeline.fit(table[FEATURES], table["label"]), table[FEATURES]


def log_elsewhere(server: MlflowServer, pipeline: Pipeline, form: str = "skops") -> tuple[str, str]:
    """Log and register ``pipeline`` as another tool does (alias ``champion`` on version 1);
    the registered model's name and the run's id."""
    mlflow.set_tracking_uri(server.uri)
    mlflow.set_registry_uri(server.uri)
    name = f"team-{uuid.uuid4().hex[:8]}"
    experiment = MlflowClient(server.uri).create_experiment(f"elsewhere-{name}")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.sklearn.log_model(
            pipeline, name="model", serialization_format=form, registered_model_name=name
        )
    MlflowClient(server.uri).set_registered_model_alias(name, "champion", "1")
    return name, run.info.run_id


@pytest.fixture
def config(broker: TansuBroker, topic_names: TopicNames, tmp_path: Path) -> dict[str, Any]:
    config = loop_config(broker, topic_names, tmp_path)
    config["models"][0]["name"] = f"churn-{uuid.uuid4().hex[:8]}"  # the server is shared
    return config


@pytest.mark.parametrize("backend", ["filesystem", "mlflow"])
def test_import_by_models_and_runs_uris_scores_like_the_original(
    backend: str,
    config: dict[str, Any],
    mlflow_server: MlflowServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, base = config["models"][0]["name"], config["models"][0]["training"]["data"]["base"]
    source: list[str] = []
    if backend == "mlflow":
        config["registry"] = {
            "backend": "mlflow",
            "tracking_uri": mlflow_server.uri,
            "path": str(tmp_path / "registry"),
        }
    else:
        source = ["--mlflow-uri", mlflow_server.uri]
    path = str(write_config(tmp_path / "driftwarden.yaml", config))
    pipeline, frame = frame_model(Path(base))
    name, run = log_elsewhere(mlflow_server, pipeline)
    uris = [f"models:/{name}/1", f"models:/{name}@champion", f"runs:/{run}/model"]
    capsys.readouterr()  # what MLflow printed while logging it
    for number, uri in enumerate(uris, start=1):
        command = ["models", "register", "--model", model, "--from-mlflow", uri, *source]
        assert main([*command, "--data", base, "--by", "bob", "--config", path]) == 0, (
            capsys.readouterr().err
        )
        assert capsys.readouterr().out.strip() == f"{model} {number}: production"

    registry = open_registry(RetrainSettings.from_config(parse_config(config)))
    rows = frame.to_dict(orient="records")
    for number, uri in enumerate(uris, start=1):
        info = registry.get(model, str(number))
        assert info.metadata["imported_from"] == uri
        assert info.metadata["trigger"] == "import"
        assert info.metadata["metrics"]["challenger"]["accuracy"] > 0.9
        loaded = registry.load_artifact(model, str(number))
        assert loaded.predict(rows).tolist() == pipeline.predict(frame).tolist()
    assert set(registry.profile(model, "1")["features"]) == set(FEATURES)  # type: ignore[index]
    audit = AuditLog(tmp_path / "registry" / "audit.jsonl")
    imported = [e.details.get("imported_from") for e in audit.entries() if e.model == model]
    assert [uri for uri in imported if uri] == uris
    assert audit.verify() > 0


def test_a_pickled_model_is_refused_naming_what_to_do(
    config: dict[str, Any],
    mlflow_server: MlflowServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, base = config["models"][0]["name"], config["models"][0]["training"]["data"]["base"]
    path = str(write_config(tmp_path / "driftwarden.yaml", config))
    name, _ = log_elsewhere(mlflow_server, frame_model(Path(base))[0], form="cloudpickle")
    uri = f"models:/{name}/1"
    capsys.readouterr()
    command = ["models", "register", "--model", model, "--from-mlflow", uri]
    source = ["--mlflow-uri", mlflow_server.uri]
    assert main([*command, *source, "--data", base, "--config", path]) == 1
    error = capsys.readouterr().err
    assert uri in error and "'cloudpickle'" in error and 'serialization_format="skops"' in error
    assert open_registry(RetrainSettings.from_config(parse_config(config))).versions(model) == []
    # without --mlflow-uri and with a filesystem registry there is no server to read from
    assert main([*command, "--data", base, "--config", path]) == 1
    assert "--mlflow-uri" in capsys.readouterr().err


def test_an_oversize_model_file_is_refused(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    base = tmp_path / "base.csv"
    base.write_text("x1,x2,plan,label\n1,2,pro,1\n-1,-2,basic,0\n2,1,pro,1\n-2,0,basic,0\n")
    name, run = log_elsewhere(mlflow_server, frame_model(base)[0])
    settings = MlflowSettings(mlflow_server.uri)
    assert read_mlflow_model(settings, f"runs:/{run}/model")[:2] == b"PK"  # a skops zip
    with pytest.raises(UntrustedArtifact, match=r"model\.skops is larger than 1000 bytes"):
        read_mlflow_model(settings, f"models:/{name}/1", max_bytes=1000)


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/model",
        "file:///etc/passwd",
        "models:/churn",
        "models:/churn/latest",
        "runs:/abc",
        "runs:/abc/../../etc",
        "models:/../x/1",
    ],
)
def test_unknown_uris_are_refused_with_the_forms_taken(uri: str) -> None:
    with pytest.raises(RegistryError, match=r"give models:/<name>/<version>, models:/<name>@"):
        check_model_uri(uri)
