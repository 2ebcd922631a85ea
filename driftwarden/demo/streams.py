"""Generated prediction/label streams and a ready-made config, for tests and benchmarks."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from driftwarden.config import MonitorConfig, parse_config
from driftwarden.core.profile import ReferenceProfile, build_profile

__all__ = ["StreamEvent", "demo_config", "generate_stream", "stream_profile"]

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


def stream_profile(events: int = 10_000, seed: int = 100) -> ReferenceProfile:
    """A reference profile of :func:`generate_stream` (before any shift): its features,
    predictions and labels, as a model trained on that stretch would have seen them."""
    rows: dict[bytes, dict[str, object]] = {}
    for event in generate_stream(events, seed=seed):
        doc = orjson.loads(event.value)
        row = rows.setdefault(event.key, {})
        if event.topic == "predictions":
            row.update(doc["features"], prediction=doc["prediction"])
        else:
            row["label"] = doc["label"]
    names = ("tenure", "plan", "prediction", "label")
    columns: dict[str, list[object]] = {n: [row[n] for row in rows.values()] for n in names}
    types = {"tenure": "numeric", "plan": "categorical"}
    return build_profile(
        "churn", columns, types, prediction="prediction", label="label", task="binary"
    )


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
                    # Synthetic event time (one event a second from a fixed start) can run
                    # ahead of the Kafka timestamps of long streams: no future check.
                    "future_tolerance": None,
                }
            ],
        },
        source="demo",
    )
