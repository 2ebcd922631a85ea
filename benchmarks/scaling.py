"""Scaling: the monitor's processing cost and memory against models x features.

Method. For each cell of ``--models`` x ``--features`` (default 1, 10, 100 models x 5, 20, 50
features, 60% numeric and 40% categorical) a child process builds a config of that many binary
models, each with a reference profile (so drift checks run: window 1000, every 500), a
500-example metrics window and labels 200 predictions behind; it generates the prediction and
label records as it goes and feeds them to :meth:`StreamProcessor.process` in micro-batches of
500, timing only the processing (no Kafka: this is the cost that grows with models and
features). Each model gets ``--predictions`` predictions (default 2000) and as many labels,
round-robin over the models, so every model's windows are full halfway through the stream.

The child samples ``VmRSS`` after start-up (its baseline: interpreter, libraries, config and
profiles), halfway and at the end of the stream, and encodes its state as a checkpoint would.
The parent prints, per cell: events/s and us/event over the second half of the stream (steady
state; the first half also pays each version's one-off set-up, reported apart) as medians of
``--repeat`` runs, the RSS growth
over the baseline at the end, that growth per model x feature, and the end/half ratios of the RSS
growth and of the encoded state size (flat in stream length: ~1); then, per step in models, how
the cost per event and the state grow against the number of models (1.00: each extra model
costs exactly its share). Exits 0.

    python -m benchmarks.scaling [--models 1 10 100] [--features 5 20 50]
                                 [--predictions 4000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from driftwarden.config import MonitorConfig, parse_config
from driftwarden.core.profile import ReferenceProfile, build_profile
from driftwarden.monitor.codec import dump_document
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.profiles import ProfileSource
from driftwarden.monitor.state import MonitorState
from tests.monitor.harness import Record

BATCH = 500
LABEL_LAG = 200  # labels trail their predictions by this many predictions of the stream
START = 1_700_000_000.0
PLANS = ("basic", "pro", "team", "enterprise", "trial")


@dataclass(frozen=True)
class Cell:
    models: int
    features: int
    predictions: int  # per model


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.cell:
        models, features = args.cell
        print(json.dumps(_run_cell(Cell(models, features, args.predictions))))
        return 0
    cells = [Cell(m, f, args.predictions) for m in args.models for f in args.features]
    print(
        f"scaling benchmark: {args.predictions:,} predictions + as many labels per model, "
        f"micro-batches of {BATCH}, median of {args.repeat} run(s) per cell, one child process "
        "per run"
    )
    print(
        f"{'models':>6} {'features':>8} {'events':>9} {'ev/s':>8} {'us/ev':>6} {'setup s':>7} "
        f"{'RSS MiB':>8} {'KiB/(m*f)':>9} {'end/half':>8} {'state KiB':>9} {'end/half':>8}"
    )
    rows: dict[tuple[int, int], dict[str, float]] = {}
    for cell in cells:
        runs = [_child(cell) for _ in range(args.repeat)]
        row = rows[(cell.models, cell.features)] = {
            "events": runs[0]["events"],
            # Steady state: the second half, once every version's drift checks are set up.
            "rate": statistics.median(
                (r["events"] / 2) / (r["seconds"] - r["first_half"]) for r in runs
            ),
            "setup": statistics.median(
                r["first_half"] - (r["seconds"] - r["first_half"]) for r in runs
            ),
            "grown": statistics.median(r["rss_end"] - r["rss_base"] for r in runs),
            "grown_half": statistics.median(r["rss_half"] - r["rss_base"] for r in runs),
            "encoded": runs[0]["encoded"],
            "encoded_half": runs[0]["encoded_half"],
        }
        print(
            f"{cell.models:>6} {cell.features:>8} {row['events']:>9,.0f} {row['rate']:>8,.0f} "
            f"{1e6 / row['rate']:>6.1f} {row['setup']:>7.2f} {row['grown'] / 2**20:>8.1f} "
            f"{row['grown'] / (cell.models * cell.features) / 1024:>9.1f} "
            f"{row['grown'] / max(row['grown_half'], 1):>8.2f} {row['encoded'] / 1024:>9.0f} "
            f"{row['encoded'] / max(row['encoded_half'], 1):>8.2f}"
        )
    print(
        "ev/s, us/ev: the second half of the stream (steady state); setup s: how much longer the "
        "first half took (each version's drift checks calibrate their thresholds once); "
        "RSS MiB: the child's RSS at the end minus after start-up (config and profiles built); "
        "state KiB: the state encoded as a checkpoint; end/half: at the end over halfway (every "
        "window is full halfway, so ~1 is flat in stream length)."
    )
    _print_steps(rows, args.models, args.features)
    return 0


def _print_steps(
    rows: dict[tuple[int, int], dict[str, float]], models: list[int], features: list[int]
) -> None:
    """Per step in models: what the extra models cost over their share (1.00 = exactly linear)."""
    steps = list(zip(models, models[1:], strict=False))
    if not steps:
        return
    print("steps in models (cost ratio / models ratio; 1.00 = linear, above = more than its share)")
    print(f"{'features':>8} {'step':>10} {'us/event':>9} {'state':>7}")
    for f in features:
        for low, high in steps:
            a, b = rows[(low, f)], rows[(high, f)]
            per_event = a["rate"] / b["rate"]  # us/event ratio: the same work per event is 1.00
            state = b["encoded"] / a["encoded"] / (high / low)
            print(f"{f:>8} {f'{low}->{high}':>10} {per_event:>9.2f} {state:>7.2f}")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--features", type=int, nargs="+", default=[5, 20, 50])
    parser.add_argument("--predictions", type=int, default=2000, help="per model")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell (medians)")
    parser.add_argument(
        "--cell", type=int, nargs=2, metavar=("MODELS", "FEATURES"), help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def _child(cell: Cell) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.scaling", "--cell", str(cell.models)]
    command += [str(cell.features), "--predictions", str(cell.predictions)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _run_cell(cell: Cell) -> dict[str, Any]:
    features = _feature_types(cell.features)
    names = [f"model-{i:03d}" for i in range(cell.models)]
    with tempfile.TemporaryDirectory(prefix="driftwarden-scaling-") as tmp:
        config = _config(names, features, Path(tmp))
        profiles = ProfileSource({name: _profile(name, features) for name in names}, None)
        processor = StreamProcessor(config, MonitorState(), 1, profiles=profiles)
        gc.collect()
        rss_base = _rss()
        events, seconds, rss_half, encoded_half, first_half = 0, 0.0, 0, 0, 0.0
        half = cell.models * cell.predictions  # events: predictions + labels
        for batch in _batches(config, names, features, cell.predictions):
            started = time.perf_counter()
            processor.process(batch)
            seconds += time.perf_counter() - started
            events += len(batch)
            if not rss_half and events >= half:
                gc.collect()
                rss_half = _rss()
                encoded_half = _encoded(processor)
                first_half = seconds
        gc.collect()
        rss_end = _rss()
        encoded = _encoded(processor)
    return {
        "events": events,
        "seconds": seconds,
        "first_half": first_half,
        "rss_base": rss_base,
        "rss_half": rss_half,
        "rss_end": rss_end,
        "encoded_half": encoded_half,
        "encoded": encoded,
    }


def _feature_types(count: int) -> dict[str, str]:
    numeric = round(count * 0.6)
    return {f"f{i:02d}": "numeric" if i < numeric else "categorical" for i in range(count)}


def _config(names: list[str], features: dict[str, str], tmp: Path) -> MonitorConfig:
    topics = ("predictions", "labels", "events", "examples", "retrain_requests", "dead_letter")
    return parse_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:9", "group_id": "scaling"},
            "topics": {name: f"scaling.{name}" for name in topics},
            "http": {"host": "127.0.0.1", "port": 0},
            "state": {"dir": str(tmp / "state")},
            "models": [
                {
                    "name": name,
                    "task": "binary",
                    "positive_label": 1,
                    "features": features,
                    "label_ttl": "1h",
                    "window": 500,
                    "drift": {"window": 1000, "every": 500},
                    "future_tolerance": None,
                }
                for name in names
            ],
        },
        source="scaling",
    )


def _value(rng: random.Random, name: str, kind: str, shift: float) -> object:
    if kind == "numeric":
        return round(rng.gauss(shift, 1.0), 3)
    return PLANS[min(int(abs(rng.gauss(shift, 1.5))), len(PLANS) - 1)] + name[-1]


def _profile(model: str, features: dict[str, str]) -> ReferenceProfile:
    rng = random.Random(model)  # noqa: S311 - synthetic data, not security
    rows = 2000
    columns: dict[str, list[object]] = {
        name: [_value(rng, name, kind, 0.0) for _ in range(rows)] for name, kind in features.items()
    }
    columns["prediction"] = [rng.randint(0, 1) for _ in range(rows)]
    columns["label"] = [rng.randint(0, 1) for _ in range(rows)]
    return build_profile(
        model, columns, features, prediction="prediction", label="label", task="binary"
    )


def _batches(
    config: MonitorConfig, names: list[str], features: dict[str, str], per_model: int
) -> Iterator[list[Record]]:
    """Micro-batches of the stream, generated as they are needed (not timed): predictions
    round-robin over the models, one a second; each label LABEL_LAG predictions later. The
    features drift slowly, so drift checks see both quiet and shifted windows."""
    rng = random.Random(7)  # noqa: S311 - synthetic data, not security
    predictions, labels = config.topics.predictions, config.topics.labels
    batch: list[Record] = []
    due: deque[Record] = deque()
    total = per_model * len(names)
    for i in range(total):
        ts = START + i
        model = names[i % len(names)]
        pid = f"p-{i:08d}"
        score = rng.random()
        doc = {
            "schema": 1,
            "prediction_id": pid,
            "model": model,
            "model_version": "1",
            "timestamp": ts,
            "features": {n: _value(rng, n, k, i / total) for n, k in features.items()},
            "prediction": int(score >= 0.5),
            "scores": {"0": 1 - score, "1": score},
        }
        batch.append(Record(predictions, 0, i, pid.encode(), orjson.dumps(doc), [], int(ts * 1000)))
        label = {
            "schema": 1,
            "prediction_id": pid,
            "model": model,
            "label": int(rng.random() < score),
            "timestamp": ts + LABEL_LAG,
        }
        due.append(
            Record(
                labels, 0, i, pid.encode(), orjson.dumps(label), [], int((ts + LABEL_LAG) * 1000)
            )
        )
        if len(due) > LABEL_LAG:
            batch.append(due.popleft())
        if len(batch) >= BATCH:
            yield batch
            batch = []
    batch.extend(due)
    if batch:
        yield batch


def _encoded(processor: StreamProcessor) -> int:
    """The size of the processor's state encoded as a checkpoint (deterministic, unlike RSS)."""
    return len(dump_document("monitor-state", {"state": processor.state.to_state()}))


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


if __name__ == "__main__":
    raise SystemExit(main())
