"""Metric windows are a function of the data, not of how partitions were interleaved (pure)."""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from driftwarden.config import parse_config
from driftwarden.core.profile import ReferenceProfile
from driftwarden.core.tasks import Task
from driftwarden.monitor.drift.window import EncodedWindow
from driftwarden.monitor.performance import ExampleKey, VersionPerformance
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.state import MonitorState
from driftwarden.testing import generate_stream, stream_profile
from tests.monitor.harness import Record, monitor_config

PARTITIONS = 3
# Floats summed one example at a time (river's running means) depend on the order of the sums.
SUMMED = {"log_loss", "mae", "rmse", "r2"}


def partitioned(events: int, seed: int, topics: dict[str, str]) -> dict[tuple[str, int], list]:
    """The stream as Kafka would hold it: keyed records in co-partitioned topics."""
    logs: dict[tuple[str, int], list[Record]] = {}
    for event in generate_stream(events, seed=seed):
        topic, partition = topics[event.topic], zlib.crc32(event.key) % PARTITIONS
        log = logs.setdefault((topic, partition), [])
        log.append(Record(topic, partition, len(log), event.key, event.value))
    return logs


def fetches(logs: dict[tuple[str, int], list[Record]], seed: int) -> Iterator[list[Record]]:
    """Batches as a consumer might fetch them: each partition in its own order, the partitions
    and the two topics interleaved at random, in batches of random sizes."""
    rng = random.Random(seed)
    positions = dict.fromkeys(logs, 0)
    while positions:
        tp = rng.choice(sorted(positions))
        start = positions[tp]
        stop = min(start + rng.randint(1, 400), len(logs[tp]))
        yield logs[tp][start:stop]
        if stop == len(logs[tp]):
            del positions[tp]
        else:
            positions[tp] = stop


def run(seed: int, profile: ReferenceProfile, tmp_path: Path) -> MonitorState:
    raw = monitor_config(
        "127.0.0.1:9", "order", tmp_path, window=300, drift={"window": 400, "every": 100}
    )
    config = parse_config(raw)
    logs = partitioned(4000, seed=21, topics=raw["topics"])
    processor = StreamProcessor(config, MonitorState(), PARTITIONS, profiles=lambda m, v: profile)
    for batch in fetches(logs, seed):
        processor.process(batch)
    return processor.state


def windows(state: MonitorState) -> dict[str, object]:
    """Everything a metric gauge is computed from, and the gauges' values."""
    perf = state.performance[("churn", "1")]
    drift = state.drift[("churn", "1")]
    assert drift is not None and drift.events is not None and drift.labels is not None
    return {
        "performance_keys": perf.rolling_keys(),
        "event_keys": drift.events.window.keys(),
        "label_keys": drift.labels.window.keys(),
        "error_keys": sorted(held[:3] for held in drift._errors.held),  # noqa: SLF001
        # (NaN, the error rate's threshold, is not equal to itself)
        "scores": [(f, s, score, repr(t)) for f, s, score, t in drift.scores()],
        "quality": drift.quality(),
        "counters": state.totals(),
    }


def test_interleavings_give_the_same_windows_and_metric_values(tmp_path: Path) -> None:
    profile = stream_profile(5000)
    runs = [run(seed, profile, tmp_path) for seed in (1, 2, 3, 4)]
    first = runs[0]
    perf = first.performance[("churn", "1")]
    assert perf.count > 3000 and len(perf.rolling_keys()) == 300
    assert len(windows(first)["scores"]) == 5  # tenure, plan, prediction, label, error
    for other in runs[1:]:
        assert windows(other) == windows(first)
        values = other.performance[("churn", "1")].values()
        assert values.keys() == perf.values().keys()
        for (metric, window), value in perf.values().items():
            if metric in SUMMED:
                assert values[(metric, window)] == pytest.approx(value, rel=1e-12)
            else:
                assert values[(metric, window)] == value, (metric, window)


def test_the_interleavings_differ() -> None:
    """The property above is not vacuous: the runs do see the records in different orders."""
    logs = partitioned(500, seed=21, topics={"predictions": "p", "labels": "l"})
    orders = [[(r.topic, r.partition) for b in fetches(logs, s) for r in b] for s in (1, 2)]
    assert orders[0] != orders[1]


def keyed_rows(n: int, seed: int) -> list[tuple[ExampleKey, int, int, float]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        y = int(rng.random() < 0.4)
        score = min(max(rng.gauss(0.35 + 0.3 * y, 0.2), 0.0), 1.0)
        # Coarse timestamps: ties are broken by partition and offset.
        key = (float(rng.randint(0, n // 4)), i % 3, i)
        rows.append((key, y, int(score >= 0.5), score))
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_rolling_window_is_the_most_recent_by_key_in_any_order(seed: int) -> None:
    rows = keyed_rows(2000, seed=seed)
    newest = sorted(rows)[-400:]
    results = []
    for shuffle in range(3):
        order = list(rows)
        random.Random(shuffle).shuffle(order)
        perf = VersionPerformance.for_task(Task.BINARY, positive_label=1, window=400)
        for key, y, p, s in order:
            perf.update(y, p, {"0": 1 - s, "1": s}, key)
        assert perf.rolling_keys() == [r[0] for r in newest]
        results.append(perf.values())
    y = [r[1] for r in newest]
    assert results[0][("accuracy", "rolling")] == skm.accuracy_score(y, [r[2] for r in newest])
    assert results[0][("roc_auc", "rolling")] == pytest.approx(
        skm.roc_auc_score(y, [r[3] for r in newest]), abs=2e-3
    )
    for values in results[1:]:
        for (metric, window), value in results[0].items():
            tolerance = 1e-12 if metric in SUMMED else 0
            assert values[(metric, window)] == pytest.approx(value, rel=tolerance, abs=0)


def test_regression_rolling_window_in_any_order_matches_sklearn() -> None:
    rng = random.Random(7)
    rows = [((float(i), 0, i), x, x + rng.gauss(0, 1)) for i, x in enumerate(range(1500))]
    newest = rows[-250:]
    for shuffle in range(3):
        order = list(rows)
        random.Random(shuffle).shuffle(order)
        perf = VersionPerformance.for_task(Task.REGRESSION, None, window=250)
        for key, y, p in order:
            perf.update(y, p, None, key)
        values = perf.values()
        y_true, y_pred = [r[1] for r in newest], [r[2] for r in newest]
        assert values[("mae", "rolling")] == pytest.approx(skm.mean_absolute_error(y_true, y_pred))
        assert values[("r2", "rolling")] == pytest.approx(skm.r2_score(y_true, y_pred), abs=1e-9)


def test_an_example_older_than_a_full_window_leaves_it_unchanged() -> None:
    perf = VersionPerformance.for_task(Task.BINARY, positive_label=1, window=2)
    perf.update(1, 1, None, (10.0, 0, 0))
    perf.update(0, 0, None, (11.0, 0, 1))
    perf.update(1, 0, None, (5.0, 1, 0))  # late: older than both
    assert perf.rolling_keys() == [(10.0, 0, 0), (11.0, 0, 1)]
    assert perf.values()[("accuracy", "rolling")] == 1.0
    assert perf.values()[("accuracy", "cumulative")] == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", range(5))
def test_encoded_window_keeps_the_largest_keys_whatever_the_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, size = 3000, 700
    bins = rng.integers(-1, 10, (n, 2)).astype(np.int16)
    flags = rng.integers(0, 4, (n, 2)).astype(np.uint8)
    stamps = rng.integers(0, 500, n).astype(np.float64)  # many ties
    partitions, offsets = rng.integers(0, 3, n), np.arange(n)
    newest = np.lexsort((offsets, partitions, stamps))[-size:]
    contents = []
    for shuffle in range(3):
        order = np.random.default_rng(shuffle).permutation(n)
        window = EncodedWindow(size, features=2)
        start = 0
        while start < n:
            chunk = order[start : start + int(rng.integers(1, 300))]
            window.push(bins[chunk], flags[chunk], stamps[chunk], partitions[chunk], offsets[chunk])
            start += len(chunk)
        assert window.filled == size
        keys = [(float(stamps[i]), int(partitions[i]), int(offsets[i])) for i in newest]
        assert window.keys() == keys
        expected = [np.bincount(col[col >= 0], minlength=10).tolist() for col in bins[newest].T]
        assert window.counts(10).tolist() == expected
        contents.append((window.counts(10).tolist(), window.flag_ratios(1).tolist()))
        assert window.first_timestamp == stamps[newest[0]]
        assert window.last_timestamp == stamps[newest[-1]]
    assert contents[0] == contents[1] == contents[2]
