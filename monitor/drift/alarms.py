"""Alarm states with hysteresis: one event on entering, one on leaving, no storms in between."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["AlarmBook", "Transition"]


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str
    feature: str
    statistic: str
    score: float
    threshold: float
    entered: bool  # False: resolved


@dataclass
class AlarmBook:
    """Active alarms of one model version, keyed by (kind, feature).

    An alarm enters when a score exceeds its threshold and resolves once the score falls below
    ``resolve_ratio`` times the threshold, so a score hovering at the threshold does not flap.

    >>> book = AlarmBook(resolve_ratio=0.8)
    >>> [t.entered for t in book.update("data", "x", "ks", 0.3, 0.2)]
    [True]
    >>> book.update("data", "x", "ks", 0.19, 0.2), book.active[("data", "x")]
    ([], True)
    >>> [t.entered for t in book.update("data", "x", "ks", 0.1, 0.2)], book.alarms[("data", "x")]
    ([False], 1)
    """

    resolve_ratio: float = 0.8
    active: dict[tuple[str, str], bool] = field(default_factory=dict)
    alarms: Counter[tuple[str, str]] = field(default_factory=Counter)

    def update(
        self, kind: str, feature: str, statistic: str, score: float, threshold: float
    ) -> list[Transition]:
        key = (kind, feature)
        was_active = self.active.get(key, False)
        if not was_active and score > threshold:
            self.active[key] = True
            self.alarms[key] += 1
            return [Transition(kind, feature, statistic, score, threshold, entered=True)]
        if was_active and score < threshold * self.resolve_ratio:
            self.active[key] = False
            return [Transition(kind, feature, statistic, score, threshold, entered=False)]
        self.active.setdefault(key, False)
        return []

    def trigger(self, kind: str, feature: str, statistic: str, score: float) -> list[Transition]:
        """Enter an alarm raised by a detector rather than by a threshold."""
        key = (kind, feature)
        if self.active.get(key, False):
            return []
        self.active[key] = True
        self.alarms[key] += 1
        return [Transition(kind, feature, statistic, score, float("nan"), entered=True)]

    def clear(self, kind: str, feature: str, statistic: str, score: float) -> list[Transition]:
        key = (kind, feature)
        if not self.active.get(key, False):
            self.active.setdefault(key, False)
            return []
        self.active[key] = False
        return [Transition(kind, feature, statistic, score, float("nan"), entered=False)]
