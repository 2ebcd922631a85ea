"""Everything the monitor checkpoints: join buffers and stream counters per input partition,
performance per model version, and the next offset of every input partition.

Counters live with the partition whose messages moved them, so the state of a partition (and what
it contributed to every counter) can move with it; exported counters are sums over partitions.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka.structs import TopicPartition

from driftwarden.core.keys import ModelVersion
from driftwarden.monitor.codec import (
    Doc,
    StateDecodeError,
    decode_fields,
    encode_fields,
    need,
    need_dict,
    need_int,
    need_list,
    need_str,
)
from driftwarden.monitor.drift.checks import VersionDrift
from driftwarden.monitor.estimation.window import VersionEstimation
from driftwarden.monitor.join import LabelJoin
from driftwarden.monitor.performance import VersionPerformance
from driftwarden.monitor.policy import PolicyMemory

__all__ = ["DELAY_BUCKETS", "DriftFactory", "MonitorState", "PartitionState", "StreamCounters"]

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

# Builds a version's drift checks from its reference profile; None: the version has none.
DriftFactory = Callable[[str, str], VersionDrift | None]


@dataclass
class StreamCounters:
    """Monotonic counts, keyed by the Prometheus label values of each series."""

    predictions: Counter[ModelVersion] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)  # model
    joined: Counter[ModelVersion] = field(default_factory=Counter)
    correct: Counter[ModelVersion] = field(default_factory=Counter)
    unmatched: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # model, kind, reason
    invalid: Counter[tuple[str, str]] = field(default_factory=Counter)  # topic, reason
    delay_buckets: dict[str, list[int]] = field(default_factory=dict)  # model -> bucket counts
    delay_sum: dict[str, float] = field(default_factory=dict)  # model
    retrain_requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # model, reason
    misrouted: Counter[str] = field(
        default_factory=Counter
    )  # topic (see driftwarden.monitor.routing)
    undeclared_features: Counter[str] = field(default_factory=Counter)  # model: values dropped

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
        total.undeclared_features.update(self.undeclared_features)
        for model, seconds in self.delay_sum.items():
            total.delay_sum[model] = total.delay_sum.get(model, 0.0) + seconds
        for model, buckets in self.delay_buckets.items():
            into = total.delay_buckets.setdefault(model, [0] * len(buckets))
            for i, count in enumerate(buckets):
                into[i] += count

    # -- state encoding (see driftwarden.monitor.codec): every field by its declared type
    # ----------------

    def to_state(self) -> Doc:
        return encode_fields(self)

    @classmethod
    def from_state(cls, doc: object) -> StreamCounters:
        counters = decode_fields(cls, doc, "counters")
        if any(len(b) != len(DELAY_BUCKETS) + 1 for b in counters.delay_buckets.values()):
            raise StateDecodeError(f"counters.delay_buckets must hold {len(DELAY_BUCKETS) + 1}")
        return counters


@dataclass
class PartitionState:
    """State owned by one input partition number (co-partitioned predictions and labels)."""

    joins: dict[str, LabelJoin] = field(default_factory=dict)  # model -> join
    counters: StreamCounters = field(default_factory=StreamCounters)

    # -- state encoding (see driftwarden.monitor.codec)
    # --------------------------------------------------

    def to_state(self) -> Doc:
        joins = [[model, join.to_state()] for model, join in self.joins.items()]
        return {"joins": joins, "counters": self.counters.to_state()}

    @classmethod
    def from_state(cls, doc: object) -> PartitionState:
        doc = need_dict(doc, "partition state")
        joins = {}
        for pair in need_list(need(doc, "joins"), "joins"):
            model, join = need_list(pair, "joins", 2)
            joins[need_str(model, "join model")] = LabelJoin.from_state(join)
        return cls(joins, StreamCounters.from_state(need(doc, "counters")))


@dataclass
class MonitorState:
    partitions: dict[int, PartitionState] = field(default_factory=dict)
    performance: dict[ModelVersion, VersionPerformance] = field(default_factory=dict)
    # None: the version has no reference profile; its events are still counted and joined.
    drift: dict[ModelVersion, VersionDrift | None] = field(default_factory=dict)
    policy: dict[str, PolicyMemory] = field(default_factory=dict)  # model -> retrain policy memory
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    # model -> versions holding state, least recently seen first (see driftwarden.monitor.versions)
    versions: dict[str, dict[str, None]] = field(default_factory=dict)
    evicted_versions: Counter[str] = field(default_factory=Counter)  # model
    # performance estimation (see driftwarden.monitor.estimation), models configured for it
    estimation: dict[ModelVersion, VersionEstimation] = field(default_factory=dict)

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

    # -- state encoding (see driftwarden.monitor.codec)
    # --------------------------------------------------

    def to_state(self) -> Doc:
        """The document; ``estimation`` (added later, additively) only when it holds any."""
        doc: Doc = {
            "partitions": [[n, p.to_state()] for n, p in self.partitions.items()],
            "performance": [[m, v, p.to_state()] for (m, v), p in self.performance.items()],
            "drift": [
                [m, v, None if d is None else d.to_state()] for (m, v), d in self.drift.items()
            ],
            "policy": [[model, encode_fields(memory)] for model, memory in self.policy.items()],
            "offsets": [[t, p, offset] for (t, p), offset in self.offsets.items()],
            "versions": [[model, list(seen)] for model, seen in self.versions.items()],
            "evicted_versions": list(self.evicted_versions.items()),
        }
        if self.estimation:
            doc["estimation"] = [[m, v, e.to_state()] for (m, v), e in self.estimation.items()]
        return doc

    @classmethod
    def from_state(cls, doc: object, drift: DriftFactory | None = None) -> MonitorState:
        """``drift`` builds a version's drift checks afresh from its reference profile; their
        windows, scores and alarms are then restored (see :meth:`VersionDrift.restore_state`).
        Without it, drift state is left out and rebuilt as events come."""
        doc = need_dict(doc, "monitor state")
        state = cls()
        for n, part in _rows(doc, "partitions", 2):
            state.partitions[need_int(n, "partition", 0)] = PartitionState.from_state(part)
        for m, v, perf in _rows(doc, "performance", 3):
            key = ModelVersion(need_str(m, "model"), need_str(v, "version"))
            state.performance[key] = VersionPerformance.from_state(perf)
        for m, v, saved in _rows(doc, "drift", 3):
            key = ModelVersion(need_str(m, "model"), need_str(v, "version"))
            if drift is not None:
                state.drift[key] = fresh = drift(*key)
                if fresh is not None and saved is not None:
                    fresh.restore_state(saved, f"{key[0]} {key[1]}")
        for model, memory in _rows(doc, "policy", 2):
            state.policy[need_str(model, "model")] = decode_fields(PolicyMemory, memory, "policy")
        for t, p, offset in _rows(doc, "offsets", 3):
            tp = TopicPartition(need_str(t, "topic"), need_int(p, "partition", 0))
            state.offsets[tp] = need_int(offset, "offset", 0)
        for model, seen in _rows(doc, "versions", 2):
            versions = need_list(seen, "versions")
            state.versions[need_str(model, "model")] = dict.fromkeys(
                need_str(v, "version") for v in versions
            )
        for model, count in _rows(doc, "evicted_versions", 2):
            state.evicted_versions[need_str(model, "model")] = need_int(count, "evicted", 0)
        for m, v, est in _rows(doc, "estimation", 3) if "estimation" in doc else []:
            key = ModelVersion(need_str(m, "model"), need_str(v, "version"))
            state.estimation[key] = VersionEstimation.from_state(est)
        return state


def _rows(doc: Doc, key: str, width: int) -> list[list[Any]]:
    return [need_list(row, key, width) for row in need_list(need(doc, key), key)]
