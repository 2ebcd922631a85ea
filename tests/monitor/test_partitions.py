"""Partition state changes through their owner: the processor's explicit state changes, and the
snapshot schedule of :class:`OwnedPartitions` (no broker: nothing here talks to Kafka)."""

from __future__ import annotations

from pathlib import Path

from kafka.structs import TopicPartition

from driftwarden.config import MonitorConfig, parse_config
from driftwarden.monitor.changelog import ChangelogRejections
from driftwarden.monitor.checkpoint import CheckpointStore
from driftwarden.monitor.partitions import OwnedPartitions
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.routing import RoutingCheck
from driftwarden.monitor.state import MonitorState, PartitionState
from tests.monitor.harness import Record, monitor_config


def _config(tmp_path: Path) -> MonitorConfig:
    return parse_config(monitor_config("127.0.0.1:9", "t", tmp_path))


def _owned(config: MonitorConfig, store: CheckpointStore) -> OwnedPartitions:
    return OwnedPartitions(config, store, 2, None, RoutingCheck(), ChangelogRejections())


def test_a_replay_publishes_nothing_below_the_delivered_offsets(tmp_path: Path) -> None:
    config = _config(tmp_path)
    topic = config.topics.predictions
    processor = StreamProcessor(config, MonitorState(), partition_count=2)
    processor.start_at((topic, 0), 3)
    processor.replay_to({(topic, 0): 5})
    replayed = processor.process([Record(topic, 0, 3, b"k", b"not json")])
    assert replayed.dead_letters == []  # delivered before the crash
    processor.finish_replay()
    assert processor.delivered == {(topic, 0): 5}  # not caught up yet: the replay goes on
    assert processor.process([Record(topic, 0, 4, b"k", b"not json")]).dead_letters == []
    processor.finish_replay()
    assert processor.delivered == {}  # caught up at offset 5
    late = processor.process([Record(topic, 0, 5, b"k", b"not json")])
    assert len(late.dead_letters) == 1
    assert processor.state.offsets == {(topic, 0): 6}


def test_start_at_the_beginning_forgets_the_offset(tmp_path: Path) -> None:
    config = _config(tmp_path)
    tp = (config.topics.labels, 1)
    processor = StreamProcessor(config, MonitorState(), partition_count=2)
    processor.start_at(tp, 7)
    assert processor.state.offsets == {tp: 7}
    processor.start_at(tp, None)
    assert processor.state.offsets == {}


def test_retain_drops_the_state_offsets_and_replay_of_partitions_not_owned(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    preds, labels = config.topics.predictions, config.topics.labels
    processor = StreamProcessor(config, MonitorState(), partition_count=2)
    for number in (0, 1):
        processor.adopt(number, PartitionState())
        processor.start_at(TopicPartition(preds, number), 10)
        processor.start_at(TopicPartition(labels, number), 20)
    processor.replay_to({TopicPartition(preds, 0): 12, TopicPartition(preds, 1): 15})
    assert processor.retain({0}) == [1]
    assert list(processor.state.partitions) == [0]
    assert processor.state.offsets == {TopicPartition(preds, 0): 10, TopicPartition(labels, 0): 20}
    assert processor.delivered == {TopicPartition(preds, 0): 12}
    assert processor.retain({0}) == []


def test_a_partition_snapshot_is_due_once_its_offsets_moved_and_its_time_came(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    preds = config.topics.predictions
    owned = _owned(config, CheckpointStore(tmp_path / "state"))
    for number in (0, 1):
        owned.processor.adopt(number, PartitionState())
        owned.processor.start_at(TopicPartition(preds, number), 4)
    assigned = {TopicPartition(preds, 0), TopicPartition(preds, 1)}
    first = owned.due_snapshots({TopicPartition(preds, 0)}, set(), now=100.0)
    assert [(number, at) for number, at, _ in first] == [
        (0, {TopicPartition(preds, 0): 4})
    ]  # 1: not ours
    assert first[0][2]  # its changelog records
    owned.snapshots_sent(first, now=100.0)
    assert [n for n, _, _ in owned.due_snapshots(assigned, set(), now=100.0)] == [1]
    owned.snapshots_sent(owned.due_snapshots(assigned, set(), now=100.0), now=100.0)
    owned.processor.start_at(TopicPartition(preds, 0), 9)
    every = config.state.changelog_every
    assert owned.due_snapshots(assigned, set(), now=100.0 + every / 2) == []
    assert [n for n, _, _ in owned.due_snapshots(assigned, {0}, now=101.0)] == [0]  # forced
    assert [n for n, _, _ in owned.due_snapshots(assigned, None, now=101.0)] == [0]  # final
    assert [n for n, _, _ in owned.due_snapshots(assigned, set(), now=100.0 + every)] == [0]
    # Unmoved offsets are never snapshotted again, not even by a final checkpoint.
    owned.snapshots_sent(owned.due_snapshots(assigned, None, now=101.0), now=101.0)
    assert owned.due_snapshots(assigned, None, now=100.0 + 2 * every) == []


def test_partitions_resume_from_the_last_checkpoint(tmp_path: Path) -> None:
    config = _config(tmp_path)
    store = CheckpointStore(tmp_path / "state")
    state = MonitorState()
    state.offsets[(config.topics.predictions, 1)] = 42
    store.save(state)
    owned = _owned(config, store)
    assert owned.processor.state.offsets == {(config.topics.predictions, 1): 42}
    assert not owned.positioned.is_set() and not owned.rebalanced and not owned.lost
    assert owned.assigned() == set()  # no consumer yet
