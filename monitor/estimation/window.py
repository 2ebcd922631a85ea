"""One model version's estimation state: the window of its most recent predictions and the
windows awaiting their labels. Bookkeeping only (no I/O, no statistics); checkpointed.

The window follows the rules of the rolling performance window, keyed by ``(prediction
timestamp, input partition, prediction offset)``: a prediction older than every one of a full
window leaves it unchanged, a newer one displaces the oldest. Every ``window`` predictions the
window is copied into an :class:`Awaiting` window that collects the labels of its predictions
until each has one or has expired, and is then reconciled
(:mod:`driftwarden.monitor.estimation.reconcile`). A prediction has expired once a label of the
model newer than its timestamp plus ``label_ttl`` was seen on its input partition: labels of a
partition arrive in its order, so the outcome does not depend on how the prediction and label
topics were interleaved, and a replay after a crash reconciles the same windows. Which
predictions a copy holds depends on the order predictions of different input partitions were
applied in; with one input partition per version's traffic it is the same on every run.

>>> est = VersionEstimation(positive="1", window=2, max_bytes=1 << 20, max_classes=10)
>>> [est.add((float(i), 0, i), f"p{i}", "1", {"1": 0.8, "0": 0.2}) for i in (1, 2, 3)]
[True, True, True]
>>> [held[1] for held in sorted(est.held)], len(est.awaiting)
(['p2', 'p3'], 1)
>>> est.label("p1", "1"), est.awaiting[0].labels
(True, {'p1': 1})
"""

from __future__ import annotations

import heapq
import math
import sys
from dataclasses import dataclass, field

from driftwarden.core.tasks import class_key
from driftwarden.monitor.codec import (
    Doc,
    StateDecodeError,
    decode_float,
    decode_floats,
    encode_float,
    encode_floats,
    need,
    need_dict,
    need_int,
    need_list,
    need_str,
)
from driftwarden.monitor.estimation.cbpe import Estimate

__all__ = ["Awaiting", "Held", "VersionEstimation"]

# (prediction timestamp, input partition, prediction offset)
Key = tuple[float, int, int]
# key, prediction id, predicted (binary: 1 if the positive class; multiclass: class index),
# raw scores (binary: the positive class's; multiclass: by class index), estimated bytes
Held = tuple[Key, str, int, tuple[float, ...], int]

_OVERHEAD = 200  # bytes of a held prediction besides its id and scores (tuples, floats, heap)


@dataclass
class Awaiting:
    """A window whose estimate waits for its labels: its predictions, oldest first."""

    held: list[Held]
    labels: dict[str, int] = field(default_factory=dict)  # prediction id -> label
    ids: frozenset[str] = field(init=False)
    held_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        self.ids = frozenset(h[1] for h in self.held)
        self.held_bytes = sum(h[4] for h in self.held)

    @property
    def last_timestamp(self) -> float:
        return self.held[-1][0][0]

    def complete(self, label_times: dict[int, float], label_ttl: float) -> bool:
        """Every prediction has its label or has expired: on each input partition holding one,
        a label newer than the window's newest prediction plus ``label_ttl`` was seen."""
        if len(self.labels) >= len(self.held):
            return True
        expiry = self.last_timestamp + label_ttl
        return all(label_times.get(p, -math.inf) > expiry for p in self.partitions)

    @property
    def partitions(self) -> set[int]:
        return {h[0][1] for h in self.held}

    @property
    def size(self) -> int:
        return self.held_bytes + 100 * len(self.labels)


class VersionEstimation:
    """The predictions of one (model, version) that its estimates are computed over."""

    def __init__(self, positive: str | None, window: int, max_bytes: int, max_classes: int) -> None:
        self.positive = positive  # binary: the positive class key; None: multiclass
        self.window = window
        self.max_bytes = max_bytes
        self.max_classes = max_classes
        self.classes: list[str] = []  # multiclass: class keys, first seen first
        self.held: list[Held] = []  # a heap, the oldest key first
        self.labels: dict[str, int] = {}  # labels of held predictions
        self.awaiting: list[Awaiting] = []
        self.since_copy = 0
        # input partition -> the newest label timestamp of the model seen on it
        self.label_times: dict[int, float] = {}
        self.skipped: dict[str, int] = {}  # reason -> predictions not estimated
        # awaiting windows by outcome: reconciled, unlabeled (every label expired), dropped
        # (unreconciled, over max_bytes)
        self.windows: dict[str, int] = {}
        self.outside: dict[str, int] = {}  # metric -> consecutive windows outside the band
        # metric -> (estimate, lower, upper, realized) of the last reconciled window
        self.checks: dict[str, tuple[float, float, float, float]] = {}
        self._ids: dict[str, Key] = {}
        self._held_bytes = 0  # of self.held
        self._awaiting_bytes = 0  # of self.awaiting
        # Not checkpointed: recomputed from the above (see driftwarden.monitor.estimation.stage)
        self.latest: dict[str, Estimate] = {}  # the estimates over the window
        self.calibrated = False  # whether they use a calibration
        self.stale = True  # the window changed since ``latest`` was computed

    def add(
        self, key: Key, prediction_id: str, predicted: object, scores: dict[str, float] | None
    ) -> bool:
        """Hold one prediction; False if it cannot be estimated (no usable scores)."""
        parsed = self._parse(predicted, scores)
        if parsed is None:
            return False
        index, values = parsed
        size = _OVERHEAD + sys.getsizeof(prediction_id) + 24 * len(values)
        self._hold((key, prediction_id, index, values, size))
        self.stale = True
        self.since_copy += 1
        if self.since_copy >= self.window:
            self.since_copy = 0
            self._await(Awaiting(sorted(self.held), dict(self.labels)))
        self._bound()
        return True

    def label_seen(self, partition: int, timestamp: float) -> None:
        """A label of the model (any version) with event time ``timestamp`` on ``partition``."""
        self.label_times[partition] = max(self.label_times.get(partition, -math.inf), timestamp)

    def label(self, prediction_id: str, label: object) -> bool:
        """Record the label of a held or awaiting prediction; False if none has that id."""
        value = self._label_value(label)
        found = prediction_id in self._ids
        if found:
            self.labels[prediction_id] = value
        for waiting in self.awaiting:
            if prediction_id in waiting.ids:
                self._awaiting_bytes -= waiting.size
                waiting.labels[prediction_id] = value
                self._awaiting_bytes += waiting.size
                found = True
        return found

    def complete_windows(self, label_ttl: float) -> list[Awaiting]:
        """Remove and return the awaiting windows whose labels have all landed or expired."""
        done = [w for w in self.awaiting if w.complete(self.label_times, label_ttl)]
        self.awaiting = [w for w in self.awaiting if w not in done]
        self._awaiting_bytes -= sum(w.size for w in done)
        return done

    def count_window(self, outcome: str) -> None:
        self.windows[outcome] = self.windows.get(outcome, 0) + 1

    def _parse(
        self, predicted: object, scores: dict[str, float] | None
    ) -> tuple[int, tuple[float, ...]] | None:
        if not scores:
            self._skip("unscored")
            return None
        if self.positive is not None:
            score = scores.get(self.positive)
            if score is None:  # the class serialized another way ("1.0", "true")
                score = next((v for k, v in scores.items() if class_key(k) == self.positive), None)
            if score is None or not math.isfinite(score):
                self._skip("unscored")
                return None
            return int(class_key(predicted) == self.positive), (min(max(float(score), 0.0), 1.0),)
        by_class = {class_key(k): float(v) for k, v in scores.items() if math.isfinite(v)}
        index = self._class_index(class_key(predicted))
        for name in by_class:
            self._class_index(name)
        if index is None:
            self._skip("too_many_classes")
            return None
        return index, tuple(max(by_class.get(c, 0.0), 0.0) for c in self.classes)

    def _label_value(self, label: object) -> int:
        key = class_key(label)
        if self.positive is not None:
            return int(key == self.positive)
        index = self._class_index(key)
        return -1 if index is None else index

    def _class_index(self, name: str) -> int | None:
        if name in self.classes:
            return self.classes.index(name)
        if len(self.classes) >= self.max_classes:
            return None
        self.classes.append(name)
        return len(self.classes) - 1

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def _hold(self, held: Held) -> None:
        if len(self.held) < self.window:
            heapq.heappush(self.held, held)
        elif held[0] > self.held[0][0]:
            self._forget(heapq.heapreplace(self.held, held))
        else:
            return
        self._ids[held[1]] = held[0]
        self._held_bytes += held[4]

    def _await(self, window: Awaiting) -> None:
        self.awaiting.append(window)
        self._awaiting_bytes += window.size

    def _forget(self, held: Held) -> None:
        self._held_bytes -= held[4]
        self._ids.pop(held[1], None)
        self.labels.pop(held[1], None)

    def _bound(self) -> None:
        """Within ``max_bytes``: drop the oldest awaiting windows, then the oldest predictions."""
        total = self._held_bytes + self._awaiting_bytes
        while total > self.max_bytes and self.awaiting:
            size = self.awaiting.pop(0).size
            self._awaiting_bytes -= size
            total -= size
            self.count_window("dropped")
        while total > self.max_bytes and len(self.held) > 1:
            oldest = heapq.heappop(self.held)
            total -= oldest[4]
            self._forget(oldest)

    # -- state encoding (see driftwarden.monitor.codec)
    # --------------------------------------------------

    def to_state(self) -> Doc:
        return {
            "positive": self.positive,
            "window": self.window,
            "max_bytes": self.max_bytes,
            "max_classes": self.max_classes,
            "classes": list(self.classes),
            "held": [_encode_held(h) for h in self.held],
            "labels": _pairs(self.labels),
            "awaiting": [
                {"held": [_encode_held(h) for h in w.held], "labels": _pairs(w.labels)}
                for w in self.awaiting
            ],
            "since_copy": self.since_copy,
            "label_times": [[p, encode_float(t)] for p, t in sorted(self.label_times.items())],
            "skipped": _pairs(self.skipped),
            "windows": _pairs(self.windows),
            "outside": _pairs(self.outside),
            "checks": [[m, encode_floats(c)] for m, c in sorted(self.checks.items())],
        }

    @classmethod
    def from_state(cls, doc: object) -> VersionEstimation:
        doc = need_dict(doc, "estimation")
        positive = need(doc, "positive")
        est = cls(
            None if positive is None else need_str(positive, "estimation.positive"),
            need_int(need(doc, "window"), "estimation.window", 1),
            need_int(need(doc, "max_bytes"), "estimation.max_bytes", 1),
            need_int(need(doc, "max_classes"), "estimation.max_classes", 1),
        )
        est.classes = [need_str(c, "estimation class") for c in need_list(doc["classes"], "c")]
        if len(est.classes) > est.max_classes or len(set(est.classes)) != len(est.classes):
            raise StateDecodeError("estimation.classes: repeated or too many")
        width = 1 if positive is not None else len(est.classes)
        held = [_decode_held(h, width) for h in need_list(need(doc, "held"), "estimation.held")]
        if len(held) > est.window or len({h[0] for h in held}) != len(held):
            raise StateDecodeError("estimation.held: too many predictions or a repeated key")
        heapq.heapify(held)
        est.held = held
        est._ids = {h[1]: h[0] for h in held}
        est._held_bytes = sum(h[4] for h in held)
        est.labels = _decode_labels(need(doc, "labels"), est._ids)
        for w in need_list(need(doc, "awaiting"), "estimation.awaiting"):
            w = need_dict(w, "estimation.awaiting")
            window = sorted(_decode_held(h, width) for h in need_list(need(w, "held"), "held"))
            if not window:
                raise StateDecodeError("estimation.awaiting: an empty window")
            ids = {h[1]: h[0] for h in window}
            est._await(Awaiting(window, _decode_labels(need(w, "labels"), ids)))
        est.since_copy = need_int(need(doc, "since_copy"), "estimation.since_copy", 0)
        for pair in need_list(need(doc, "label_times"), "estimation.label_times"):
            part, t = need_list(pair, "estimation.label_times", 2)
            est.label_times[need_int(part, "partition", 0)] = decode_float(t, "label time")
        est.skipped = _decode_counts(need(doc, "skipped"), "estimation.skipped")
        est.windows = _decode_counts(need(doc, "windows"), "estimation.windows")
        est.outside = _decode_counts(need(doc, "outside"), "estimation.outside")
        for pair in need_list(need(doc, "checks"), "estimation.checks"):
            metric, values = need_list(pair, "estimation check", 2)
            value, lower, upper, realized = decode_floats(need_list(values, "check", 4), "check")
            est.checks[need_str(metric, "estimation check")] = (value, lower, upper, realized)
        return est


def _pairs(counts: dict[str, int]) -> list[list[object]]:
    return [[k, v] for k, v in sorted(counts.items())]


def _encode_held(held: Held) -> list[object]:
    (t, part, offset), prediction_id, predicted, scores, size = held
    return [encode_float(t), part, offset, prediction_id, predicted, encode_floats(scores), size]


def _decode_held(doc: object, width: int) -> Held:
    t, part, offset, pid, predicted, scores, size = need_list(doc, "estimation prediction", 7)
    key = (decode_float(t, "key"), need_int(part, "key", 0), need_int(offset, "key", 0))
    values = tuple(decode_floats(scores, "estimation scores"))
    if len(values) > width or not all(math.isfinite(v) and v >= 0 for v in values):
        raise StateDecodeError("estimation scores: too many, or not finite and non-negative")
    return (
        key,
        need_str(pid, "prediction id"),
        need_int(predicted, "predicted", 0),
        values,
        (need_int(size, "estimation size", 1)),
    )


def _decode_labels(doc: object, ids: dict[str, Key]) -> dict[str, int]:
    labels = {}
    for pair in need_list(doc, "estimation.labels"):
        pid, value = need_list(pair, "estimation label", 2)
        labels[need_str(pid, "prediction id")] = need_int(value, "estimation label", -1)
    if not labels.keys() <= ids.keys():
        raise StateDecodeError("estimation.labels: a label of a prediction that is not held")
    return labels


def _decode_counts(doc: object, what: str) -> dict[str, int]:
    pairs = [need_list(pair, what, 2) for pair in need_list(doc, what)]
    return {need_str(k, what): need_int(v, what, 0) for k, v in pairs}
