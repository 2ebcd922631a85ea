"""Drift checks of one model version against its reference profile.

Every prediction event is binned into a window (features and the prediction itself) holding the
``window`` most recent events by ``(timestamp, partition, offset)``; every ``every`` events its
bin counts are compared with the reference frequencies, one vectorized call per statistic. Labels
of joined examples get their own window (label drift), and a river detector watches the
per-example error (concept drift). Exported scores are those of the windows' current content
(re-scored when read), so once every event has arrived they do not depend on how partitions were
interleaved; alarms, decided at the evaluations, may. Thresholds are calibrated on the reference
itself (see :mod:`driftwarden.monitor.drift.calibration`) so that a stationary stream raises at most
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

from driftwarden.core.detectors import make_detector
from driftwarden.core.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from driftwarden.core.tasks import Task, class_key
from driftwarden.monitor import river_state
from driftwarden.monitor.codec import (
    Doc,
    StateDecodeError,
    decode_fields,
    encode_fields,
    encode_float,
    need,
    need_dict,
    need_float,
    need_int,
)
from driftwarden.monitor.drift.alarms import AlarmBook, Transition
from driftwarden.monitor.drift.encoding import QUALITY_CHECKS, ColumnEncoder
from driftwarden.monitor.drift.group import Column, ColumnGroup, DriftSettings
from driftwarden.monitor.drift.statistics import NUMERIC_ONLY
from driftwarden.monitor.drift.window import ErrorWindow

__all__ = ["DriftSettings", "Evaluation", "VersionDrift", "PREDICTION", "LABEL", "ERROR"]

log = logging.getLogger(__name__)

# Where an event was read: (partition, offset). With its timestamp, its key in the windows.
Origin = tuple[int, int]

PREDICTION, LABEL, ERROR = "__prediction__", "__label__", "__error__"
# ``auto``: KS for numeric columns; Jensen-Shannon for categorical ones, whose calibrated tail
# stays honest with rare categories where chi2's does not.
_AUTO = {True: "ks", False: "jensen_shannon"}
HELD_MAX = 64  # prediction events a version holds back at most (see VersionDrift.observe)


@dataclass(frozen=True)
class Evaluation:
    """Alarms that entered or resolved at one evaluation, and where in the batch it happened."""

    kind: str
    transitions: list[Transition]
    index: int  # position in the observed batch of the event that triggered the evaluation
    window: dict[str, float]
    events_seen: int


@dataclass
class _Held:
    """Events held back from the window: each column's values (scalars), times, origins."""

    columns: list[list[object]]
    timestamps: list[float] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)


class VersionDrift:
    """All drift state of one (model, version): windows, thresholds, detector, alarms."""

    def __init__(
        self,
        profile: ReferenceProfile,
        settings: DriftSettings,
        task: Task,
        features: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.task = Task(task)
        names = [n for n in profile.features if features is None or n in features]
        columns = [_column(n, "data", profile.features[n], settings) for n in names]
        if profile.prediction is not None:
            columns.append(
                _column(PREDICTION, "prediction", profile.prediction, settings, self._target_key())
            )
        tested = len(columns) + (profile.label is not None)
        alpha = settings.false_alarm_rate / max(tested, 1)
        seed = int(hashlib.sha256(profile.model.encode()).hexdigest()[:8], 16)
        self.events = ColumnGroup(columns, settings, alpha, seed) if columns else None
        self.labels = None
        if profile.label is not None:
            label = _column(LABEL, "label", profile.label, settings, self._target_key())
            self.labels = ColumnGroup([label], settings, alpha, seed + 1)
        self.detector = make_detector(settings.detector, dict(settings.detector_params))
        self._detector_name = type(self.detector).__name__
        self.alarms = AlarmBook(resolve_ratio=settings.resolve_ratio)
        self._events_pushed = 0  # prediction events in the window's history; + held: seen
        self._held = _Held([[] for _ in columns])
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
        without them, events count as read in the order given.

        The events are held back until the next evaluation is due or ``HELD_MAX`` wait (or until
        the window is read: scores, quality, state), then binned and pushed in one go: with many
        models a micro-batch brings each only a few events, and binning costs per column and push.
        The window keeps the most recent events by key whatever the pushes, so holding back
        changes nothing."""
        group, held = self.events, self._held
        if group is None or not rows:
            self._events_pushed += len(rows)
            return []
        before = len(held.timestamps)
        if origins is None:
            first = group.window.pushed + before
            origins = [(0, first + i) for i in range(len(rows))]
        for column, values in zip(group.columns, held.columns, strict=True):
            values.extend(
                [row.get(column.name) for row in rows] if column.kind == "data" else predictions
            )
        held.timestamps.extend(timestamps)
        held.origins.extend(origins)
        due = self.settings.every - self._events_pushed % self.settings.every
        if len(held.timestamps) < min(due, HELD_MAX):
            return []
        return [dataclasses.replace(e, index=e.index - before) for e in self._push_held()]

    @property
    def events_seen(self) -> int:
        """Prediction events observed (those held back included)."""
        return self._events_pushed + len(self._held.timestamps)

    def _push_held(self) -> list[Evaluation]:
        """Push the held events (an evaluation happens only if one fell due among them)."""
        group, held = self.events, self._held
        if group is None or not held.timestamps:
            return []
        self._held = _Held([[] for _ in group.columns])
        return self._push(group, held.columns, held.timestamps, "_events_pushed", held.origins)

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
        self._push_held()  # never due: evaluations happen as events arrive
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
        self._push_held()
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
        group: ColumnGroup,
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

    def _evaluate(self, group: ColumnGroup, index: int, seen: int) -> list[Evaluation]:
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
        slack = 0.0 if self.task is Task.REGRESSION else 0.01
        return rate <= self._error_before * 1.25 + slack

    def _error(self, label: object, prediction: object) -> float:
        if self.task is Task.REGRESSION:
            return abs(float(label) - float(prediction))  # type: ignore[arg-type]
        return float(class_key(label) != class_key(prediction))

    def _target_key(self) -> Any:
        return None if self.task is Task.REGRESSION else class_key

    # -- state encoding (see driftwarden.monitor.codec)
    # --------------------------------------------------
    # Encoders, reference matrices and calibrated thresholds follow from the reference profile
    # and the settings: a reader builds them afresh and restores only what the stream changed.

    def to_state(self) -> Doc:
        self._push_held()
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
        self._events_pushed = need_int(need(doc, "events_seen"), "drift.events_seen", 0)
        self.joined_seen = need_int(need(doc, "joined_seen"), "drift.joined_seen", 0)
        self._since_detection = need_int(need(doc, "since_detection"), "drift", 0)
        self._error_before = need_float(need(doc, "error_before"), "drift.error_before")
        self._errors.restore_state(need(doc, "errors"), "drift.errors")


def _fingerprint(
    profile: ReferenceProfile, settings: DriftSettings, task: Task, columns: list[str]
) -> str:
    """What the checks are built from: the profile, the settings, the task and the columns."""
    built_from = {
        "profile": profile.to_dict(),
        "settings": dataclasses.asdict(settings),
        "task": task.value,
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


def _applies(check: str, numeric: bool) -> bool:
    if check == "unseen_category":
        return not numeric
    return check == "missing" or numeric
