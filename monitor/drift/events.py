"""``drift_detected`` / ``drift_resolved`` events for the events topic (schema 1)."""

from __future__ import annotations

import math

import orjson

from driftwarden.monitor.drift.checks import Evaluation
from driftwarden.monitor.events import format_timestamp

__all__ = ["drift_events"]


def drift_events(model: str, version: str, evaluation: Evaluation) -> list[bytes]:
    """One event for the alarms that entered and one for those that resolved, if any.

    >>> from driftwarden.monitor.drift.alarms import Transition
    >>> t = Transition("data", "tenure", "ks", 0.31, 0.12, entered=True)
    >>> window = {"size": 2000.0, "first_timestamp": 0.0, "last_timestamp": 60.0}
    >>> [raw] = drift_events("churn", "3", Evaluation("data", [t], 0, window, 500))
    >>> doc = orjson.loads(raw)
    >>> doc["type"], doc["features"], doc["window"]["last_timestamp"], doc["timestamp"]
    ('drift_detected', [{'name': 'tenure', 'statistic': 'ks', 'score': 0.31, 'threshold': 0.12}], \
'1970-01-01T00:01:00Z', '1970-01-01T00:01:00Z')
    """
    out = []
    for entered, kind in ((True, "drift_detected"), (False, "drift_resolved")):
        moved = [t for t in evaluation.transitions if t.entered is entered]
        if not moved:
            continue
        window = evaluation.window
        out.append(
            orjson.dumps(
                {
                    "schema": 1,
                    "type": kind,
                    "model": model,
                    "version": version,
                    "kind": evaluation.kind,
                    "features": [
                        {
                            "name": t.feature,
                            "statistic": t.statistic,
                            "score": _finite(t.score),
                            "threshold": _finite(t.threshold),
                        }
                        for t in moved
                    ],
                    "window": {
                        "size": int(window["size"]),
                        "first_timestamp": format_timestamp(window["first_timestamp"]),
                        "last_timestamp": format_timestamp(window["last_timestamp"]),
                    },
                    "events_seen": evaluation.events_seen,
                    "timestamp": format_timestamp(window["last_timestamp"]),
                }
            )
        )
    return out


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
