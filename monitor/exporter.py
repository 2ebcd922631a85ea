"""Prometheus export: a collector over snapshots of the monitor state, and the HTTP endpoints.

The consumer thread alone touches the state; it publishes an immutable :class:`MetricsSnapshot`
that the collector reads at scrape time, so a scrape never races a batch.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka.structs import TopicPartition
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from driftwarden.core.keys import ModelVersion
from driftwarden.monitor.state import DELAY_BUCKETS, MonitorState, StreamCounters

__all__ = ["DriftSnapshot", "MetricsSnapshot", "MonitorCollector"]

# Stream counters live with their input partition (see driftwarden.monitor.state) and carry its
# number.
_PER_PARTITION = frozenset(
    {
        "driftwarden_predictions",
        "driftwarden_labels",
        "driftwarden_joined",
        "driftwarden_correct",
        "driftwarden_unmatched",
        "driftwarden_retrain_requests",
        "driftwarden_invalid_events",
        "driftwarden_misrouted_records",
        "driftwarden_undeclared_features_dropped",
    }
)

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


class MonitorCollector:
    """Yields the ``driftwarden_*`` families of the latest snapshot."""

    def __init__(self) -> None:
        self.snapshot = MetricsSnapshot()

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        parts = sorted(snap.partitions.items())
        yield _counter(
            "driftwarden_predictions",
            "Prediction events applied.",
            ["model", "version"],
            _by_partition(parts, lambda c: c.predictions.items()),
        )
        yield _counter(
            "driftwarden_labels",
            "Label events applied.",
            ["model"],
            _by_partition(parts, lambda c: [((m,), n) for m, n in c.labels.items()]),
        )
        yield _counter(
            "driftwarden_joined",
            "Labels joined to their prediction.",
            ["model", "version"],
            _by_partition(parts, lambda c: c.joined.items()),
        )
        yield _counter(
            "driftwarden_correct",
            "Joined classifications that were correct.",
            ["model", "version"],
            _by_partition(parts, lambda c: c.correct.items()),
        )
        yield _counter(
            "driftwarden_unmatched",
            "Predictions or labels dropped unjoined.",
            ["model", "kind", "reason"],
            _by_partition(parts, lambda c: c.unmatched.items()),
        )
        yield _counter(
            "driftwarden_retrain_requests",
            "Retrain requests the monitor published.",
            ["model", "reason"],
            _by_partition(parts, lambda c: c.retrain_requests.items()),
        )
        yield _counter(
            "driftwarden_invalid_events",
            "Messages sent to the dead-letter topic.",
            ["topic", "reason"],
            _by_partition(parts, lambda c: c.invalid.items()),
        )
        yield _counter(
            "driftwarden_misrouted_records",
            "Keyed input records not on the partition murmur2 of their key gives (still applied).",
            ["topic"],
            _by_partition(parts, lambda c: [((t,), n) for t, n in c.misrouted.items()]),
        )
        yield _counter(
            "driftwarden_undeclared_features_dropped",
            "Feature values dropped because the model's features do not declare them.",
            ["model"],
            _by_partition(parts, lambda c: [((m,), n) for m, n in c.undeclared_features.items()]),
        )
        pending = GaugeMetricFamily(
            "driftwarden_pending", "Items waiting for their partner.", labels=["model", "kind"]
        )
        for pending_key, count in sorted(snap.pending.items()):
            pending.add_metric(list(pending_key), count)
        yield pending
        yield _counter(
            "driftwarden_versions_evicted",
            "Model versions whose state was evicted to stay within max_versions.",
            ["model"],
            [((m,), n) for m, n in snap.evicted_versions.items()],
        )
        yield _delay_histogram(parts)
        perf = GaugeMetricFamily(
            "driftwarden_performance",
            "Online model performance.",
            labels=["model", "version", "metric", "window"],
        )
        for key, value in sorted(snap.performance.items()):
            perf.add_metric(list(key), value)
        yield perf
        lag = GaugeMetricFamily(
            "driftwarden_consumer_lag",
            "Messages behind the high watermark.",
            labels=["topic", "partition"],
        )
        for (topic, partition), value in sorted(snap.lag.items()):
            lag.add_metric([topic, str(partition)], value)
        yield lag
        yield from _drift_families(snap.drift)
        checkpoint = GaugeMetricFamily(
            "driftwarden_last_checkpoint_timestamp_seconds",
            "Unix time of the last completed checkpoint.",
        )
        if snap.last_checkpoint is not None:
            checkpoint.add_metric([], snap.last_checkpoint)
        yield checkpoint


def _by_partition(
    parts: list[tuple[int, StreamCounters]],
    items: Callable[[StreamCounters], Iterable[tuple[tuple[str, ...], int]]],
) -> list[tuple[tuple[str, ...], int]]:
    """Series of every partition, their label values extended by the partition number."""
    return [((*key, str(number)), value) for number, c in parts for key, value in items(c)]


def _counter(name: str, doc: str, labels: list[str], items: object) -> CounterMetricFamily:
    if name in _PER_PARTITION:
        labels = [*labels, "partition"]
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in sorted(items):  # type: ignore[call-overload]
        family.add_metric(list(key), value)
    return family


def _gauge(name: str, doc: str, labels: list[str], items: Mapping[Any, float]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in sorted(items.items()):
        family.add_metric(list(key), value)
    return family


def _drift_families(drift: DriftSnapshot) -> Iterator[Metric]:
    score_labels = ["model", "version", "feature", "statistic"]
    yield _gauge(
        "driftwarden_drift_score",
        "Latest drift score against the reference.",
        score_labels,
        drift.scores,
    )
    yield _gauge(
        "driftwarden_drift_threshold",
        "Alarm threshold of the drift score.",
        score_labels,
        drift.thresholds,
    )
    alarm_labels = ["model", "version", "kind", "feature"]
    yield _gauge(
        "driftwarden_drift_active", "1 while a drift alarm is active.", alarm_labels, drift.active
    )
    yield _counter(
        "driftwarden_drift_alarms", "Drift alarms entered.", alarm_labels, drift.alarms.items()
    )
    yield _gauge(
        "driftwarden_data_quality_ratio",
        "Share of the drift window failing a check.",
        ["model", "version", "feature", "check"],
        drift.quality,
    )
    yield _gauge(
        "driftwarden_reference_missing",
        "1 when a version has no reference profile.",
        ["model", "version"],
        drift.reference_missing,
    )


def _delay_histogram(parts: list[tuple[int, StreamCounters]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(
        "driftwarden_label_delay_seconds",
        "Event-time delay from prediction to label.",
        labels=["model", "partition"],
    )
    bounds = [*(repr(float(b)) for b in DELAY_BUCKETS), "+Inf"]
    for number, counters in parts:
        for model, counts in sorted(counters.delay_buckets.items()):
            cumulative, running = [], 0
            for bound, count in zip(bounds, counts, strict=True):
                running += count
                cumulative.append((bound, running))
            family.add_metric([model, str(number)], cumulative, sum_value=counters.delay_sum[model])
    return family
