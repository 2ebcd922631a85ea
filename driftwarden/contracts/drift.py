"""``drift_detected`` / ``drift_resolved`` events on the events topic (schema 1), key = model.

One event per evaluation for the alarms that entered and one for those that resolved, if any;
scores and thresholds that are not finite are written as ``null``.

>>> from types import SimpleNamespace
>>> t = SimpleNamespace(feature="tenure", statistic="ks", score=0.31, threshold=0.12, entered=True)
>>> window = {"size": 2000.0, "first_timestamp": 0.0, "last_timestamp": 60.0}
>>> evaluation = SimpleNamespace(kind="data", transitions=[t], window=window, events_seen=500)
>>> [raw] = drift_events("churn", "3", evaluation)
>>> doc = orjson.loads(raw)
>>> doc["type"], doc["features"], doc["window"]["last_timestamp"], doc["timestamp"]
('drift_detected', [{'name': 'tenure', 'statistic': 'ks', 'score': 0.31, 'threshold': 0.12}], \
'1970-01-01T00:01:00Z', '1970-01-01T00:01:00Z')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import orjson

from driftwarden.contracts.schema import SCHEMA_VERSION
from driftwarden.core.timestamps import format_timestamp

__all__ = ["DRIFT_DETECTED", "DRIFT_RESOLVED", "DriftEvaluation", "DriftTransition", "drift_events"]

DRIFT_DETECTED = "drift_detected"
DRIFT_RESOLVED = "drift_resolved"


class DriftTransition(Protocol):
    """An alarm of one feature that entered (``entered``) or resolved."""

    @property
    def feature(self) -> str: ...
    @property
    def statistic(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def entered(self) -> bool: ...


class DriftEvaluation(Protocol):
    """One drift check of a window: its ``kind``, its transitions and the window it covered
    (``size``, ``first_timestamp``, ``last_timestamp`` in epoch seconds)."""

    @property
    def kind(self) -> str: ...
    @property
    def transitions(self) -> Sequence[DriftTransition]: ...
    @property
    def window(self) -> Mapping[str, float]: ...
    @property
    def events_seen(self) -> int: ...


def drift_events(model: str, version: str, evaluation: DriftEvaluation) -> list[bytes]:
    """The events of ``evaluation``: entered alarms first, then resolved ones (see above)."""
    out = []
    for entered, kind in ((True, DRIFT_DETECTED), (False, DRIFT_RESOLVED)):
        moved = [t for t in evaluation.transitions if t.entered is entered]
        if not moved:
            continue
        window = evaluation.window
        out.append(
            orjson.dumps(
                {
                    "schema": SCHEMA_VERSION,
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
