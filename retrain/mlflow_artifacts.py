"""MLflow I/O of the registry backend: runs, logged models and bounded downloads.

Every download is refused beyond its bound before it starts (by the size MLflow lists) and
read with the bound again, so a crafted or huge artifact cannot exhaust memory.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftwarden.core.mlflow_names import MODEL_ARTIFACT, PROFILE_ARTIFACT, STAGE_TAG, TAG_PREFIX
from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.retrain.artifact_types import MAX_ARTIFACT_BYTES, read_artifact
from driftwarden.retrain.errors import RegistryError
from driftwarden.retrain.mlflow_connection import is_missing
from driftwarden.retrain.mlflow_documents import example_row, pip_requirements
from driftwarden.retrain.serving_pipeline import frame_pipeline, serving_types

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

__all__ = [
    "MAX_PROFILE_BYTES",
    "SKOPS_FILE",
    "download_profile",
    "download_skops",
    "ensure_registered_model",
    "log_model",
    "open_run",
    "search_versions",
    "unfinished_versions",
]

SKOPS_FILE = "model.skops"  # inside the logged model (MLflow's sklearn flavour)
MAX_PROFILE_BYTES = 64 << 20


def open_run(client: MlflowClient, settings: MlflowSettings, model: str) -> str:
    """A new run in ``model``'s experiment (created if missing); its id."""
    name = settings.experiment(model)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        experiment_id = experiment.experiment_id
    else:
        try:
            experiment_id = client.create_experiment(name)
        except Exception as exc:  # noqa: BLE001 - another process created it meanwhile
            again = client.get_experiment_by_name(name)
            if again is None:
                raise RegistryError(f"cannot create MLflow experiment {name!r}: {exc}") from exc
            experiment_id = again.experiment_id
    run = client.create_run(experiment_id, tags={"driftwarden.model": model})
    return str(run.info.run_id)


def log_model(
    settings: MlflowSettings, estimator: object, run: str, trusted: frozenset[str]
) -> tuple[str, str]:
    """Log ``estimator`` into run ``run``: rebuilt from scikit-learn parts when it can be
    (:mod:`driftwarden.retrain.serving_pipeline`), with the sklearn flavour in skops format,
    its exact trust list (``trusted``, plus the rebuilt pipeline's types), a signature and a
    made-up input example; its model id and URI."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    # MLflow's module-level API logs models: point it at this registry's server each time
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri or settings.tracking_uri)

    served = frame_pipeline(estimator)
    model: Any = served.pipeline if served else estimator
    row = example_row(estimator)
    example = signature = None
    if row is not None:
        example = pd.DataFrame([row])
        if served is not None:
            example = example.reindex(columns=list(served.features), fill_value=0.0)
        signature = infer_signature(example, model.predict(example))
    logged = mlflow.sklearn.log_model(
        model,
        name=MODEL_ARTIFACT,
        run_id=run,
        serialization_format="skops",
        skops_trusted_types=sorted(trusted | serving_types() if served else trusted),
        signature=signature,
        input_example=example,
        pip_requirements=pip_requirements(with_driftwarden=served is None),
    )
    return str(logged.model_id), str(logged.model_uri)


def download_skops(client: MlflowClient, uri: str, model_id: str) -> bytes:
    """The logged model's skops file, refused beyond :data:`MAX_ARTIFACT_BYTES`."""
    from mlflow.artifacts import download_artifacts

    listed = client.list_logged_model_artifacts(model_id)
    sizes = {f.path: f.file_size for f in listed}
    if SKOPS_FILE not in sizes:
        raise RegistryError(f"{uri} has no {SKOPS_FILE}: it was not logged in skops format")
    if (sizes[SKOPS_FILE] or 0) > MAX_ARTIFACT_BYTES:
        raise RegistryError(f"{uri}/{SKOPS_FILE} is larger than {MAX_ARTIFACT_BYTES} bytes")
    location = client.get_logged_model(model_id).artifact_location
    with tempfile.TemporaryDirectory(prefix="driftwarden-") as tmp:
        path = download_artifacts(artifact_uri=f"{location}/{SKOPS_FILE}", dst_path=tmp)
        return read_artifact(Path(path))


def ensure_registered_model(client: MlflowClient, model: str) -> None:
    """Create registered model ``model`` unless it exists (also if another process races)."""
    try:
        client.get_registered_model(model)
    except Exception as exc:
        if not is_missing(exc):
            raise
        try:
            client.create_registered_model(model)
        except Exception as again:  # noqa: BLE001 - another process created it meanwhile
            if getattr(again, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
                raise


def search_versions(client: MlflowClient, filter_string: str) -> Iterator[ModelVersion]:
    """Every model version matching ``filter_string``, page by page."""
    token = None
    while True:
        page = client.search_model_versions(filter_string, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def unfinished_versions(client: MlflowClient, before: float) -> list[ModelVersion]:
    """Model versions driftwarden began to register before ``before`` (epoch seconds) and never
    finished: no stage tag (written last), and a run tagged ``driftwarden.model`` with the
    version's model (a run driftwarden opened; other tools' versions have none)."""
    found = []
    for mv in search_versions(client, ""):
        if STAGE_TAG in mv.tags or not mv.run_id or mv.creation_timestamp / 1000 >= before:
            continue
        try:
            tags = client.get_run(mv.run_id).data.tags
        except Exception as exc:
            if is_missing(exc):
                continue  # its run was deleted: nothing says driftwarden made it
            raise
        if tags.get(f"{TAG_PREFIX}model") == mv.name:
            found.append(mv)
    return found


def download_profile(client: MlflowClient, run: str) -> dict[str, Any] | None:
    """The reference profile in run ``run``, ``None`` if it has none."""
    listed = {f.path: f.file_size for f in client.list_artifacts(run, "driftwarden")}
    if PROFILE_ARTIFACT not in listed:
        return None
    if (listed[PROFILE_ARTIFACT] or 0) > MAX_PROFILE_BYTES:
        raise RegistryError(f"{PROFILE_ARTIFACT} of run {run} exceeds {MAX_PROFILE_BYTES} bytes")
    with tempfile.TemporaryDirectory(prefix="driftwarden-") as tmp:
        path = Path(client.download_artifacts(run, PROFILE_ARTIFACT, tmp))
        document = json.loads(read_artifact(path, MAX_PROFILE_BYTES))
    if not isinstance(document, dict):
        raise RegistryError(f"{PROFILE_ARTIFACT} of run {run} is not a JSON object")
    return document
