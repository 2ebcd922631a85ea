"""Label-free performance estimation (CBPE): accuracy of the estimate, its lead over the labels.

Method. benchmarks.estimation_scenarios builds three seeded binary streams (covariate shift with
a calibrated model, prior shift, concept drift; the change at the middle of the stream, one
prediction a second, each label ``LABEL_DELAY_S`` = 1 h of event time after its prediction), a
``HistGradientBoostingClassifier`` trained before the stream, and the isotonic calibration
fitted on its reference scores and labels (``driftwarden.core.calibration``).

Quality (table 1). The stream is cut into chunks of ``W`` consecutive predictions (W = 500 and
2000). Per chunk, driftwarden's estimate (``driftwarden.monitor.estimation.cbpe.estimate_binary``
of the decisions and calibrated probabilities) is compared with the realized value once all its
labels are in: mean absolute error (MAE) of accuracy and F1 over the chunks, and coverage, the
share of chunks whose realized value lies within the band. Side by side, in the same run, NannyML's
``CBPE`` (fitted on the same reference, raw scores: it calibrates them itself) on the same
predictions in chunks of the same size (benchmarks.nannyml_venv: its own virtualenv, a
subprocess, CSV in and JSON out). NannyML's band is its confidence boundary (± 3 sampling errors).

Lead time (table 2). Every ``--step`` predictions, the estimated accuracy of the last W predictions
and the realized accuracy of the last W predictions whose labels have landed are compared with a
threshold (the model's accuracy on the reference minus ``ALARM_DROP``); an alarm is a value below
it. The first alarm on a window holding changed predictions is reported for each, and the lead:
predictions seen and event time between the estimate's alarm and the labels' alarm. Alarms on
windows of unchanged predictions are counted as false.

Targets (covariate shift, where the estimate's assumption holds): MAE no worse than NannyML's on
the same chunks, band coverage >= 90%, a lead of at least the label delay. Exits 0 whether or not
they are met; PASS/MISS are printed.

Cost (table 3, benchmarks.estimation_cost): events/s of ``StreamProcessor.process`` on the churn
stream with estimation on vs off, median of ``--repeat`` alternating runs; target on/off >= 85%.

    python -m benchmarks.estimation [--events 40000] [--seed 7] [--step 100] [--no-nannyml]
                                    [--cost-events 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.estimation_cost import estimation_cost
from benchmarks.estimation_scenarios import LABEL_DELAY_S, SCENARIOS, Stream, build_streams
from benchmarks.nannyml_venv import Estimates, default_venv, nannyml_estimates
from driftwarden.monitor.estimation.cbpe import estimate_binary, realized_binary

WINDOWS = (500, 2000)
METRICS = ("accuracy", "f1")
ALARM_DROP = 0.05
TARGET_COVERAGE = 0.90
TARGET_LEAD_S = LABEL_DELAY_S
SAME_MAE = 1e-4  # MAEs this close count as equal ("no worse than")


@dataclass(frozen=True)
class Quality:
    """MAE and band coverage of one estimator for one metric over a scenario's chunks."""

    mae: float
    coverage: float


@dataclass(frozen=True)
class Alarm:
    """The first alarm on a window with changed predictions, and the false ones before it."""

    index: int | None  # predictions seen when it was raised
    time_s: float | None  # event time when it was raised
    false_alarms: int


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    streams = build_streams(args.events, args.seed)
    print(_header(streams, args))
    theirs = None if args.no_nannyml else nannyml_estimates(streams, WINDOWS, args.nannyml_venv)
    print(_quality_table(streams, theirs))
    print()
    print(_lead_table(streams, args.step))
    if args.cost_events:
        print()
        print(estimation_cost(args.cost_events, args.repeat))
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.estimation", description=__doc__)
    parser.add_argument("--events", type=int, default=40_000, help="predictions per scenario")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--step", type=int, default=100, help="predictions between alarm checks")
    parser.add_argument("--no-nannyml", action="store_true", help="skip the NannyML baseline")
    parser.add_argument(
        "--cost-events",
        type=int,
        default=100_000,
        help="churn events for the processing cost with estimation on vs off (0: skip)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of the cost, on and off")
    parser.add_argument(
        "--nannyml-venv", type=Path, default=default_venv(), help="NannyML's virtualenv"
    )
    args = parser.parse_args(argv)
    if args.events < 2 * max(WINDOWS) or args.events % max(WINDOWS) or args.step < 1:
        parser.error(f"--events must be a multiple of {max(WINDOWS)}, --step >= 1")
    return args


def chunk_quality(stream: Stream, window: int) -> dict[str, tuple[list[float], Quality]]:
    """Per metric: the realized value of each chunk, and driftwarden's MAE and coverage."""
    production = stream.production
    realized: dict[str, list[float]] = {m: [] for m in METRICS}
    errors: dict[str, list[float]] = {m: [] for m in METRICS}
    inside: dict[str, list[bool]] = {m: [] for m in METRICS}
    for start in range(0, production.score.size, window):
        part = slice(start, start + window)
        estimates = estimate_binary(production.predicted[part], stream.calibrated[part])
        truth = realized_binary(
            production.predicted[part], production.actual[part], production.score[part]
        )
        for metric in METRICS:
            estimate, value = estimates[metric], truth[metric]
            realized[metric].append(value)
            errors[metric].append(abs(estimate.value - value))
            inside[metric].append(estimate.lower <= value <= estimate.upper)
    return {
        m: (realized[m], Quality(float(np.mean(errors[m])), float(np.mean(inside[m]))))
        for m in METRICS
    }


def baseline_quality(realized: list[float], theirs: dict[str, list[float]]) -> Quality:
    """NannyML's MAE and coverage on the same chunks."""
    truth = np.array(realized)
    value, lower, upper = (np.array(theirs[k]) for k in ("value", "lower", "upper"))
    if value.size != truth.size:
        raise RuntimeError(f"NannyML returned {value.size} chunks, expected {truth.size}")
    return Quality(
        float(np.mean(np.abs(value - truth))),
        float(np.mean((lower <= truth) & (truth <= upper))),
    )


def first_alarms(stream: Stream, window: int, step: int) -> tuple[Alarm, Alarm, float]:
    """The estimate's and the labels' first alarms on the accuracy of the last ``window``."""
    reference = stream.reference
    threshold = float(np.mean(reference.predicted == reference.actual)) - ALARM_DROP
    production, times = stream.production, stream.event_time_s
    landed = np.searchsorted(times + LABEL_DELAY_S, times, side="right")
    # (last prediction of the window, predictions seen, alarm)
    estimated: list[tuple[int, int, bool]] = []
    labelled: list[tuple[int, int, bool]] = []
    for seen in range(window, production.score.size + 1, step):
        part = slice(seen - window, seen)
        value = estimate_binary(production.predicted[part], stream.calibrated[part])["accuracy"]
        estimated.append((seen, seen, value.value < threshold))
        known = int(landed[seen - 1])
        if known >= window:
            part = slice(known - window, known)
            correct = production.predicted[part] == production.actual[part]
            labelled.append((known, seen, float(correct.mean()) < threshold))
    return _alarm(stream, estimated), _alarm(stream, labelled), threshold


def _alarm(stream: Stream, checks: list[tuple[int, int, bool]]) -> Alarm:
    false_alarms = sum(1 for last, _, alarm in checks if alarm and last <= stream.change)
    for last, seen, alarm in checks:
        if alarm and last > stream.change:
            return Alarm(seen, float(stream.event_time_s[seen - 1]), false_alarms)
    return Alarm(None, None, false_alarms)


def _header(streams: list[Stream], args: argparse.Namespace) -> str:
    stream = streams[0]
    span_h = float(stream.event_time_s[-1]) / 3600
    return (
        f"estimation benchmark: {len(SCENARIOS)} scenarios x {args.events:,} predictions "
        f"({span_h:.1f} h of event time), change at prediction {stream.change:,}, labels "
        f"{LABEL_DELAY_S / 3600:g} h after their prediction, seed {args.seed}; reference "
        f"{stream.reference.score.size:,} scored rows; chunks of {' and '.join(map(str, WINDOWS))}"
    )


def _quality_table(streams: list[Stream], theirs: Estimates | None) -> str:
    lines = [
        "Table 1. Estimate vs realized per chunk: MAE and band coverage, driftwarden | NannyML",
        f"{'scenario':10} {'W':>5} {'metric':9} {'MAE ours':>9} {'NannyML':>8} "
        f"{'cover ours':>10} {'NannyML':>8}",
    ]
    verdicts: list[str] = []
    for stream in streams:
        for window in WINDOWS:
            for metric, (realized, ours) in chunk_quality(stream, window).items():
                other = (
                    baseline_quality(realized, theirs[stream.name][window][metric])
                    if theirs
                    else None
                )
                lines.append(
                    f"{stream.name:10} {window:>5} {metric:9} {ours.mae:>9.5f} "
                    f"{_number(other.mae if other else None, '.5f'):>8} "
                    f"{ours.coverage:>10.0%} {_number(other.coverage if other else None, '.0%'):>8}"
                )
                if stream.name == "covariate":
                    verdicts.append(_quality_verdict(window, metric, ours, other))
    return "\n".join(lines + verdicts)


def _quality_verdict(window: int, metric: str, ours: Quality, other: Quality | None) -> str:
    coverage = "PASS" if ours.coverage >= TARGET_COVERAGE else "MISS"
    text = f"covariate W={window} {metric}: coverage {ours.coverage:.0%} (>= 90%) {coverage}"
    if other is None:
        return text + "; MAE vs NannyML not measured (--no-nannyml)"
    mae = "PASS" if ours.mae <= other.mae + SAME_MAE else "MISS"
    return text + f"; MAE {ours.mae:.5f} vs NannyML {other.mae:.5f} (<= +{SAME_MAE:g}) {mae}"


def _lead_table(streams: list[Stream], step: int) -> str:
    lines = [
        f"Table 2. First accuracy alarm after the change (checked every {step} predictions;",
        "hours of event time after the change; false = alarms before it)",
        f"{'scenario':10} {'W':>5} {'threshold':>9} {'estimate':>9} {'false':>5} "
        f"{'labels':>7} {'false':>5} {'lead (preds)':>12} {'lead (h)':>8}",
    ]
    verdicts = []
    for stream in streams:
        change_s = float(stream.event_time_s[stream.change - 1])
        for window in WINDOWS:
            estimate, labels, threshold = first_alarms(stream, window, step)
            lead = _lead(estimate, labels)
            lines.append(
                f"{stream.name:10} {window:>5} {threshold:>9.3f} "
                f"{_hours(estimate.time_s, change_s):>9} {estimate.false_alarms:>5} "
                f"{_hours(labels.time_s, change_s):>7} {labels.false_alarms:>5} "
                f"{_number(lead[0], ',.0f'):>12} {_number(lead[1], '.3f'):>8}"
            )
            if stream.name == "covariate":
                ok = lead[1] is not None and lead[1] * 3600 >= TARGET_LEAD_S
                verdicts.append(
                    f"covariate W={window}: lead {_number(lead[1], '.3f')} h "
                    f"(>= {TARGET_LEAD_S / 3600:g} h) {'PASS' if ok else 'MISS'}"
                )
    return "\n".join(lines + verdicts)


def _lead(estimate: Alarm, labels: Alarm) -> tuple[float | None, float | None]:
    """Predictions and hours from the estimate's alarm to the labels' (None: one is missing)."""
    if estimate.index is None or labels.index is None:
        return None, None
    assert estimate.time_s is not None and labels.time_s is not None
    return float(labels.index - estimate.index), (labels.time_s - estimate.time_s) / 3600


def _hours(time_s: float | None, change_s: float) -> str:
    return "none" if time_s is None else f"{(time_s - change_s) / 3600:+.2f}"


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


if __name__ == "__main__":
    raise SystemExit(main())
