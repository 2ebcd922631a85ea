"""Estimates of a version's window, and reconciliation of awaiting windows with their labels.

The raw scores a :class:`~driftwarden.monitor.estimation.window.VersionEstimation` holds are
calibrated with the version's :class:`~driftwarden.core.calibration.Calibration` when its
reference profile has one that fits (binary: the same positive class; multiclass: one map per
class); otherwise they are used as they are (multiclass rows normalised to sum 1).

A window is reconciled over exactly its predictions that have a label (those that expired
without one are left out on both sides): the estimate of those predictions against their
realized metric. A metric whose realized value falls outside the band for ``divergence_windows``
windows in a row *diverges*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from driftwarden.core.calibration import Calibration
from driftwarden.monitor.estimation.cbpe import (
    Estimate,
    estimate_binary,
    estimate_multiclass,
    realized_binary,
    realized_multiclass,
)
from driftwarden.monitor.estimation.window import Awaiting, Held, VersionEstimation

__all__ = ["MetricCheck", "Reconciliation", "current_estimate", "fitting", "reconcile"]


@dataclass(frozen=True)
class MetricCheck:
    """One metric of a reconciled window: the estimate, the realized value, whether it fell in."""

    estimate: Estimate
    realized: float

    @property
    def value(self) -> float:
        return self.estimate.value

    @property
    def lower(self) -> float:
        return self.estimate.lower

    @property
    def upper(self) -> float:
        return self.estimate.upper

    @property
    def within(self) -> bool:
        return self.estimate.lower <= self.realized <= self.estimate.upper

    @property
    def error(self) -> float:
        return self.estimate.value - self.realized


@dataclass(frozen=True)
class Reconciliation:
    size: int  # predictions in the window
    labeled: int  # of which have a label (the others expired)
    first_timestamp: float
    last_timestamp: float
    checks: dict[str, MetricCheck]  # metrics defined on both sides
    diverged: tuple[str, ...]  # metrics outside the band for divergence_windows in a row
    consecutive: dict[str, int]  # metric -> windows outside the band in a row


def fitting(est: VersionEstimation, calibration: Calibration | None) -> Calibration | None:
    """``calibration`` if it fits the version's task and positive class, else None."""
    if calibration is None:
        return None
    if est.positive is not None:
        return calibration if calibration.classes[1:] == (est.positive,) else None
    return calibration if len(calibration.maps) == len(calibration.classes) > 2 else None


def current_estimate(
    est: VersionEstimation, calibration: Calibration | None
) -> dict[str, Estimate]:
    """The estimates over the version's window, or {} when it is empty."""
    if not est.held:
        return {}
    return _estimate(est, sorted(est.held), calibration)


def reconcile(
    est: VersionEstimation, calibration: Calibration | None, label_ttl: float, divergence: int
) -> list[Reconciliation]:
    """Reconcile (and remove) the awaiting windows whose labels all landed or expired."""
    out = []
    for window in est.complete_windows(label_ttl):
        labeled = [h for h in window.held if h[1] in window.labels]
        checks = _checks(est, window, labeled, calibration) if labeled else {}
        diverged = []
        for metric, check in checks.items():
            outside = 0 if check.within else est.outside.get(metric, 0) + 1
            est.outside[metric] = outside
            if outside == divergence:
                diverged.append(metric)
        out.append(
            Reconciliation(
                len(window.held),
                len(labeled),
                window.held[0][0][0],
                window.last_timestamp,
                checks,
                tuple(diverged),
                {m: est.outside.get(m, 0) for m in checks},
            )
        )
    return out


def _checks(
    est: VersionEstimation,
    window: Awaiting,
    labeled: list[Held],
    calibration: Calibration | None,
) -> dict[str, MetricCheck]:
    estimates = _estimate(est, labeled, calibration)
    predicted, probs, classes = _inputs(est, labeled, calibration)
    actual = [window.labels[h[1]] for h in labeled]
    if est.positive is not None:
        realized = realized_binary(predicted == 1, np.array(actual) == 1, probs[:, 1])
    else:
        realized = realized_multiclass(predicted, _mapped(est, actual, classes), probs)
    return {
        m: MetricCheck(e, realized[m])
        for m, e in estimates.items()
        if not (math.isnan(e.value) or math.isnan(realized[m]))
    }


def _estimate(
    est: VersionEstimation, held: Sequence[Held], calibration: Calibration | None
) -> dict[str, Estimate]:
    predicted, probs, _ = _inputs(est, held, calibration)
    if est.positive is not None:
        return estimate_binary(predicted == 1, probs[:, 1])
    return estimate_multiclass(predicted, probs)


def _inputs(
    est: VersionEstimation, held: Sequence[Held], calibration: Calibration | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], tuple[str, ...]]:
    """Predicted class indices, calibrated probabilities (n, k) and the k classes."""
    calibration = fitting(est, calibration)
    if est.positive is not None:
        p = np.array([h[3][0] for h in held])
        raw = np.column_stack([1.0 - p, p])
        probs = raw if calibration is None else calibration.apply(raw)
        return np.array([h[2] for h in held], dtype=np.int64), probs, ()
    width = len(est.classes)
    raw = np.array([h[3] + (0.0,) * (width - len(h[3])) for h in held], dtype=np.float64)
    predicted = np.array([h[2] for h in held], dtype=np.int64)
    if calibration is None:
        totals = raw.sum(axis=1, keepdims=True)
        safe = np.where(totals > 0, totals, 1.0)
        probs = np.where(totals > 0, raw / safe, 1.0 / width)
        return predicted, probs, tuple(est.classes)
    classes = calibration.classes
    columns = [est.classes.index(c) if c in est.classes else -1 for c in classes]
    ordered = np.column_stack([raw[:, i] if i >= 0 else np.zeros(len(held)) for i in columns])
    return _mapped(est, predicted, classes), calibration.apply(ordered), classes


def _mapped(
    est: VersionEstimation, indices: Sequence[int] | npt.NDArray[np.int64], classes: Sequence[str]
) -> npt.NDArray[np.int64]:
    """Indices into ``est.classes`` as indices into ``classes`` (len(classes): none of them)."""
    position = {c: i for i, c in enumerate(classes)}
    names = est.classes
    return np.array(
        [
            position.get(names[i], len(classes)) if 0 <= i < len(names) else len(classes)
            for i in indices
        ],
        dtype=np.int64,
    )
