"""The interface of a model version's online performance, and what every task shares: the count,
the rolling window of held examples and the state document's common fields."""

from __future__ import annotations

import heapq
import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from driftwarden.contracts.inputs import Target
from driftwarden.core.tasks import Task
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

__all__ = ["AUC_BINS", "DEFAULT_MAX_CLASSES", "ExampleKey", "Held", "VersionPerformance"]

DEFAULT_MAX_CLASSES = 100
AUC_BINS = 1000

# Orders joined examples by event time; ties broken by where they were read.
ExampleKey = tuple[float, int, int]
# An example of the rolling window: key, label, prediction, log-loss term and score bin (if
# scored), so that leaving the window needs no recomputation.
Held = tuple[ExampleKey, Any, Any, float | None, int]


class VersionPerformance(ABC):
    """River metrics of one (model, version): each example updates both windows at most once.

    One subclass per :class:`Task`; :meth:`for_task` and :meth:`from_state` choose it."""

    task: ClassVar[Task]
    held_type: ClassVar[type]  # the type of a held label and prediction
    _by_task: ClassVar[dict[Task, type[VersionPerformance]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "task" in cls.__dict__:
            VersionPerformance._by_task[cls.task] = cls

    def __init__(self, window: int, max_classes: int = DEFAULT_MAX_CLASSES) -> None:
        self.window = window
        # Written to the state document whatever the task; multiclass keeps that many classes.
        self.max_classes = max_classes
        self.count = 0
        self._held: list[Held] = []  # the rolling window: a heap, the oldest key first
        self._cumulative: dict[str, Any] = {}
        self._rolling: dict[str, Any] = {}

    @classmethod
    def for_task(
        cls,
        task: Task,
        positive_label: Target | None,
        window: int,
        max_classes: int = DEFAULT_MAX_CLASSES,
    ) -> VersionPerformance:
        """The performance of a new version of a ``task`` model."""
        return cls._by_task[Task(task)].configured(positive_label, window, max_classes)

    @classmethod
    def configured(
        cls, positive_label: Target | None, window: int, max_classes: int
    ) -> VersionPerformance:
        if positive_label is not None:
            raise ValueError(f"positive_label applies only to task 'binary', not {cls.task!r}")
        return cls(window, max_classes)

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
        return self._update(label, prediction, scores, held_key)

    @abstractmethod
    def _update(
        self, label: Target, prediction: Target, scores: dict[str, float] | None, key: ExampleKey
    ) -> bool: ...

    @abstractmethod
    def _add(self, held: Held) -> None:
        """Count ``held`` in the rolling metrics."""

    @abstractmethod
    def _drop(self, held: Held) -> None:
        """Revert ``held`` from the rolling metrics."""

    def values(self) -> dict[tuple[str, str], float]:
        """``{(metric, window): value}`` for every metric of the task (NaN when undefined)."""
        if not self.count:
            return {}
        out: dict[tuple[str, str], float] = {}
        for name, metric in self._cumulative.items():
            out[(name, "cumulative")] = _safe_get(metric)
        for name, metric in self._rolling.items():
            out[(name, "rolling")] = _safe_get(metric)
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

    # -- state encoding (see driftwarden.monitor.codec): river objects as their numbers
    # ------------------

    def _positive(self) -> str | None:
        """The positive class key (binary only)."""
        return None

    def _classes(self) -> list[str]:
        """The classes the confusion matrices keep (multiclass only)."""
        return []

    def _restore_classes(self, classes: list[Any]) -> None:
        if classes:
            raise StateDecodeError(f"performance.classes of a {self.task} version")

    def to_state(self) -> Doc:
        doc: Doc = {
            "task": self.task.value,
            "positive": self._positive(),
            "window": self.window,
            "max_classes": self.max_classes,
            "classes": self._classes(),
            "count": self.count,
            "held": [
                [encode_float(t), part, offset, encode_scalar(y), encode_scalar(p)]
                + [None if loss is None else encode_float(loss), i]
                for (t, part, offset), y, p, loss, i in self._held
            ],
        }
        self._encode_metrics(doc)
        return doc

    @abstractmethod
    def _encode_metrics(self, doc: Doc) -> None:
        """Add the task's metric state to ``doc``."""

    @abstractmethod
    def _restore_metrics(self, doc: Doc) -> None:
        """Restore what :meth:`_encode_metrics` wrote."""

    def restore_state(self, doc: Doc) -> None:
        """Restore the stream's part of ``doc`` into this version, as configured by ``doc``."""
        self._restore_classes(need_list(need(doc, "classes"), "classes"))
        self.count = need_int(need(doc, "count"), "performance.count", 0)
        held = [_decode_held(h, type(self)) for h in need_list(need(doc, "held"), "held")]
        if len({h[0] for h in held}) != len(held):
            raise StateDecodeError("performance.held repeats a key")
        heapq.heapify(held)
        self._held = held
        self._restore_metrics(doc)

    @classmethod
    def from_state(cls, doc: object) -> VersionPerformance:
        doc = need_dict(doc, "performance")
        task = need_str(need(doc, "task"), "performance.task")
        if task not in cls._by_task:
            raise StateDecodeError(f"performance.task {task!r} is not a task")
        kind = cls._by_task[Task(task)]
        positive = need(doc, "positive")
        try:
            perf = kind.configured(
                None if positive is None else need_str(positive, "performance.positive"),
                need_int(need(doc, "window"), "performance.window", 1),
                need_int(need(doc, "max_classes"), "performance.max_classes", 0),
            )
        except StateDecodeError:
            raise
        except ValueError as exc:
            raise StateDecodeError(f"performance: {exc}") from exc
        perf.restore_state(doc)
        return perf


def _decode_held(doc: object, kind: type[VersionPerformance]) -> Held:
    t, part, offset, y, p, loss, index = need_list(doc, "held example", 7)
    key = (need_float(t, "held key"), need_int(part, "held key"), need_int(offset, "held key"))
    label, prediction = decode_scalar(y, "held label"), decode_scalar(p, "held prediction")
    if not (isinstance(label, kind.held_type) and isinstance(prediction, kind.held_type)):
        raise StateDecodeError(f"a held {kind.task} example holds a value of another type")
    loss_term = None if loss is None else need_float(loss, "held loss")
    score_bin = need_int(index, "held score bin", -1 if loss_term is None else 0, AUC_BINS - 1)
    return key, label, prediction, loss_term, score_bin


def _safe_get(metric: Any) -> float:
    try:
        return float(metric.get())
    except ZeroDivisionError:
        return math.nan
