"""``estimation_diverged`` events on the events topic (schema 1), key = model.

Published when, for ``windows`` reconciled windows in a row, the realized value of a metric fell
outside the band of its label-free estimate: the estimate cannot be trusted for this version.
``metrics`` lists the diverged metrics with the last window's estimate, band and realized value;
values that are not finite are written as ``null``.

>>> from types import SimpleNamespace
>>> check = SimpleNamespace(value=0.9, lower=0.88, upper=0.92, realized=0.7)
>>> window = SimpleNamespace(size=1000, labeled=990, first_timestamp=0.0, last_timestamp=60.0)
>>> doc = orjson.loads(estimation_diverged_event("churn", "3", {"accuracy": check}, 3, window))
>>> doc["type"], doc["metrics"][0]["metric"], doc["windows"], doc["timestamp"]
('estimation_diverged', 'accuracy', 3, '1970-01-01T00:01:00Z')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

import orjson

from driftwarden.contracts.schema import SCHEMA_VERSION
from driftwarden.core.timestamps import format_timestamp

__all__ = ["ESTIMATION_DIVERGED", "DivergedMetric", "ReconciledWindow", "estimation_diverged_event"]

ESTIMATION_DIVERGED = "estimation_diverged"

REASON = (
    "the realized value fell outside the estimate's sampling band for {windows} reconciled "
    "windows in a row: the label-free estimate cannot be trusted for this version. The usual "
    "reason is concept drift (P(y|x) changed, which no estimate from the inputs can see); "
    "otherwise the calibration no longer holds: rebuild the profile with scores, or retrain"
)


class DivergedMetric(Protocol):
    @property
    def value(self) -> float: ...
    @property
    def lower(self) -> float: ...
    @property
    def upper(self) -> float: ...
    @property
    def realized(self) -> float: ...


class ReconciledWindow(Protocol):
    @property
    def size(self) -> int: ...
    @property
    def labeled(self) -> int: ...
    @property
    def first_timestamp(self) -> float: ...
    @property
    def last_timestamp(self) -> float: ...


def estimation_diverged_event(
    model: str,
    version: str,
    metrics: Mapping[str, DivergedMetric],
    windows: int,
    window: ReconciledWindow,
) -> bytes:
    """The event of ``metrics`` diverging for ``windows`` windows, the last being ``window``."""
    return orjson.dumps(
        {
            "schema": SCHEMA_VERSION,
            "type": ESTIMATION_DIVERGED,
            "model": model,
            "version": version,
            "metrics": [
                {
                    "metric": name,
                    "estimated": _finite(m.value),
                    "lower": _finite(m.lower),
                    "upper": _finite(m.upper),
                    "realized": _finite(m.realized),
                }
                for name, m in sorted(metrics.items())
            ],
            "windows": windows,
            "window": {
                "size": window.size,
                "labeled": window.labeled,
                "first_timestamp": format_timestamp(window.first_timestamp),
                "last_timestamp": format_timestamp(window.last_timestamp),
            },
            "reason": REASON.format(windows=windows),
            "timestamp": format_timestamp(window.last_timestamp),
        }
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
