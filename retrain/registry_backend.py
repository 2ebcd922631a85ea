"""What the retraining side needs of a model registry, and the backend the config chooses.

Two backends implement :class:`RegistryBackend`: the filesystem
(:class:`~driftwarden.retrain.registry.ModelRegistry`, the default) and MLflow
(:class:`~driftwarden.retrain.mlflow_registry.MlflowRegistry`, ``registry: {backend: mlflow}``).
Governance, runs, the worker, ``reproduce``, the ``models`` commands and the demo use this
surface only, so they behave the same on both.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from driftwarden.retrain.settings import RetrainSettings
from driftwarden.retrain.versions import Stage, VersionInfo

__all__ = ["RegistryBackend", "open_registry"]


class RegistryBackend(Protocol):
    """Versioned models with metadata, lineage and stage history (see the filesystem backend,
    :class:`~driftwarden.retrain.registry.ModelRegistry`, for each method's contract)."""

    @property
    def root(self) -> Path:
        """The local directory of the audit log (and of the versions, on the filesystem)."""
        ...

    def register(
        self,
        model: str,
        artifact_estimator: object,
        metadata: Mapping[str, Any],
        profile: Mapping[str, Any] | None,
        card: str | Callable[[str], str],
        *,
        by: str = "driftwarden",
        reason: str = "registered",
        run_id: str | None = None,
    ) -> VersionInfo:
        """Store a new ``candidate`` version; ``run_id``: the MLflow run it came from."""
        ...

    def load_artifact(self, model: str, version: str) -> Any:
        """The estimator, once its SHA-256 (and HMAC) match the registration's."""
        ...

    def deserialize(self, model: str, blob: bytes, source: str) -> Any:
        """A skops file of ``model``, once every type in it is in the model's trust list."""
        ...

    def models(self) -> list[str]:
        """Names of the models with at least one version, sorted."""
        ...

    def versions(self, model: str) -> list[VersionInfo]:
        """Every version of ``model``, oldest first."""
        ...

    def get(self, model: str, version: str) -> VersionInfo:
        """One version (:class:`~driftwarden.retrain.errors.ModelNotFound` if none)."""
        ...

    def production(self, model: str) -> VersionInfo | None:
        """The version of ``model`` in production, if any."""
        ...

    def profile(self, model: str, version: str) -> dict[str, Any] | None:
        """The reference profile registered with the version, if any."""
        ...

    def set_stage(
        self,
        model: str,
        version: str,
        stage: Stage | str,
        by: str,
        reason: str,
        *,
        from_stages: Collection[Stage] | None = None,
    ) -> VersionInfo:
        """Move a version to ``stage``; refused if it left ``from_stages`` meanwhile."""
        ...

    def update_metadata(self, model: str, version: str, updates: Mapping[str, Any]) -> VersionInfo:
        """Add or replace caller-owned metadata keys."""
        ...

    def write_card(self, model: str, version: str, card: str) -> None:
        """Replace a version's model card."""
        ...

    def cleanup(self) -> Sequence[object]:
        """Remove what interrupted registrations left behind; return it."""
        ...


def open_registry(settings: RetrainSettings) -> RegistryBackend:
    """The registry of the config: MLflow with ``registry: {backend: mlflow}``, else the
    filesystem under ``registry``."""
    if settings.mlflow is not None:
        from driftwarden.retrain.mlflow_registry import MlflowRegistry  # the mlflow extra

        return MlflowRegistry.from_settings(settings)
    from driftwarden.retrain.registry import ModelRegistry

    return ModelRegistry.from_settings(settings)
