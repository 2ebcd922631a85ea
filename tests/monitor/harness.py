"""Helpers for tests that run the monitor against the real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from driftwarden.cli.registries import profile_lookup
from driftwarden.config import parse_config
from driftwarden.monitor.app import MonitorService
from tests.helpers import ServiceThread, wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
CONSUMED_FAMILIES = ("driftwarden_predictions", "driftwarden_labels", "driftwarden_invalid_events")


def monitor_config(
    bootstrap: str, prefix: str, state_dir: Path, port: int = 0, **models: Any
) -> dict[str, Any]:
    model = {
        "name": "churn",
        "task": "binary",
        "positive_label": 1,
        "features": {"tenure": "numeric", "plan": "categorical"},
        "label_ttl": "1h",
        "window": 500,
        **models,
    }
    return {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": f"{prefix}-group",
            "session_timeout_ms": 4000,
            "heartbeat_interval_ms": 1000,
            "transactional_id": f"{prefix}-tx",
        },
        "topics": {
            name: f"{prefix}.{name}"
            for name in (
                "predictions",
                "labels",
                "events",
                "examples",
                "retrain_requests",
                "dead_letter",
            )
        },
        "http": {"host": "127.0.0.1", "port": port},
        "state": {"dir": str(state_dir), "checkpoint_every": "500ms"},
        "models": [model],
    }


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(config)))
    return path


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
    """Every record of ``topic`` (all partitions), waiting until at least ``expected`` arrived."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_uncommitted"
    )
    try:
        deadline = time.monotonic() + timeout
        partitions = None
        while partitions is None and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            time.sleep(0.05)
        assert partitions, f"topic {topic} not found"
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        consumer.seek_to_beginning()
        records: list[Any] = []
        idle = 0
        while time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=200)
            for batch in polled.values():
                records.extend(batch)
            idle = 0 if polled else idle + 1
            # Duplicates count towards ``expected``: go on to the high watermarks (or, where
            # transaction markers keep the position below them, until nothing more comes).
            if len(records) >= expected and (_at_end(consumer) or idle >= 3):
                return records
        return records
    finally:
        consumer.close()


def _at_end(consumer: KafkaConsumer) -> bool:
    """Every assigned partition read up to its high watermark (known after a fetch)."""
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is None or consumer.position(tp) < high:
            return False
    return True


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, lbl), v in samples.items() if n == name and wanted <= lbl)


def consumed(samples: Samples) -> float:
    return sum(total(samples, f"{family}_total") for family in CONSUMED_FAMILIES)


def stream_counters(samples: Samples) -> Samples:
    """The samples that must equal an uninterrupted run's (not lag, timestamps, reconnects)."""
    skip = (
        "driftwarden_consumer_lag",
        "driftwarden_last_checkpoint_timestamp_seconds",
        "driftwarden_kafka_reconnects",
    )
    return {
        key: value
        for key, value in samples.items()
        if key[0].startswith("driftwarden_") and not key[0].startswith(skip)
    }


@dataclass(frozen=True)
class Record:
    """A consumed record: the fields of kafka-python's ``ConsumerRecord`` that processing reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    timestamp: int = -1  # Kafka timestamp (ms); -1: none


class ThreadedMonitor:
    """The service on a thread of the test process."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        parsed = parse_config(dict(config))
        # the registry the config names, as `driftwarden monitor` chooses it (MLflow or the path)
        lookup = profile_lookup(parsed.registry.path, parsed.registry.mlflow_settings())
        self.service = MonitorService(parsed, model_registry=lookup)
        self._running = ServiceThread(self.service)

    @property
    def error(self) -> BaseException | None:
        """What the service raised, if it did."""
        return self._running.error

    def __enter__(self) -> ThreadedMonitor:
        self._running.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._running.__exit__(*exc)

    @property
    def url(self) -> str:
        http = wait_until(lambda: self.service.http, "the monitor's HTTP server", timeout=10)
        return f"http://127.0.0.1:{http.port}"

    def wait_consumed(self, expected: int, timeout: float = 60.0) -> Samples:
        return wait_consumed(f"{self.url}/metrics", expected, timeout, lambda: self.error is None)


class MonitorProcess:
    """``driftwarden monitor`` as a child process, for crash and signal tests."""

    def __init__(self, config_path: Path, port: int, log_path: Path) -> None:
        self.config_path, self.port, self.log_path = config_path, port, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MonitorProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "driftwarden", "monitor", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=1):  # noqa: S310
                return True
        except OSError:  # refused, reset or timed out (URLError is an OSError)
            return False

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            assert self.alive(), self.log_path.read_text()[-3000:]
            return self.ready()

        wait_until(ready, "the monitor to be ready", timeout)

    def wait_consumed(self, expected: int, timeout: float = 60.0) -> Samples:
        return wait_consumed(f"{self.url}/metrics", expected, timeout, self.alive)


def wait_consumed(url: str, expected: int, timeout: float, healthy: Any) -> Samples:
    samples: Samples = {}

    def all_consumed() -> bool:
        nonlocal samples
        assert healthy(), "monitor died"
        try:
            samples = scrape(url)
        except OSError:  # refused, reset or timed out (URLError is an OSError)
            return False
        return consumed(samples) >= expected

    wait_until(all_consumed, lambda: f"{expected} consumed (consumed {consumed(samples)})", timeout)
    # One more snapshot so gauges reflect the last batch too.
    time.sleep(1.2)
    return scrape(url)
