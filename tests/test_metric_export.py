"""The running services (against the real broker) export exactly their metric catalogue, with
the same types, help texts and label names."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from driftwarden.config import MonitorConfig, parse_config
from driftwarden.core.metric_spec import MetricSpec
from driftwarden.monitor.app import MonitorService
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.retrain.worker import RetrainWorker
from driftwarden.testing import TansuBroker, create_topics, produce
from tests.conftest import TopicNames
from tests.helpers import serving
from tests.monitor.harness import monitor_config, wait_consumed
from tests.test_metric_catalogue import MONITOR, WORKER

pytestmark = pytest.mark.kafka


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
    config = monitor_config(
        broker.bootstrap, topic_names("cat"), tmp_path / "state", training={}, estimation={}
    )
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


def test_the_monitor_exports_exactly_its_catalogue(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = services_config(broker, topic_names, tmp_path)
    service = MonitorService(config, model_registry=ModelRegistry(config.registry.path))
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
        "driftwarden_estimated_performance",
        "driftwarden_estimation_calibrated",
        "driftwarden_notifications",
        "driftwarden_http_connections_dropped",
    } <= with_samples, "the label names were compared on too few series"


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
