"""The monitor reads a version's reference profile from MLflow: against a real MLflow server
(the ``mlflow_server`` fixture), and against addresses where no MLflow answers."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from driftwarden.core.errors import ProfileError, RegistryUnavailable
from driftwarden.core.mlflow_names import PROFILE_ARTIFACT
from driftwarden.core.mlflow_profiles import MlflowProfileLookup
from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.core.profile import ReferenceProfile, build_profile
from driftwarden.monitor.profiles import LookupFailures, ProfileSource
from driftwarden.testing.mlflow_server import MlflowServer
from driftwarden.testing.ports import free_port

pytestmark = pytest.mark.mlflow

mlflow = pytest.importorskip("mlflow")


def reference(model: str, rows: int = 200) -> ReferenceProfile:
    return build_profile(model, {"tenure": [float(i % 40) for i in range(rows)]})


@pytest.fixture
def tracking(mlflow_server: MlflowServer) -> Iterator[str]:
    """The server's URI as MLflow's tracking URI while a test registers versions."""
    mlflow.set_tracking_uri(mlflow_server.uri)
    try:
        yield mlflow_server.uri
    finally:
        mlflow.set_tracking_uri(None)


def register(uri: str, model: str, artifact: bytes | None, tmp_path: Path) -> str:
    """A new version of ``model`` whose source run holds ``artifact`` at the profile's path
    (nothing there when ``None``) and a tiny sklearn model; return the version."""
    from sklearn.dummy import DummyClassifier

    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment(f"test-profiles-{uuid.uuid4().hex}")
    run_id = client.create_run(experiment).info.run_id
    if artifact is not None:
        folder, _, name = PROFILE_ARTIFACT.rpartition("/")
        local = tmp_path / uuid.uuid4().hex / name
        local.parent.mkdir()
        local.write_bytes(artifact)
        client.log_artifact(run_id, str(local), folder)
    with mlflow.start_run(run_id=run_id):
        logged = mlflow.sklearn.log_model(DummyClassifier().fit([[0], [1]], [0, 1]), name="model")
    if not client.search_registered_models(f"name = '{model}'"):
        client.create_registered_model(model)
    version = client.create_model_version(
        model, logged.model_uri, run_id=run_id, model_id=logged.model_id
    )
    return str(version.version)


def encoded(profile: ReferenceProfile) -> bytes:
    return json.dumps(profile.to_dict()).encode()


def unique_model() -> str:
    return f"churn-{uuid.uuid4().hex[:8]}"


def test_the_profile_of_a_version_comes_from_its_source_run(tracking: str, tmp_path: Path) -> None:
    model = unique_model()
    profile = reference(model)
    with_profile = register(tracking, model, encoded(profile), tmp_path)
    without = register(tracking, model, None, tmp_path)
    lookup = MlflowProfileLookup(MlflowSettings(tracking))
    assert lookup.profile(model, with_profile) == profile.to_dict()
    assert lookup.profile(model, without) is None
    assert lookup.profile(model, "99") is None, "a version that is not registered"
    assert lookup.profile(model, "../1") is None, "a version that is not a number"
    assert lookup.profile(unique_model(), "1") is None, "a model that is not registered"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ, "the limits are undone"
    # Through the monitor's profile source: the registered profile, else the configured one.
    configured = reference(model, rows=300)
    source = ProfileSource({model: configured}, lookup)
    assert source(model, with_profile) == profile
    assert source(model, without) is configured
    source.close()


@pytest.mark.parametrize(
    ("artifact", "message"),
    [
        (b"x" * 5000, "5000 bytes, over the limit of 4096 bytes"),
        (b"\x80\x81 not json", "invalid JSON"),
        (b'{"schema": 1, "model": "churn"}', "features: missing"),
    ],
    ids=["oversized", "not-json", "not-a-profile"],
)
def test_an_oversized_or_invalid_artifact_is_refused(
    tracking: str, tmp_path: Path, artifact: bytes, message: str
) -> None:
    model = unique_model()
    version = register(tracking, model, artifact, tmp_path)
    lookup = MlflowProfileLookup(MlflowSettings(tracking), max_bytes=4096)
    with pytest.raises(ProfileError, match=message) as refused:
        lookup.profile(model, version)
    assert f"/{PROFILE_ARTIFACT}" in str(refused.value) and "runs:/" in str(refused.value)


def test_an_unreachable_mlflow_degrades_to_the_configured_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    lookup = MlflowProfileLookup(MlflowSettings(uri))
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match=f"MLflow registry at {uri}"):
        lookup.profile("churn", "1")
    assert time.monotonic() - started < 5, "no retries"
    configured = reference("churn")
    metrics = CollectorRegistry()
    failures = LookupFailures(["churn"])
    metrics.register(failures)
    source = ProfileSource({"churn": configured}, lookup, failures=failures)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, "driftwarden.monitor.profiles"):
        assert source("churn", "1") is configured
        assert source("churn", "2") is configured  # backing off: not asked
    elapsed = time.monotonic() - started
    print(f"unreachable MLflow: two versions resolved in {elapsed:.3f}s")
    assert elapsed < 5
    assert (
        metrics.get_sample_value("driftwarden_profile_lookup_failures_total", {"model": "churn"})
        == 1
    )
    assert uri in caplog.text and "model churn version 1" in caplog.text
    source.close()


def test_an_mlflow_that_never_answers_costs_the_deadline() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        lookup = MlflowProfileLookup(MlflowSettings(uri), timeout_s=1)
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable, match=f"MLflow registry at {uri}"):
            lookup.profile("churn", "1")
        direct = time.monotonic() - started
        metrics = CollectorRegistry()
        failures = LookupFailures(["churn"])
        metrics.register(failures)
        source = ProfileSource({}, lookup, failures=failures, deadline_s=0.3)
        started = time.monotonic()
        assert source("churn", "1") is None
        waited = time.monotonic() - started
        source.close()
    print(f"silent MLflow: lookup failed after {direct:.2f}s, the loop waited {waited:.2f}s")
    assert 1 <= direct < 3, "one request, timed out after timeout_s, not retried"
    assert waited < 1
    assert (
        metrics.get_sample_value("driftwarden_profile_lookup_failures_total", {"model": "churn"})
        == 1
    )
