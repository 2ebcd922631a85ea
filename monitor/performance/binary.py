"""Binary classification: accuracy, precision, recall and F1 of the positive class, and, from
the positive class's score, log loss and ROC AUC."""

from __future__ import annotations

import math

from river import metrics, stats

from driftwarden.contracts.inputs import Target
from driftwarden.core.tasks import Task, class_key
from driftwarden.monitor import river_state
from driftwarden.monitor.codec import Doc, need, need_int
from driftwarden.monitor.performance.base import (
    DEFAULT_MAX_CLASSES,
    ExampleKey,
    Held,
    VersionPerformance,
)
from driftwarden.monitor.performance.classification import ClassificationPerformance
from driftwarden.monitor.performance.roc_auc import BinnedROCAUC, score_bin

__all__ = ["BinaryPerformance"]


class BinaryPerformance(ClassificationPerformance):
    """Labels and predictions count as the positive class or not; scores are optional."""

    task = Task.BINARY
    held_type = bool

    def __init__(
        self, positive: str | None, window: int, max_classes: int = DEFAULT_MAX_CLASSES
    ) -> None:
        super().__init__(window, max_classes)
        self.positive = positive
        cm = self._cm, self._rolling_cm
        self._cumulative, self._rolling = (
            {
                "accuracy": metrics.Accuracy(cm=m),
                "precision": metrics.Precision(cm=m),
                "recall": metrics.Recall(cm=m),
                "f1": metrics.F1(cm=m),
            }
            for m in cm
        )
        # Means of river's LogLoss terms, each computed once per example.
        self._log_loss = stats.Mean()
        self._rolling_log_loss = stats.Mean()
        self._auc = BinnedROCAUC()
        self._rolling_auc = BinnedROCAUC()
        self._scored = 0
        self._rolling_scored = 0

    @classmethod
    def configured(
        cls, positive_label: Target | None, window: int, max_classes: int
    ) -> VersionPerformance:
        positive = None if positive_label is None else class_key(positive_label)
        return cls(positive, window, max_classes)

    def _update(
        self, label: Target, prediction: Target, scores: dict[str, float] | None, key: ExampleKey
    ) -> bool:
        y_key, p_key = class_key(label), class_key(prediction)
        y_bool, p_bool = y_key == self.positive, p_key == self.positive
        proba = _positive_score(scores, self.positive)
        self._cm.update(y_bool, p_bool)
        if proba is None:
            self._hold((key, y_bool, p_bool, None, -1))
        else:
            self._scored += 1
            loss, index = _log_loss_term(y_bool, proba), score_bin(proba)
            self._log_loss.update(loss)
            self._auc.add(y_bool, index, 1)
            self._hold((key, y_bool, p_bool, loss, index))
        return y_key == p_key

    def _add(self, held: Held) -> None:
        super()._add(held)
        _, y, _, loss, index = held
        if loss is not None:
            self._rolling_scored += 1
            self._rolling_log_loss.update(loss)
            self._rolling_auc.add(y, index, 1)

    def _drop(self, held: Held) -> None:
        super()._drop(held)
        _, y, _, loss, index = held
        if loss is not None:
            self._rolling_scored -= 1
            self._rolling_log_loss.revert(loss)
            self._rolling_auc.add(y, index, -1)

    def values(self) -> dict[tuple[str, str], float]:
        out = super().values()
        if self.count and self._scored:
            out[("log_loss", "cumulative")] = self._log_loss.get()
            out[("roc_auc", "cumulative")] = self._auc.get()
            out[("roc_auc", "rolling")] = self._rolling_auc.get()
            if self._rolling_scored:
                out[("log_loss", "rolling")] = self._rolling_log_loss.get()
        return out

    def _positive(self) -> str | None:
        return self.positive

    def _encode_metrics(self, doc: Doc) -> None:
        super()._encode_metrics(doc)
        doc["log_loss"] = river_state.encode(self._log_loss)
        doc["rolling_log_loss"] = river_state.encode(self._rolling_log_loss)
        doc["auc"], doc["rolling_auc"] = self._auc.to_state(), self._rolling_auc.to_state()
        doc["scored"], doc["rolling_scored"] = self._scored, self._rolling_scored

    def _restore_metrics(self, doc: Doc) -> None:
        super()._restore_metrics(doc)
        river_state.restore(self._log_loss, need(doc, "log_loss"))
        river_state.restore(self._rolling_log_loss, need(doc, "rolling_log_loss"))
        self._auc = BinnedROCAUC.from_state(need(doc, "auc"))
        self._rolling_auc = BinnedROCAUC.from_state(need(doc, "rolling_auc"))
        self._scored = need_int(need(doc, "scored"), "scored", 0)
        self._rolling_scored = need_int(need(doc, "rolling_scored"), "rolling_scored", 0)


def _log_loss_term(is_positive: bool, score: float) -> float:
    """One example's log loss, as river's ``LogLoss`` computes it (score clamped off 0 and 1)."""
    score = min(max(score, 1e-15), 1 - 1e-15)
    return -math.log(score) if is_positive else -math.log(1 - score)


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
