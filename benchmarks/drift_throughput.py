"""Drift-check throughput: windowed binned tests against a per-event river detector loop.

Method. A seeded 25-feature stream (20 numeric, 5 categorical;
:mod:`driftwarden.testing.streams`) with a binary classifier's scores, predictions and labels is
cut into parsed micro-batches (feature dicts, predictions, labels, score dicts, timestamps)
before any clock starts, so parsing and generation are not measured. The measured loop is the
monitor's per-batch work: ``VersionDrift.observe`` on the predictions,
``VersionPerformance.update`` for each joined example, and ``VersionDrift.observe_joined`` on
the labels, with every prediction joined in its own batch.
A profile of 20k reference rows, default ``DriftSettings`` (window 2000, every 500, KS and
Jensen-Shannon at a 0.001 false-alarm rate, ADWIN on the error) and a 1000-example metrics window.
Each repetition starts from fresh state (construction and calibration are not timed); the
figure is the median over repetitions of events / ``time.process_time`` (the loop is
single-threaded; wall time is reported next to it). Each component is also timed alone.

The baseline, timed in the same run on the first ``--baseline-events`` events of the same
batches, is the per-event alternative: river's ``drift.KSWIN()`` (defaults, seeded) updated for
every numeric feature of every event, and for every categorical feature with the category's
index. Exits 0; PASS/MISS compares the medians with the targets.

    python -m benchmarks.drift_throughput [--events 200000] [--batch 1000] [--repeat 3]
                                          [--baseline-events 5000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from river import drift

from driftwarden.core.profile import ReferenceProfile, build_profile
from driftwarden.core.tasks import Task
from driftwarden.monitor.drift.checks import DriftSettings, VersionDrift
from driftwarden.monitor.performance import VersionPerformance
from driftwarden.testing.streams import MicroBatch, Schema, binary_outcome, micro_batches

TARGET_RATE = 100_000.0  # events/s of drift checks + metrics on one core
TARGET_RATIO = 50.0  # times the per-event KSWIN baseline
REFERENCE_ROWS = 20_000
METRICS_WINDOW = 1000  # ModelConfig.window's default
TASK = Task.BINARY


@dataclass(frozen=True)
class Workload:
    schema: Schema
    profile: ReferenceProfile
    batches: list[MicroBatch]
    events: int


@dataclass(frozen=True)
class Timing:
    cpu_s: float
    wall_s: float


Step = Callable[[], None]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    workload = _workload(args.events, args.batch, args.seed)
    baseline_batches = _first_events(workload.batches, args.baseline_events)
    baseline_events = sum(len(b.rows) for b in baseline_batches)
    print(_header(workload, args, baseline_events))
    measured: dict[str, tuple[int, list[Timing]]] = {}
    for name, prepare in _monitor_steps(workload).items():
        measured[name] = (workload.events, [_timed(prepare()) for _ in range(args.repeat)])
    baseline = [_timed(_kswin_step(workload.schema, baseline_batches)) for _ in range(args.repeat)]
    measured["baseline: river KSWIN per feature, per event"] = (baseline_events, baseline)
    print(_report(measured))
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.drift_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=200_000, help="events for the monitor")
    parser.add_argument("--batch", type=int, default=1000, help="events per micro-batch")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of every timing")
    parser.add_argument(
        "--baseline-events", type=int, default=5000, help="events for the KSWIN baseline"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.events, args.batch, args.repeat, args.baseline_events) < 1:
        parser.error("--events, --batch, --repeat and --baseline-events must be >= 1")
    return args


def _workload(events: int, batch: int, seed: int) -> Workload:
    schema = Schema.default()
    rng = np.random.default_rng(seed)
    reference = schema.generate(rng, REFERENCE_ROWS)
    outcome = binary_outcome(reference, schema, rng)
    profile = build_profile(
        "throughput",
        {**reference, "label": outcome.labels, "prediction": outcome.predictions},
        schema.feature_types(),
        label="label",
        prediction="prediction",
        task=TASK,
    )
    stream = schema.generate(rng, events)
    live = binary_outcome(stream, schema, rng)
    batches = list(
        micro_batches(stream, schema.names, live.predictions, live.labels, batch, live.scores)
    )
    return Workload(schema, profile, batches, events)


def _first_events(batches: list[MicroBatch], events: int) -> list[MicroBatch]:
    out, seen = [], 0
    for batch in batches:
        if seen >= events:
            break
        out.append(batch)
        seen += len(batch.rows)
    return out


def _monitor_steps(workload: Workload) -> dict[str, Callable[[], Step]]:
    """Name -> a function that builds fresh state and returns the step to time."""
    batches, profile = workload.batches, workload.profile

    def everything() -> Step:
        checks = VersionDrift(profile, DriftSettings(), TASK)
        metrics = VersionPerformance.for_task(TASK, 1, METRICS_WINDOW)

        def step() -> None:
            for b in batches:
                checks.observe(b.rows, b.predictions, b.timestamps)
                _update_metrics(metrics, b)
                checks.observe_joined(b.labels, b.predictions, b.timestamps)

        return step

    def observe() -> Step:
        checks = VersionDrift(profile, DriftSettings(), TASK)
        return lambda: _each(batches, lambda b: checks.observe(b.rows, b.predictions, b.timestamps))

    def observe_joined() -> Step:
        checks = VersionDrift(profile, DriftSettings(), TASK)
        return lambda: _each(
            batches, lambda b: checks.observe_joined(b.labels, b.predictions, b.timestamps)
        )

    def metrics() -> Step:
        perf = VersionPerformance.for_task(TASK, 1, METRICS_WINDOW)
        return lambda: _each(batches, lambda b: _update_metrics(perf, b))

    return {
        "drift checks + metrics (the figure)": everything,
        "  observe: 25 features + prediction": observe,
        "  observe_joined: label + concept": observe_joined,
        "  VersionPerformance.update": metrics,
    }


def _each(batches: list[MicroBatch], work: Callable[[MicroBatch], object]) -> None:
    for batch in batches:
        work(batch)


def _update_metrics(perf: VersionPerformance, batch: MicroBatch) -> None:
    for label, prediction, scores in zip(
        batch.labels, batch.predictions, batch.scores, strict=True
    ):
        perf.update(label, prediction, scores)


def _kswin_step(schema: Schema, batches: list[MicroBatch]) -> Step:
    numeric = [(f.name, drift.KSWIN(seed=i)) for i, f in enumerate(schema.numeric)]
    categorical = [
        (f.name, _category_index(f.categories), drift.KSWIN(seed=100 + i))
        for i, f in enumerate(schema.categorical)
    ]

    def step() -> None:
        for batch in batches:
            for row in batch.rows:
                for name, detector in numeric:
                    detector.update(row[name])
                for name, index, detector in categorical:
                    detector.update(index[row[name]])

    return step


def _category_index(categories: Sequence[str]) -> dict[object, int]:
    return {c: i for i, c in enumerate(categories)}


def _timed(step: Step) -> Timing:
    cpu, wall = time.process_time(), time.perf_counter()
    step()
    return Timing(time.process_time() - cpu, time.perf_counter() - wall)


def _header(workload: Workload, args: argparse.Namespace, baseline_events: int) -> str:
    features = len(workload.schema.numeric), len(workload.schema.categorical)
    return (
        f"drift throughput: {workload.events:,} events in batches of {args.batch}, "
        f"{features[0]} numeric + {features[1]} categorical features, binary classifier, "
        f"reference {REFERENCE_ROWS:,} rows, default DriftSettings, seed {args.seed}, "
        f"median of {args.repeat} run(s); baseline on the first {baseline_events:,} events"
    )


def _report(measured: dict[str, tuple[int, list[Timing]]]) -> str:
    lines = [f"{'':46} {'events':>8} {'ev/s (cpu)':>11} {'ev/s (wall)':>11} {'us/ev':>7}  cpu s"]
    rates: dict[str, float] = {}
    for name, (events, runs) in measured.items():
        cpu = statistics.median(t.cpu_s for t in runs)
        wall = statistics.median(t.wall_s for t in runs)
        rates[name] = events / cpu
        seconds = " ".join(f"{t.cpu_s:.2f}" for t in runs)
        lines.append(
            f"{name:46} {events:>8,} {events / cpu:>11,.0f} {events / wall:>11,.0f} "
            f"{cpu / events * 1e6:>7.2f}  {seconds}"
        )
    figure, baseline = rates[next(iter(rates))], rates[next(reversed(rates))]
    ratio = figure / baseline
    lines += [
        "",
        f"drift checks + metrics: {figure:,.0f} events/s (target >= {TARGET_RATE:,.0f}): "
        + _verdict(figure >= TARGET_RATE),
        f"ratio to the KSWIN baseline: {ratio:,.0f}x (target >= {TARGET_RATIO:.0f}x): "
        + _verdict(ratio >= TARGET_RATIO),
    ]
    return "\n".join(lines)


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


if __name__ == "__main__":
    raise SystemExit(main())
