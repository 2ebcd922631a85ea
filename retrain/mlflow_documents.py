"""How a version's driftwarden metadata sits on an MLflow model version, and what is logged with
its model so that a model server can use it.

The whole metadata document (lineage, metrics, gates, risk tier, artifact SHA-256 and HMAC, stage
and stage history: what :class:`~driftwarden.retrain.versions.VersionInfo` shows for the
filesystem backend) is the version tag ``driftwarden.metadata`` (JSON); the stage is also
``driftwarden.stage``, and a few fields are tags of their own for MLflow's UI and searches. A
version without ``driftwarden.stage`` was not (or not completely) registered by driftwarden and
is not listed.

>>> tags = version_tags({"stage": "candidate", "risk_tier": "low", "stage_history": []})
>>> sorted(tags)
['driftwarden.metadata', 'driftwarden.risk_tier', 'driftwarden.stage']
>>> read_metadata({**tags}, "churn", "1")["risk_tier"]
'low'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import metadata as importlib_metadata
from typing import Any

from driftwarden.core.mlflow_names import STAGE_TAG, TAG_PREFIX
from driftwarden.retrain.errors import RegistryError
from driftwarden.retrain.versions import Stage

__all__ = [
    "METADATA_TAG",
    "MAX_DOCUMENT_CHARS",
    "example_row",
    "pip_requirements",
    "read_metadata",
    "version_tags",
]

METADATA_TAG = f"{TAG_PREFIX}metadata"
# MLflow's limit on a model version tag's value
MAX_DOCUMENT_CHARS = 100_000
_DISPLAYED = ("risk_tier", "trigger", "parent_version", "artifact_sha256", "mlflow_run_id")
_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "scipy", "pandas")


def version_tags(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The tags that hold ``metadata`` (the stage tag last: it marks the version complete)."""
    document = json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str)
    if len(document) > MAX_DOCUMENT_CHARS:
        raise RegistryError(
            f"the metadata of {metadata.get('model')!r} version {metadata.get('version')} takes "
            f"{len(document)} characters, more than the {MAX_DOCUMENT_CHARS} an MLflow tag holds"
        )
    tags = {METADATA_TAG: document}
    for key in _DISPLAYED:
        if metadata.get(key) is not None:
            tags[f"{TAG_PREFIX}{key}"] = str(metadata[key])
    tags[STAGE_TAG] = str(metadata["stage"])
    return tags


def read_metadata(tags: Mapping[str, str], model: str, version: str) -> dict[str, Any]:
    """The metadata document of a version's tags; the stage is the stage tag's.

    Raises :class:`RegistryError` when the tags are not a driftwarden version's (missing,
    malformed or an unknown stage): what was edited by hand says so.
    """
    where = f"MLflow model {model!r} version {version}"
    if STAGE_TAG not in tags or METADATA_TAG not in tags:
        raise RegistryError(
            f"{where} has no {STAGE_TAG!r} and {METADATA_TAG!r} tags: it was not registered by "
            "driftwarden, or its registration was interrupted"
        )
    try:
        document = json.loads(tags[METADATA_TAG])
        stage = Stage(tags[STAGE_TAG])
    except ValueError as exc:
        raise RegistryError(
            f"{where}: tag {METADATA_TAG!r} or {STAGE_TAG!r} is malformed ({exc}); restore it "
            "from the audit log or register the model again"
        ) from exc
    if not isinstance(document, dict) or not isinstance(document.get("stage_history"), list):
        raise RegistryError(f"{where}: tag {METADATA_TAG!r} is not a driftwarden metadata document")
    return {**document, "stage": stage.value}


def example_row(estimator: object) -> dict[str, Any] | None:
    """One made-up input row (no training data) for the signature and input example: each
    feature of the pipeline's :class:`~driftwarden.retrain.features.FeatureVectorizer` with a
    value it knows, ``None`` for a pipeline without one."""
    steps = getattr(estimator, "named_steps", {})
    vectorizer = steps.get("features") if isinstance(steps, Mapping) else None
    columns = getattr(vectorizer, "columns_", None)
    if not isinstance(columns, list):
        return None
    row: dict[str, Any] = {}
    for column in columns:
        name, equals, value = str(column).partition("=")
        row.setdefault(name, value if equals else 0.0)
    return row or None


def pip_requirements(with_driftwarden: bool) -> list[str]:
    """The libraries a model server needs to load the model, pinned to the versions here
    (``driftwarden`` too for a pipeline that could not be rebuilt without it)."""
    names = [*_REQUIREMENTS, "driftwarden"] if with_driftwarden else _REQUIREMENTS
    return [f"{name}=={importlib_metadata.version(name)}" for name in names]
