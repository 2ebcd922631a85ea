"""Event-time join of labels to predictions, bounded, for one model on one input partition.

A label may come before or after its prediction. Each side waits in an insertion-ordered dict;
an item expires once the join's *watermark* passes ``item.timestamp + ttl``. The watermark is the
smaller of the two streams' largest timestamps: a side only gives up on its partner once the other
stream has moved past the time the partner could have had. With time-ordered partitions this makes
the outcome independent of how the two topics interleave in a poll, so a replay after a crash
joins exactly what the first run joined. A pair whose label is more than ``ttl`` after its
prediction counts as expired on both sides whichever arrives first, for the same reason.

``max_pending`` bounds the two dicts together; the oldest item is evicted first.

>>> from monitor.events import Label, Prediction
>>> join = LabelJoin(ttl=60.0, max_pending=10)
>>> label = Label("p-1", "churn", 1, timestamp=30.0)
>>> join.add_label(label, offset=0) is None
True
>>> pred = Prediction("p-1", "churn", "3", 0.0, {}, 1, None)
>>> join.add_prediction(pred, offset=5).label.label
1
>>> join.pending_predictions, join.pending_labels
(0, 0)
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from monitor.events import InvalidEvent, Label, Prediction

__all__ = ["ExpiryResult", "Joined", "LabelJoin"]

DUPLICATE_PREDICTION = "duplicate_prediction"
DUPLICATE_LABEL = "duplicate_label"


@dataclass(frozen=True, slots=True)
class Joined:
    prediction: Prediction
    label: Label
    prediction_offset: int
    label_offset: int

    @property
    def delay(self) -> float:
        return self.label.timestamp - self.prediction.timestamp


@dataclass(slots=True)
class ExpiryResult:
    predictions: int = 0
    labels: int = 0

    def add(self, other: ExpiryResult) -> None:
        self.predictions += other.predictions
        self.labels += other.labels


@dataclass
class LabelJoin:
    ttl: float
    max_pending: int
    predictions: dict[str, tuple[Prediction, int]] = field(default_factory=dict)
    labels: dict[str, tuple[Label, int]] = field(default_factory=dict)
    max_prediction_ts: float = float("-inf")
    max_label_ts: float = float("-inf")
    _deadlines: list[tuple[float, int, str]] = field(default_factory=list)

    @property
    def pending_predictions(self) -> int:
        return len(self.predictions)

    @property
    def pending_labels(self) -> int:
        return len(self.labels)

    @property
    def watermark(self) -> float:
        return min(self.max_prediction_ts, self.max_label_ts)

    def add_prediction(self, pred: Prediction, offset: int) -> Joined | ExpiryResult | None:
        """Join ``pred`` with a waiting label, or hold it.

        Returns the joined pair, an :class:`ExpiryResult` when the pair exists but is too far
        apart, or ``None`` when the prediction now waits.
        """
        key = pred.prediction_id
        if key in self.predictions:
            raise InvalidEvent(DUPLICATE_PREDICTION, f"prediction id {key!r} is already pending")
        self.max_prediction_ts = max(self.max_prediction_ts, pred.timestamp)
        waiting = self.labels.pop(key, None)
        if waiting is not None:
            return self._pair(pred, offset, *waiting)
        self.predictions[key] = (pred, offset)
        self._schedule(pred.timestamp, 0, key)
        return None

    def add_label(self, label: Label, offset: int) -> Joined | ExpiryResult | None:
        key = label.prediction_id
        if key in self.labels:
            raise InvalidEvent(DUPLICATE_LABEL, f"label for {key!r} is already pending")
        self.max_label_ts = max(self.max_label_ts, label.timestamp)
        waiting = self.predictions.pop(key, None)
        if waiting is not None:
            return self._pair(waiting[0], waiting[1], label, offset)
        self.labels[key] = (label, offset)
        self._schedule(label.timestamp, 1, key)
        return None

    def expire(self) -> ExpiryResult:
        """Drop every item whose deadline is behind the watermark."""
        result = ExpiryResult()
        watermark = self.watermark
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] < watermark:
            _, side, key = heapq.heappop(deadlines)
            if side == 0 and self._drop_if_due(self.predictions, key, watermark):
                result.predictions += 1
            elif side == 1 and self._drop_if_due(self.labels, key, watermark):
                result.labels += 1
        return result

    def evict_overflow(self) -> ExpiryResult:
        """Evict the oldest waiting items until at most ``max_pending`` remain."""
        result = ExpiryResult()
        while len(self.predictions) + len(self.labels) > self.max_pending:
            oldest_pred = next(iter(self.predictions.values()), None)
            oldest_label = next(iter(self.labels.values()), None)
            if oldest_label is None or (
                oldest_pred is not None and oldest_pred[0].timestamp <= oldest_label[0].timestamp
            ):
                self.predictions.pop(next(iter(self.predictions)))
                result.predictions += 1
            else:
                self.labels.pop(next(iter(self.labels)))
                result.labels += 1
        if len(self._deadlines) > 2 * (len(self.predictions) + len(self.labels)) + 64:
            self._rebuild_deadlines()
        return result

    def _pair(
        self, pred: Prediction, pred_offset: int, label: Label, label_offset: int
    ) -> Joined | ExpiryResult:
        if label.timestamp - pred.timestamp > self.ttl:
            return ExpiryResult(predictions=1, labels=1)
        return Joined(pred, label, pred_offset, label_offset)

    def _schedule(self, timestamp: float, side: int, key: str) -> None:
        heapq.heappush(self._deadlines, (timestamp + self.ttl, side, key))

    def _drop_if_due(
        self,
        items: dict[str, tuple[Prediction, int]] | dict[str, tuple[Label, int]],
        key: str,
        watermark: float,
    ) -> bool:
        item = items.get(key)
        if item is None or item[0].timestamp + self.ttl >= watermark:
            return False
        del items[key]
        return True

    def _rebuild_deadlines(self) -> None:
        self._deadlines = [(p.timestamp + self.ttl, 0, k) for k, (p, _) in self.predictions.items()]
        self._deadlines += [(lb.timestamp + self.ttl, 1, k) for k, (lb, _) in self.labels.items()]
        heapq.heapify(self._deadlines)
