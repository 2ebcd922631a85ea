"""The metric catalogues: Prometheus naming conventions, and the running services (against the
real broker) export exactly their catalogue, with the same types, help texts and label names."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from driftwarden.config import MonitorConfig, parse_config
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
from driftwarden.monitor.app import MonitorService
from driftwarden.retrain import metrics as retrain_metrics
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.retrain.worker import RetrainWorker
from driftwarden.testing.broker import TansuBroker, create_topics
from tests.conftest import TopicNames
from tests.monitor.harness import monitor_config, produce, wait_consumed
from tests.service_thread import serving

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


def scrape_families(url: str) -> dict[str, Metric]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def assert_exports_the_catalogue(
    scraped: dict[str, Metric], catalogue: tuple[MetricSpec, ...]
) -> None:
    """``scraped`` holds every family of ``catalogue`` and no other, as the catalogue says."""
    specs = {spec.name: spec for spec in catalogue}
    # prometheus_client's Counter and Histogram add a ``<name>_created`` family of their own.
    created = {f"{spec.name}_created": spec for spec in catalogue if spec.kind != "gauge"}
    for name, family in scraped.items():
        if name in created:
            assert family.documentation == created[name].help
            continue
        assert name in specs, f"{name} is exported but not in the catalogue"
        spec = specs[name]
        assert (family.type, family.documentation) == (spec.kind, spec.help), name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == set(spec.labels), (name, sample.labels)
    assert set(specs) <= set(scraped), f"not exported: {sorted(set(specs) - set(scraped))}"


def services_config(broker: TansuBroker, topic_names: TopicNames, tmp_path: Path) -> MonitorConfig:
    """The monitor and the worker of one model that has training, with one direct notifier."""
    config = monitor_config(broker.bootstrap, topic_names("cat"), tmp_path / "state", training={})
    config["registry"] = str(tmp_path / "registry")
    config["worker"] = {"http": {"host": "127.0.0.1", "port": 0}}
    # An event the monitor never sends: the notifier's metric, no traffic to its URL.
    config["notifiers"] = [
        {
            "name": "hook",
            "type": "webhook",
            "url": "http://127.0.0.1:9/",
            "events": ["model_promoted"],
        },
    ]
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=1)
    return parse_config(config)


def stream(predictions: str, labels: str, n: int) -> Iterator[tuple[str, bytes, bytes]]:
    """``n`` predictions of ``churn`` and their labels, five seconds later."""
    for i in range(n):
        key, ts = f"p{i}", 1_795_600_000.0 + i
        prediction = {
            "prediction_id": key,
            "model": "churn",
            "model_version": "1",
            "timestamp": ts,
            "features": {"tenure": float(i), "plan": "pro"},
            "prediction": i % 2,
            "scores": {"0": 0.4, "1": 0.6},
        }
        label = {"prediction_id": key, "model": "churn", "label": 1, "timestamp": ts + 5}
        yield predictions, key.encode(), orjson.dumps(prediction)
        yield labels, key.encode(), orjson.dumps(label)


@pytest.mark.kafka
def test_the_monitor_exports_exactly_its_catalogue(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = services_config(broker, topic_names, tmp_path)
    service = MonitorService(config, model_registry=ModelRegistry(config.registry))
    with serving(service) as url:
        topics = config.topics
        sent = produce(broker.bootstrap, stream(topics.predictions, topics.labels, 20))
        wait_consumed(f"{url}/metrics", sent, 60, lambda: True)
        scraped = scrape_families(url)
    assert_exports_the_catalogue(scraped, MONITOR)
    with_samples = {name for name, family in scraped.items() if family.samples}
    assert {
        "driftwarden_predictions",
        "driftwarden_joined",
        "driftwarden_pending",
        "driftwarden_label_delay_seconds",
        "driftwarden_performance",
        "driftwarden_notifications",
        "driftwarden_http_connections_dropped",
    } <= with_samples, "the label names were compared on too few series"


@pytest.mark.kafka
def test_the_worker_exports_exactly_its_catalogue(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = services_config(broker, topic_names, tmp_path)
    worker = RetrainWorker(RetrainSettings.from_config(config))
    with serving(worker) as url:
        scraped = scrape_families(url)
    assert_exports_the_catalogue(scraped, WORKER)
    with_samples = {name for name, family in scraped.items() if family.samples}
    assert {
        "driftwarden_retrain_requests_rejected",
        "driftwarden_retrain_runs",
        "driftwarden_retrain_duration_seconds",
        "driftwarden_approvals_pending",
        "driftwarden_http_connections_open",
    } <= with_samples, "the label names were compared on too few series"
