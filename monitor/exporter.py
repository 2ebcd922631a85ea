"""Prometheus export: a collector over snapshots of the monitor state, and the HTTP endpoints.

The consumer thread alone touches the state; it publishes an immutable :class:`MetricsSnapshot`
that the collector reads at scrape time, so a scrape never races a batch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from monitor.state import DELAY_BUCKETS, MonitorState, StreamCounters

__all__ = ["DriftSnapshot", "MetricsSnapshot", "MonitorCollector"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricsSnapshot:
    counters: StreamCounters = field(default_factory=StreamCounters)
    pending: dict[tuple[str, str], int] = field(default_factory=dict)
    performance: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    last_checkpoint: float | None = None
    drift: DriftSnapshot = field(default_factory=lambda: DriftSnapshot())
    evicted_versions: dict[str, int] = field(default_factory=dict)  # model

    @classmethod
    def of(
        cls,
        state: MonitorState,
        models: list[str],
        lag: dict[tuple[str, int], int],
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
            state.totals(),
            pending,
            performance,
            dict(lag),
            last_checkpoint,
            DriftSnapshot.of(state),
            {model: state.evicted_versions[model] for model in models},
        )


@dataclass(frozen=True)
class DriftSnapshot:
    scores: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    thresholds: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    active: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    alarms: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    quality: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    reference_missing: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def of(cls, state: MonitorState) -> DriftSnapshot:
        snap = cls()
        for (model, version), drift in state.drift.items():
            snap.reference_missing[(model, version)] = int(drift is None)
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
        c = snap.counters
        yield _counter(
            "driftwarden_predictions",
            "Prediction events applied.",
            ["model", "version"],
            c.predictions.items(),
        )
        yield _counter(
            "driftwarden_labels",
            "Label events applied.",
            ["model"],
            [((m,), n) for m, n in c.labels.items()],
        )
        yield _counter(
            "driftwarden_joined",
            "Labels joined to their prediction.",
            ["model", "version"],
            c.joined.items(),
        )
        yield _counter(
            "driftwarden_correct",
            "Joined classifications that were correct.",
            ["model", "version"],
            c.correct.items(),
        )
        yield _counter(
            "driftwarden_unmatched",
            "Predictions or labels dropped unjoined.",
            ["model", "kind", "reason"],
            c.unmatched.items(),
        )
        yield _counter(
            "driftwarden_retrain_requests",
            "Retrain requests the monitor published.",
            ["model", "reason"],
            c.retrain_requests.items(),
        )
        yield _counter(
            "driftwarden_invalid_events",
            "Messages sent to the dead-letter topic.",
            ["topic", "reason"],
            c.invalid.items(),
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
        yield _delay_histogram(c)
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


def _counter(name: str, doc: str, labels: list[str], items: object) -> CounterMetricFamily:
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


def _delay_histogram(counters: StreamCounters) -> HistogramMetricFamily:
    family = HistogramMetricFamily(
        "driftwarden_label_delay_seconds",
        "Event-time delay from prediction to label.",
        labels=["model"],
    )
    bounds = [*(repr(float(b)) for b in DELAY_BUCKETS), "+Inf"]
    for model, counts in sorted(counters.delay_buckets.items()):
        cumulative, running = [], 0
        for bound, count in zip(bounds, counts, strict=True):
            running += count
            cumulative.append((bound, running))
        family.add_metric([model], cumulative, sum_value=counters.delay_sum[model])
    return family
