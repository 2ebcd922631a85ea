"""A churn model's generated prediction and label streams, and their reference profile.

:func:`generate_stream` yields the records a binary classifier ``churn`` (features ``tenure``,
numeric, and ``plan``, categorical) and its delayed labels would put on the predictions and
labels topics, in the wire format; the same seed gives the same bytes.

>>> events = list(generate_stream(3, seed=1, max_delay=30))
>>> [(e.topic, e.key) for e in events]  # doctest: +NORMALIZE_WHITESPACE
[('predictions', b'p-0000000'), ('predictions', b'p-0000001'), ('predictions', b'p-0000002'),
 ('labels', b'p-0000000'), ('labels', b'p-0000001'), ('labels', b'p-0000002')]
>>> events == list(generate_stream(3, seed=1, max_delay=30))
True
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from driftwarden.core.profile import ReferenceProfile, build_profile
from driftwarden.testing.streams import START_TIMESTAMP

__all__ = ["StreamEvent", "generate_stream", "stream_profile"]


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One record of the stream: ``topic`` names the logical topic, not a Kafka topic."""

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
        ts = START_TIMESTAMP + i
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
