"""Columns of a version's drift checks that are compared together: one window of encoded events,
one padded reference matrix, calibrated and adjusted thresholds (see
:mod:`driftwarden.monitor.drift.checks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from driftwarden.core.profile import NumericProfile
from driftwarden.monitor.codec import Doc, decode_array, encode_array, need, need_dict, need_int
from driftwarden.monitor.drift.calibration import calibrate_threshold
from driftwarden.monitor.drift.encoding import ColumnEncoder
from driftwarden.monitor.drift.statistics import drift_scores
from driftwarden.monitor.drift.window import EncodedWindow

__all__ = ["Column", "ColumnGroup", "DriftSettings", "fixed_threshold"]

# How a statistic's null distribution scales with the number of events scored: n ** -power.
_SCALING = {"ks": 0.5, "wasserstein": 0.5, "jensen_shannon": 0.5, "psi": 1.0, "chi2": 0.0}


@dataclass(frozen=True)
class DriftSettings:
    window: int = 2000
    every: int = 500
    false_alarm_rate: float = 0.001
    method: str = "auto"
    threshold: float | None = None
    per_feature: Mapping[str, tuple[str | None, float | None]] = field(default_factory=dict)
    detector: str = "ADWIN"
    detector_params: Mapping[str, Any] = field(default_factory=dict)
    resolve_ratio: float = 0.8


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # data, prediction or label
    statistic: str
    encoder: ColumnEncoder


class ColumnGroup:
    """Columns compared together: one window, one padded reference matrix, thresholds."""

    def __init__(
        self, columns: list[Column], settings: DriftSettings, alpha: float, seed: int
    ) -> None:
        self.columns = columns
        self.bins = max(c.encoder.bins for c in columns)
        self.window = EncodedWindow(settings.window, len(columns))
        self.reference = np.zeros((len(columns), self.bins))
        self.widths = np.zeros((len(columns), self.bins))
        for i, column in enumerate(columns):
            profile = column.encoder.profile
            self.reference[i, : len(profile.frequencies)] = profile.frequencies
            if isinstance(profile, NumericProfile):
                self.widths[i, : len(profile.frequencies)] = _widths(profile)
        # Missing values are not binned: a column is scored on the events that have a value.
        self.expected = np.array(
            [max(round(settings.window * (1 - c.encoder.profile.missing_rate)), 1) for c in columns]
        )
        self.calibrated = self._calibrate(settings, alpha, seed)
        fixed = [fixed_threshold(c.name, settings) is not None for c in columns]
        self._power = np.array(
            [0.0 if f else _SCALING[c.statistic] for c, f in zip(columns, fixed, strict=True)]
        )
        self.thresholds = self.calibrated.copy()
        self.scores = np.full(len(columns), np.nan)
        self.evaluated_version: int | None = None  # the window's version at the last evaluation

    def _calibrate(self, settings: DriftSettings, alpha: float, seed: int) -> NDArray[np.float64]:
        thresholds = np.empty(len(self.columns))
        for i, column in enumerate(self.columns):
            thresholds[i] = calibrate_threshold(
                column.statistic,
                self.reference[i],
                column.encoder.profile.count,
                int(self.expected[i]),
                alpha,
                self.widths[i] if column.statistic == "wasserstein" else None,
                seed=seed + i,
            )
        for i, column in enumerate(self.columns):
            fixed = fixed_threshold(column.name, settings)
            if fixed is not None:
                thresholds[i] = fixed
        return thresholds

    def evaluate(self) -> NDArray[np.float64]:
        self.evaluated_version = self.window.version
        counts = self.window.counts(self.bins)
        self._adjust_thresholds(counts.sum(axis=1))
        for statistic in {c.statistic for c in self.columns}:
            rows = [i for i, c in enumerate(self.columns) if c.statistic == statistic]
            self.scores[rows] = drift_scores(
                statistic,
                counts[rows],
                self.reference[rows],
                self.widths[rows] if statistic == "wasserstein" else None,
            )
        return self.scores

    def refresh(self) -> None:
        """Score the current content if it changed since an evaluation (none before the first)."""
        evaluated = self.evaluated_version
        if evaluated is not None and evaluated != self.window.version:
            self.evaluate()

    def _adjust_thresholds(self, scored: NDArray[np.int64]) -> None:
        """Raise a threshold when a burst of missing values left fewer events to score than it
        was calibrated for, following the statistic's 1/n (psi) or 1/sqrt(n) (others) scale;
        chi2 is scale-free. A column with nothing to score cannot alarm."""
        with np.errstate(divide="ignore"):
            ratio = np.maximum(self.expected / scored, 1.0)
        self.thresholds = self.calibrated * ratio**self._power

    def window_info(self) -> dict[str, float]:
        return {
            "size": float(self.window.filled),
            "first_timestamp": self.window.first_timestamp,
            "last_timestamp": self.window.last_timestamp,
        }

    # -- state encoding (see driftwarden.monitor.codec): only what the reference does not determine
    # ------

    def to_state(self) -> Doc:
        return {
            "window": self.window.to_state(),
            "scores": encode_array(self.scores),
            "thresholds": encode_array(self.thresholds),
            "evaluated_version": self.evaluated_version,
        }

    def restore_state(self, doc: object, what: str) -> None:
        doc = need_dict(doc, what)
        self.window.restore_state(need(doc, "window"), f"{what}.window")
        shape = (len(self.columns),)
        self.scores = decode_array(need(doc, "scores"), "float64", shape, what)
        self.thresholds = decode_array(need(doc, "thresholds"), "float64", shape, what)
        evaluated = need(doc, "evaluated_version")
        self.evaluated_version = None if evaluated is None else need_int(evaluated, what)


def fixed_threshold(name: str, settings: DriftSettings) -> float | None:
    own = settings.per_feature.get(name, (None, None))[1]
    return own if own is not None else settings.threshold


def _widths(profile: NumericProfile) -> NDArray[np.float64]:
    """Distances between consecutive bin representatives, in reference standard deviations."""
    bounds = np.array([profile.min, *profile.edges, profile.max], dtype=np.float64)
    centers = (bounds[:-1] + bounds[1:]) / 2
    widths = np.zeros(len(centers))
    widths[:-1] = np.diff(centers) / (profile.std or 1.0)
    return widths
