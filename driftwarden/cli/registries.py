"""Which model registry the monitor reads reference profiles from, as the config names it."""

from __future__ import annotations

from pathlib import Path

from driftwarden.core.mlflow_profiles import MlflowProfileLookup
from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.core.registry import ProfileLookup

__all__ = ["profile_lookup"]


def profile_lookup(registry_path: Path, mlflow: MlflowSettings | None) -> ProfileLookup:
    """MLflow's registry when ``mlflow`` is set (``registry: {backend: mlflow}``), else the
    filesystem registry at ``registry_path``."""
    if mlflow is not None:
        return MlflowProfileLookup(mlflow)
    from driftwarden.retrain.registry import ModelRegistry

    return ModelRegistry(registry_path)
