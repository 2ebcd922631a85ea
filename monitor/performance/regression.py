"""Regression: mean absolute error, root mean squared error and R²."""

from __future__ import annotations

from typing import Any

from river import metrics

from driftwarden.contracts.inputs import Target
from driftwarden.core.tasks import Task
from driftwarden.monitor import river_state
from driftwarden.monitor.codec import Doc, need
from driftwarden.monitor.performance.base import (
    DEFAULT_MAX_CLASSES,
    ExampleKey,
    Held,
    VersionPerformance,
)

__all__ = ["RegressionPerformance"]


class RegressionPerformance(VersionPerformance):
    """Labels and predictions are numbers; nothing is ever "correct"."""

    task = Task.REGRESSION
    held_type = float

    def __init__(self, window: int, max_classes: int = DEFAULT_MAX_CLASSES) -> None:
        super().__init__(window, max_classes)
        self._cumulative, self._rolling = _metrics(), _metrics()

    def _update(
        self, label: Target, prediction: Target, scores: dict[str, float] | None, key: ExampleKey
    ) -> bool:
        y, p = float(label), float(prediction)
        for metric in self._cumulative.values():
            metric.update(y, p)
        self._hold((key, y, p, None, -1))
        return False

    def _add(self, held: Held) -> None:
        for metric in self._rolling.values():
            metric.update(held[1], held[2])

    def _drop(self, held: Held) -> None:
        for metric in self._rolling.values():
            metric.revert(held[1], held[2])

    def _encode_metrics(self, doc: Doc) -> None:
        doc["cumulative"] = {n: river_state.encode(m) for n, m in self._cumulative.items()}
        doc["rolling"] = {n: river_state.encode(m) for n, m in self._rolling.items()}

    def _restore_metrics(self, doc: Doc) -> None:
        for name in self._cumulative:
            river_state.restore(self._cumulative[name], need(need(doc, "cumulative"), name))
            river_state.restore(self._rolling[name], need(need(doc, "rolling"), name))


def _metrics() -> dict[str, Any]:
    return {"mae": metrics.MAE(), "rmse": metrics.RMSE(), "r2": metrics.R2()}
