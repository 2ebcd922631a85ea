"""Retrain runs tracked in MLflow: one MLflow run per retrain run, in experiment
``<experiment_prefix><model>`` (created on first use).

:func:`tracker_for` gives the tracker of a config: a :class:`MlflowTracker` when MLflow is
configured, a :class:`~driftwarden.retrain.tracking.NullTracker` otherwise, either way behind
:class:`~driftwarden.retrain.tracking.GuardedTracker` (the failure policy is in
:mod:`driftwarden.retrain.tracking`).

An outage must cost seconds, not MLflow's default minutes of retries (a 120 s timeout, 7 retries
with exponential backoff), so the process's MLflow HTTP settings default to
:data:`CLIENT_DEFAULTS`; an operator who sets the variables keeps their values. They also stop
MLflow from printing each run's URL to standard output (``driftwarden retrain run`` prints its
outcome there as JSON); the run is logged instead. The ``mlflow`` package is imported only when
MLflow is configured.

>>> tracker_for(None).run_id is None
True
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from driftwarden.core.mlflow_settings import MlflowSettings, mlflow_client
from driftwarden.retrain.run_record import outcome_tags
from driftwarden.retrain.tracking import GuardedTracker, NullTracker

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["CLIENT_DEFAULTS", "MlflowTracker", "tracker_for"]

log = logging.getLogger(__name__)

CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",  # seconds per request
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # waits of about 1 s, then 2 s
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
_Item = TypeVar("_Item")
_BATCH = 100  # MLflow takes at most 100 params or tags per batch (and 1,000 metrics)


class MlflowTracker:
    """Records one retrain run in MLflow through ``client`` (default: from ``settings``)."""

    def __init__(self, settings: MlflowSettings, client: MlflowClient | None = None) -> None:
        self._settings = settings
        self._client = client
        self._run_id: str | None = None

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def start(self, model: str, name: str, tags: Mapping[str, str]) -> None:
        client = self._connect()
        experiment = self._experiment_id(client, self._settings.experiment(model))
        self._run_id = client.create_run(experiment, run_name=name, tags=dict(tags)).info.run_id
        log.info(
            "retrain of %s tracked as MLflow run %s (experiment %s at %s)",
            model,
            self._run_id,
            experiment,
            self._settings.tracking_uri,
        )

    def log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        for chunk in _chunks(list(params.items())):
            self._connect().log_batch(self._started(), params=[Param(k, v) for k, v in chunk])

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        for chunk in _chunks(list(metrics.items())):
            entries = [Metric(k, v, now, 0) for k, v in chunk]
            self._connect().log_batch(self._started(), metrics=entries)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        for chunk in _chunks(list(tags.items())):
            self._connect().log_batch(self._started(), tags=[RunTag(k, v) for k, v in chunk])

    def log_artifact(self, path: str, content: str) -> None:
        self._connect().log_text(self._started(), content, path)

    def end(self, outcome: str, reason: str | None) -> None:
        run_id = self._started()
        self.set_tags(outcome_tags(outcome, reason))
        status = "FAILED" if outcome == "failed" else "FINISHED"
        self._connect().set_terminated(run_id, status)

    def _connect(self) -> MlflowClient:
        if self._client is None:
            for name, value in CLIENT_DEFAULTS.items():
                os.environ.setdefault(name, value)
            self._client = mlflow_client(self._settings)
        return self._client

    def _started(self) -> str:
        if self._run_id is None:
            raise RuntimeError("the MLflow run was not started")
        return self._run_id

    @staticmethod
    def _experiment_id(client: MlflowClient, name: str) -> str:
        """The experiment's id, created if missing (by whichever process gets there first)."""
        from mlflow.exceptions import MlflowException

        found = client.get_experiment_by_name(name)
        if found is None:
            try:
                return str(client.create_experiment(name))
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                found = client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            raise RuntimeError(
                f"MLflow experiment {name!r} is deleted: restore it (mlflow experiments restore) "
                "or delete it for good (mlflow gc) so driftwarden can create it again"
            )
        return str(found.experiment_id)


def tracker_for(settings: MlflowSettings | None) -> GuardedTracker:
    """The tracker of one retrain run: in MLflow if ``settings`` is set, else none."""
    if settings is None:
        return GuardedTracker(NullTracker())
    return GuardedTracker(MlflowTracker(settings), settings.tracking_uri)


def _chunks(items: Sequence[_Item]) -> list[Sequence[_Item]]:
    return [items[i : i + _BATCH] for i in range(0, len(items), _BATCH)]
