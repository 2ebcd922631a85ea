"""Bounded resources at the processor: label storms, prediction floods, version floods.

Pure processing, no broker: records are fed to ``StreamProcessor`` in micro-batches of varied
sizes, as polls would deliver them. The bound must hold in total over the input partitions,
every dropped item must be counted, and the state must stop growing once the buffers are full.
"""

from __future__ import annotations

import gc
import itertools
import pickle
import random
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from driftwarden.config import MonitorConfig, parse_config
from driftwarden.core.profile import ReferenceProfile, build_profile
from driftwarden.core.tasks import Task
from driftwarden.monitor.performance import OTHER_CLASS, OTHER_MISMATCH, VersionPerformance
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.shares import pending_share
from driftwarden.monitor.state import MonitorState
from driftwarden.monitor.versions import EVICTED_VERSION
from driftwarden.testing import generate_stream
from tests.monitor.harness import Record

PREDICTIONS, LABELS = "in.predictions", "in.labels"
MODEL = "churn"


def config(**model: Any) -> MonitorConfig:
    return parse_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:1"},
            "topics": {"predictions": PREDICTIONS, "labels": LABELS},
            "models": [
                {
                    "name": MODEL,
                    "task": "binary",
                    "positive_label": 1,
                    "features": {"tenure": "numeric", "plan": "categorical"},
                    "label_ttl": "1h",
                    "window": 50,
                    # A fixed threshold: no calibration per version, the windows are the same.
                    "drift": {"window": 100, "every": 50, "features": {"threshold": 0.3}},
                    **model,
                }
            ],
        }
    )


def prediction(pid: str, ts: float, version: str = "1") -> bytes:
    return orjson.dumps(
        {
            "prediction_id": pid,
            "model": MODEL,
            "model_version": version,
            "timestamp": ts,
            "features": {"tenure": float(len(pid) % 40), "plan": "pro"},
            "prediction": 1,
            "scores": {"1": 0.7, "0": 0.3},
        }
    )


def label(pid: str, ts: float) -> bytes:
    return orjson.dumps({"prediction_id": pid, "model": MODEL, "label": 1, "timestamp": ts})


class Feed:
    """Assigns partitions by key and offsets per topic partition, like a producer and broker."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.offsets: dict[tuple[str, int], int] = {}

    def record(self, topic: str, key: str, value: bytes) -> Record:
        partition = zlib.crc32(key.encode()) % self.partitions
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        return Record(topic, partition, offset, key.encode(), value)


def storm(feed: Feed, events: int, kind: str, start: int = 0) -> Iterator[Record]:
    """Labels (kind "label") or predictions ("prediction") whose ids never meet a partner;
    every event at the same time, so nothing expires: only ``max_pending`` can bound them."""
    for i in range(start, start + events):
        if kind == "label":
            yield feed.record(LABELS, f"orphan-{i}", label(f"orphan-{i}", 1000.0))
        else:
            yield feed.record(PREDICTIONS, f"flood-{i}", prediction(f"flood-{i}", 1000.0))


def polls(records: Iterator[Record], seed: int = 0) -> Iterator[list[Record]]:
    """Micro-batches of 1 to 60 records, one partition each, as ``consumer.poll`` returns."""
    rng = random.Random(seed)
    pending = list(records)
    while pending:
        size = rng.randint(1, 60)
        batch, pending = pending[:size], pending[size:]
        for partition in sorted({r.partition for r in batch}):
            yield [r for r in batch if r.partition == partition]


def run(processor: StreamProcessor, records: Iterator[Record], bound: int) -> int:
    """Process ``records``; assert after every batch that the buffers hold at most ``bound``."""
    most = 0
    for batch in polls(records):
        processor.process(batch)
        held = sum(processor.state.pending().values())
        assert held <= bound, f"{held} items pending, more than max_pending {bound}"
        most = max(most, held)
    return most


def conservation(state: MonitorState, kind: str) -> tuple[int, int]:
    """(events applied, joined + pending + unmatched) of one kind for the model."""
    totals = state.totals()
    applied = sum(totals.predictions.values()) if kind == "prediction" else totals.labels[MODEL]
    unmatched = sum(n for (m, k, _), n in totals.unmatched.items() if (m, k) == (MODEL, kind))
    accounted = sum(totals.joined.values()) + state.pending()[(MODEL, kind)] + unmatched
    return applied, accounted


@pytest.mark.parametrize("max_pending", [10, 1001])
def test_shares_of_max_pending_add_up_exactly(max_pending: int) -> None:
    for partitions in (1, 3, 4, 7, 16):
        shares = [pending_share(max_pending, p, partitions) for p in range(partitions)]
        assert sum(shares) == max_pending
        assert max(shares) - min(shares) <= 1


@pytest.mark.parametrize("kind", ["label", "prediction"])
@pytest.mark.parametrize("partitions", [1, 4])
def test_storm_stays_within_max_pending_in_total(kind: str, partitions: int) -> None:
    # 10 over 4 partitions: rounding each share up (3 + 3 + 3 + 3) would allow 12.
    max_pending, events = 10, 500
    processor = StreamProcessor(config(max_pending=max_pending), MonitorState(), partitions)
    most = run(processor, storm(Feed(partitions), events, kind), max_pending)
    state = processor.state
    assert most == max_pending  # the buffers did fill up: the bound was exercised
    totals = state.totals()
    evicted = totals.unmatched[(MODEL, kind, "evicted")]
    assert evicted == events - max_pending
    assert sum(totals.joined.values()) == 0
    assert conservation(state, kind) == (events, events)
    other = "prediction" if kind == "label" else "label"
    assert state.pending()[(MODEL, other)] == 0


def test_storm_and_flood_together_share_the_bound_and_expire() -> None:
    """A real stream with a label storm and a prediction flood mixed in: the buffers never hold
    more than max_pending, every dropped item is counted as evicted or expired, and both kinds
    add up."""
    max_pending, partitions = 50, 4
    feed = Feed(partitions)
    processor = StreamProcessor(config(max_pending=max_pending), MonitorState(), partitions)
    real = (
        feed.record(PREDICTIONS if e.topic == "predictions" else LABELS, e.key.decode(), e.value)
        for e in generate_stream(2000, seed=3, max_delay=120)
    )
    junk = itertools.chain.from_iterable(
        zip(storm(feed, 1500, "label"), storm(feed, 1500, "prediction"), strict=True)
    )
    mixed = (r for pair in itertools.zip_longest(real, junk) for r in pair if r is not None)
    run(processor, mixed, max_pending)
    totals = processor.state.totals()
    assert sum(totals.joined.values()) > 0
    reasons = {reason for (_, _, reason), n in totals.unmatched.items() if n}
    assert reasons == {"evicted", "expired"}
    for kind in ("prediction", "label"):
        applied, accounted = conservation(processor.state, kind)
        assert applied == accounted == 3500


def test_eviction_does_not_depend_on_where_batches_end() -> None:
    records = list(
        itertools.chain(
            storm(Feed(1), 40, "label"),
            (Record(PREDICTIONS, 0, i, None, prediction(f"orphan-{i}", 1000.0)) for i in range(40)),
        )
    )
    one_by_one = StreamProcessor(config(max_pending=8), MonitorState())
    for record in records:
        one_by_one.process([record])
    at_once = StreamProcessor(config(max_pending=8), MonitorState())
    at_once.process(records)
    totals = at_once.state.totals()
    assert totals.unmatched[(MODEL, "label", "evicted")] > 0
    assert one_by_one.state.totals() == totals
    assert one_by_one.state.pending() == at_once.state.pending()


def checkpoint_size(state: MonitorState) -> int:
    return len(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


def traced_bytes() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_state_stops_growing_once_the_buffers_are_full() -> None:
    """After 10x max_pending storm and flood events the state is no bigger than after 2x (when
    the buffers and each side's memory of recent ids are full)."""
    max_pending, partitions = 400, 4
    feed = Feed(partitions)

    def junk(start: int, events: int) -> Iterator[Record]:
        return itertools.chain.from_iterable(
            zip(
                storm(feed, events, "label", start),
                storm(feed, events, "prediction", start),
                strict=True,
            )
        )

    tracemalloc.start()
    try:
        processor = StreamProcessor(config(max_pending=max_pending), MonitorState(), partitions)
        run(processor, junk(0, 2 * max_pending), max_pending)
        full = (checkpoint_size(processor.state), traced_bytes())
        run(processor, junk(2 * max_pending, 8 * max_pending), max_pending)
        later = (checkpoint_size(processor.state), traced_bytes())
    finally:
        tracemalloc.stop()
    assert sum(processor.state.totals().unmatched.values()) == 19 * max_pending
    assert later[0] / full[0] < 1.1, f"checkpoint grew from {full[0]} to {later[0]} bytes"
    assert later[1] / full[1] < 1.1, f"memory grew from {full[1]} to {later[1]} bytes"


def profile() -> ReferenceProfile:
    rng = random.Random(5)
    columns: dict[str, list[object]] = {
        "tenure": [rng.uniform(0, 40) for _ in range(2000)],
        "plan": [rng.choice(["basic", "pro"]) for _ in range(2000)],
        "prediction": [rng.choice([0, 1]) for _ in range(2000)],
    }
    return build_profile(
        MODEL,
        columns,
        {"tenure": "numeric", "plan": "categorical"},
        prediction="prediction",
        task="binary",
    )


def version_flood(feed: Feed, versions: range, per_version: int) -> Iterator[Record]:
    """Each version serves ``per_version`` predictions, every one answered by its label."""
    for v in versions:
        for i in range(per_version):
            pid = f"v{v}-{i}"
            yield feed.record(PREDICTIONS, pid, prediction(pid, 1000.0 + i, version=f"v{v}"))
            yield feed.record(LABELS, pid, label(pid, 1001.0 + i))


def test_a_flood_of_versions_keeps_at_most_max_versions_with_state() -> None:
    max_versions, partitions, versions = 3, 2, 40
    feed = Feed(partitions)
    reference = profile()
    processor = StreamProcessor(
        config(max_versions=max_versions),
        MonitorState(),
        partitions,
        profiles=lambda m, v: reference,
    )
    state = processor.state
    for batch in polls(version_flood(feed, range(versions), per_version=120)):
        processor.process(batch)
        assert len(state.performance) <= max_versions
        assert len(state.drift) <= max_versions
        for partition in state.partitions.values():
            assert len(partition.counters.predictions) <= max_versions + 1
    assert state.evicted_versions[MODEL] == versions - max_versions
    assert list(state.versions[MODEL]) == [
        f"v{v}" for v in range(versions - max_versions, versions)
    ]
    assert all(d is not None and d.events_seen == 120 for d in state.drift.values())
    totals = state.totals()
    # Counters of evicted versions live on under EVICTED_VERSION: the sums still add up.
    assert sum(totals.predictions.values()) == sum(totals.joined.values()) == versions * 120
    assert totals.predictions[(MODEL, EVICTED_VERSION)] == (versions - max_versions) * 120
    assert conservation(state, "prediction") == (versions * 120, versions * 120)


def test_the_version_in_service_survives_a_flood_of_others() -> None:
    """Least recently seen goes first: a version that keeps serving keeps its metrics."""
    feed = Feed(1)
    processor = StreamProcessor(config(max_versions=3), MonitorState())
    records = []
    for i in range(300):
        pid = f"real-{i}"
        records.append(feed.record(PREDICTIONS, pid, prediction(pid, 1000.0 + i, version="7")))
        records.append(feed.record(LABELS, pid, label(pid, 1000.5 + i)))
        junk = f"junk-{i}"
        records.append(feed.record(PREDICTIONS, junk, prediction(junk, 1000.0 + i, f"x{i}")))
    for batch in polls(iter(records)):
        processor.process(batch)
    state = processor.state
    assert state.performance[(MODEL, "7")].count == 300
    assert state.totals().joined[(MODEL, "7")] == 300
    assert state.evicted_versions[MODEL] == 300 - 2


def test_a_flood_of_classes_keeps_the_confusion_matrices_bounded() -> None:
    """Multiclass labels and predictions come from the events: classes beyond max_classes
    count as one "other" class in the matrices, and accuracy stays exact."""
    perf = VersionPerformance.for_task(Task.MULTICLASS, None, window=50, max_classes=5)
    rng = random.Random(9)
    for i in range(3000):
        label_value = rng.choice(["a", "b", "c", "d"]) if i % 2 else f"junk-{i}"
        assert perf.update(label_value, label_value, None)
    size_after_flood = len(pickle.dumps(perf))
    for i in range(3000, 30_000):
        perf.update(f"junk-{i}", f"junk-{i + 1}", None)
    classes = set(perf._cm.classes)  # noqa: SLF001 - the matrix is what must stay small
    assert len(classes) <= 5 + 2 and {OTHER_CLASS, OTHER_MISMATCH} <= classes
    assert len(pickle.dumps(perf)) / size_after_flood < 1.1
    values = perf.values()
    assert values[("accuracy", "rolling")] == 0.0  # junk-i -> junk-(i+1): all wrong
    assert values[("accuracy", "cumulative")] == pytest.approx(3000 / 30_000)


def test_a_lowered_max_versions_applies_at_the_next_version() -> None:
    feed = Feed(1)
    records = [
        feed.record(PREDICTIONS, f"p{v}", prediction(f"p{v}", 1000.0, f"v{v}")) for v in range(6)
    ]
    state = MonitorState()
    StreamProcessor(config(max_versions=10), state).process(records[:5])
    assert len(state.versions[MODEL]) == 5
    StreamProcessor(config(max_versions=2), state).process(records[5:])
    assert list(state.versions[MODEL]) == ["v4", "v5"]
    assert state.evicted_versions[MODEL] == 4
