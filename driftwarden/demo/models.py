"""Where the demo's model server gets the model it serves: the production version, followed.

:class:`RegistryModels` asks driftwarden's registry (either backend) which version is in
production and loads it with the registry's checks. :class:`MlflowAliasModels` is what a model
server outside driftwarden does with the MLflow backend: it resolves the alias
``models:/<model>@production`` with MLflow's own client and loads that URI with
``mlflow.sklearn.load_model`` — a scikit-learn pipeline over a data frame of the feature columns,
which needs no driftwarden — and reloads it when a promotion moves the alias.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from driftwarden.core.mlflow_names import PRODUCTION_ALIAS
from driftwarden.core.mlflow_settings import MlflowSettings, mlflow_client
from driftwarden.retrain.registry_backend import RegistryBackend

__all__ = ["MlflowAliasModels", "RegistryModels", "Scored", "ServedModels", "scored"]

Rows = Sequence[dict[str, Any]]
Scored = tuple[list[Any], list[dict[str, float]]]


class ServedModels(Protocol):
    def production(self) -> str:
        """The version in production now, loaded if it changed."""

    def predict(self, rows: Rows) -> Scored:
        """The loaded version's predictions of ``rows`` (feature dicts) and their scores
        (class -> probability, as prediction events carry them)."""


def scored(pipeline: Any, inputs: Any) -> Scored:
    """``predict`` and ``predict_proba`` of a scikit-learn classifier, the scores by class."""
    probabilities = pipeline.predict_proba(inputs)
    classes = [str(c) for c in pipeline.classes_]
    scores = [
        {c: round(float(p), 6) for c, p in zip(classes, row, strict=True)} for row in probabilities
    ]
    predictions = [pipeline.classes_[i] for i in probabilities.argmax(axis=1)]
    return predictions, scores


class RegistryModels:
    """The production version of ``model`` in driftwarden's registry."""

    def __init__(self, registry: RegistryBackend, model: str) -> None:
        self._registry, self._model = registry, model
        self._version: str | None = None
        self._pipeline: Any = None

    def production(self) -> str:
        production = self._registry.production(self._model)
        if production is None:
            raise RuntimeError(f"no production version of {self._model} to serve")
        if production.version != self._version:
            self._pipeline = self._registry.load_artifact(self._model, production.version)
            self._version = production.version
        return production.version

    def predict(self, rows: Rows) -> Scored:
        return scored(self._pipeline, list(rows))


class MlflowAliasModels:
    """``models:/<model>@production`` through MLflow's API, as a model server follows it."""

    def __init__(self, settings: MlflowSettings, model: str, features: Sequence[str]) -> None:
        self._client = mlflow_client(settings)
        self._uri = settings.registry_uri or settings.tracking_uri
        self._model, self._features = model, list(features)
        self._version: str | None = None
        self._pipeline: Any = None
        self.loads: list[str] = []  # versions loaded, in order

    @property
    def model_uri(self) -> str:
        return f"models:/{self._model}@{PRODUCTION_ALIAS}"

    def production(self) -> str:
        alias = self._client.get_model_version_by_alias(self._model, PRODUCTION_ALIAS)
        version = str(alias.version)
        if version != self._version:
            import mlflow.sklearn

            mlflow.set_registry_uri(self._uri)
            self._pipeline = mlflow.sklearn.load_model(self.model_uri)
            self._version = version
            self.loads.append(version)
        return version

    def predict(self, rows: Rows) -> Scored:
        import pandas as pd

        frame = pd.DataFrame([[row.get(name) for name in self._features] for row in rows])
        frame.columns = self._features
        return scored(self._pipeline, frame)
