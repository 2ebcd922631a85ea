"""Changelog snapshots: authentication with state.changelog_key, rejection reasons, chunk sizes."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from driftwarden.config import masked_dict, parse_config
from driftwarden.contracts.inputs import Label, Prediction
from driftwarden.core.errors import ConfigError
from driftwarden.demo import demo_config
from driftwarden.monitor.changelog import (
    ChangelogRejections,
    PartitionSnapshot,
    SnapshotAssembler,
    SnapshotRecord,
    chunk_bytes,
    encode_snapshot,
)
from driftwarden.monitor.join import LabelJoin
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.shares import pending_share
from driftwarden.monitor.state import MonitorState, PartitionState, StreamCounters
from tests.monitor.harness import monitor_config

KEY = b"0123456789abcdef0123456789abcdef"


def _snapshot(offset: int, pending: int = 3) -> PartitionSnapshot:
    state = PartitionState()
    join = state.joins["m"] = LabelJoin(ttl=60.0, max_pending=10**6)
    for i in range(pending):
        features = {"x": i * 0.5, "blob": random.Random(i).randbytes(200).hex()}
        join.add_prediction(Prediction(f"p-{i}", "m", "1", float(i), features, 1, None), i)
    return PartitionSnapshot(0, {("preds", 0): offset}, state, "writer")


def _read(*batches: list[SnapshotRecord], key: bytes | None = None) -> SnapshotAssembler:
    assembler = SnapshotAssembler(key)
    for records in batches:
        for record in records:
            assembler.add(record.key, record.value, record.headers, 0)
    return assembler


def test_a_keyed_snapshot_is_read_only_with_its_key() -> None:
    records = encode_snapshot(_snapshot(5), "w:1", key=KEY)
    assert _read(records, key=KEY).latest()[0].offsets == {("preds", 0): 5}
    other = _read(records, key=b"another key of 16+ bytes")
    assert other.latest() == {} and [r.reason for r in other.rejected] == ["unauthenticated"]
    keyless = _read(records)
    assert keyless.latest() == {} and [r.reason for r in keyless.rejected] == ["unauthenticated"]


def test_with_a_key_an_unkeyed_snapshot_is_rejected_and_the_keyed_one_before_stands() -> None:
    keyed = encode_snapshot(_snapshot(5), "w:1", key=KEY)
    forged = encode_snapshot(_snapshot(50), "attacker:1")
    assembler = _read(keyed, forged, key=KEY)
    assert assembler.latest()[0].offsets == {("preds", 0): 5}
    assert [r.reason for r in assembler.rejected] == ["unauthenticated"]


def test_chunks_fit_a_small_max_request_size() -> None:
    records = encode_snapshot(_snapshot(5, pending=2000), "w:1", max_request_size=200_000)
    assert len(records) > 2
    assert all(len(r.value) <= chunk_bytes(200_000) < 200_000 - 512 for r in records)
    assert _read(records).latest()[0] == _snapshot(5, pending=2000)


def test_a_snapshot_larger_than_the_limit_is_rejected_while_it_arrives() -> None:
    records = encode_snapshot(_snapshot(5, pending=2000), "w:1", max_request_size=100_000)
    assembler = SnapshotAssembler(max_bytes=150_000)
    for record in records:
        assembler.add(record.key, record.value, record.headers, 0)
    assert assembler.latest() == {}
    assert [r.reason for r in assembler.rejected] == ["too_large"]


def test_a_record_of_another_partition_is_malformed() -> None:
    (record,) = encode_snapshot(_snapshot(5), "w:1")
    assembler = SnapshotAssembler()
    assembler.add(record.key, record.value, record.headers, 3)
    assert [r.reason for r in assembler.rejected] == ["malformed"]


def test_rejections_are_exported_by_reason_from_zero() -> None:
    registry = CollectorRegistry()
    rejections = ChangelogRejections()
    registry.register(rejections)
    rejections.inc("unauthenticated")
    name = "driftwarden_changelog_records_rejected_total"
    assert registry.get_sample_value(name, {"reason": "unauthenticated"}) == 1.0
    assert registry.get_sample_value(name, {"reason": "malformed"}) == 0.0


def test_the_key_is_a_masked_secret_of_at_least_16_bytes(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY.decode() + "\n")
    raw = monitor_config("127.0.0.1:9092", "p", tmp_path)
    raw["state"]["changelog_key"] = {"file": str(key_file)}
    config = parse_config(raw)
    assert config.state.changelog_secret() == KEY
    assert KEY.decode() not in str(masked_dict(config))
    raw["state"]["changelog_key"] = "short"
    with pytest.raises(ConfigError, match="state.changelog_key: must be at least 16 bytes"):
        parse_config(raw)
    assert demo_config("127.0.0.1:9", "p.", tmp_path).state.changelog_secret() is None


def test_a_new_counter_field_needs_no_codec_change() -> None:
    @dataclass
    class WithMisrouted(StreamCounters):
        misrouted: Counter[str] = field(default_factory=Counter)

    counters = WithMisrouted()
    counters.misrouted["predictions"] += 3
    counters.unmatched[("m", "label", "expired")] += 2
    counters.observe_delay("m", 30.0)
    assert WithMisrouted.from_state(counters.to_state()) == counters
    assert WithMisrouted.from_state(StreamCounters().to_state()) == WithMisrouted()


def test_a_snapshot_taken_over_holds_this_configs_share_of_max_pending(tmp_path: Path) -> None:
    config = demo_config("127.0.0.1:9", "p.", tmp_path)
    processor = StreamProcessor(config, MonitorState(), partition_count=4)
    state = PartitionState({"churn": LabelJoin(ttl=3600.0, max_pending=10**12)})
    processor.adopt(1, state)
    expected = pending_share(config.models[0].max_pending, 1, 4)
    assert processor.state.partitions[1].joins["churn"].max_pending == expected


def test_a_snapshot_taken_over_cannot_lift_the_bounds(tmp_path: Path) -> None:
    config = demo_config("127.0.0.1:9", "p.", tmp_path)
    processor = StreamProcessor(config, MonitorState(), partition_count=4)
    share = pending_share(config.models[0].max_pending, 1, 4)
    forged = LabelJoin(ttl=3600.0, max_pending=10**12)
    for i in range(share + 50):
        forged.add_label(Label(f"p-{i}", "churn", 1, 1000.0 + i), offset=i)
    state = PartitionState({"churn": forged, "unknown": LabelJoin(3600.0, 10)})
    processor.adopt(1, state)
    join = processor.state.partitions[1].joins["churn"]
    assert list(processor.state.partitions[1].joins) == ["churn"]
    assert join.pending_labels == share
    assert state.counters.unmatched[("churn", "label", "evicted")] == 50
    assert len(join._labels.seen) == share
