"""Prometheus export: a collector over snapshots of the monitor state, and the HTTP endpoints.

The consumer thread alone touches the state; it publishes an immutable :class:`MetricsSnapshot`
that the collector reads at scrape time, so a scrape never races a batch. The families are
built from their definitions in :mod:`driftwarden.monitor.metrics`.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka.structs import TopicPartition
from prometheus_client.core import Metric

from driftwarden.core.keys import ModelVersion
from driftwarden.core.metric_spec import (
    MetricSpec,
    counter_family,
    gauge_family,
    histogram_family,
)
from driftwarden.monitor.metrics import (
    CONSUMER_LAG,
    CORRECT,
    DATA_QUALITY_RATIO,
    DRIFT_ACTIVE,
    DRIFT_ALARMS,
    DRIFT_SCORE,
    DRIFT_THRESHOLD,
    ESTIMATED_PERFORMANCE,
    ESTIMATED_PERFORMANCE_LOWER,
    ESTIMATED_PERFORMANCE_UPPER,
    ESTIMATION_CALIBRATED,
    ESTIMATION_ERROR,
    ESTIMATION_SKIPPED,
    ESTIMATION_WINDOWS,
    ESTIMATION_WITHIN_BAND,
    INVALID_EVENTS,
    JOINED,
    LABEL_DELAY_SECONDS,
    LABELS,
    LAST_CHECKPOINT_TIMESTAMP_SECONDS,
    MISROUTED_RECORDS,
    PENDING,
    PERFORMANCE,
    PREDICTIONS,
    REFERENCE_MISSING,
    RETRAIN_REQUESTS,
    UNDECLARED_FEATURES_DROPPED,
    UNMATCHED,
    VERSIONS_EVICTED,
)
from driftwarden.monitor.state import DELAY_BUCKETS, MonitorState, StreamCounters

__all__ = ["DriftSnapshot", "EstimationSnapshot", "MetricsSnapshot", "MonitorCollector"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricsSnapshot:
    pending: dict[tuple[str, str], int] = field(default_factory=dict)
    performance: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    lag: dict[TopicPartition, int] = field(default_factory=dict)
    last_checkpoint: float | None = None
    drift: DriftSnapshot = field(default_factory=lambda: DriftSnapshot())
    # Counters of each owned input partition: exported with a ``partition`` label so a series
    # moves between instances with its partition instead of dropping (a false counter reset).
    partitions: dict[int, StreamCounters] = field(default_factory=dict)
    evicted_versions: dict[str, int] = field(default_factory=dict)  # model
    estimation: EstimationSnapshot = field(default_factory=lambda: EstimationSnapshot())

    @property
    def counters(self) -> StreamCounters:
        """Stream counters summed over the partitions."""
        return StreamCounters.total(self.partitions.values())

    @classmethod
    def of(
        cls,
        state: MonitorState,
        models: list[str],
        lag: dict[TopicPartition, int],
        last_checkpoint: float | None,
    ) -> MetricsSnapshot:
        pending = dict.fromkeys(((m, k) for m in models for k in ("prediction", "label")), 0)
        pending.update(state.pending())
        performance = {
            (model, version, metric, window): value
            for (model, version), perf in state.performance.items()
            for (metric, window), value in perf.values().items()
        }
        return cls(
            pending,
            performance,
            dict(lag),
            last_checkpoint,
            DriftSnapshot.of(state),
            {number: copy.deepcopy(p.counters) for number, p in state.partitions.items()},
            {model: state.evicted_versions[model] for model in models},
            EstimationSnapshot.of(state),
        )


@dataclass(frozen=True)
class DriftSnapshot:
    scores: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    thresholds: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    active: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    alarms: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    quality: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    reference_missing: dict[ModelVersion, int] = field(default_factory=dict)

    @classmethod
    def of(cls, state: MonitorState) -> DriftSnapshot:
        snap = cls()
        for (model, version), drift in state.drift.items():
            snap.reference_missing[ModelVersion(model, version)] = int(drift is None)
            if drift is None:
                continue
            for feature, statistic, score, threshold in drift.scores():
                snap.scores[(model, version, feature, statistic)] = score
                if not math.isnan(threshold):
                    snap.thresholds[(model, version, feature, statistic)] = threshold
            for (kind, feature), active in drift.alarms.active.items():
                snap.active[(model, version, kind, feature)] = int(active)
                snap.alarms[(model, version, kind, feature)] = drift.alarms.alarms[(kind, feature)]
            for (feature, check), ratio in drift.quality().items():
                snap.quality[(model, version, feature, check)] = ratio
        return snap


@dataclass(frozen=True)
class EstimationSnapshot:
    """The estimation gauges and counters (see driftwarden.monitor.estimation)."""

    estimates: dict[tuple[str, str, str, str], tuple[float, float, float]] = field(
        default_factory=dict
    )
    calibrated: dict[ModelVersion, int] = field(default_factory=dict)
    errors: dict[tuple[str, str, str], float] = field(default_factory=dict)
    within: dict[tuple[str, str, str], int] = field(default_factory=dict)
    windows: dict[tuple[str, str, str], int] = field(default_factory=dict)
    skipped: dict[tuple[str, str, str], int] = field(default_factory=dict)

    @classmethod
    def of(cls, state: MonitorState) -> EstimationSnapshot:
        snap = cls()
        for (model, version), est in state.estimation.items():
            snap.calibrated[ModelVersion(model, version)] = int(est.calibrated)
            for metric, e in est.latest.items():
                if not math.isnan(e.value):
                    key = (model, version, metric, "rolling")
                    snap.estimates[key] = (e.value, e.lower, e.upper)
            for metric, (value, lower, upper, realized) in est.checks.items():
                snap.errors[(model, version, metric)] = value - realized
                snap.within[(model, version, metric)] = int(lower <= realized <= upper)
            for outcome, n in est.windows.items():
                snap.windows[(model, version, outcome)] = n
            for reason, n in est.skipped.items():
                snap.skipped[(model, version, reason)] = n
        return snap


class MonitorCollector:
    """Yields the ``driftwarden_*`` families of the latest snapshot."""

    def __init__(self) -> None:
        self.snapshot = MetricsSnapshot()

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        parts = sorted(snap.partitions.items())
        for spec, series in _STREAM_COUNTERS:
            yield _counter(spec, _by_partition(parts, series))
        yield _gauge(PENDING, snap.pending)
        yield _counter(VERSIONS_EVICTED, _keyed(snap.evicted_versions))
        yield _delay_histogram(parts)
        yield _gauge(PERFORMANCE, snap.performance)
        yield _gauge(CONSUMER_LAG, snap.lag)
        yield from _drift_families(snap.drift)
        yield from _estimation_families(snap.estimation)
        checkpoint = gauge_family(LAST_CHECKPOINT_TIMESTAMP_SECONDS)
        if snap.last_checkpoint is not None:
            checkpoint.add_metric([], snap.last_checkpoint)
        yield checkpoint


Series = Iterable[tuple[tuple[str, ...], int]]  # label values (all but the partition), count


def _keyed(counts: Mapping[str, int]) -> Series:
    """The series of counts keyed by a single label value."""
    return [((key,), n) for key, n in counts.items()]


# The stream counters, in export order, and the series of one partition's counts of each.
_STREAM_COUNTERS: tuple[tuple[MetricSpec, Callable[[StreamCounters], Series]], ...] = (
    (PREDICTIONS, lambda c: c.predictions.items()),
    (LABELS, lambda c: _keyed(c.labels)),
    (JOINED, lambda c: c.joined.items()),
    (CORRECT, lambda c: c.correct.items()),
    (UNMATCHED, lambda c: c.unmatched.items()),
    (RETRAIN_REQUESTS, lambda c: c.retrain_requests.items()),
    (INVALID_EVENTS, lambda c: c.invalid.items()),
    (MISROUTED_RECORDS, lambda c: _keyed(c.misrouted)),
    (UNDECLARED_FEATURES_DROPPED, lambda c: _keyed(c.undeclared_features)),
)


def _by_partition(
    parts: list[tuple[int, StreamCounters]], series: Callable[[StreamCounters], Series]
) -> Series:
    """Series of every partition, their label values extended by the partition number."""
    return [((*key, str(number)), value) for number, c in parts for key, value in series(c)]


def _counter(spec: MetricSpec, series: Series) -> Metric:
    family = counter_family(spec)
    for key, value in sorted(series):
        family.add_metric(list(key), value)
    return family


def _gauge(spec: MetricSpec, values: Mapping[Any, float]) -> Metric:
    """The gauge of ``values``, keyed by tuples of label values (numbers written as text)."""
    family = gauge_family(spec)
    for key, value in sorted(values.items()):
        family.add_metric([str(v) for v in key], value)
    return family


def _drift_families(drift: DriftSnapshot) -> Iterator[Metric]:
    yield _gauge(DRIFT_SCORE, drift.scores)
    yield _gauge(DRIFT_THRESHOLD, drift.thresholds)
    yield _gauge(DRIFT_ACTIVE, drift.active)
    yield _counter(DRIFT_ALARMS, drift.alarms.items())
    yield _gauge(DATA_QUALITY_RATIO, drift.quality)
    yield _gauge(REFERENCE_MISSING, drift.reference_missing)


def _estimation_families(est: EstimationSnapshot) -> Iterator[Metric]:
    for i, spec in enumerate(
        (ESTIMATED_PERFORMANCE, ESTIMATED_PERFORMANCE_LOWER, ESTIMATED_PERFORMANCE_UPPER)
    ):
        yield _gauge(spec, {k: v[i] for k, v in est.estimates.items()})
    yield _gauge(ESTIMATION_CALIBRATED, est.calibrated)
    yield _gauge(ESTIMATION_ERROR, est.errors)
    yield _gauge(ESTIMATION_WITHIN_BAND, est.within)
    yield _counter(ESTIMATION_WINDOWS, est.windows.items())
    yield _counter(ESTIMATION_SKIPPED, est.skipped.items())


def _delay_histogram(parts: list[tuple[int, StreamCounters]]) -> Metric:
    family = histogram_family(LABEL_DELAY_SECONDS)
    bounds = [*(repr(float(b)) for b in DELAY_BUCKETS), "+Inf"]
    for number, counters in parts:
        for model, counts in sorted(counters.delay_buckets.items()):
            cumulative, running = [], 0
            for bound, count in zip(bounds, counts, strict=True):
                running += count
                cumulative.append((bound, running))
            family.add_metric([model, str(number)], cumulative, sum_value=counters.delay_sum[model])
    return family
