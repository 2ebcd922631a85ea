from __future__ import annotations

from pathlib import Path

import pytest

from driftwarden.contracts.inputs import Prediction
from driftwarden.core.tasks import Task
from driftwarden.monitor.checkpoint import CheckpointCorrupt, CheckpointStore
from driftwarden.monitor.join import LabelJoin
from driftwarden.monitor.performance import VersionPerformance
from driftwarden.monitor.state import MonitorState, PartitionState


def sample_state() -> MonitorState:
    state = MonitorState()
    part = state.partitions[0] = PartitionState()
    part.joins["m"] = LabelJoin(ttl=10, max_pending=5)
    part.joins["m"].add_prediction(Prediction("p", "m", "1", 1.0, {"x": 1}, 1, None), 4)
    part.counters.predictions[("m", "1")] = 7
    part.counters.observe_delay("m", 42.0)
    perf = state.performance[("m", "1")] = VersionPerformance.for_task(Task.BINARY, 1, 10)
    perf.update(1, 1, {"1": 0.9})
    state.offsets[("predictions", 0)] = 5
    return state


def test_roundtrip_preserves_state(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "state")
    assert store.load() is None
    store.save(sample_state())
    restored = store.load()
    assert restored is not None
    assert restored.offsets == {("predictions", 0): 5}
    assert restored.totals().predictions == {("m", "1"): 7}
    assert restored.totals().delay_sum == {"m": 42.0}
    assert set(restored.partitions[0].joins["m"].predictions) == {"p"}
    assert (
        restored.performance[("m", "1")].values() == sample_state().performance[("m", "1")].values()
    )
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["monitor.ckpt"]


def test_torn_or_edited_checkpoint_is_refused(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save(sample_state())
    blob = store.path.read_bytes()
    store.path.write_bytes(blob[:-10])
    with pytest.raises(CheckpointCorrupt, match="not an intact"):
        store.load()
    store.path.write_bytes(b"garbage")
    with pytest.raises(CheckpointCorrupt):
        store.load()


def test_a_pickled_checkpoint_of_an_older_version_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    store = CheckpointStore(tmp_path)
    store.path.write_bytes(b"driftwarden-checkpoint 1\n" + b"0" * 64 + b"\n\x80\x05N.")
    with pytest.raises(CheckpointCorrupt, match="pickle format") as raised:
        store.load()
    assert str(store.path) in str(raised.value) and "move it away" in str(raised.value)
