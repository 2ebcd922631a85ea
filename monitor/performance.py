"""Online performance of one model version, cumulative and over a rolling window, with river.

Classification targets are compared by a canonical key (``1``, ``1.0``, ``True`` and ``"1"`` are
one class) so that a label and a prediction serialized differently still agree. Class values come
from the events, so a multiclass version's confusion matrices keep at most ``max_classes``
classes, the first seen; the metrics count any other class as ``OTHER_CLASS`` (a prediction of
another such class that differs from the label as ``OTHER_MISMATCH``, so accuracy stays exact).

>>> perf = VersionPerformance.for_task("binary", positive_label=1, window=2)
>>> [perf.update(y, p, {"1": s, "0": 1 - s}) for y, p, s in [(1, 1, .9), (0, 1, .6), (0, 0, .2)]]
[True, False, True]
>>> values = perf.values()
>>> values[("accuracy", "cumulative")], values[("accuracy", "rolling")]
(0.666..., 0.5)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from river import metrics

from monitor.events import Target
from retrain.targets import class_key

__all__ = ["METRICS_BY_TASK", "OTHER_CLASS", "OTHER_MISMATCH", "VersionPerformance", "class_key"]

METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc"),
    "multiclass": ("accuracy", "macro_f1"),
    "regression": ("mae", "rmse", "r2"),
}
_AUC_BINS = 1000
OTHER_CLASS = "__other__"
OTHER_MISMATCH = "__other_mismatch__"
DEFAULT_MAX_CLASSES = 100


@dataclass
class BinnedROCAUC:
    """Cumulative ROC AUC from score histograms (Mann-Whitney over 1000 bins, ties counted half).

    River's ``ROCAUC`` is also threshold-binned, with 10 thresholds and a Python loop per update;
    this keeps 1000 bins at O(1) per example.
    """

    positives: list[int] = field(default_factory=lambda: [0] * _AUC_BINS)
    negatives: list[int] = field(default_factory=lambda: [0] * _AUC_BINS)

    def update(self, is_positive: bool, score: float) -> None:
        index = min(max(int(score * _AUC_BINS), 0), _AUC_BINS - 1)
        (self.positives if is_positive else self.negatives)[index] += 1

    def get(self) -> float:
        n_pos, n_neg = sum(self.positives), sum(self.negatives)
        if not n_pos or not n_neg:
            return math.nan
        below = 0
        area = 0.0
        for pos, neg in zip(self.positives, self.negatives, strict=True):
            area += pos * (below + neg / 2)
            below += neg
        return area / (n_pos * n_neg)


class VersionPerformance:
    """River metrics of one (model, version): each example updates both windows once."""

    def __init__(
        self,
        task: str,
        positive_label: str | None,
        window: int,
        max_classes: int = DEFAULT_MAX_CLASSES,
    ) -> None:
        self.task = task
        self.positive = positive_label
        self.window = window
        self.max_classes = max_classes
        self._classes: set[str] = set()  # multiclass: the classes the matrices keep
        self.count = 0
        self._recent: deque[tuple[Any, Any, float | None]] = deque()
        if task == "regression":
            self._cumulative: dict[str, Any] = _regression_metrics()
            self._rolling: dict[str, Any] = _regression_metrics()
        else:
            self._cm = metrics.ConfusionMatrix()
            self._rolling_cm = metrics.ConfusionMatrix()
            self._cumulative = _classification_metrics(task, self._cm)
            self._rolling = _classification_metrics(task, self._rolling_cm)
            if task == "binary":
                self._log_loss = metrics.LogLoss()
                self._rolling_log_loss = metrics.LogLoss()
                self._auc = BinnedROCAUC()
                self._rolling_auc = metrics.RollingROCAUC(window_size=window)
                self._scored = 0
                self._rolling_scored = 0

    def __setstate__(self, saved: dict[str, Any]) -> None:
        """Restore checkpoints written before ``max_classes`` existed."""
        self.__dict__.update(saved)
        if "_classes" not in saved:
            self.max_classes = DEFAULT_MAX_CLASSES
            self._classes = set(self._cm.classes) if self.task == "multiclass" else set()

    @classmethod
    def for_task(
        cls,
        task: str,
        positive_label: Target | None,
        window: int,
        max_classes: int = DEFAULT_MAX_CLASSES,
    ) -> VersionPerformance:
        positive = None if positive_label is None else class_key(positive_label)
        return cls(task, positive, window, max_classes)

    def update(self, label: Target, prediction: Target, scores: dict[str, float] | None) -> bool:
        """Apply one joined example; return whether a classification was correct."""
        self.count += 1
        if self.task == "regression":
            y, p = float(label), float(prediction)
            self._push(y, p, None, self._cumulative, self._rolling)
            return False
        y_key, p_key = class_key(label), class_key(prediction)
        if self.task == "binary":
            y_bool, p_bool = y_key == self.positive, p_key == self.positive
            proba = _positive_score(scores, self.positive)
            self._cm.update(y_bool, p_bool)
            self._rolling_cm.update(y_bool, p_bool)
            if proba is not None:
                self._scored += 1
                self._rolling_scored += 1
                self._log_loss.update(y_bool, proba)
                self._rolling_log_loss.update(y_bool, proba)
                self._auc.update(y_bool, proba)
                self._rolling_auc.update(y_bool, proba)
            self._remember(y_bool, p_bool, proba)
        else:
            y_class, p_class = self._kept(y_key), self._kept(p_key)
            if y_class == p_class == OTHER_CLASS and y_key != p_key:
                p_class = OTHER_MISMATCH
            self._cm.update(y_class, p_class)
            self._rolling_cm.update(y_class, p_class)
            self._remember(y_class, p_class, None)
        return y_key == p_key

    def _kept(self, key: str) -> str:
        """``key`` if the matrices keep its class (or can take one more), else OTHER_CLASS."""
        if key in self._classes:
            return key
        if len(self._classes) < self.max_classes:
            self._classes.add(key)
            return key
        return OTHER_CLASS

    def values(self) -> dict[tuple[str, str], float]:
        """``{(metric, window): value}`` for every metric of the task (NaN when undefined)."""
        if not self.count:
            return {}
        out: dict[tuple[str, str], float] = {}
        for name, metric in self._cumulative.items():
            out[(name, "cumulative")] = _safe_get(metric)
        for name, metric in self._rolling.items():
            out[(name, "rolling")] = _safe_get(metric)
        if self.task == "binary" and self._scored:
            out[("log_loss", "cumulative")] = self._log_loss.get()
            out[("roc_auc", "cumulative")] = self._auc.get()
            out[("roc_auc", "rolling")] = _safe_get(self._rolling_auc)
            if self._rolling_scored:
                out[("log_loss", "rolling")] = self._rolling_log_loss.get()
        return out

    def _push(
        self,
        y: Any,
        p: Any,
        proba: float | None,
        cumulative: dict[str, Any],
        rolling: dict[str, Any],
    ) -> None:
        for metric in cumulative.values():
            metric.update(y, p)
        for metric in rolling.values():
            metric.update(y, p)
        self._recent.append((y, p, proba))
        if len(self._recent) > self.window:
            old_y, old_p, _ = self._recent.popleft()
            for metric in rolling.values():
                metric.revert(old_y, old_p)

    def _remember(self, y: Any, p: Any, proba: float | None) -> None:
        self._recent.append((y, p, proba))
        if len(self._recent) <= self.window:
            return
        old_y, old_p, old_proba = self._recent.popleft()
        self._rolling_cm.revert(old_y, old_p)
        if old_proba is not None:
            self._rolling_scored -= 1
            self._rolling_log_loss.revert(old_y, old_proba)


def _classification_metrics(task: str, cm: metrics.ConfusionMatrix) -> dict[str, Any]:
    if task == "binary":
        return {
            "accuracy": metrics.Accuracy(cm=cm),
            "precision": metrics.Precision(cm=cm),
            "recall": metrics.Recall(cm=cm),
            "f1": metrics.F1(cm=cm),
        }
    return {"accuracy": metrics.Accuracy(cm=cm), "macro_f1": metrics.MacroF1(cm=cm)}


def _regression_metrics() -> dict[str, Any]:
    return {"mae": metrics.MAE(), "rmse": metrics.RMSE(), "r2": metrics.R2()}


def _positive_score(scores: dict[str, float] | None, positive: str | None) -> float | None:
    if not scores or positive is None:
        return None
    value = scores.get(positive)
    if value is not None:
        return min(max(float(value), 0.0), 1.0)
    for cls, value in scores.items():
        if class_key(cls) == positive:
            return min(max(float(value), 0.0), 1.0)
    return None


def _safe_get(metric: Any) -> float:
    try:
        return float(metric.get())
    except ZeroDivisionError:
        return math.nan
