"""The join's byte budget: pending bytes are the sum of the held items' footprints, always."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from driftwarden.contracts.errors import InvalidEvent
from driftwarden.contracts.inputs import Label, Prediction
from driftwarden.monitor.bounds import footprint
from driftwarden.monitor.join import LabelJoin

TTL = 50.0

ids = st.integers(0, 30).map(lambda n: f"p-{n}")
texts = st.text(max_size=40)
features = st.dictionaries(texts, st.one_of(st.none(), st.floats(-1e6, 1e6), texts), max_size=8)
predictions = st.builds(
    Prediction,
    ids,
    st.just("m"),
    st.sampled_from(["1", "\u00e9" * 20]),
    st.floats(0, 500),
    features,
    st.sampled_from([0, 1, "yes"]),
    st.none() | st.dictionaries(texts, st.floats(0, 1), max_size=3),
)
labels = st.builds(Label, ids, st.just("m"), st.sampled_from([0, 1, "no"]), st.floats(0, 500))
operations = st.lists(
    st.one_of(
        st.tuples(st.just("prediction"), predictions),
        st.tuples(st.just("label"), labels),
        st.tuples(st.just("expire"), st.none()),
    ),
    max_size=80,
)


def held_bytes(join: LabelJoin) -> int:
    held = [*join.predictions.values(), *join.labels.values()]
    return sum(footprint(waiting.event) for waiting in held)


@settings(max_examples=300, deadline=None)
@given(operations, st.integers(1, 12), st.integers(1, 20_000))
def test_pending_bytes_are_the_sum_over_held_items(
    ops: list[tuple[str, Prediction | Label | None]], max_pending: int, max_bytes: int
) -> None:
    join = LabelJoin(TTL, max_pending, max_bytes)
    for offset, (kind, event) in enumerate(ops):
        try:
            if isinstance(event, Prediction):
                result = join.add_prediction(event, offset)
            elif isinstance(event, Label):
                result = join.add_label(event, offset)
            else:
                result = join.expire()
        except InvalidEvent:
            continue  # a duplicate id: rejected, nothing held
        assert join.pending_bytes == held_bytes(join), kind
        if result is None and join.overflowing:
            join.evict_overflow()
            assert not join.overflowing
            assert join.pending_bytes <= max_bytes
            assert join.pending_predictions + join.pending_labels <= max_pending
        assert join.pending_bytes == held_bytes(join), kind


def big(pid: str, ts: float = 0.0) -> Prediction:
    return Prediction(pid, "m", "1", ts, {f"f{i}": "x" * 100 for i in range(50)}, 1, None)


def test_over_the_byte_budget_the_oldest_predictions_are_evicted_first() -> None:
    size = footprint(big("p-0"))
    join = LabelJoin(TTL, max_pending=1000, max_pending_bytes=3 * size + size // 2)
    for i in range(3):
        assert join.add_prediction(big(f"p-{i}"), i) is None
    assert not join.overflowing
    join.add_label(Label("orphan", "m", 1, 0.0), 0)  # small: the fuller side still loses
    join.add_prediction(big("p-3"), 3)
    assert join.overflowing
    evicted = join.evict_overflow()
    assert (evicted.predictions, evicted.labels) == (1, 0)
    assert list(join.predictions) == ["p-1", "p-2", "p-3"]
    assert join.pending_bytes == 3 * size + footprint(Label("orphan", "m", 1, 0.0))


def test_an_item_larger_than_the_whole_budget_is_not_kept() -> None:
    join = LabelJoin(TTL, max_pending=1000, max_pending_bytes=1000)
    join.add_prediction(big("p-0"), 0)
    assert join.evict_overflow().predictions == 1
    assert (join.pending_predictions, join.pending_bytes) == (0, 0)


def test_footprint_grows_with_what_the_item_holds() -> None:
    small = Prediction("p", "m", "1", 0.0, {"a": 1.0}, 1, None)
    wide = small._replace(features={f"f{i}": 1.0 for i in range(1000)})
    long_values = small._replace(features={"a": "x" * 10_000})
    non_ascii = small._replace(features={"a": "\u4e2d" * 10_000})
    assert footprint(wide) > footprint(small) + 1000 * 48
    assert footprint(long_values) > footprint(small) + 10_000
    assert footprint(non_ascii) > footprint(small) + 40_000
