"""Multiclass classification: accuracy and macro F1 over at most ``max_classes`` classes."""

from __future__ import annotations

from typing import Any

from river import metrics

from driftwarden.contracts.inputs import Target
from driftwarden.core.tasks import Task, class_key
from driftwarden.monitor.codec import need_str
from driftwarden.monitor.performance.base import DEFAULT_MAX_CLASSES, ExampleKey
from driftwarden.monitor.performance.classification import ClassificationPerformance

__all__ = ["OTHER_CLASS", "OTHER_MISMATCH", "MulticlassPerformance"]

OTHER_CLASS = "__other__"
OTHER_MISMATCH = "__other_mismatch__"


class MulticlassPerformance(ClassificationPerformance):
    """The confusion matrices keep the first ``max_classes`` classes seen; the metrics count any
    other class as ``OTHER_CLASS`` (a prediction of another such class that differs from the
    label as ``OTHER_MISMATCH``, so accuracy stays exact)."""

    task = Task.MULTICLASS
    held_type = str

    def __init__(self, window: int, max_classes: int = DEFAULT_MAX_CLASSES) -> None:
        super().__init__(window, max_classes)
        self._kept_classes: set[str] = set()
        self._cumulative, self._rolling = (
            {"accuracy": metrics.Accuracy(cm=m), "macro_f1": metrics.MacroF1(cm=m)}
            for m in (self._cm, self._rolling_cm)
        )

    def _update(
        self, label: Target, prediction: Target, scores: dict[str, float] | None, key: ExampleKey
    ) -> bool:
        y_key, p_key = class_key(label), class_key(prediction)
        y_class, p_class = self._kept(y_key), self._kept(p_key)
        if y_class == p_class == OTHER_CLASS and y_key != p_key:
            p_class = OTHER_MISMATCH
        self._cm.update(y_class, p_class)
        self._hold((key, y_class, p_class, None, -1))
        return y_key == p_key

    def _kept(self, key: str) -> str:
        """``key`` if the matrices keep its class (or can take one more), else OTHER_CLASS."""
        if key in self._kept_classes:
            return key
        if len(self._kept_classes) < self.max_classes:
            self._kept_classes.add(key)
            return key
        return OTHER_CLASS

    def _classes(self) -> list[str]:
        return sorted(self._kept_classes)

    def _restore_classes(self, classes: list[Any]) -> None:
        self._kept_classes = {need_str(c, "class") for c in classes}
