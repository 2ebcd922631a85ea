"""The metric catalogues follow Prometheus naming conventions and cover what the services
export (the export itself, against the real broker: ``tests/test_metric_export.py``)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from driftwarden.core import metrics as core_metrics
from driftwarden.core.metric_spec import (
    MetricSpec,
    counter,
    counter_family,
    gauge,
    gauge_family,
    histogram,
    histogram_family,
)
from driftwarden.monitor import metrics as monitor_metrics
from driftwarden.retrain import metrics as retrain_metrics

CATALOGUES = {
    "core": core_metrics.METRICS,
    "monitor": monitor_metrics.METRICS,
    "retrain": retrain_metrics.METRICS,
}
ALL = [spec for catalogue in CATALOGUES.values() for spec in catalogue]
# What each service exports: the worker registers no notifier metric (its runs notify from
# their own processes).
MONITOR = (*monitor_metrics.METRICS, *core_metrics.METRICS)
WORKER = (
    *retrain_metrics.METRICS,
    core_metrics.HTTP_CONNECTIONS_DROPPED,
    core_metrics.HTTP_CONNECTIONS_OPEN,
)
SERVICES = {"monitor": MONITOR, "worker": WORKER}

SNAKE = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"
SAMPLE_SUFFIXES = ("_total", "_count", "_sum", "_bucket", "_created")


@pytest.mark.parametrize("spec", ALL, ids=lambda spec: spec.name)
def test_names_help_and_labels_follow_the_conventions(spec: MetricSpec) -> None:
    assert isinstance(spec, MetricSpec)
    assert re.fullmatch(f"driftwarden_{SNAKE}", spec.name)
    assert not spec.name.endswith(SAMPLE_SUFFIXES), "a suffix the exposition adds"
    if "seconds" in spec.name:
        assert spec.name.endswith("_seconds"), "the unit goes last"
    if "timestamp" in spec.name:
        assert spec.name.endswith("_timestamp_seconds") and spec.kind == "gauge"
    if spec.kind == "histogram":
        assert spec.name.endswith("_seconds"), "a histogram observes a quantity in base units"
    assert spec.help and spec.help == spec.help.strip() and "\n" not in spec.help
    assert all(re.fullmatch(SNAKE, label) for label in spec.labels)


def test_every_catalogued_metric_is_exported_by_a_service() -> None:
    exported = [spec for specs in SERVICES.values() for spec in specs]
    assert set(exported) == set(ALL)


@pytest.mark.parametrize("service", SERVICES)
def test_names_and_samples_are_unique_per_service(service: str) -> None:
    specs = SERVICES[service]
    names = [spec.name for spec in specs]
    assert len(names) == len(set(names))
    samples = [sample for spec in specs for sample in spec.samples]
    assert len(samples) == len(set(samples)), "two families expose a sample of the same name"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("driftwarden_jobs_total", "counter", "Jobs."), "drop the _total suffix"),
        (("driftwarden-jobs", "gauge", "Jobs."), "not a Prometheus metric name"),
        (("driftwarden_jobs", "summary", "Jobs."), "kind must be one of"),
        (("driftwarden_wait_seconds", "histogram", "W.", ("le",)), "label 'le' is reserved"),
        (("driftwarden_jobs", "gauge", "Jobs.", ("__name",)), "is not a label name"),
        (("driftwarden_jobs", "gauge", "Jobs.", ("model", "model")), "repeated label"),
    ],
)
def test_a_spec_prometheus_would_refuse_is_refused(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        MetricSpec(*args)


def test_builders_write_the_spec_and_refuse_another_kind() -> None:
    jobs = MetricSpec("driftwarden_jobs", "counter", "Jobs.", ("model",))
    depth = MetricSpec("driftwarden_depth", "gauge", "Depth.", ("model",))
    wait = MetricSpec("driftwarden_wait_seconds", "histogram", "Waits.", ("model",))
    registry = CollectorRegistry()
    counter(jobs, registry).labels("m").inc(2)
    gauge(depth, registry).labels("m").set(7)
    histogram(wait, registry, (1.0, 5.0)).labels("m").observe(3)
    assert registry.get_sample_value("driftwarden_jobs_total", {"model": "m"}) == 2
    assert registry.get_sample_value("driftwarden_depth", {"model": "m"}) == 7
    assert registry.get_sample_value("driftwarden_wait_seconds_bucket", {"model": "m", "le": "5.0"})
    collected = {family.name: family for family in registry.collect()}
    for spec in (jobs, depth, wait):
        assert (collected[spec.name].type, collected[spec.name].documentation) == (
            spec.kind,
            spec.help,
        )
    for build, wrong in ((counter_family, depth), (gauge_family, wait), (histogram_family, jobs)):
        with pytest.raises(ValueError, match=f"{wrong.name} is a {wrong.kind}"):
            build(wrong)
