"""Event-time join of labels to predictions, bounded, for one model on one input partition.

A label may come before or after its prediction. The rules depend only on the order of each
topic's own partition, never on how a poll interleaves the two topics, so a replay after a crash
(or another instance taking the partition over) joins exactly what the first run joined:

* a waiting item expires once the *other* stream has passed its ``timestamp + ttl``. If the
  other stream goes quiet, items wait until ``max_pending`` evicts them;
* so a prediction at ``t`` can be joined only by a label that arrives before the label stream
  has passed ``t + ttl``, and a label at ``u`` only by a prediction that arrives before the
  prediction stream has passed ``u + ttl``. Each item remembers how far its own stream had got
  when it arrived (``stream_time``): when a pair meets, a side whose deadline the other stream
  had already passed counts as expired, exactly as if a sweep had removed it before its partner
  came, and the other side waits on as if it had found nothing;
* a pair whose label is more than ``ttl`` after its prediction is expired on both sides.

``max_pending`` bounds the two sides together, and ``max_pending_bytes`` their estimated memory
(:func:`~driftwarden.monitor.bounds.footprint`, computed once per item as it arrives). Overflow
evicts
from the fuller side (by count, or by bytes when only the byte budget is exceeded: a label storm
evicts labels, a prediction flood predictions), the earliest arrival first.

Each side also remembers the ids of its last ``max_pending`` arrivals, whatever became of them
(joined, expired, evicted or waiting): a second prediction (label) with a remembered or waiting
id is a duplicate, rejected with :class:`InvalidEvent`, never joined or counted twice. The memory
depends only on the order of the side's own stream, so a replay rejects the same duplicates.

>>> from driftwarden.contracts.inputs import Label, Prediction
>>> join = LabelJoin(ttl=60.0, max_pending=10)
>>> join.add_label(Label("p-1", "churn", 1, timestamp=30.0), offset=0) is None
True
>>> join.add_prediction(Prediction("p-1", "churn", "3", 0.0, {}, 1, None), offset=5).label.label
1
>>> join.pending_predictions, join.pending_labels
(0, 0)
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

from driftwarden.config.model import DEFAULT_MAX_PENDING_BYTES
from driftwarden.contracts.errors import InvalidEvent
from driftwarden.contracts.inputs import Label, Prediction
from driftwarden.monitor.bounds import footprint
from driftwarden.monitor.codec import (
    Doc,
    StateDecodeError,
    encode_float,
    need,
    need_dict,
    need_float,
    need_int,
    need_list,
    need_str,
)
from driftwarden.monitor.event_state import (
    label_from_state,
    label_to_state,
    prediction_from_state,
    prediction_to_state,
)

__all__ = ["ExpiryResult", "Joined", "LabelJoin", "Waiting"]


DUPLICATE_PREDICTION = "duplicate_prediction"
DUPLICATE_LABEL = "duplicate_label"

Item = TypeVar("Item", Prediction, Label)


class Waiting(NamedTuple, Generic[Item]):
    event: Item
    offset: int
    stream_time: float  # the largest timestamp of the item's own stream before it arrived
    size: int  # footprint(event): computed by arriving(), never read from elsewhere

    @classmethod
    def arriving(cls, event: Item, offset: int, stream_time: float) -> Waiting[Item]:
        return cls(event, offset, stream_time, footprint(event))


class Joined(NamedTuple):
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
class _Side(Generic[Item]):
    """Waiting items of one stream, with the stream's event time and their deadlines.

    Every change to ``items`` goes through :meth:`hold`, :meth:`take`, :meth:`expire` and
    :meth:`evict_oldest`, which keep ``bytes`` the sum of the held items' sizes.
    """

    items: dict[str, Waiting[Item]] = field(default_factory=dict)
    bytes: int = 0
    stream_time: float = float("-inf")
    deadlines: list[tuple[float, str]] = field(default_factory=list)
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)  # recent ids, oldest first

    def arrive(self, key: str, remember: int, what: str, reason: str) -> None:
        """Remember ``key``; raise :class:`InvalidEvent` if it is waiting or remembered."""
        if key in self.items or key in self.seen:
            raise InvalidEvent(reason, f"{what} {key!r} was already received")
        self.seen[key] = None
        if len(self.seen) > remember:
            self.seen.popitem(last=False)

    def hold(self, key: str, waiting: Waiting[Item], ttl: float) -> None:
        self.put(key, waiting)
        heapq.heappush(self.deadlines, (waiting.event.timestamp + ttl, key))

    def take(self, key: str) -> Waiting[Item] | None:
        """Remove and return the item waiting under ``key``, if any."""
        item = self.items.pop(key, None)
        if item is not None:
            self.bytes -= item.size
        return item

    def expire(self, other_stream_time: float, ttl: float) -> int:
        expired = 0
        while self.deadlines and self.deadlines[0][0] < other_stream_time:
            _, key = heapq.heappop(self.deadlines)
            item = self.items.get(key)
            if item is not None and item.event.timestamp + ttl < other_stream_time:
                self.take(key)
                expired += 1
        return expired

    def put(self, key: str, waiting: Waiting[Item]) -> None:
        """Hold ``waiting`` under ``key`` (its deadline is the caller's business)."""
        self.items[key] = waiting
        self.bytes += waiting.size

    def evict_oldest(self) -> None:
        self.take(next(iter(self.items)))

    def compact(self, ttl: float) -> None:
        if len(self.deadlines) > 2 * len(self.items) + 64:
            self.deadlines = [(w.event.timestamp + ttl, k) for k, w in self.items.items()]
            heapq.heapify(self.deadlines)

    # -- state encoding (see driftwarden.monitor.codec)
    # --------------------------------------------------

    def to_state(self, event: Callable[[Item], object]) -> Doc:
        return {
            "items": [
                [event(w.event), w.offset, encode_float(w.stream_time)] for w in self.items.values()
            ],
            "stream_time": encode_float(self.stream_time),
            "deadlines": [[encode_float(at), key] for at, key in self.deadlines],
            "seen": list(self.seen),
        }

    @classmethod
    def from_state(cls, doc: object, event: Callable[[object], Item], what: str) -> _Side[Item]:
        """Held items go through :meth:`put`, in their order of arrival."""
        doc = need_dict(doc, what)
        side: _Side[Item] = cls(stream_time=need_float(need(doc, "stream_time"), what))
        for item in need_list(need(doc, "items"), f"{what}.items"):
            raw, offset, stream_time = need_list(item, f"{what}.items", 3)
            held = event(raw)
            key = held.prediction_id
            side.put(
                key,
                Waiting.arriving(held, need_int(offset, what, 0), need_float(stream_time, what)),
            )
        for deadline in need_list(need(doc, "deadlines"), f"{what}.deadlines"):
            at, key = need_list(deadline, f"{what}.deadlines", 2)
            side.deadlines.append((need_float(at, what), need_str(key, what)))
        heapq.heapify(side.deadlines)
        seen = need_list(need(doc, "seen"), f"{what}.seen")
        side.seen = OrderedDict.fromkeys(need_str(key, what) for key in seen)
        return side


@dataclass
class LabelJoin:
    ttl: float
    max_pending: int
    max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES
    _predictions: _Side[Prediction] = field(default_factory=_Side)
    _labels: _Side[Label] = field(default_factory=_Side)

    @property
    def predictions(self) -> dict[str, Waiting[Prediction]]:
        return self._predictions.items

    @property
    def labels(self) -> dict[str, Waiting[Label]]:
        return self._labels.items

    @property
    def pending_predictions(self) -> int:
        return len(self._predictions.items)

    @property
    def pending_labels(self) -> int:
        return len(self._labels.items)

    @property
    def pending_bytes(self) -> int:
        """Estimated memory of the waiting items of both sides."""
        return self._predictions.bytes + self._labels.bytes

    @property
    def overflowing(self) -> bool:
        """More items waiting than ``max_pending`` or more bytes than ``max_pending_bytes``."""
        count = self.pending_predictions + self.pending_labels
        return count > self.max_pending or self.pending_bytes > self.max_pending_bytes

    def add_prediction(self, pred: Prediction, offset: int) -> Joined | ExpiryResult | None:
        """Join ``pred`` with its waiting label, or hold it.

        Returns the pair, an :class:`ExpiryResult` when the pair is too far apart in event
        time, or ``None`` when the prediction now waits.
        """
        key, side = pred.prediction_id, self._predictions
        side.arrive(key, self.max_pending, "prediction id", DUPLICATE_PREDICTION)
        arriving = Waiting.arriving(pred, offset, side.stream_time)
        side.stream_time = max(side.stream_time, pred.timestamp)
        label = self._labels.take(key)
        if label is None:
            side.hold(key, arriving, self.ttl)
            return None
        return self._pair(key, arriving, label)

    def add_label(self, label: Label, offset: int) -> Joined | ExpiryResult | None:
        key, side = label.prediction_id, self._labels
        side.arrive(key, self.max_pending, "label for", DUPLICATE_LABEL)
        arriving = Waiting.arriving(label, offset, side.stream_time)
        side.stream_time = max(side.stream_time, label.timestamp)
        pred = self._predictions.take(key)
        if pred is None:
            side.hold(key, arriving, self.ttl)
            return None
        return self._pair(key, pred, arriving)

    def expire(self) -> ExpiryResult:
        """Drop every waiting item that no future partner could match."""
        return ExpiryResult(
            predictions=self._predictions.expire(self._labels.stream_time, self.ttl),
            labels=self._labels.expire(self._predictions.stream_time, self.ttl),
        )

    def forget_beyond_limit(self) -> None:
        """Remember at most ``max_pending`` ids per side (after the limit was lowered, or a
        snapshot from elsewhere remembered more)."""
        for side in (self._predictions, self._labels):
            while len(side.seen) > self.max_pending:
                side.seen.popitem(last=False)

    def evict_overflow(self) -> ExpiryResult:
        """Evict waiting items until at most ``max_pending`` items and ``max_pending_bytes``
        bytes remain."""
        result = ExpiryResult()
        while self.overflowing:
            if self.pending_predictions + self.pending_labels > self.max_pending:
                predictions_first = self.pending_predictions >= self.pending_labels
            else:
                predictions_first = self._predictions.bytes >= self._labels.bytes
            if predictions_first:
                self._predictions.evict_oldest()
                result.predictions += 1
            else:
                self._labels.evict_oldest()
                result.labels += 1
        self._predictions.compact(self.ttl)
        self._labels.compact(self.ttl)
        return result

    def _pair(
        self, key: str, pred: Waiting[Prediction], label: Waiting[Label]
    ) -> Joined | ExpiryResult:
        p, lb, ttl = pred.event, label.event, self.ttl
        pred_late = label.stream_time > p.timestamp + ttl
        label_late = pred.stream_time > lb.timestamp + ttl
        if pred_late or label_late:
            if not pred_late:
                self._predictions.hold(key, pred, ttl)
            if not label_late:
                self._labels.hold(key, label, ttl)
            return ExpiryResult(predictions=int(pred_late), labels=int(label_late))
        if lb.timestamp - p.timestamp > ttl:
            return ExpiryResult(predictions=1, labels=1)
        return Joined(p, lb, pred.offset, label.offset)

    # -- state encoding (see driftwarden.monitor.codec)
    # --------------------------------------------------

    def to_state(self) -> Doc:
        return {
            "ttl": encode_float(self.ttl),
            "max_pending": self.max_pending,
            "max_pending_bytes": self.max_pending_bytes,
            "predictions": self._predictions.to_state(prediction_to_state),
            "labels": self._labels.to_state(label_to_state),
        }

    @classmethod
    def from_state(cls, doc: object) -> LabelJoin:
        doc = need_dict(doc, "join")
        ttl = need_float(need(doc, "ttl"), "join.ttl")
        if not ttl >= 0:
            raise StateDecodeError("join.ttl must be a non-negative number")
        return cls(
            ttl,
            need_int(need(doc, "max_pending"), "join.max_pending", 0),
            need_int(need(doc, "max_pending_bytes"), "join.max_pending_bytes", 0),
            _Side.from_state(need(doc, "predictions"), prediction_from_state, "join.predictions"),
            _Side.from_state(need(doc, "labels"), label_from_state, "join.labels"),
        )
