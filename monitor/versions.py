"""At most ``max_versions`` versions of a model hold state; the least recently seen is evicted.

``model_version`` comes from the events, so a flood of distinct versions (a bug in a model
server, or a hostile producer) would otherwise grow the per-version performance, drift state and
counters without bound. Each model keeps its versions in order of last use (a prediction of the
version, or a joined example of it). Admitting one more than ``max_versions`` evicts the least
recently seen (after ``max_versions`` was lowered, as many as it takes): its performance and
drift state are dropped, and its per-version counters are folded into the version
``EVICTED_VERSION`` of the same model, so that counter sums over versions keep growing
monotonically and still add up. A later event of an evicted version admits it again with fresh
state.

>>> from driftwarden.monitor.state import MonitorState, PartitionState
>>> state = MonitorState(partitions={0: PartitionState()})
>>> for version in ["1", "2", "1", "3"]:
...     state.partitions[0].counters.predictions[ModelVersion("churn", version)] += 1
...     _ = touch_version(state, "churn", version, limit=2)
>>> list(state.versions["churn"]), state.evicted_versions["churn"]
(['1', '3'], 1)
>>> {key.version: n for key, n in state.partitions[0].counters.predictions.items()}
{'1': 2, '3': 1, '__evicted__': 1}
"""

from __future__ import annotations

import logging

from driftwarden.core.keys import ModelVersion
from driftwarden.monitor.state import MonitorState

__all__ = ["EVICTED_VERSION", "touch_version"]

log = logging.getLogger(__name__)

EVICTED_VERSION = "__evicted__"


def touch_version(state: MonitorState, model: str, version: str, limit: int) -> list[str]:
    """Mark ``version`` as the most recently seen of ``model``; return the versions evicted to
    stay within ``limit`` (more than one only after ``limit`` was lowered)."""
    seen = state.versions.get(model)
    if seen is None:
        seen = state.versions[model] = {}
    elif seen and next(reversed(seen)) == version:
        return []  # already the most recent: the common case, one lookup
    if version in seen:
        del seen[version]  # re-inserted below: now the most recent
    seen[version] = None
    evicted = []
    while len(seen) > limit:
        oldest = next(iter(seen))
        del seen[oldest]
        _evict(state, model, oldest)
        evicted.append(oldest)
    return evicted


def _evict(state: MonitorState, model: str, version: str) -> None:
    key = ModelVersion(model, version)
    state.performance.pop(key, None)
    state.drift.pop(key, None)
    state.estimation.pop(key, None)
    state.evicted_versions[model] += 1
    into = ModelVersion(model, EVICTED_VERSION)
    for partition in state.partitions.values():
        counters = partition.counters
        for counter in (counters.predictions, counters.joined, counters.correct):
            count = counter.pop(key, 0)
            if count:
                counter[into] += count
    count = state.evicted_versions[model]
    if count == 1 or count % 1000 == 0:
        log.warning(
            "model %s: evicted the state of version %s, the least recently seen of more than "
            "models[].max_versions versions (%d evicted so far); raise max_versions if the model "
            "really serves that many versions at once",
            model,
            version,
            count,
        )
