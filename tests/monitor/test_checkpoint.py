from __future__ import annotations

import pickle
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from river import metrics

from monitor.checkpoint import CheckpointCorrupt, CheckpointStore
from monitor.drift.window import EncodedWindow
from monitor.events import Prediction
from monitor.join import LabelJoin
from monitor.performance import VersionPerformance
from monitor.state import MonitorState, PartitionState


def sample_state() -> MonitorState:
    state = MonitorState()
    part = state.partitions[0] = PartitionState()
    part.joins["m"] = LabelJoin(ttl=10, max_pending=5)
    part.joins["m"].add_prediction(Prediction("p", "m", "1", 1.0, {"x": 1}, 1, None), 4)
    part.counters.predictions[("m", "1")] = 7
    part.counters.observe_delay("m", 42.0)
    perf = state.performance[("m", "1")] = VersionPerformance.for_task("binary", 1, 10)
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


def test_checkpoint_without_drift_state_still_loads(tmp_path: Path) -> None:
    state = sample_state()
    del state.__dict__["drift"]  # as written before drift detection existed
    store = CheckpointStore(tmp_path)
    store.save(state)
    restored = store.load()
    assert restored is not None and restored.drift == {}
    assert restored.offsets == {("predictions", 0): 5}


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


def test_performance_checkpointed_with_an_arrival_order_window_still_loads() -> None:
    perf = VersionPerformance.for_task("binary", 1, window=3)
    rows = [(1, 1, 0.9), (0, 1, 0.6), (0, 0, 0.2), (1, 0, 0.4), (1, 1, 0.7)]
    for y, p, s in rows:
        perf.update(y, p, {"1": s})
    old = pickle.loads(pickle.dumps(perf))  # noqa: S301 - our own bytes
    # As pickled before the keyed window: a deque of the last examples and river's rolling AUC.
    del old.__dict__["_held"]
    old.__dict__["_recent"] = deque((y == 1, p == 1, s) for y, p, s in rows[-3:])
    old.__dict__["_rolling_auc"] = metrics.RollingROCAUC(window_size=3)
    old.__dict__["_rolling_log_loss"] = metrics.LogLoss()
    old.__dict__["_log_loss"] = metrics.LogLoss()
    for y, _, s in rows:
        old.__dict__["_log_loss"].update(y == 1, s)
    restored = pickle.loads(pickle.dumps(old))  # noqa: S301 - our own bytes
    # (the rolling log loss is a running mean: equal up to the order of its float sums)
    assert restored.values() == pytest.approx(perf.values(), rel=1e-12)
    restored.update(0, 0, {"1": 0.1})
    perf.update(0, 0, {"1": 0.1})
    assert restored.values() == pytest.approx(perf.values(), rel=1e-12)
    assert len(restored.rolling_keys()) == 3


def test_drift_window_checkpointed_as_a_ring_buffer_still_loads() -> None:
    window = EncodedWindow(size=4, features=1)
    bins, stamps = np.arange(6).reshape(6, 1), np.array([1.0, 2.0, 3.0, 4.0, 6.0, 5.0])
    window.push(bins, np.zeros((6, 1), np.uint8), stamps)
    # The ring buffer after the same pushes: the last 4 in arrival order, from slot 2 on.
    ring = EncodedWindow(size=4, features=1)
    ring.bins[:, 0] = [4, 5, 2, 3]
    ring.timestamps[:] = [6.0, 5.0, 3.0, 4.0]
    ring.filled = 4
    ring.__dict__["_next"] = 2
    for name in ("partitions", "offsets", "pushed", "version"):
        del ring.__dict__[name]
    restored = pickle.loads(pickle.dumps(ring))  # noqa: S301 - our own bytes
    assert restored.counts(6).tolist() == window.counts(6).tolist() == [[0, 0, 1, 1, 1, 1]]
    assert [k[0] for k in restored.keys()] == [3.0, 4.0, 5.0, 6.0]
    assert (restored.first_timestamp, restored.last_timestamp) == (3.0, 6.0)
    restored.push(np.array([[0]]), np.zeros((1, 1), np.uint8), np.array([7.0]))
    assert restored.counts(6).tolist() == [[1, 0, 0, 1, 1, 1]]
