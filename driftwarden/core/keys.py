"""Named keys both services use: a model version, ``(model, version)``.

>>> key = ModelVersion("churn", "3")
>>> key.model, key.version, key == ("churn", "3")
('churn', '3', True)
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ModelVersion"]


class ModelVersion(NamedTuple):
    """One version of one model: the key of its performance, drift and counters.

    A tuple, so it encodes (state, metric labels) exactly as the pair it replaces."""

    model: str
    version: str
