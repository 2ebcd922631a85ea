"""``models[].estimation`` and the policy trigger on its estimates
(``models[].retrain.when.estimated_performance_below``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from driftwarden.core.config import Strict

__all__ = ["ESTIMATED_METRICS", "EstimatedPerformanceTrigger", "EstimationConfig"]

# The metrics estimated for every classification model (multiclass: macro averages).
ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")

DEFAULT_ESTIMATION_BYTES = 64 * 2**20


class EstimationConfig(Strict):
    window: int | None = Field(default=None, ge=10)
    """Predictions in the estimation window: the most recent by prediction timestamp (ties:
    input partition, prediction offset). Null: the model's `window`. Every `window` new
    predictions the current window is also kept, with its estimate, until its labels have landed
    or expired, and then reconciled with the realized metrics.
    """
    max_bytes: int = Field(default=DEFAULT_ESTIMATION_BYTES, gt=0)
    """Most memory, in bytes, one version's estimation may hold (the window and the windows
    awaiting their labels, each prediction's size estimated once as it arrives); over it, the
    oldest windows awaiting labels are dropped unreconciled
    (`driftwarden_estimation_windows_total{outcome="dropped"}`), then the window shrinks.
    """
    divergence_windows: int = Field(default=3, gt=0)
    """Consecutive reconciled windows whose realized value of some metric fell outside the band
    before an `estimation_diverged` event is published.
    """


class EstimatedPerformanceTrigger(Strict):
    metric: str = "accuracy"
    """An estimated metric: `accuracy`, `precision`, `recall`, `f1` or `roc_auc` (multiclass:
    macro averages)."""
    value: float
    """The floor: a retrain is requested while the estimate is below it."""
    min_predictions: int = Field(default=500, gt=0)
    """Predictions the estimation window needs before the trigger applies."""

    @field_validator("metric")
    @classmethod
    def _estimated(cls, value: str) -> str:
        if value not in ESTIMATED_METRICS:
            raise ValueError(f"{value!r} is not estimated: use one of {list(ESTIMATED_METRICS)}")
        return value
