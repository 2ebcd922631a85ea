"""The explicit state encoding (driftwarden.monitor.codec): decode(encode(state)) behaves as the
state did,
and whatever bytes or document a reader is given, it yields state or one StateDecodeError."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftwarden.contracts.inputs import Label, Prediction
from driftwarden.core.detectors import detector_names, make_detector
from driftwarden.core.profile import ReferenceProfile
from driftwarden.core.tasks import Task
from driftwarden.demo import demo_config
from driftwarden.monitor import river_state
from driftwarden.monitor.changelog import PartitionSnapshot, SnapshotAssembler
from driftwarden.monitor.checkpoint import CheckpointCorrupt, CheckpointStore
from driftwarden.monitor.codec import StateDecodeError, decoding, dump_document, load_document
from driftwarden.monitor.drift.checks import DriftSettings, VersionDrift
from driftwarden.monitor.drift.factory import drift_factory
from driftwarden.monitor.exporter import MetricsSnapshot
from driftwarden.monitor.join import LabelJoin
from driftwarden.monitor.performance import VersionPerformance
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.state import MonitorState, PartitionState
from driftwarden.testing import generate_stream, stream_profile
from tests.monitor.harness import Record

FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROFILE = stream_profile(2000, seed=3)
SETTINGS = DriftSettings(window=60, every=20, detector="PageHinkley")


def _through_bytes(doc: object) -> Any:
    return load_document(dump_document("test", {"doc": doc}), "test", 1 << 26)["doc"]


def _same(a: object, b: object) -> bool:
    """Equal, NaN equal to NaN (compared through their JSON text)."""
    return orjson.dumps(a, default=repr) == orjson.dumps(b, default=repr)


# -- the join ----------------------------------------------------------------------------

JOIN_OPS = st.lists(
    st.tuples(st.sampled_from("pl"), st.integers(0, 11), st.integers(0, 300)), max_size=60
)


def _apply(join: LabelJoin, ops: list[tuple[str, int, int]]) -> list[str]:
    out = []
    for offset, (kind, pid, ts) in enumerate(ops):
        try:
            if kind == "p":
                features: dict[str, Any] = {"x": ts / 7, "c": str(pid), "b": pid % 2 == 0}
                pred = Prediction(f"id-{pid}", "m", "1", float(ts), features, pid % 3, None)
                result = join.add_prediction(pred, offset)
            else:
                result = join.add_label(Label(f"id-{pid}", "m", pid % 2 == 0, float(ts)), offset)
        except ValueError as exc:  # a duplicate
            out.append(str(exc))
            continue
        out.append(repr(result))
        out.append(repr((join.expire(), join.evict_overflow())))
    return out


@FEW
@given(JOIN_OPS, JOIN_OPS)
def test_a_join_decoded_from_its_encoding_joins_as_the_original(
    before: list[tuple[str, int, int]], after: list[tuple[str, int, int]]
) -> None:
    join = LabelJoin(ttl=40.0, max_pending=6)
    _apply(join, before)
    state = PartitionState({"m": join})
    state.counters.predictions[("m", "1")] = len(before)
    state.counters.observe_delay("m", 12.5)
    restored = PartitionState.from_state(_through_bytes(state.to_state()))
    assert restored == state
    assert _apply(restored.joins["m"], after) == _apply(join, after)
    assert restored == state


# -- performance -------------------------------------------------------------------------

EXAMPLES = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.floats(0, 1), st.integers(0, 50)),
    max_size=40,
)


def _feed(perf: VersionPerformance, examples: list[tuple[int, int, float, int]]) -> None:
    for i, (y, p, score, ts) in enumerate(examples):
        if perf.task is Task.REGRESSION:
            perf.update(float(y), p + score, None, (float(ts), 0, i))
        else:
            scores = {"1": score, "0": 1 - score} if i % 3 else None
            perf.update(y if perf.task is Task.MULTICLASS else y % 2, p, scores, (float(ts), 1, i))


@FEW
@given(st.sampled_from(list(Task)), EXAMPLES, EXAMPLES)
def test_performance_decoded_from_its_encoding_scores_as_the_original(
    task: Task,
    before: list[tuple[int, int, float, int]],
    after: list[tuple[int, int, float, int]],
) -> None:
    perf = VersionPerformance.for_task(task, 1 if task is Task.BINARY else None, 7, max_classes=3)
    _feed(perf, before)
    restored = VersionPerformance.from_state(_through_bytes(perf.to_state()))
    assert restored.to_state() == perf.to_state()
    for extra in ([], after):
        _feed(restored, extra)
        _feed(perf, extra)
        assert restored.values() == pytest.approx(perf.values(), rel=1e-12, nan_ok=True)
        assert restored.rolling_keys() == perf.rolling_keys()


# -- drift -------------------------------------------------------------------------------

ERRORS = st.lists(st.sampled_from([0.0, 1.0]), max_size=200)


@settings(max_examples=8, deadline=None)
@given(st.sampled_from(detector_names()), ERRORS, ERRORS)
def test_every_detector_decoded_from_its_encoding_detects_as_the_original(
    name: str, before: list[float], after: list[float]
) -> None:
    detector = make_detector(name, {})
    for error in before:
        detector.update(error)
    restored = make_detector(name, {})
    river_state.restore_detector(restored, _through_bytes(river_state.encode_detector(detector)))
    assert river_state.encode_detector(restored) == river_state.encode_detector(detector)
    seen = []
    for error in after:
        detector.update(error)
        restored.update(error)
        seen.append((detector.drift_detected, restored.drift_detected))
    assert all(a == b for a, b in seen)
    assert river_state.encode_detector(restored) == river_state.encode_detector(detector)


def test_every_detector_has_its_fields_listed() -> None:
    assert set(detector_names()) <= set(river_state.DETECTOR_FIELDS)


def _events(seed: int, count: int) -> list[tuple[str, dict[str, Any]]]:
    return [(e.topic, orjson.loads(e.value)) for e in generate_stream(count, seed=seed)]


def _observe(drift: VersionDrift, events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    preds = [doc for topic, doc in events if topic == "predictions"]
    labels = [doc for topic, doc in events if topic == "labels"]
    out = drift.observe(
        [p["features"] for p in preds],
        [p["prediction"] for p in preds],
        [float(p["timestamp"]) for p in preds],
    )
    out += drift.observe_joined(
        [lb["label"] for lb in labels],
        [1 - lb["label"] if i % 4 == 0 else lb["label"] for i, lb in enumerate(labels)],
        [float(lb["timestamp"]) for lb in labels],
    )
    return [repr(e) for e in out]


def _fresh(profile: ReferenceProfile = PROFILE) -> VersionDrift:
    return VersionDrift(profile, SETTINGS, Task.BINARY)


@pytest.fixture(scope="module")
def template() -> VersionDrift:
    return _fresh()


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 10**6), st.integers(0, 300), st.integers(0, 300))
def test_drift_decoded_from_its_encoding_evaluates_as_the_original(
    template: VersionDrift, seed: int, before: int, after: int
) -> None:
    drift = copy.deepcopy(template)
    events = _events(seed, before + after)
    _observe(drift, events[:before])
    restored = copy.deepcopy(template)
    restored.restore_state(_through_bytes(drift.to_state()), "churn 1")
    assert _same(restored.to_state(), drift.to_state())
    assert _same(restored.scores(), drift.scores()) and restored.quality() == drift.quality()
    assert _observe(restored, events[before:]) == _observe(drift, events[before:])
    assert _same(restored.scores(), drift.scores()) and _same(restored.to_state(), drift.to_state())


def test_drift_of_a_changed_profile_starts_afresh(
    template: VersionDrift, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    drift = copy.deepcopy(template)
    _observe(drift, _events(1, 400))
    changed = _fresh(dataclasses.replace(PROFILE, rows=PROFILE.rows + 1))
    changed.restore_state(drift.to_state(), "churn 1")
    assert changed.events_seen == 0 and changed.events is not None
    assert changed.events.window.filled == 0
    assert "start afresh" in caplog.text


# -- the whole state, through a checkpoint file ------------------------------------------


def _records(count: int, seed: int) -> list[Record]:
    config = demo_config("127.0.0.1:9", "p.", Path("."))
    offsets: dict[tuple[str, int], int] = {}
    records = []
    for event in generate_stream(count, seed=seed, max_delay=2000, shift_at=count // 2):
        topic = config.topics.predictions if event.topic == "predictions" else config.topics.labels
        partition = zlib.crc32(event.key) % 2
        offset = offsets[(topic, partition)] = offsets.get((topic, partition), -1) + 1
        records.append(Record(topic, partition, offset, event.key, event.value))
    return records


def _exported(processor: StreamProcessor) -> str:
    """Every value the exporter would read, NaN equal to NaN."""
    return repr(dataclasses.asdict(MetricsSnapshot.of(processor.state, ["churn"], {}, None)))


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 1000), st.integers(1, 9))
def test_a_processor_restored_from_a_checkpoint_goes_on_as_the_original(
    tmp_path_factory: pytest.TempPathFactory, seed: int, tenths: int
) -> None:
    directory = tmp_path_factory.mktemp("state")
    config = demo_config("127.0.0.1:9", "p.", directory)

    def profiles(model: str, version: str) -> ReferenceProfile | None:
        return PROFILE

    records = _records(1500, seed)
    split = len(records) * tenths // 10
    processor = StreamProcessor(config, MonitorState(), 2, profiles=profiles)
    processor.process(records[:split])
    store = CheckpointStore(directory)
    store.save(processor.state)
    state = store.load(drift_factory(config, profiles))
    assert state is not None
    restored = StreamProcessor(config, state, 2, profiles=profiles)
    assert _exported(restored) == _exported(processor)
    assert restored.process(records[split:]) == processor.process(records[split:])
    assert _exported(restored) == _exported(processor)
    assert restored.state.to_state() == processor.state.to_state()


# -- any bytes, any document -------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_decode_to_state_or_one_error(blob: bytes) -> None:
    for payload in (blob, zlib.compress(blob)):
        with pytest.raises(StateDecodeError):
            with decoding():
                MonitorState.from_state(load_document(payload, "monitor-state", 1 << 20))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_any_changelog_record_is_skipped_or_taken_never_raised(blob: bytes) -> None:
    for payload in (blob, zlib.compress(blob)):
        headers = [("snapshot-id", b"x"), ("chunk", b"0"), ("chunks", b"1")]
        headers.append(("sha256", hashlib.sha256(payload).hexdigest().encode()))
        assembler = SnapshotAssembler()
        assembler.add(b"0/0", payload, headers, 0)
        assert assembler.latest() == {} and len(assembler.rejected) == 1


def test_a_checkpoint_file_of_any_bytes_is_refused_as_corrupt(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    for payload in (b"", b"\x80\x05N.", zlib.compress(b"[1, 2]"), zlib.compress(b"{}")):
        digest = hashlib.sha256(payload).hexdigest().encode()
        store.path.write_bytes(b"driftwarden-checkpoint 2\n" + digest + b"\n" + payload)
        with pytest.raises(CheckpointCorrupt, match="cannot be decoded"):
            store.load()


def test_a_zlib_bomb_is_refused_without_inflating_it() -> None:
    bomb = zlib.compress(b"0" * 200_000_000, 9)
    with pytest.raises(StateDecodeError, match="more than"):
        load_document(bomb, "partition-snapshot", 1 << 20)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["inf", "-inf", "nan", "int16", "float64", "", "AAAA"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


def _copies(template: VersionDrift) -> Callable[[str, str], VersionDrift]:
    def factory(model: str, version: str) -> VersionDrift:
        return copy.deepcopy(template)

    return factory


def _paths(doc: object, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [at]
    items: Any = ()
    if isinstance(doc, dict):
        items = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    for key, value in items:
        paths += _paths(value, (*at, key))
    return paths


def _replace(doc: Any, path: tuple[Any, ...], value: object) -> Any:
    if not path:
        return value
    doc = copy.copy(doc)
    doc[path[0]] = _replace(doc[path[0]], path[1:], value)
    return doc


def _sample_state(template: VersionDrift) -> MonitorState:
    records = _records(400, seed=5)
    config = demo_config("127.0.0.1:9", "p.", Path("."))
    processor = StreamProcessor(config, MonitorState(), 2)
    processor.process(records)
    state = processor.state
    drift = copy.deepcopy(template)
    _observe(drift, _events(2, 200))
    state.drift[("churn", "1")] = drift
    return state


@pytest.fixture(scope="module")
def state_doc(template: VersionDrift) -> Any:
    return orjson.loads(orjson.dumps(_sample_state(template).to_state()))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_any_edit_of_a_document_decodes_to_state_or_one_error(
    template: VersionDrift, state_doc: Any, data: st.DataObject
) -> None:
    paths = _paths(state_doc)
    path = data.draw(st.sampled_from(paths))
    edited = _replace(state_doc, path, data.draw(JSON))
    factory = _copies(template)
    try:
        with decoding():
            MonitorState.from_state(edited, factory)
    except StateDecodeError:
        pass


def test_a_whole_state_and_a_snapshot_survive_their_encoding(template: VersionDrift) -> None:
    state = _sample_state(template)
    doc = state.to_state()
    factory = _copies(template)
    restored = MonitorState.from_state(_through_bytes(doc), factory)
    assert _same(restored.to_state(), doc)
    snapshot = PartitionSnapshot(0, {("p", 0): 3}, state.partitions[0], "a")
    assert PartitionSnapshot.from_state(_through_bytes(snapshot.to_state())) == snapshot
