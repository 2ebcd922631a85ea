"""The stream processor's estimation step: holds predictions, attaches labels, recomputes the
estimates once per batch and reconciles the windows whose labels have landed.

Only models with an ``estimation`` section take part. A version's calibration comes from its
reference profile (asked once and kept; :meth:`EstimationStage.reprofile` forgets it when the
profile changes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from driftwarden.config import ModelConfig, MonitorConfig
from driftwarden.config.estimation import EstimationConfig
from driftwarden.contracts.estimation import estimation_diverged_event
from driftwarden.contracts.inputs import Label, Prediction
from driftwarden.contracts.records import source_headers
from driftwarden.core.calibration import Calibration
from driftwarden.core.keys import ModelVersion
from driftwarden.core.tasks import Task, class_key
from driftwarden.monitor.batch import OutputRecord
from driftwarden.monitor.drift.factory import ProfileSource
from driftwarden.monitor.drift.inputs import DriftBatch, Source
from driftwarden.monitor.estimation.reconcile import (
    Reconciliation,
    current_estimate,
    fitting,
    reconcile,
)
from driftwarden.monitor.estimation.window import VersionEstimation
from driftwarden.monitor.state import MonitorState

__all__ = ["EstimationStage"]

log = logging.getLogger(__name__)


class EstimationStage:
    """Estimation of every configured model's versions, in ``state.estimation``."""

    def __init__(
        self, config: MonitorConfig, state: MonitorState, profiles: ProfileSource | None
    ) -> None:
        self._models = {m.name: m for m in config.models if m.estimation is not None}
        self._profiles = profiles
        self._calibrations: dict[ModelVersion, Calibration | None] = {}
        self._touched: set[ModelVersion] = set(state.estimation)
        self.state = state

    def prediction(self, pred: Prediction, partition: int, offset: int) -> None:
        """Hold a prediction of a model with estimation."""
        config = self._models.get(pred.model)
        if config is None or config.estimation is None:
            return
        key = ModelVersion(pred.model, pred.version)
        est = self.state.estimation.get(key)
        if est is None:
            est = self.state.estimation[key] = _new(config, config.estimation)
        window_key = (pred.timestamp, partition, offset)
        est.add(window_key, pred.prediction_id, pred.prediction, pred.scores)
        self._touched.add(key)

    def label(self, pred: Prediction, label: Label, partition: int) -> None:
        """Attach the label of a joined prediction to the window(s) holding it; the label's
        time moves the expiry of every version of the model on ``partition``."""
        for key, est in self.state.estimation.items():
            if key.model == pred.model:
                est.label_seen(partition, label.timestamp)
                self._touched.add(key)
        version = self.state.estimation.get(ModelVersion(pred.model, pred.version))
        if version is not None:
            version.label(pred.prediction_id, label.label)

    def finish_batch(
        self,
        batches: Mapping[ModelVersion, DriftBatch],
        publishable: Callable[[Iterable[Source]], bool],
    ) -> list[OutputRecord]:
        """Recompute the estimates of the versions the batch touched and reconcile their
        complete windows; return the ``estimation_diverged`` events to publish (those of a batch
        replayed after a crash were published before)."""
        events = []
        for key in sorted(self._touched):
            est = self.state.estimation.get(key)
            config = self._models.get(key.model)
            if est is None or config is None or config.estimation is None:
                continue
            calibration = self._calibration(key, est)
            if est.stale:  # labels alone leave the estimate as it was
                est.latest = current_estimate(est, calibration)
                est.stale = False
            divergence = config.estimation.divergence_windows
            batch = batches.get(key)
            for done in reconcile(est, calibration, config.label_ttl, divergence):
                for event in self._record(key, est, done, divergence):
                    if batch is not None and publishable((source := batch.last_source(),)):
                        headers = source_headers(*source)
                        events.append(OutputRecord(key.model.encode(), event, headers))
        self._touched.clear()
        return events

    def reprofile(self, keys: Iterable[ModelVersion]) -> None:
        """These versions' profiles changed: ask for their calibration again."""
        for key in keys:
            self._calibrations.pop(key, None)
            if key in self.state.estimation:
                self.state.estimation[key].stale = True
                self._touched.add(key)

    def _calibration(self, key: ModelVersion, est: VersionEstimation) -> Calibration | None:
        if key not in self._calibrations:
            profile = self._profiles(*key) if self._profiles is not None else None
            found = profile.calibration if profile is not None else None
            calibration = self._calibrations[key] = fitting(est, found)
            if calibration is None:
                log.warning(
                    "model %s version %s: %s; performance is estimated from the raw scores "
                    "(driftwarden_estimation_calibrated 0): build its profile with --score",
                    key.model,
                    key.version,
                    "the reference profile has no calibration"
                    if found is None
                    else "the profile's calibration does not fit the model's classes",
                )
        calibration = self._calibrations[key]
        est.calibrated = calibration is not None
        return calibration

    @staticmethod
    def _record(
        key: ModelVersion, est: VersionEstimation, done: Reconciliation, divergence: int
    ) -> list[bytes]:
        if not done.checks:
            est.count_window("unlabeled")
            return []
        est.count_window("reconciled")
        est.checks = {m: (c.value, c.lower, c.upper, c.realized) for m, c in done.checks.items()}
        if not done.diverged:
            return []
        log.warning(
            "model %s version %s: the realized %s fell outside the estimate's band for %d "
            "windows in a row: the estimate cannot be trusted (concept drift?)",
            key.model,
            key.version,
            ", ".join(done.diverged),
            divergence,
        )
        metrics = {m: done.checks[m] for m in done.diverged}
        return [estimation_diverged_event(key.model, key.version, metrics, divergence, done)]


def _new(config: ModelConfig, settings: EstimationConfig) -> VersionEstimation:
    binary = config.task is Task.BINARY
    return VersionEstimation(
        class_key(config.positive_label) if binary else None,
        settings.window or config.window,
        settings.max_bytes,
        config.max_classes,
    )
