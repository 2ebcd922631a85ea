"""Partition state snapshots (driftwarden.monitor.changelog) and the resume rules
(driftwarden.monitor.handover)."""

from __future__ import annotations

import dataclasses
import os
import zlib
from pathlib import Path

from driftwarden.contracts.inputs import Prediction
from driftwarden.demo import demo_config
from driftwarden.monitor.changelog import (
    CHUNK_BYTES,
    PartitionSnapshot,
    SnapshotAssembler,
    encode_snapshot,
)
from driftwarden.monitor.handover import choose_resume
from driftwarden.monitor.join import LabelJoin
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.state import MonitorState, PartitionState
from driftwarden.testing import generate_stream
from tests.monitor.harness import Record

INPUTS = (("preds", 2), ("labels", 2))


def _state(pending: int, payload: int = 16) -> PartitionState:
    state = PartitionState()
    join = state.joins["churn"] = LabelJoin(ttl=3600.0, max_pending=10**6)
    for i in range(pending):
        features: dict[str, float | str | bool | None] = {"blob": os.urandom(payload).hex()}
        join.add_prediction(Prediction(f"id-{i}", "churn", "1", 1000.0 + i, features, 1, None), i)
    state.counters.predictions[("churn", "1")] = pending
    return state


def _assemble(*records_lists: list) -> SnapshotAssembler:  # type: ignore[type-arg]
    assembler = SnapshotAssembler()
    for records in records_lists:
        for record in records:
            assembler.add(record.key, record.value, record.headers)
    return assembler


def test_a_large_snapshot_is_chunked_and_reassembled_exactly() -> None:
    state = _state(pending=3000, payload=400)  # random features: incompressible, > 2 chunks
    snapshot = PartitionSnapshot(2, {("preds", 2): 3000}, state, "monitor-a")
    records = encode_snapshot(snapshot, "monitor-a:1")
    assert len(records) >= 2
    assert all(len(r.value) <= CHUNK_BYTES for r in records)
    assert len({r.key for r in records}) == len(records)  # compaction keeps every chunk
    restored = _assemble(records).latest()[2]
    assert restored.offsets == {("preds", 2): 3000}
    assert restored.state.counters == state.counters
    assert restored.state.joins["churn"].predictions == state.joins["churn"].predictions


def test_the_last_complete_snapshot_wins_and_a_torn_one_is_ignored() -> None:
    first = encode_snapshot(PartitionSnapshot(2, {("preds", 2): 10}, _state(5), "a"), "a:1")
    second = encode_snapshot(
        PartitionSnapshot(2, {("preds", 2): 20}, _state(3000, 400), "a"), "a:2"
    )
    assert len(second) >= 2
    assert _assemble(first, second).latest()[2].offsets == {("preds", 2): 20}
    # A writer that died after the first chunk of its snapshot: the previous one still counts.
    assert _assemble(first, second[:1]).latest()[2].offsets == {("preds", 2): 10}


def test_a_snapshot_failing_its_digest_is_skipped_and_the_previous_one_stands() -> None:
    first = encode_snapshot(PartitionSnapshot(2, {("preds", 2): 10}, _state(2), "a"), "a:1")
    (record,) = encode_snapshot(PartitionSnapshot(2, {("preds", 2): 20}, _state(2), "a"), "a:2")
    tampered = bytearray(record.value)
    tampered[-1] ^= 0xFF
    assembler = _assemble(first)
    assembler.add(record.key, bytes(tampered), record.headers)
    assert assembler.latest()[2].offsets == {("preds", 2): 10}
    assert [r.reason for r in assembler.rejected] == ["checksum"]


def test_a_record_without_snapshot_headers_is_skipped() -> None:
    assembler = SnapshotAssembler()
    assembler.add(b"2/0", b"{}", [])
    assert assembler.latest() == {}
    assert [r.reason for r in assembler.rejected] == ["malformed"]


def test_the_state_of_a_real_stream_survives_the_changelog(tmp_path: Path) -> None:
    """Every class that partition state is made of must survive its encoding."""
    config = demo_config("127.0.0.1:9", "p.", tmp_path)
    processor = StreamProcessor(config, MonitorState(), partition_count=2)
    offsets: dict[tuple[str, int], int] = {}
    records = []
    for event in generate_stream(3000, seed=4, max_delay=3000):
        topic = config.topics.predictions if event.topic == "predictions" else config.topics.labels
        partition = zlib.crc32(event.key) % 2
        offset = offsets[(topic, partition)] = offsets.get((topic, partition), -1) + 1
        records.append(Record(topic, partition, offset, event.key, event.value))
    records = records[:-600]  # the labels of the last predictions have not come yet
    records.append(
        dataclasses.replace(records[0], offset=10_000)
    )  # a duplicate, remembered by the join
    processor.process(records)
    for number, state in processor.state.partitions.items():
        assert any(j.pending_predictions for j in state.joins.values())
        records_out = encode_snapshot(PartitionSnapshot(number, {}, state, "a"), "a:1")
        assert _assemble(records_out).latest()[number].state == state


def _snap(offset: int, writer: str) -> PartitionSnapshot:
    return PartitionSnapshot(2, dict.fromkeys(INPUTS, offset), _state(1), writer)


def test_local_state_at_the_committed_offsets_is_kept_without_reading_anything() -> None:
    local = _state(1)
    resume = choose_resume(
        2, INPUTS, local, dict.fromkeys(INPUTS, 50), None, dict.fromkeys(INPUTS, 50), "a"
    )
    assert (resume.source, resume.state, resume.delivered) == ("local", None, {})
    assert resume.start == dict.fromkeys(INPUTS, 50)


def test_after_a_crash_the_own_checkpoint_is_replayed_to_the_committed_offsets() -> None:
    # The instance committed at 80 (and wrote its snapshot) but its checkpoint file says 50.
    resume = choose_resume(
        2,
        INPUTS,
        _state(1),
        dict.fromkeys(INPUTS, 50),
        _snap(80, "a"),
        dict.fromkeys(INPUTS, 80),
        "a",
    )
    assert (resume.source, resume.state) == ("replay", None)
    assert resume.start == dict.fromkeys(INPUTS, 50)
    assert resume.delivered == dict.fromkeys(INPUTS, 80)


def test_a_partition_that_came_back_takes_the_newer_snapshot_of_another_instance() -> None:
    snapshot = _snap(120, "b")
    resume = choose_resume(
        2, INPUTS, _state(1), dict.fromkeys(INPUTS, 50), snapshot, dict.fromkeys(INPUTS, 120), "a"
    )
    assert (resume.source, resume.state) == ("changelog", snapshot.state)
    assert resume.start == dict.fromkeys(INPUTS, 120)
    assert resume.delivered == {}


def test_a_snapshot_behind_the_committed_offsets_is_replayed_forward() -> None:
    resume = choose_resume(2, INPUTS, None, {}, _snap(70, "b"), dict.fromkeys(INPUTS, 90), "a")
    assert resume.source == "changelog"
    assert resume.start == dict.fromkeys(INPUTS, 70)
    assert resume.delivered == dict.fromkeys(INPUTS, 90)


def test_without_any_state_a_partition_is_rebuilt_from_the_beginning() -> None:
    """Committed offsets without a snapshot (a partition never snapshotted): replay it all."""
    committed = {("preds", 2): 40, ("labels", 2): None}
    resume = choose_resume(2, INPUTS, None, {}, None, committed, "a")
    assert resume.source == "empty"
    assert resume.state == PartitionState()
    assert resume.start == {("preds", 2): None, ("labels", 2): None}
    assert resume.delivered == {("preds", 2): 40}
