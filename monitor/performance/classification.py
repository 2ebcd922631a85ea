"""What the binary and multiclass tasks share: confusion matrices, cumulative and rolling."""

from __future__ import annotations

from river import metrics

from driftwarden.monitor import river_state
from driftwarden.monitor.codec import Doc, need
from driftwarden.monitor.performance.base import DEFAULT_MAX_CLASSES, Held, VersionPerformance

__all__ = ["ClassificationPerformance"]


class ClassificationPerformance(VersionPerformance):
    """Metrics over a confusion matrix of each window; the task chooses which."""

    def __init__(self, window: int, max_classes: int = DEFAULT_MAX_CLASSES) -> None:
        super().__init__(window, max_classes)
        self._cm = metrics.ConfusionMatrix()
        self._rolling_cm = metrics.ConfusionMatrix()

    def _add(self, held: Held) -> None:
        self._rolling_cm.update(held[1], held[2])

    def _drop(self, held: Held) -> None:
        self._rolling_cm.revert(held[1], held[2])

    def _encode_metrics(self, doc: Doc) -> None:
        doc["cm"] = river_state.encode_confusion(self._cm)
        doc["rolling_cm"] = river_state.encode_confusion(self._rolling_cm)

    def _restore_metrics(self, doc: Doc) -> None:
        river_state.restore_confusion(self._cm, need(doc, "cm"))
        river_state.restore_confusion(self._rolling_cm, need(doc, "rolling_cm"))
