"""Cost of the explicit state encoding: a checkpoint's encode and decode against pickle.

Builds the state of a realistic run without Kafka (the demo stream through ``StreamProcessor``,
with drift checks against a reference profile and labels up to ``--max-delay`` seconds late, so
the join buffers hold thousands of predictions), then times, ``--repeat`` times each:
the checkpoint payload (``MonitorState.to_state`` + compressed JSON) and its decoding (drift
checks rebuilt from prebuilt templates, so calibration is not counted), one partition's
changelog snapshot both ways, and ``pickle`` of the same state as the previous format did.
Prints medians and sizes.

    python -m benchmarks.state_codec [--events 50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import copy
import pickle
import statistics
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from driftwarden.demo import demo_config
from driftwarden.monitor.changelog import PartitionSnapshot, SnapshotAssembler, encode_snapshot
from driftwarden.monitor.codec import dump_document, load_document
from driftwarden.monitor.drift.checks import VersionDrift
from driftwarden.monitor.drift.factory import drift_factory
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.state import DriftFactory, MonitorState
from driftwarden.testing import generate_stream, stream_profile
from tests.monitor.harness import Record


def build_state(events: int, max_delay: float) -> tuple[MonitorState, DriftFactory]:
    config = demo_config("127.0.0.1:9", "bench.", Path("."))
    profile = stream_profile()

    def profiles(model: str, version: str) -> object:
        return profile

    processor = StreamProcessor(config, MonitorState(), 4, profiles=profiles)  # type: ignore[arg-type]
    offsets: dict[tuple[str, int], int] = {}
    records = []
    for event in generate_stream(events, seed=7, max_delay=max_delay):
        topic = config.topics.predictions if event.topic == "predictions" else config.topics.labels
        partition = zlib.crc32(event.key) % 4
        offset = offsets[(topic, partition)] = offsets.get((topic, partition), -1) + 1
        records.append(Record(topic, partition, offset, event.key, event.value))
    records = records[: len(records) * 9 // 10]  # the labels of the last predictions are due
    for start in range(0, len(records), 5000):
        processor.process(records[start : start + 5000])
    built = drift_factory(config, profiles)  # type: ignore[arg-type]
    templates: dict[tuple[str, str], VersionDrift | None] = {
        key: built(*key) for key in processor.state.drift
    }

    def factory(model: str, version: str) -> VersionDrift | None:
        return copy.deepcopy(templates[(model, version)])

    return processor.state, factory


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--max-delay", type=float, default=3000.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    state, factory = build_state(args.events, args.max_delay)
    pending = sum(
        j.pending_predictions for p in state.partitions.values() for j in p.joins.values()
    )
    print(f"state of {args.events} events: {pending} pending predictions, {len(state.drift)} drift")

    payload = dump_document("monitor-state", {"state": state.to_state()})
    pickled = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    rows = [
        ("encode checkpoint", lambda: dump_document("monitor-state", {"state": state.to_state()})),
        (
            "decode checkpoint",
            lambda: MonitorState.from_state(
                load_document(payload, "monitor-state", 1 << 30)["state"], factory
            ),
        ),
        ("pickle.dumps (old)", lambda: pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)),
        ("pickle.loads (old)", lambda: pickle.loads(pickled)),  # noqa: S301 - our own bytes
    ]
    snapshot = PartitionSnapshot(0, {}, state.partitions[0], "bench")
    records = encode_snapshot(snapshot, "bench:1")

    def assemble() -> object:
        assembler = SnapshotAssembler()
        for record in records:
            assembler.add(record.key, record.value, record.headers, 0)
        return assembler.latest()

    old_snapshot = zlib.compress(pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL), 1)
    rows += [
        ("encode snapshot (1 partition)", lambda: encode_snapshot(snapshot, "bench:1")),
        ("decode snapshot (1 partition)", assemble),
        (
            "pickle + zlib snapshot (old)",
            lambda: zlib.compress(pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL), 1),
        ),
        ("unzip + unpickle snapshot (old)", lambda: pickle.loads(zlib.decompress(old_snapshot))),  # noqa: S301
    ]
    for name, action in rows:
        print(f"{name:34s} {median_ms(action, args.repeat):9.1f} ms")
    print(f"checkpoint size: {len(payload):,} B encoded, {len(pickled):,} B pickled (uncompressed)")
    new_bytes = sum(len(r.value) for r in records)
    print(f"snapshot size: {new_bytes:,} B encoded, {len(old_snapshot):,} B old (both compressed)")


if __name__ == "__main__":
    main()
