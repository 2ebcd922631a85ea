"""``driftwarden demo``: a generated stream replayed through the monitor on an embedded broker."""

from __future__ import annotations

import heapq
import random
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer

from monitor.app import MonitorService
from monitor.config import MonitorConfig, parse_config
from monitor.embedded_broker import TansuBroker, create_topics
from monitor.errors import MonitorError

__all__ = ["StreamEvent", "generate_stream", "run_demo"]

_START = 1_795_600_000.0  # 2026-11-25T08:26:40Z


@dataclass(frozen=True, slots=True)
class StreamEvent:
    topic: str  # "predictions" or "labels"
    key: bytes
    value: bytes


def generate_stream(
    events: int,
    seed: int = 0,
    model: str = "churn",
    max_delay: float = 900.0,
    shift_at: int | None = None,
) -> Iterator[StreamEvent]:
    """Predictions of a binary classifier one second apart; each label comes 30 s to
    ``max_delay`` later and is published when its time comes, so the label stream is in time
    order and trails the predictions. About 80% of predictions are right. From event
    ``shift_at`` on, ``tenure`` moves up by one standard deviation (a covariate shift).
    """
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    due: list[tuple[float, bytes, bytes]] = []
    for i in range(events):
        ts = _START + i
        while due and due[0][0] <= ts:
            _, key, value = heapq.heappop(due)
            yield StreamEvent("labels", key, value)
        pid = f"p-{i:07d}"
        tenure = rng.gauss(24 if shift_at is None or i < shift_at else 32, 8)
        score = min(max(rng.gauss(0.3 + tenure / 60, 0.2), 0.01), 0.99)
        prediction = int(score >= 0.5)
        label = prediction if rng.random() < 0.8 else 1 - prediction
        yield StreamEvent(
            "predictions",
            pid.encode(),
            orjson.dumps(
                {
                    "schema": 1,
                    "prediction_id": pid,
                    "model": model,
                    "model_version": "1",
                    "timestamp": ts,
                    "features": {
                        "tenure": round(tenure, 2),
                        "plan": rng.choice(["basic", "pro", "team"]),
                    },
                    "prediction": prediction,
                    "scores": {"0": 1 - score, "1": score},
                }
            ),
        )
        label_ts = ts + rng.uniform(30, max(max_delay, 30))
        heapq.heappush(
            due,
            (
                label_ts,
                pid.encode(),
                orjson.dumps(
                    {
                        "schema": 1,
                        "prediction_id": pid,
                        "model": model,
                        "label": label,
                        "timestamp": label_ts,
                    }
                ),
            ),
        )
    while due:
        _, key, value = heapq.heappop(due)
        yield StreamEvent("labels", key, value)


def demo_config(bootstrap: str, prefix: str, state_dir: Path) -> MonitorConfig:
    return parse_config(
        {
            "kafka": {
                "bootstrap_servers": bootstrap,
                "group_id": f"{prefix}monitor",
                "session_timeout_ms": 6000,
                "heartbeat_interval_ms": 1500,
            },
            "topics": {
                name: f"{prefix}{name}"
                for name in (
                    "predictions",
                    "labels",
                    "events",
                    "examples",
                    "retrain_requests",
                    "dead_letter",
                )
            },
            "http": {"host": "127.0.0.1", "port": 0},
            "state": {"dir": str(state_dir), "checkpoint_every": "1s"},
            "models": [
                {
                    "name": "churn",
                    "task": "binary",
                    "positive_label": 1,
                    "features": {"tenure": "numeric", "plan": "categorical"},
                    "label_ttl": "1h",
                    "window": 1000,
                }
            ],
        },
        source="demo",
    )


def run_demo(events: int, seed: int, bootstrap: str | None) -> int:
    with ExitStack() as stack:
        if bootstrap is None:
            bootstrap = stack.enter_context(TansuBroker()).bootstrap
            print(f"embedded broker on {bootstrap}")
        prefix = f"driftwarden-demo-{uuid.uuid4().hex[:8]}."
        state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="driftwarden-")))
        config = demo_config(bootstrap, prefix, state_dir)
        create_topics(bootstrap, [config.topics.predictions, config.topics.labels], partitions=2)
        sent = _replay(bootstrap, config, generate_stream(events, seed))
        print(f"replayed {sent} messages ({events} predictions and their labels)")
        service = MonitorService(config)
        thread = threading.Thread(target=service.run, name="monitor", daemon=True)
        started = time.monotonic()
        thread.start()
        stack.callback(thread.join, 30)
        stack.callback(service.stop)
        _wait_consumed(service, sent, timeout=120)
        elapsed = time.monotonic() - started
        assert service.http is not None  # noqa: S101 - set before the loop runs
        url = f"http://127.0.0.1:{service.http.port}/metrics"
        print(f"monitor consumed everything in {elapsed:.1f}s; metrics at {url}:\n")
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            for line in response.read().decode().splitlines():
                if line.startswith("driftwarden_") and "_bucket" not in line:
                    print(f"  {line}")
    return 0


def _replay(bootstrap: str, config: MonitorConfig, stream: Iterator[StreamEvent]) -> int:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, batch_size=262144)
    topics = {"predictions": config.topics.predictions, "labels": config.topics.labels}
    count = 0
    for event in stream:
        producer.send(topics[event.topic], key=event.key, value=event.value)
        count += 1
    producer.flush()
    producer.close()
    return count


def _wait_consumed(service: MonitorService, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _consumed(service) >= expected:
            return
        time.sleep(0.2)
    raise MonitorError(
        f"the monitor consumed {_consumed(service)} of {expected} messages in {timeout:.0f}s"
    )


def _consumed(service: MonitorService) -> int:
    counters = service.collector.snapshot.counters
    total: Any = sum(counters.predictions.values()) + sum(counters.labels.values())
    return int(total + sum(counters.invalid.values()))
