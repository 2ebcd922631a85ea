"""Online performance of one model version, cumulative and over a rolling window, with river.

The rolling window holds the ``window`` most recent joined examples by an event-time key, by
default the order of arrival; the monitor passes ``(label timestamp, partition, label offset)``.
An example older than every example of a full window leaves it unchanged; a newer one displaces
the oldest, which is reverted from the rolling metrics. So once every example has arrived, the
window (and each rolling value, up to float summation order) is the same whatever order the
partitions were interleaved in, as cumulative values are.

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

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from river import metrics, stats

from driftwarden.contracts.inputs import Target
from driftwarden.core.tasks import METRICS_BY_TASK, class_key
from driftwarden.monitor import river_state
from driftwarden.monitor.codec import (
    Doc,
    StateDecodeError,
    decode_scalar,
    encode_float,
    encode_scalar,
    need,
    need_dict,
    need_float,
    need_int,
    need_list,
    need_str,
)

__all__ = [
    "OTHER_CLASS",
    "OTHER_MISMATCH",
    "ExampleKey",
    "VersionPerformance",
    "class_key",
]

OTHER_CLASS = "__other__"
OTHER_MISMATCH = "__other_mismatch__"
DEFAULT_MAX_CLASSES = 100

# Orders joined examples by event time; ties broken by where they were read.
ExampleKey = tuple[float, int, int]
# An example of the rolling window: key, label, prediction, log-loss term and score bin (if
# scored), so that leaving the window needs no recomputation.
Held = tuple[ExampleKey, Any, Any, float | None, int]

_AUC_BINS = 1000


@dataclass
class BinnedROCAUC:
    """ROC AUC from score histograms (Mann-Whitney over 1000 bins, ties counted half).

    River's ``ROCAUC`` is also threshold-binned, with 10 thresholds and a Python loop per update;
    this keeps 1000 bins at O(1) per example, and an example leaves as cheaply as it came (the
    rolling window), so the value depends only on which examples are counted.
    """

    positives: list[int] = field(default_factory=lambda: [0] * _AUC_BINS)
    negatives: list[int] = field(default_factory=lambda: [0] * _AUC_BINS)

    def update(self, is_positive: bool, score: float) -> None:
        (self.positives if is_positive else self.negatives)[_bin(score)] += 1

    def add(self, is_positive: bool, index: int, count: int) -> None:
        """Add ``count`` (negative: remove) examples to score bin ``index``."""
        (self.positives if is_positive else self.negatives)[index] += count

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

    # -- state encoding (see driftwarden.monitor.codec)
    # --------------------------------------------------

    def to_state(self) -> Doc:
        return {"positives": self.positives, "negatives": self.negatives}

    @classmethod
    def from_state(cls, doc: object) -> BinnedROCAUC:
        doc = need_dict(doc, "roc auc")
        counts = [
            need_list(need(doc, side), "roc auc", _AUC_BINS) for side in ("positives", "negatives")
        ]
        return cls(*([need_int(c, "roc auc count") for c in side] for side in counts))


class VersionPerformance:
    """River metrics of one (model, version): each example updates both windows at most once."""

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
        self._held: list[Held] = []  # the rolling window: a heap, the oldest key first
        if task == "regression":
            self._cumulative: dict[str, Any] = _regression_metrics()
            self._rolling: dict[str, Any] = _regression_metrics()
        else:
            self._cm = metrics.ConfusionMatrix()
            self._rolling_cm = metrics.ConfusionMatrix()
            self._cumulative = _classification_metrics(task, self._cm)
            self._rolling = _classification_metrics(task, self._rolling_cm)
            if task == "binary":
                # Means of river's LogLoss terms, each computed once per example.
                self._log_loss = stats.Mean()
                self._rolling_log_loss = stats.Mean()
                self._auc = BinnedROCAUC()
                self._rolling_auc = BinnedROCAUC()
                self._scored = 0
                self._rolling_scored = 0

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

    def update(
        self,
        label: Target,
        prediction: Target,
        scores: dict[str, float] | None,
        key: ExampleKey | None = None,
    ) -> bool:
        """Apply one joined example; return whether a classification was correct.

        ``key`` places the example in the rolling window (default: after every earlier one).
        """
        self.count += 1
        held_key = key if key is not None else (float(self.count), 0, 0)
        if self.task == "regression":
            y, p = float(label), float(prediction)
            for metric in self._cumulative.values():
                metric.update(y, p)
            self._hold((held_key, y, p, None, -1))
            return False
        y_key, p_key = class_key(label), class_key(prediction)
        if self.task == "binary":
            y_bool, p_bool = y_key == self.positive, p_key == self.positive
            proba = _positive_score(scores, self.positive)
            self._cm.update(y_bool, p_bool)
            if proba is None:
                self._hold((held_key, y_bool, p_bool, None, -1))
            else:
                self._scored += 1
                loss, index = _log_loss_term(y_bool, proba), _bin(proba)
                self._log_loss.update(loss)
                self._auc.add(y_bool, index, 1)
                self._hold((held_key, y_bool, p_bool, loss, index))
        else:
            y_class, p_class = self._kept(y_key), self._kept(p_key)
            if y_class == p_class == OTHER_CLASS and y_key != p_key:
                p_class = OTHER_MISMATCH
            self._cm.update(y_class, p_class)
            self._hold((held_key, y_class, p_class, None, -1))
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
            out[("roc_auc", "rolling")] = self._rolling_auc.get()
            if self._rolling_scored:
                out[("log_loss", "rolling")] = self._rolling_log_loss.get()
        return out

    def rolling_keys(self) -> list[ExampleKey]:
        """Keys of the examples in the rolling window, oldest first."""
        return sorted(held[0] for held in self._held)

    def _hold(self, held: Held) -> None:
        """Put the example in the rolling window unless it is older than all of a full one."""
        window = self._held
        if len(window) < self.window:
            heapq.heappush(window, held)
            self._add(held)
        elif held[0] > window[0][0]:
            oldest = heapq.heapreplace(window, held)
            self._add(held)
            self._drop(oldest)

    def _add(self, held: Held) -> None:
        _, y, p, loss, index = held
        if self.task == "regression":
            for metric in self._rolling.values():
                metric.update(y, p)
            return
        self._rolling_cm.update(y, p)
        if loss is not None:
            self._rolling_scored += 1
            self._rolling_log_loss.update(loss)
            self._rolling_auc.add(y, index, 1)

    def _drop(self, held: Held) -> None:
        _, y, p, loss, index = held
        if self.task == "regression":
            for metric in self._rolling.values():
                metric.revert(y, p)
            return
        self._rolling_cm.revert(y, p)
        if loss is not None:
            self._rolling_scored -= 1
            self._rolling_log_loss.revert(loss)
            self._rolling_auc.add(y, index, -1)

    # -- state encoding (see driftwarden.monitor.codec): river objects as their numbers
    # ------------------

    def to_state(self) -> Doc:
        doc: Doc = {
            "task": self.task,
            "positive": self.positive,
            "window": self.window,
            "max_classes": self.max_classes,
            "classes": sorted(self._classes),
            "count": self.count,
            "held": [
                [encode_float(t), part, offset, encode_scalar(y), encode_scalar(p)]
                + [None if loss is None else encode_float(loss), i]
                for (t, part, offset), y, p, loss, i in self._held
            ],
        }
        if self.task == "regression":
            doc["cumulative"] = {n: river_state.encode(m) for n, m in self._cumulative.items()}
            doc["rolling"] = {n: river_state.encode(m) for n, m in self._rolling.items()}
            return doc
        doc["cm"] = river_state.encode_confusion(self._cm)
        doc["rolling_cm"] = river_state.encode_confusion(self._rolling_cm)
        if self.task == "binary":
            doc["log_loss"] = river_state.encode(self._log_loss)
            doc["rolling_log_loss"] = river_state.encode(self._rolling_log_loss)
            doc["auc"], doc["rolling_auc"] = self._auc.to_state(), self._rolling_auc.to_state()
            doc["scored"], doc["rolling_scored"] = self._scored, self._rolling_scored
        return doc

    @classmethod
    def from_state(cls, doc: object) -> VersionPerformance:
        doc = need_dict(doc, "performance")
        task = need_str(need(doc, "task"), "performance.task")
        if task not in METRICS_BY_TASK:
            raise StateDecodeError(f"performance.task {task!r} is not a task")
        positive = need(doc, "positive")
        perf = cls(
            task,
            None if positive is None else need_str(positive, "performance.positive"),
            need_int(need(doc, "window"), "performance.window", 1),
            need_int(need(doc, "max_classes"), "performance.max_classes", 0),
        )
        perf._classes = {need_str(c, "class") for c in need_list(need(doc, "classes"), "classes")}
        perf.count = need_int(need(doc, "count"), "performance.count", 0)
        perf._held = [_decode_held(held, task) for held in need_list(need(doc, "held"), "held")]
        if len({held[0] for held in perf._held}) != len(perf._held):
            raise StateDecodeError("performance.held repeats a key")
        heapq.heapify(perf._held)
        if task == "regression":
            for name in perf._cumulative:
                river_state.restore(perf._cumulative[name], need(need(doc, "cumulative"), name))
                river_state.restore(perf._rolling[name], need(need(doc, "rolling"), name))
            return perf
        river_state.restore_confusion(perf._cm, need(doc, "cm"))
        river_state.restore_confusion(perf._rolling_cm, need(doc, "rolling_cm"))
        if task == "binary":
            river_state.restore(perf._log_loss, need(doc, "log_loss"))
            river_state.restore(perf._rolling_log_loss, need(doc, "rolling_log_loss"))
            perf._auc = BinnedROCAUC.from_state(need(doc, "auc"))
            perf._rolling_auc = BinnedROCAUC.from_state(need(doc, "rolling_auc"))
            perf._scored = need_int(need(doc, "scored"), "scored", 0)
            perf._rolling_scored = need_int(need(doc, "rolling_scored"), "rolling_scored", 0)
        return perf


_HELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "binary": bool,
    "multiclass": str,
    "regression": float,
}


def _decode_held(doc: object, task: str) -> Held:
    t, part, offset, y, p, loss, index = need_list(doc, "held example", 7)
    key = (need_float(t, "held key"), need_int(part, "held key"), need_int(offset, "held key"))
    label, prediction = decode_scalar(y, "held label"), decode_scalar(p, "held prediction")
    if not (isinstance(label, _HELD_TYPES[task]) and isinstance(prediction, _HELD_TYPES[task])):
        raise StateDecodeError(f"a held {task} example holds a value of another type")
    loss_term = None if loss is None else need_float(loss, "held loss")
    score_bin = need_int(index, "held score bin", -1 if loss_term is None else 0, _AUC_BINS - 1)
    return key, label, prediction, loss_term, score_bin


def _bin(score: float) -> int:
    return min(max(int(score * _AUC_BINS), 0), _AUC_BINS - 1)


def _log_loss_term(is_positive: bool, score: float) -> float:
    """One example's log loss, as river's ``LogLoss`` computes it (score clamped off 0 and 1)."""
    score = min(max(score, 1e-15), 1 - 1e-15)
    return -math.log(score) if is_positive else -math.log(1 - score)


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
