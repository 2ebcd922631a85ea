"""Drift checks of one model version against its reference profile.

Every prediction event is binned into a window (features and the prediction itself) holding the
``window`` most recent events by ``(timestamp, partition, offset)``; every ``every`` events its
bin counts are compared with the reference frequencies, one vectorized call per statistic. Labels
of joined examples get their own window (label drift), and a river detector watches the
per-example error (concept drift). Exported scores are those of the windows' current content
(re-scored when read), so once every event has arrived they do not depend on how partitions were
interleaved; alarms, decided at the evaluations, may. Thresholds are calibrated on the reference
itself (see :mod:`monitor.drift.calibration`) so that a stationary stream raises at most
``false_alarm_rate`` alarms per evaluation across all the columns tested (Bonferroni).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from monitor import river_state
from monitor.codec import (
    Doc,
    StateDecodeError,
    decode_array,
    decode_fields,
    encode_array,
    encode_fields,
    encode_float,
    need,
    need_dict,
    need_float,
    need_int,
)
from monitor.drift.alarms import AlarmBook, Transition
from monitor.drift.calibration import calibrate_threshold
from monitor.drift.concept import make_detector
from monitor.drift.encoding import QUALITY_CHECKS, ColumnEncoder
from monitor.drift.statistics import NUMERIC_ONLY, drift_scores
from monitor.drift.window import EncodedWindow, ErrorWindow
from retrain.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from retrain.targets import class_key

__all__ = ["DriftSettings", "Evaluation", "VersionDrift", "PREDICTION", "LABEL", "ERROR"]

log = logging.getLogger(__name__)

# Where an event was read: (partition, offset). With its timestamp, its key in the windows.
Origin = tuple[int, int]

PREDICTION, LABEL, ERROR = "__prediction__", "__label__", "__error__"
# ``auto``: KS for numeric columns; Jensen-Shannon for categorical ones, whose calibrated tail
# stays honest with rare categories where chi2's does not.
_AUTO = {True: "ks", False: "jensen_shannon"}
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


@dataclass(frozen=True)
class Evaluation:
    """Alarms that entered or resolved at one evaluation, and where in the batch it happened."""

    kind: str
    transitions: list[Transition]
    index: int  # position in the observed batch of the event that triggered the evaluation
    window: dict[str, float]
    events_seen: int


class _Group:
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
        fixed = [_fixed_threshold(c.name, settings) is not None for c in columns]
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
            fixed = _fixed_threshold(column.name, settings)
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

    # -- state encoding (see monitor.codec): only what the reference does not determine ------

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


class VersionDrift:
    """All drift state of one (model, version): windows, thresholds, detector, alarms."""

    def __init__(
        self,
        profile: ReferenceProfile,
        settings: DriftSettings,
        task: str,
        features: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.task = task
        names = [n for n in profile.features if features is None or n in features]
        columns = [_column(n, "data", profile.features[n], settings) for n in names]
        if profile.prediction is not None:
            columns.append(
                _column(PREDICTION, "prediction", profile.prediction, settings, self._target_key())
            )
        tested = len(columns) + (profile.label is not None)
        alpha = settings.false_alarm_rate / max(tested, 1)
        seed = int(hashlib.sha256(profile.model.encode()).hexdigest()[:8], 16)
        self.events = _Group(columns, settings, alpha, seed) if columns else None
        self.labels = None
        if profile.label is not None:
            label = _column(LABEL, "label", profile.label, settings, self._target_key())
            self.labels = _Group([label], settings, alpha, seed + 1)
        self.detector = make_detector(settings.detector, dict(settings.detector_params))
        self._detector_name = type(self.detector).__name__
        self.alarms = AlarmBook(resolve_ratio=settings.resolve_ratio)
        self.events_seen = 0
        self.joined_seen = 0
        self._since_detection = 0
        self._error_before = 0.0
        self._errors = ErrorWindow(settings.window)
        self.fingerprint = _fingerprint(profile, settings, task, [c.name for c in columns])

    def observe(
        self,
        rows: Sequence[Mapping[str, object]],
        predictions: Sequence[object],
        timestamps: Sequence[float],
        origins: Sequence[Origin] | None = None,
    ) -> list[Evaluation]:
        """Add a batch of prediction events; evaluate at every ``every``-th event.

        ``origins`` (partition, offset) of each event order equal timestamps in the window;
        without them, events count as read in the order given."""
        group = self.events
        if group is None or not rows:
            self.events_seen += len(rows)
            return []
        columns = [
            [row.get(c.name) for row in rows] if c.kind == "data" else list(predictions)
            for c in group.columns
        ]
        return self._push(group, columns, timestamps, "events_seen", origins)

    def observe_joined(
        self,
        labels: Sequence[object],
        predictions: Sequence[object],
        timestamps: Sequence[float],
        origins: Sequence[Origin] | None = None,
    ) -> list[Evaluation]:
        """Add a batch of joined examples (label timestamps, label origins): label drift and
        concept drift."""
        out = self._concept(labels, predictions, timestamps, origins)
        if self.labels is not None:
            out += self._push(self.labels, [list(labels)], timestamps, "joined_seen", origins)
        else:
            self.joined_seen += len(labels)
        return out

    def quality(self) -> dict[tuple[str, str], float]:
        """``{(feature, check): ratio}`` over the current window, for the data features."""
        group = self.events
        if group is None or not group.window.filled:
            return {}
        out: dict[tuple[str, str], float] = {}
        for check, bit in QUALITY_CHECKS.items():
            ratios = group.window.flag_ratios(bit)
            for i, column in enumerate(group.columns):
                if column.kind == "data" and _applies(check, column.encoder.numeric):
                    out[(column.name, check)] = float(ratios[i])
        return out

    def scores(self) -> list[tuple[str, str, float, float]]:
        """``(feature, statistic, score, threshold)`` of every column evaluated so far, scored
        on the window's current content."""
        out = []
        for group in (self.events, self.labels):
            if group is None:
                continue
            group.refresh()
            for i, column in enumerate(group.columns):
                if not np.isnan(group.scores[i]):
                    out.append(
                        (
                            column.name,
                            column.statistic,
                            float(group.scores[i]),
                            float(group.thresholds[i]),
                        )
                    )
        if self._errors:
            out.append((ERROR, self._detector_name, self._errors.exact_mean(), float("nan")))
        return out

    def _push(
        self,
        group: _Group,
        columns: list[list[object]],
        timestamps: Sequence[float],
        counter: str,
        origins: Sequence[Origin] | None,
    ) -> list[Evaluation]:
        encoded = [
            c.encoder.encode(values) for c, values in zip(group.columns, columns, strict=True)
        ]
        bins = np.stack([e[0] for e in encoded], axis=1)
        flags = np.stack([e[1] for e in encoded], axis=1)
        stamps = np.asarray(timestamps, dtype=np.float64)
        every, seen, start, out = self.settings.every, getattr(self, counter), 0, []
        where = np.asarray(origins, dtype=np.int64).reshape(-1, 2) if origins else None
        while start < len(stamps):
            stop = min(len(stamps), start + every - seen % every)
            group.window.push(
                bins[start:stop],
                flags[start:stop],
                stamps[start:stop],
                None if where is None else where[start:stop, 0],
                None if where is None else where[start:stop, 1],
            )
            seen += stop - start
            # Thresholds hold for a full window: the first evaluation waits for one.
            if seen % every == 0 and group.window.filled == group.window.size:
                out += self._evaluate(group, stop - 1, seen)
            start = stop
        setattr(self, counter, seen)
        return out

    def _evaluate(self, group: _Group, index: int, seen: int) -> list[Evaluation]:
        scores = group.evaluate()
        by_kind: dict[str, list[Transition]] = {}
        for i, column in enumerate(group.columns):
            for t in self.alarms.update(
                column.kind,
                column.name,
                column.statistic,
                float(scores[i]),
                float(group.thresholds[i]),
            ):
                by_kind.setdefault(column.kind, []).append(t)
        info = group.window_info()
        return [Evaluation(kind, ts, index, info, seen) for kind, ts in by_kind.items()]

    def _concept(
        self,
        labels: Sequence[object],
        predictions: Sequence[object],
        timestamps: Sequence[float],
        origins: Sequence[Origin] | None,
    ) -> list[Evaluation]:
        out, errors = [], self._errors
        for i, (label, prediction) in enumerate(zip(labels, predictions, strict=True)):
            error = self._error(label, prediction)
            partition, offset = origins[i] if origins else (0, self.joined_seen + i)
            errors.hold((timestamps[i], partition, offset, error))
            self.detector.update(error)
            self._since_detection += 1
            active = self.alarms.active.get(("concept", ERROR), False)
            if self.detector.drift_detected:
                rate = errors.mean()
                if not active:
                    self._error_before = rate
                self._since_detection = 0
                moved = self.alarms.trigger("concept", ERROR, self._detector_name, rate)
            elif (
                active
                and self._since_detection >= self.settings.window
                and self._recovered(rate := errors.mean())
            ):
                moved = self.alarms.clear("concept", ERROR, self._detector_name, rate)
            else:
                continue
            if moved:
                info = {
                    "size": float(len(self._errors)),
                    "first_timestamp": timestamps[i],
                    "last_timestamp": timestamps[i],
                }
                out.append(Evaluation("concept", moved, i, info, self.joined_seen + i + 1))
        return out

    def _recovered(self, rate: float) -> bool:
        """Back near the error level from before the alarm (a detector falls silent once the
        error settles at a new, higher level: that alone does not resolve the alarm)."""
        slack = 0.0 if self.task == "regression" else 0.01
        return rate <= self._error_before * 1.25 + slack

    def _error(self, label: object, prediction: object) -> float:
        if self.task == "regression":
            return abs(float(label) - float(prediction))  # type: ignore[arg-type]
        return float(class_key(label) != class_key(prediction))

    def _target_key(self) -> Any:
        return class_key if self.task != "regression" else None

    # -- state encoding (see monitor.codec) --------------------------------------------------
    # Encoders, reference matrices and calibrated thresholds follow from the reference profile
    # and the settings: a reader builds them afresh and restores only what the stream changed.

    def to_state(self) -> Doc:
        return {
            "fingerprint": self.fingerprint,
            "events": None if self.events is None else self.events.to_state(),
            "labels": None if self.labels is None else self.labels.to_state(),
            "detector": river_state.encode_detector(self.detector),
            "alarms": encode_fields(self.alarms),
            "events_seen": self.events_seen,
            "joined_seen": self.joined_seen,
            "since_detection": self._since_detection,
            "error_before": encode_float(self._error_before),
            "errors": self._errors.to_state(),
        }

    def restore_state(self, doc: object, version: str) -> None:
        """Restore the stream's part of ``doc`` into these freshly built checks; if the profile
        or settings they were built from changed since, keep them fresh (logged)."""
        doc = need_dict(doc, "drift")
        if need(doc, "fingerprint") != self.fingerprint:
            log.info(
                "drift of %s: the reference profile or drift settings changed since the "
                "checkpoint; its windows and alarms start afresh",
                version,
            )
            return
        for name in ("events", "labels"):
            group, saved = getattr(self, name), need(doc, name)
            if (group is None) != (saved is None):
                raise StateDecodeError(f"drift.{name} does not match the reference profile")
            if group is not None:
                group.restore_state(saved, f"drift.{name}")
        river_state.restore_detector(self.detector, need(doc, "detector"))
        self.alarms = decode_fields(AlarmBook, need(doc, "alarms"), "drift.alarms")
        self.alarms.resolve_ratio = self.settings.resolve_ratio
        self.events_seen = need_int(need(doc, "events_seen"), "drift.events_seen", 0)
        self.joined_seen = need_int(need(doc, "joined_seen"), "drift.joined_seen", 0)
        self._since_detection = need_int(need(doc, "since_detection"), "drift", 0)
        self._error_before = need_float(need(doc, "error_before"), "drift.error_before")
        self._errors.restore_state(need(doc, "errors"), "drift.errors")


def _fingerprint(
    profile: ReferenceProfile, settings: DriftSettings, task: str, columns: list[str]
) -> str:
    """What the checks are built from: the profile, the settings, the task and the columns."""
    built_from = {
        "profile": profile.to_dict(),
        "settings": dataclasses.asdict(settings),
        "task": task,
        "columns": columns,
    }
    options = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    return hashlib.sha256(orjson.dumps(built_from, option=options, default=str)).hexdigest()


def _column(
    name: str,
    kind: str,
    profile: NumericProfile | CategoricalProfile,
    settings: DriftSettings,
    key: Any = None,
) -> Column:
    numeric = isinstance(profile, NumericProfile)
    method = settings.per_feature.get(name, (None, None))[0] or settings.method
    statistic = _AUTO[numeric] if method == "auto" else method
    if not numeric and statistic in NUMERIC_ONLY:
        statistic = _AUTO[False]
    encoder = ColumnEncoder(profile, key) if key is not None else ColumnEncoder(profile)
    return Column(name, kind, statistic, encoder)


def _fixed_threshold(name: str, settings: DriftSettings) -> float | None:
    own = settings.per_feature.get(name, (None, None))[1]
    return own if own is not None else settings.threshold


def _applies(check: str, numeric: bool) -> bool:
    if check == "unseen_category":
        return not numeric
    return check == "missing" or numeric


def _widths(profile: NumericProfile) -> NDArray[np.float64]:
    """Distances between consecutive bin representatives, in reference standard deviations."""
    bounds = np.array([profile.min, *profile.edges, profile.max], dtype=np.float64)
    centers = (bounds[:-1] + bounds[1:]) / 2
    widths = np.zeros(len(centers))
    widths[:-1] = np.diff(centers) / (profile.std or 1.0)
    return widths
