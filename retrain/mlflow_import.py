"""``models register --from-mlflow``: a model another tool logged in MLflow, read untrusted.

The URI is ``models:/<name>/<version>``, ``models:/<name>@<alias>`` or ``runs:/<run_id>/<path>``
(:func:`check_model_uri`); anything else is refused before MLflow is asked. The logged model's
``MLmodel`` file is YAML, read with ``yaml.safe_load`` and at most :data:`MAX_MLMODEL_BYTES`; it
must have the sklearn flavour in skops format (a pickled or cloudpickled model is refused: loading
it would run its code). The skops file is refused beyond its bound by the size MLflow lists, then
checked again on disk and read with the bound (the listed size is not trusted). The caller
deserializes it with the model's exact trust list only, never with ``mlflow.sklearn.load_model``.

>>> check_model_uri("models:/churn@production")
'models:/churn@production'
>>> check_model_uri("s3://bucket/churn")
Traceback (most recent call last):
...
driftwarden.retrain.errors.RegistryError: cannot import s3://bucket/churn: ...
>>> skops_file_name({"flavors": {"sklearn": {"serialization_format": "cloudpickle"}}}, "runs:/r/m")
Traceback (most recent call last):
...
driftwarden.retrain.errors.UntrustedArtifact: runs:/r/m is serialized with 'cloudpickle', ...
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.retrain.artifact_types import MAX_ARTIFACT_BYTES, read_artifact
from driftwarden.retrain.errors import RegistryError, UntrustedArtifact
from driftwarden.retrain.governance import Decision, Governance
from driftwarden.retrain.importer import import_blob
from driftwarden.retrain.mlflow_connection import connect, mlflow_errors, registry_uri
from driftwarden.retrain.settings import ModelTraining
from driftwarden.retrain.versions import VersionInfo

__all__ = [
    "MAX_MLMODEL_BYTES",
    "check_model_uri",
    "import_from_mlflow",
    "read_mlflow_model",
    "skops_file_name",
]

MAX_MLMODEL_BYTES = 1 << 20
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_URI = re.compile(
    rf"models:/{_NAME}/[0-9]+|models:/{_NAME}@[A-Za-z0-9_\-]+"
    rf"|runs:/[A-Za-z0-9]+/{_NAME}(?:/{_NAME})*"
)
_FILE_NAME = re.compile(_NAME)


def import_from_mlflow(
    governance: Governance,
    model: ModelTraining,
    settings: MlflowSettings,
    uri: str,
    data: Path,
    by: str,
    max_bytes: int = MAX_ARTIFACT_BYTES,
) -> tuple[VersionInfo, Decision]:
    """Import the model logged at ``uri`` as a new version of ``model``, its profile and
    reference metrics from the table ``data``, as ``models register`` imports a skops file."""
    blob = read_mlflow_model(settings, uri, max_bytes)
    return import_blob(governance, model, blob, uri, data, by)


def check_model_uri(uri: str) -> str:
    """``uri`` if it is a model URI driftwarden imports from, else :class:`RegistryError`."""
    if not _URI.fullmatch(uri) or ".." in uri.split("/"):
        raise RegistryError(
            f"cannot import {uri}: give models:/<name>/<version>, models:/<name>@<alias> or "
            "runs:/<run_id>/<path> (the model's directory in the run)"
        )
    return uri


def read_mlflow_model(
    settings: MlflowSettings, uri: str, max_bytes: int = MAX_ARTIFACT_BYTES
) -> bytes:
    """The skops file of the sklearn model logged at ``uri``, refused beyond ``max_bytes``."""
    check_model_uri(uri)
    connect(settings)  # the HTTP timeouts and the credentials, for mlflow.artifacts too
    with (
        mlflow_errors(settings.tracking_uri, f"read the model {uri}"),
        tempfile.TemporaryDirectory(prefix="driftwarden-") as tmp,
    ):
        sizes = _listed_sizes(settings, uri)
        text = _download(settings, uri, "MLmodel", Path(tmp), MAX_MLMODEL_BYTES, sizes)
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UntrustedArtifact(f"{uri}/MLmodel is not YAML ({exc}); refusing it") from exc
        name = skops_file_name(document, uri)
        return _download(settings, uri, name, Path(tmp), max_bytes, sizes)


def skops_file_name(mlmodel: Any, uri: str) -> str:
    """The skops file named by the ``MLmodel`` document ``mlmodel`` of ``uri``; refused unless
    its sklearn flavour is in skops format."""
    flavors = mlmodel.get("flavors") if isinstance(mlmodel, dict) else None
    sklearn = flavors.get("sklearn") if isinstance(flavors, dict) else None
    if not isinstance(sklearn, dict):
        raise RegistryError(
            f"{uri} has no sklearn flavour in its MLmodel file: driftwarden imports "
            "scikit-learn models logged with mlflow.sklearn.log_model only"
        )
    form = sklearn.get("serialization_format")
    if form != "skops":
        raise UntrustedArtifact(
            f"{uri} is serialized with {form!r}, which runs code when it is loaded; refusing it, "
            "nothing was loaded. Log the model again with mlflow.sklearn.log_model(..., "
            'serialization_format="skops") and import that'
        )
    name = sklearn.get("pickled_model")
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
        raise UntrustedArtifact(f"{uri}/MLmodel names no plain model file ({name!r}); refusing it")
    return name


def _listed_sizes(settings: MlflowSettings, uri: str) -> dict[str, int]:
    """The size MLflow lists for each file of the logged model (by file name)."""
    from mlflow.artifacts import list_artifacts

    files = list_artifacts(artifact_uri=uri, tracking_uri=settings.tracking_uri)
    return {f.path.rsplit("/", 1)[-1]: int(f.file_size or 0) for f in files if not f.is_dir}


def _download(
    settings: MlflowSettings,
    uri: str,
    name: str,
    tmp: Path,
    max_bytes: int,
    sizes: dict[str, int],
) -> bytes:
    """File ``name`` of the logged model: refused by its listed size, then by its size on disk,
    then read with ``max_bytes`` as the bound."""
    from mlflow.artifacts import download_artifacts

    source = f"{uri}/{name}"
    if name not in sizes:
        raise RegistryError(f"{uri} has no file {name}: is it the model's directory?")
    if sizes[name] > max_bytes:
        raise UntrustedArtifact(f"{source} is larger than {max_bytes} bytes; refusing it")
    path = Path(
        download_artifacts(
            artifact_uri=source,
            dst_path=str(tmp),
            tracking_uri=settings.tracking_uri,
            registry_uri=registry_uri(settings),
        )
    )
    if path.stat().st_size > max_bytes:
        raise UntrustedArtifact(f"{source} is larger than {max_bytes} bytes; refusing it")
    return read_artifact(path, max_bytes)
