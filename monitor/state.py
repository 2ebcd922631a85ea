"""Everything the monitor checkpoints: join buffers and stream counters per input partition,
performance per model version, and the next offset of every input partition.

Counters live with the partition whose messages moved them, so the state of a partition (and what
it contributed to every counter) can move with it; exported counters are sums over partitions.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.drift.checks import VersionDrift
from monitor.join import LabelJoin
from monitor.performance import VersionPerformance
from monitor.policy import PolicyMemory

__all__ = ["DELAY_BUCKETS", "MonitorState", "PartitionState", "StreamCounters"]

# Label delay histogram bucket upper bounds, in seconds (+Inf is implicit).
DELAY_BUCKETS: tuple[float, ...] = (
    1,
    10,
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    3 * 86400,
    7 * 86400,
)

TopicPartition = tuple[str, int]


@dataclass
class StreamCounters:
    """Monotonic counts, keyed by the Prometheus label values of each series."""

    predictions: Counter[tuple[str, str]] = field(default_factory=Counter)  # model, version
    labels: Counter[str] = field(default_factory=Counter)  # model
    joined: Counter[tuple[str, str]] = field(default_factory=Counter)  # model, version
    correct: Counter[tuple[str, str]] = field(default_factory=Counter)  # model, version
    unmatched: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # model, kind, reason
    invalid: Counter[tuple[str, str]] = field(default_factory=Counter)  # topic, reason
    delay_buckets: dict[str, list[int]] = field(default_factory=dict)  # model -> bucket counts
    delay_sum: dict[str, float] = field(default_factory=dict)  # model
    retrain_requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # model, reason
    misrouted: Counter[str] = field(default_factory=Counter)  # topic (see monitor.routing)

    def observe_delay(self, model: str, seconds: float) -> None:
        buckets = self.delay_buckets.get(model)
        if buckets is None:
            buckets = self.delay_buckets[model] = [0] * (len(DELAY_BUCKETS) + 1)
        seconds = max(seconds, 0.0)
        buckets[bisect.bisect_left(DELAY_BUCKETS, seconds)] += 1
        self.delay_sum[model] = self.delay_sum.get(model, 0.0) + seconds

    @classmethod
    def total(cls, parts: Iterable[StreamCounters]) -> StreamCounters:
        """The sum of ``parts``."""
        total = cls()
        for part in parts:
            part.merge_into(total)
        return total

    def merge_into(self, total: StreamCounters) -> None:
        total.predictions.update(self.predictions)
        total.labels.update(self.labels)
        total.joined.update(self.joined)
        total.correct.update(self.correct)
        total.unmatched.update(self.unmatched)
        total.retrain_requests.update(self.retrain_requests)
        total.invalid.update(self.invalid)
        total.misrouted.update(self.misrouted)
        for model, seconds in self.delay_sum.items():
            total.delay_sum[model] = total.delay_sum.get(model, 0.0) + seconds
        for model, buckets in self.delay_buckets.items():
            into = total.delay_buckets.setdefault(model, [0] * len(buckets))
            for i, count in enumerate(buckets):
                into[i] += count


@dataclass
class PartitionState:
    """State owned by one input partition number (co-partitioned predictions and labels)."""

    joins: dict[str, LabelJoin] = field(default_factory=dict)  # model -> join
    counters: StreamCounters = field(default_factory=StreamCounters)


@dataclass
class MonitorState:
    partitions: dict[int, PartitionState] = field(default_factory=dict)
    performance: dict[tuple[str, str], VersionPerformance] = field(default_factory=dict)
    # None: the version has no reference profile; its events are still counted and joined.
    drift: dict[tuple[str, str], VersionDrift | None] = field(default_factory=dict)
    policy: dict[str, PolicyMemory] = field(default_factory=dict)  # model -> retrain policy memory
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    # model -> versions holding state, least recently seen first (see monitor.versions)
    versions: dict[str, dict[str, None]] = field(default_factory=dict)
    evicted_versions: Counter[str] = field(default_factory=Counter)  # model

    def __setstate__(self, saved: dict[str, object]) -> None:
        """Restore checkpoints written before a field existed: missing fields start empty."""
        self.__dict__.update({"drift": {}, "policy": {}, "evicted_versions": Counter(), **saved})
        if "versions" not in saved:
            self.versions = {}
            for model, version in [*self.performance, *self.drift]:
                self.versions.setdefault(model, {})[version] = None

    def totals(self) -> StreamCounters:
        return StreamCounters.total(p.counters for p in self.partitions.values())

    def pending(self) -> Counter[tuple[str, str]]:
        """Waiting items by (model, kind), kind being ``prediction`` or ``label``."""
        counts: Counter[tuple[str, str]] = Counter()
        for partition in self.partitions.values():
            for model, join in partition.joins.items():
                counts[(model, "prediction")] += join.pending_predictions
                counts[(model, "label")] += join.pending_labels
        return counts
