"""The estimation window: expiry by each partition's labels, bounded bytes, safe decoding."""

from __future__ import annotations

import pytest

from driftwarden.monitor.codec import StateDecodeError
from driftwarden.monitor.estimation.window import VersionEstimation

SCORES = {"0": 0.3, "1": 0.7}


def filled(partitions: tuple[int, ...], window: int = 4) -> VersionEstimation:
    est = VersionEstimation(positive="1", window=window, max_bytes=1 << 20, max_classes=10)
    for i in range(window):
        est.add((float(i), partitions[i % len(partitions)], i), f"p{i}", 1, SCORES)
    return est


def test_a_window_waits_for_the_labels_of_every_partition_it_holds() -> None:
    est = filled((0, 1))
    assert len(est.awaiting) == 1
    est.label_seen(0, 10_000.0)  # partition 0's labels are far past the TTL
    assert est.complete_windows(label_ttl=60.0) == []  # partition 1's may still come
    est.label_seen(1, 64.0)
    [done] = est.complete_windows(label_ttl=60.0)
    assert done.labels == {} and len(done.held) == 4


def test_a_fully_labeled_window_completes_at_once() -> None:
    est = filled((0,))
    for i in range(4):
        assert est.label(f"p{i}", i % 2)
    [done] = est.complete_windows(label_ttl=3600.0)
    assert done.labels == {"p0": 0, "p1": 1, "p2": 0, "p3": 1}
    assert not est.label("nobody", 1)


def test_over_max_bytes_the_oldest_awaiting_windows_are_dropped_and_counted() -> None:
    est = VersionEstimation(positive="1", window=10, max_bytes=6_000, max_classes=10)
    for i in range(40):
        est.add((float(i), 0, i), f"p{i}", 1, SCORES)
    assert est.windows.get("dropped", 0) >= 1
    total = sum(h[4] for h in est.held) + sum(w.size for w in est.awaiting)
    assert total <= 6_000


def test_unscored_predictions_are_counted_not_held() -> None:
    est = VersionEstimation(positive="1", window=10, max_bytes=1 << 20, max_classes=10)
    assert not est.add((1.0, 0, 1), "p1", 1, None)
    assert not est.add((2.0, 0, 2), "p2", 1, {"0": 1.0})
    assert est.skipped == {"unscored": 2} and not est.held


def test_the_state_document_round_trips_and_refuses_forgeries() -> None:
    est = filled((0, 1), window=3)
    est.add((9.0, 0, 9), "p9", 0, SCORES)
    est.label("p9", 1)
    doc = est.to_state()
    assert VersionEstimation.from_state(doc).to_state() == doc
    forged = {**doc, "labels": [["ghost", 1]]}
    with pytest.raises(StateDecodeError, match="not held"):
        VersionEstimation.from_state(forged)
    too_many = {**doc, "window": 1}
    with pytest.raises(StateDecodeError, match="too many"):
        VersionEstimation.from_state(too_many)
    bad_scores = {**doc, "held": [[1.0, 0, 1, "p", 1, ["nan"], 200]]}
    with pytest.raises(StateDecodeError, match="scores"):
        VersionEstimation.from_state(bad_scores)
