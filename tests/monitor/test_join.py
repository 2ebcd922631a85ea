from __future__ import annotations

import itertools
import random

import pytest

from driftwarden.contracts.errors import InvalidEvent
from driftwarden.contracts.inputs import Label, Prediction
from driftwarden.monitor.join import ExpiryResult, Joined, LabelJoin


def pred(pid: str, ts: float) -> Prediction:
    return Prediction(pid, "m", "1", ts, {}, 1, None)


def label(pid: str, ts: float) -> Label:
    return Label(pid, "m", 1, ts)


def test_label_after_prediction_joins() -> None:
    join = LabelJoin(ttl=100, max_pending=10)
    assert join.add_prediction(pred("a", 0), offset=3) is None
    joined = join.add_label(label("a", 40), offset=9)
    assert isinstance(joined, Joined)
    assert (joined.prediction_offset, joined.label_offset, joined.delay) == (3, 9, 40)


def test_label_before_prediction_is_held_then_joined() -> None:
    join = LabelJoin(ttl=100, max_pending=10)
    assert join.add_label(label("a", 40), offset=0) is None
    assert join.pending_labels == 1
    assert isinstance(join.add_prediction(pred("a", 0), offset=1), Joined)
    assert (join.pending_labels, join.pending_predictions) == (0, 0)


def test_expiry_follows_the_event_time_of_the_other_stream() -> None:
    join = LabelJoin(ttl=100, max_pending=10)
    join.add_prediction(pred("old", 0), 0)
    join.add_prediction(pred("new", 500), 1)
    # Predictions alone do not expire predictions: their labels could still be on their way.
    assert join.expire() == ExpiryResult(0, 0)
    join.add_label(label("other", 150), 0)
    # The label stream passed 0 + 100: "old" can no longer be joined; "new" waits. The label
    # waits too: the prediction stream (500) is past 150 + 100, so no prediction can match it.
    assert join.expire() == ExpiryResult(predictions=1, labels=1)
    assert set(join.predictions) == {"new"}


def test_pair_further_apart_than_ttl_expires_on_both_sides() -> None:
    join = LabelJoin(ttl=100, max_pending=10)
    join.add_label(label("a", 250), 0)
    assert join.add_prediction(pred("a", 100), 0) == ExpiryResult(predictions=1, labels=1)
    join2 = LabelJoin(ttl=100, max_pending=10)
    join2.add_prediction(pred("a", 100), 0)
    assert join2.add_label(label("a", 250), 0) == ExpiryResult(predictions=1, labels=1)


def test_outcome_does_not_depend_on_interleaving() -> None:
    """Replays interleave the topics differently; time-ordered partitions join the same."""
    rng = random.Random(2)
    preds = [pred(f"p{i}", i * 10.0) for i in range(40)]
    labels = [label(f"p{i}", i * 10.0 + rng.uniform(0, 160)) for i in range(40)]
    # Labels come roughly, not exactly, in time order.
    labels.sort(key=lambda item: item.timestamp + rng.uniform(0, 60))
    outcomes = set()
    for cut in itertools.product(range(0, 41, 4), repeat=2):
        join = LabelJoin(ttl=100, max_pending=100)
        joined, expired = 0, ExpiryResult()
        # Feed the two streams in chunks whose sizes depend on `cut`, expiring between chunks.
        p_iter, l_iter = iter(preds), iter(labels)
        step_p, step_l = cut[0] or 1, cut[1] or 2
        while True:
            chunk_p = list(itertools.islice(p_iter, step_p))
            chunk_l = list(itertools.islice(l_iter, step_l))
            if not chunk_p and not chunk_l:
                break
            for item in chunk_p:
                result = join.add_prediction(item, 0)
                joined += isinstance(result, Joined)
                if isinstance(result, ExpiryResult):
                    expired.add(result)
            for item in chunk_l:
                result = join.add_label(item, 0)
                joined += isinstance(result, Joined)
                if isinstance(result, ExpiryResult):
                    expired.add(result)
            expired.add(join.expire())
        outcomes.add(
            (
                joined,
                expired.predictions,
                expired.labels,
                join.pending_predictions,
                join.pending_labels,
            )
        )
    assert len(outcomes) == 1
    joined, expired_predictions, expired_labels, _, pending_labels = outcomes.pop()
    assert joined > 20 and expired_predictions > 0 and expired_labels > 0 and pending_labels > 0


def test_overflow_evicts_the_fuller_side_earliest_arrival_first() -> None:
    join = LabelJoin(ttl=1000, max_pending=3)
    for i in range(3):
        join.add_prediction(pred(f"p{i}", i), 0)
    join.add_label(label("x", 1.5), 0)
    assert join.evict_overflow() == ExpiryResult(predictions=1, labels=0)
    assert set(join.predictions) == {"p1", "p2"} and set(join.labels) == {"x"}
    for name in ("y", "z"):
        join.add_label(label(name, 0.5), 0)
    assert join.evict_overflow() == ExpiryResult(predictions=1, labels=1)
    assert set(join.predictions) == {"p2"} and set(join.labels) == {"y", "z"}


def test_duplicate_pending_ids_are_rejected() -> None:
    join = LabelJoin(ttl=100, max_pending=10)
    join.add_prediction(pred("a", 0), 0)
    with pytest.raises(InvalidEvent) as excinfo:
        join.add_prediction(pred("a", 1), 1)
    assert excinfo.value.reason == "duplicate_prediction"
    join.add_label(label("b", 0), 0)
    with pytest.raises(InvalidEvent) as excinfo:
        join.add_label(label("b", 0), 1)
    assert excinfo.value.reason == "duplicate_label"


def test_stale_deadlines_are_compacted() -> None:
    join = LabelJoin(ttl=1e9, max_pending=10)
    for i in range(1000):
        join.add_prediction(pred(f"p{i}", i), 0)
        join.evict_overflow()
    assert join.pending_predictions == 10
    assert len(join._predictions.deadlines) <= 2 * 10 + 64 + 1


def _rejects(join: LabelJoin, pid: str, reason: str) -> None:
    add = join.add_prediction if reason == "duplicate_prediction" else join.add_label
    item = pred(pid, 700) if reason == "duplicate_prediction" else label(pid, 700)
    with pytest.raises(InvalidEvent) as excinfo:
        add(item, 9)  # type: ignore[arg-type]
    assert excinfo.value.reason == reason


def test_ids_seen_before_are_duplicates_after_joining_expiring_or_eviction() -> None:
    join = LabelJoin(ttl=100, max_pending=10)
    join.add_prediction(pred("a", 0), 0)
    assert isinstance(join.add_label(label("a", 10), 0), Joined)
    _rejects(join, "a", "duplicate_prediction")
    _rejects(join, "a", "duplicate_label")

    join = LabelJoin(ttl=100, max_pending=10)
    join.add_prediction(pred("a", 0), 0)
    join.add_label(label("b", 500), 0)
    assert join.expire() == ExpiryResult(predictions=1, labels=0)
    _rejects(join, "a", "duplicate_prediction")

    join = LabelJoin(ttl=1000, max_pending=2)
    join.add_prediction(pred("a", 0), 0)
    join.add_prediction(pred("b", 0), 0)
    join.add_label(label("x", 0), 0)
    assert join.evict_overflow() == ExpiryResult(predictions=1, labels=0)
    assert "a" not in join.predictions
    _rejects(join, "a", "duplicate_prediction")


def test_the_memory_of_ids_is_bounded_by_max_pending_oldest_forgotten() -> None:
    join = LabelJoin(ttl=100, max_pending=3)
    for i in range(5):
        join.add_prediction(pred(f"p{i}", i), i)
        assert isinstance(join.add_label(label(f"p{i}", i), i), Joined)
    assert list(join._predictions.seen) == ["p2", "p3", "p4"]
    assert join.add_prediction(pred("p0", 10), 5) is None  # forgotten: a new prediction
    with pytest.raises(InvalidEvent):
        join.add_prediction(pred("p4", 10), 6)
