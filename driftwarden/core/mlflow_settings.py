"""Where the MLflow backend is and how to reach it, as plain picklable values.

Both MLflow parts of the retraining side use it: the model registry backend
(``registry: {backend: mlflow}``) and the tracking of retrain runs. Credentials go to MLflow's
REST client through its environment variables (``MLFLOW_TRACKING_USERNAME``,
``MLFLOW_TRACKING_PASSWORD``, ``MLFLOW_TRACKING_TOKEN``), the only way it takes them; they are
set in the process that talks to MLflow, never logged.

>>> settings = MlflowSettings("http://127.0.0.1:5000", password="s3cret")
>>> settings.experiment("churn"), "s3cret" in repr(settings)
('driftwarden/churn', False)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["MlflowSettings", "mlflow_client"]


@dataclass(frozen=True)
class MlflowSettings:
    """The ``registry`` section of ``backend: mlflow``, secrets revealed."""

    tracking_uri: str
    registry_uri: str | None = None  # None: the tracking URI
    experiment_prefix: str = "driftwarden/"
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def experiment(self, model: str) -> str:
        """The MLflow experiment of ``model``'s retrain runs."""
        return f"{self.experiment_prefix}{model}"

    def credentials(self) -> dict[str, str]:
        """MLflow's environment variables for the credentials that are set."""
        values = {
            "MLFLOW_TRACKING_USERNAME": self.username,
            "MLFLOW_TRACKING_PASSWORD": self.password,
            "MLFLOW_TRACKING_TOKEN": self.token,
        }
        return {name: value for name, value in values.items() if value is not None}


def mlflow_client(settings: MlflowSettings) -> MlflowClient:
    """A client of the configured tracking server and registry, its credentials in place."""
    from mlflow import MlflowClient  # the mlflow extra: imported only by its users

    os.environ.update(settings.credentials())
    return MlflowClient(settings.tracking_uri, settings.registry_uri)
