"""Metric definitions as data, and the builders that turn one into a Prometheus metric.

Every metric a service exports is a :class:`MetricSpec` in a catalogue
(:data:`driftwarden.core.metrics.METRICS`, :data:`driftwarden.monitor.metrics.METRICS`,
:data:`driftwarden.retrain.metrics.METRICS`); the collectors build their families and metrics
from the spec, so a name, its help and its label names are written once, and the metrics
reference is generated from the catalogues.

>>> from prometheus_client import CollectorRegistry
>>> runs = MetricSpec("driftwarden_example_runs", "counter", "Runs by outcome.", ("outcome",))
>>> registry = CollectorRegistry()
>>> counter(runs, registry).labels("ok").inc()
>>> registry.get_sample_value("driftwarden_example_runs_total", {"outcome": "ok"})
1.0
>>> family = counter_family(runs)
>>> family.add_metric(["failed"], 2)
>>> [(s.name, s.labels, s.value) for s in family.samples]
[('driftwarden_example_runs_total', {'outcome': 'failed'}, 2)]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

__all__ = [
    "MetricKind",
    "MetricSpec",
    "counter",
    "counter_family",
    "gauge",
    "gauge_family",
    "histogram",
    "histogram_family",
]

MetricKind = Literal["counter", "gauge", "histogram"]

_KINDS = ("counter", "gauge", "histogram")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_RESERVED_LABELS = frozenset({"le", "quantile"})  # added by histograms and summaries


@dataclass(frozen=True)
class MetricSpec:
    """One exported metric: its name, type, help text and label names.

    ``name`` is the name prometheus_client takes: a counter's without the ``_total`` its samples
    carry. Raises :class:`ValueError` for a name or label Prometheus would refuse.

    >>> MetricSpec("driftwarden_jobs_total", "counter", "Jobs.")
    Traceback (most recent call last):
    ...
    ValueError: counter driftwarden_jobs_total: drop the _total suffix, prometheus_client adds it
    """

    name: str
    kind: MetricKind
    help: str
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"{self.name}: kind must be one of {_KINDS}, got {self.kind!r}")
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"{self.kind} {self.name!r}: not a Prometheus metric name")
        if self.kind == "counter" and self.name.endswith("_total"):
            raise ValueError(
                f"counter {self.name}: drop the _total suffix, prometheus_client adds it"
            )
        for label in self.labels:
            if not _LABEL.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"{self.kind} {self.name}: {label!r} is not a label name")
            if label in _RESERVED_LABELS:
                raise ValueError(f"{self.kind} {self.name}: the label {label!r} is reserved")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"{self.kind} {self.name}: repeated label in {self.labels}")

    @property
    def samples(self) -> tuple[str, ...]:
        """The names of the samples the metric exposes.

        >>> MetricSpec("example_seconds", "histogram", "Waits.").samples
        ('example_seconds_bucket', 'example_seconds_count', 'example_seconds_sum')
        """
        if self.kind == "counter":
            return (f"{self.name}_total",)
        if self.kind == "histogram":
            return tuple(f"{self.name}_{suffix}" for suffix in ("bucket", "count", "sum"))
        return (self.name,)


def _expect(spec: MetricSpec, kind: MetricKind) -> None:
    if spec.kind != kind:
        raise ValueError(f"{spec.name} is a {spec.kind}, not a {kind}")


def counter_family(spec: MetricSpec) -> CounterMetricFamily:
    """An empty family of ``spec`` (a counter) for a collector to fill at scrape time."""
    _expect(spec, "counter")
    return CounterMetricFamily(spec.name, spec.help, labels=spec.labels)


def gauge_family(spec: MetricSpec) -> GaugeMetricFamily:
    """An empty family of ``spec`` (a gauge) for a collector to fill at scrape time."""
    _expect(spec, "gauge")
    return GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)


def histogram_family(spec: MetricSpec) -> HistogramMetricFamily:
    """An empty family of ``spec`` (a histogram) for a collector to fill at scrape time."""
    _expect(spec, "histogram")
    return HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)


def counter(spec: MetricSpec, registry: CollectorRegistry | None) -> Counter:
    """The counter of ``spec``, registered in ``registry`` (none: registered nowhere)."""
    _expect(spec, "counter")
    return Counter(spec.name, spec.help, spec.labels, registry=registry)


def gauge(spec: MetricSpec, registry: CollectorRegistry | None) -> Gauge:
    """The gauge of ``spec``, registered in ``registry`` (none: registered nowhere)."""
    _expect(spec, "gauge")
    return Gauge(spec.name, spec.help, spec.labels, registry=registry)


def histogram(
    spec: MetricSpec, registry: CollectorRegistry | None, buckets: Sequence[float]
) -> Histogram:
    """The histogram of ``spec`` with upper bounds ``buckets``, registered in ``registry``."""
    _expect(spec, "histogram")
    return Histogram(spec.name, spec.help, spec.labels, buckets=buckets, registry=registry)
