"""Drift detection quality: false alarms and detection delays on seeded streams with known changes.

Method. Every scenario builds a reference of 20k rows (its profile comes from ``build_profile``)
and a production stream whose change, if any, starts after row ``change`` (20k). The monitor
runs with default ``DriftSettings`` (window 2000, every 500, false-alarm rate 0.001, KS for
numeric and Jensen-Shannon for categorical columns, ADWIN on the per-example error), fed in
micro-batches of 1000 with each label joined in its prediction's batch. An alarm is an entered
``drift_detected`` transition; it happens at ``Evaluation.events_seen``. The delay is the number
of changed events seen when the first alarm on the changed column enters; every other alarm
(before the change, or on a column that did not change) is a false alarm.

Feature drift (table 1), on :class:`driftwarden.testing.streams.Schema`'s 25 features and a logistic
classifier of ``num_00``..``num_02`` (its predictions and labels are monitored too): a
stationary stream of 100k events; abrupt mean shifts of 0.25, 0.5 and 1 sigma in ``num_06``
(gaussian, not a model input; the 0.5 sigma one over 5 seeds, median delay); the 0.5 sigma shift
as a linear ramp over 10k events; ``cat_0``'s "a" from a 30% to a 45% share; and a 0.5 sigma shift
of "mean texture" in scikit-learn's bundled breast-cancer data (30 features; reference and stream
both drawn with replacement from its 569 rows, so they share one distribution).

Concept drift (table 2): river's Agrawal switching classification function 0 -> 2, SEA switching
variant 0 -> 2, and ``ConceptDriftStream`` from SEA variant 0 to 1 along a sigmoid (2% at
``change``, 50% 5k events later). A ``HistGradientBoostingClassifier`` trained on the reference
predicts the stream. The concept alarm is the target; label drift after the change is genuine
(the class balance moves); data and prediction alarms are false, as the inputs are stationary.

Baselines: river's ``ADWIN``, ``KSWIN`` and ``PageHinkley`` with defaults, one per column
(numeric values; a categorical feature by its category's index), detections counted as above;
for concept drift, one of each on the 0/1 error stream. ADWIN and PageHinkley see every event;
KSWIN (~130 us per update) sees the subsample stated in the output. Exits 0; PASS/MISS against
the targets.

    python -m benchmarks.drift_quality [--seeds 5] [--kswin-events 10000]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from river import drift
from river.datasets import synth
from sklearn.ensemble import HistGradientBoostingClassifier

from driftwarden.core.profile import build_profile
from driftwarden.core.tasks import Task
from driftwarden.monitor.drift.checks import ERROR, LABEL, DriftSettings, VersionDrift
from driftwarden.testing.streams import (
    CategoryShift,
    MeanShift,
    Schema,
    Table,
    binary_outcome,
    bundled_table,
    micro_batches,
    resample,
    river_table,
    switched,
)

REFERENCE_ROWS = 20_000
CHANGE = 20_000
AFTER_CHANGE = 20_000
CONCEPT_AFTER = 30_000
STATIONARY_EVENTS = 100_000
BATCH = 1000
RAMP = 10_000
SIGMOID_WIDTH = 5000
SHIFTED = "num_06"
REAL_SHIFTED = "mean texture"
DETECTORS = ("ADWIN", "KSWIN", "PageHinkley")
TARGET_FALSE_ALARMS = 0
TARGET_DELAY = DriftSettings().window
HALF_SIGMA = "mean shift 0.5 sigma"

Key = tuple[str, str]  # (alarm kind, feature)
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Case:
    """One generated run: the reference, the stream, and what changed after row ``change``."""

    reference: Table  # feature columns, plus "label" and "prediction" when a model is involved
    feature_types: dict[str, str]
    stream: Table
    change: int | None  # None: stationary
    target: Key | None  # the monitor alarm expected after the change
    watched: dict[str, FloatArray]  # what the per-feature baselines see
    predictions: npt.NDArray[Any] | None = None
    labels: npt.NDArray[Any] | None = None
    genuine: frozenset[Key] = frozenset()  # further alarms that are right after the change

    @property
    def events(self) -> int:
        return len(next(iter(self.stream.values())))


@dataclass(frozen=True)
class Alarm:
    kind: str
    feature: str
    at: int  # events seen when it entered


@dataclass(frozen=True)
class Verdict:
    delay: int | None  # None: not detected
    false_alarms: list[Alarm]


@dataclass(frozen=True)
class Scenario:
    name: str
    build: Callable[[int], Case]
    seeds: int = 1
    concept: bool = False


@dataclass
class ScenarioResult:
    """Verdicts of one scenario over its seeds: the monitor's and each baseline's.

    ``baselines`` watch the features, or for concept drift the error stream; then
    ``feature_baselines`` watch the (stationary) features.
    """

    scenario: Scenario
    changed: bool = False
    monitor: list[Verdict] = field(default_factory=list)
    label_delays: list[int | None] = field(default_factory=list)
    baselines: dict[str, list[Verdict]] = field(default_factory=dict)
    feature_baselines: dict[str, list[Verdict]] = field(default_factory=dict)
    kswin_view: str = ""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    started = time.perf_counter()
    print(_header(args))
    results = [_run(scenario, args) for scenario in _scenarios(args)]
    print(_feature_table([r for r in results if not r.scenario.concept]))
    print()
    print(_concept_table([r for r in results if r.scenario.concept]))
    print()
    print(_notes(results))
    print(_targets(results))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.drift_quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the 0.5 sigma scenario")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument(
        "--kswin-events",
        type=int,
        default=10_000,
        help="events KSWIN sees: from 2000 before the change (the first ones when stationary)",
    )
    parser.add_argument(
        "--kswin-features", type=int, default=5, help="columns KSWIN sees, changed one first"
    )
    args = parser.parse_args(argv)
    if min(args.seeds, args.kswin_events, args.kswin_features) < 1:
        parser.error("--seeds, --kswin-events and --kswin-features must be >= 1")
    return args


# Scenarios ---------------------------------------------------------------------------------


def _scenarios(args: argparse.Namespace) -> list[Scenario]:
    return [
        Scenario("stationary, 100k events", _stationary),
        Scenario("mean shift 0.25 sigma", lambda s: _mean_shift(s, 0.25)),
        Scenario(HALF_SIGMA, lambda s: _mean_shift(s, 0.5), seeds=args.seeds),
        Scenario("mean shift 1 sigma", lambda s: _mean_shift(s, 1.0)),
        Scenario("0.5 sigma ramp over 10k", lambda s: _mean_shift(s, 0.5, RAMP)),
        Scenario("cat_0 'a' share 0.30 -> 0.45", _category_shift),
        Scenario("breast cancer 0.5 sigma", _bundled_shift),
        Scenario("Agrawal function 0 -> 2", _agrawal, concept=True),
        Scenario("SEA variant 0 -> 2", _sea, concept=True),
        Scenario("ConceptDriftStream SEA 0 -> 1", _sea_gradual, concept=True),
    ]


def _stationary(seed: int) -> Case:
    return _tabular(seed, STATIONARY_EVENTS, (), None, None)


def _mean_shift(seed: int, sigmas: float, ramp: int = 0) -> Case:
    shift = MeanShift(SHIFTED, sigmas, CHANGE, ramp)
    return _tabular(seed, CHANGE + AFTER_CHANGE, (shift,), CHANGE, ("data", SHIFTED))


def _category_shift(seed: int) -> Case:
    shift = CategoryShift("cat_0", "a", 0.45, CHANGE)
    return _tabular(seed, CHANGE + AFTER_CHANGE, (shift,), CHANGE, ("data", "cat_0"))


def _tabular(
    seed: int,
    events: int,
    shifts: tuple[MeanShift | CategoryShift, ...],
    change: int | None,
    target: Key | None,
) -> Case:
    schema = Schema.default()
    rng = np.random.default_rng(seed)
    reference = schema.generate(rng, REFERENCE_ROWS)
    model = binary_outcome(reference, schema, rng)
    stream = schema.generate(rng, events, shifts)
    live = binary_outcome(stream, schema, rng)
    watched = {f.name: stream[f.name] for f in schema.numeric}
    for feature in schema.categorical:
        index = {c: float(i) for i, c in enumerate(feature.categories)}
        watched[feature.name] = np.array([index[c] for c in stream[feature.name].tolist()])
    return Case(
        reference={**reference, "label": model.labels, "prediction": model.predictions},
        feature_types=schema.feature_types(),
        stream=stream,
        change=change,
        target=target,
        watched=watched,
        predictions=live.predictions,
        labels=live.labels,
    )


def _bundled_shift(seed: int) -> Case:
    data = bundled_table()
    rng = np.random.default_rng(seed)
    reference = resample(data, rng, REFERENCE_ROWS)
    stream = resample(data, rng, CHANGE + AFTER_CHANGE)
    shift = MeanShift(REAL_SHIFTED, 0.5, CHANGE)
    stream[REAL_SHIFTED] = shift.apply(stream[REAL_SHIFTED], float(np.std(data[REAL_SHIFTED])))
    return Case(
        reference=reference,
        feature_types=dict.fromkeys(data, "numeric"),
        stream=stream,
        change=CHANGE,
        target=("data", REAL_SHIFTED),
        watched=dict(stream),
    )


def _agrawal(seed: int) -> Case:
    categorical = {"elevel", "car", "zipcode"}
    return _concept(
        seed,
        lambda s: synth.Agrawal(classification_function=0, seed=s),
        lambda s: synth.Agrawal(classification_function=2, seed=s),
        categorical,
    )


def _sea(seed: int) -> Case:
    return _concept(
        seed, lambda s: synth.SEA(variant=0, seed=s), lambda s: synth.SEA(variant=2, seed=s)
    )


def _sea_gradual(seed: int) -> Case:
    def gradual(s: int) -> Any:
        return synth.ConceptDriftStream(
            stream=synth.SEA(variant=0, seed=s),
            drift_stream=synth.SEA(variant=1, seed=s + 1),
            position=CHANGE + SIGMOID_WIDTH,
            width=SIGMOID_WIDTH,
            seed=s,
        )

    return _concept(seed, lambda s: synth.SEA(variant=0, seed=s), gradual, gradual=True)


def _concept(
    seed: int,
    before: Callable[[int], Any],
    after: Callable[[int], Any],
    categorical: set[str] | None = None,
    *,
    gradual: bool = False,
) -> Case:
    """Train on ``before``; the stream is ``before`` then ``after`` (or ``after`` alone when it
    is a gradual stream that starts in the old concept)."""
    base = 1000 * seed
    reference, reference_y = river_table(before(base + 1), REFERENCE_ROWS)
    events = CHANGE + CONCEPT_AFTER
    samples = (
        after(base + 3) if gradual else switched(before(base + 2), after(base + 3), CHANGE, events)
    )
    stream, labels = river_table(samples, events)
    model = HistGradientBoostingClassifier(random_state=seed)
    model.fit(np.column_stack(list(reference.values())), reference_y)
    predictions = model.predict(np.column_stack(list(stream.values()))).astype(np.int64)
    fitted = model.predict(np.column_stack(list(reference.values()))).astype(np.int64)
    types = {k: "categorical" if k in (categorical or set()) else "numeric" for k in reference}
    return Case(
        reference={**reference, "label": reference_y.astype(np.int64), "prediction": fitted},
        feature_types=types,
        stream=stream,
        change=CHANGE,
        target=("concept", ERROR),
        watched={k: v for k, v in stream.items() if types[k] == "numeric"},
        predictions=predictions,
        labels=labels.astype(np.int64),
        genuine=frozenset({("label", LABEL)}),
    )


# Runs --------------------------------------------------------------------------------------


def _run(scenario: Scenario, args: argparse.Namespace) -> ScenarioResult:
    result = ScenarioResult(scenario)
    for seed in range(args.seed, args.seed + scenario.seeds):
        case = scenario.build(seed)
        result.changed = case.change is not None
        alarms = _monitor_alarms(case)
        result.monitor.append(_judge(alarms, case.change, case.target, case.genuine))
        result.label_delays.append(_first_delay(alarms, case.change, ("label", LABEL)))
        watched = None if case.target is None else ("feature", case.target[1])
        per_feature = result.feature_baselines if scenario.concept else result.baselines
        for name in DETECTORS:
            series, start, view = _baseline_view(case, name, args)
            found = _baseline_alarms(name, series, start)
            per_feature.setdefault(name, []).append(_judge(found, case.change, watched))
            result.kswin_view = view or result.kswin_view
        if scenario.concept:
            for name, verdict in _error_baselines(case, args).items():
                result.baselines.setdefault(name, []).append(verdict)
    return result


def _monitor_alarms(case: Case) -> list[Alarm]:
    """Entered alarms of ``VersionDrift`` with default settings over the whole stream."""
    with_model = "label" in case.reference
    profile = build_profile(
        "quality",
        case.reference,
        case.feature_types,
        label="label" if with_model else None,
        prediction="prediction" if with_model else None,
        task="binary" if with_model else None,
    )
    checks = VersionDrift(profile, DriftSettings(), Task.BINARY)
    names = list(case.feature_types)
    alarms: list[Alarm] = []
    for batch in micro_batches(case.stream, names, case.predictions, case.labels, BATCH):
        evaluations = checks.observe(batch.rows, batch.predictions, batch.timestamps)
        if case.labels is not None:
            evaluations += checks.observe_joined(batch.labels, batch.predictions, batch.timestamps)
        alarms += [
            Alarm(e.kind, t.feature, e.events_seen)
            for e in evaluations
            for t in e.transitions
            if t.entered
        ]
    return alarms


def _baseline_view(
    case: Case, detector: str, args: argparse.Namespace
) -> tuple[dict[str, FloatArray], int, str]:
    """The columns a baseline watches, the index of its first event, and for KSWIN which
    subsample that is: the first events of every column when stationary, otherwise from 2000
    events before the change, the changed column first."""
    if detector != "KSWIN":
        return case.watched, 0, ""
    names = list(case.watched)
    start, chosen = 0, names
    if case.change is not None:
        start = max(case.change - 2000, 0)
        first = [n for n in names if case.target is not None and n == case.target[1]]
        chosen = first + [n for n in names if n not in first][: args.kswin_features - len(first)]
    stop = min(start + args.kswin_events, case.events)
    series = {n: case.watched[n][start:stop] for n in chosen}
    return series, start, f"events {start}-{stop} of {len(chosen)}/{len(names)} columns"


def _baseline_alarms(detector: str, series: dict[str, FloatArray], start: int) -> list[Alarm]:
    """One fresh detector per column; an alarm at every detection."""
    alarms = []
    for i, (name, values) in enumerate(series.items()):
        instance = _detector(detector, i)
        for j, value in enumerate(values.tolist()):
            instance.update(value)
            if instance.drift_detected:
                alarms.append(Alarm("feature", name, start + j + 1))
    return alarms


def _detector(name: str, seed: int) -> Any:
    if name == "KSWIN":
        return drift.KSWIN(seed=seed)  # defaults, but a seeded subsample
    return getattr(drift, name)()


def _error_baselines(case: Case, args: argparse.Namespace) -> dict[str, Verdict]:
    """Each baseline on the 0/1 error stream (KSWIN from 2000 events before the change)."""
    assert case.labels is not None and case.predictions is not None and case.change is not None
    errors = (case.labels != case.predictions).astype(np.float64)
    out = {}
    for name in DETECTORS:
        start = max(case.change - 2000, 0) if name == "KSWIN" else 0
        stop = start + args.kswin_events if name == "KSWIN" else len(errors)
        found = _baseline_alarms(name, {"error": errors[start:stop]}, start)
        out[name] = _judge(found, case.change, ("feature", "error"))
    return out


def _judge(
    alarms: list[Alarm],
    change: int | None,
    target: Key | None,
    genuine: frozenset[Key] = frozenset(),
) -> Verdict:
    """Delay of the first ``target`` alarm after the change; every alarm before the change or
    neither the target nor ``genuine`` is false."""
    right = genuine | ({target} if target is not None else set())
    false = [a for a in alarms if change is None or a.at <= change or _key(a) not in right]
    return Verdict(_first_delay(alarms, change, target), false)


def _first_delay(alarms: list[Alarm], change: int | None, key: Key | None) -> int | None:
    if change is None or key is None:
        return None
    delays = [a.at - change for a in alarms if _key(a) == key and a.at > change]
    return min(delays, default=None)


def _key(alarm: Alarm) -> Key:
    return (alarm.kind, alarm.feature)


# Report ------------------------------------------------------------------------------------

CELL = f"{'det':>5} {'delay':>6} {'FA':>5}"


def _header(args: argparse.Namespace) -> str:
    return (
        f"drift quality: reference {REFERENCE_ROWS:,} rows; change after event {CHANGE:,}; "
        f"default DriftSettings; batches of {BATCH}; seed {args.seed} "
        f"(0.5 sigma shift: seeds {args.seed}-{args.seed + args.seeds - 1})"
    )


def _cells(verdicts: list[Verdict], changed: bool, false: str | None = None) -> str:
    """Detected, median delay and false alarms over the seeds, in the ``CELL`` layout."""
    found = [v.delay for v in verdicts if v.delay is not None]
    if false is None:
        false = str(sum(len(v.false_alarms) for v in verdicts))
    if not changed:
        return f"{'-':>5} {'-':>6} {false:>5}"
    detected = f"{len(found)}/{len(verdicts)}" if len(verdicts) > 1 else ("yes" if found else "no")
    delay = f"{statistics.median(found):.0f}" if found else "-"
    return f"{detected:>5} {delay:>6} {false:>5}"


def _titles(names: Sequence[str]) -> str:
    return "  ".join(f"{name + '*' * (name == 'KSWIN'):^18}" for name in names)


def _feature_table(results: list[ScenarioResult]) -> str:
    lines = [
        "Table 1. Feature drift. FA: false alarms (monitor: data/prediction + label/concept); "
        "delay: changed events seen at the first alarm on the changed column (median over seeds)",
        f"{'scenario':30} {'seeds':>5}  {_titles(('monitor', *DETECTORS))}",
        f"{'':30} {'':>5}  " + "  ".join([CELL] * (1 + len(DETECTORS))),
    ]
    for r in results:
        alarms = [a for v in r.monitor for a in v.false_alarms]
        inputs = sum(a.kind in ("data", "prediction") for a in alarms)
        monitor = _cells(r.monitor, r.changed, f"{inputs}+{len(alarms) - inputs}")
        rest = "  ".join(_cells(r.baselines[d], r.changed) for d in DETECTORS)
        lines.append(f"{r.scenario.name:30} {len(r.monitor):>5}  {monitor}  {rest}")
    return "\n".join(lines)


def _concept_table(results: list[ScenarioResult]) -> str:
    lines = [
        "Table 2. Concept drift. Monitor: the concept alarm (ADWIN on the error), the delay of "
        "the label-drift alarm, false data and prediction alarms; baselines on the 0/1 error "
        "stream, and their false alarms on the features",
        f"{'scenario':30} {'concept alarm':^18} {'label':>6} {'data':>4} {'pred':>4}  "
        f"{_titles(DETECTORS)}  {'feature FA':>14}",
        f"{'':30} {CELL} {'delay':>6} {'FA':>4} {'FA':>4}  "
        + "  ".join([CELL] * len(DETECTORS))
        + f"  {'ADW/KSW*/PH':>14}",
    ]
    for r in results:
        alarms = [a for v in r.monitor for a in v.false_alarms]
        concept = [
            Verdict(v.delay, [a for a in v.false_alarms if a.kind == "concept"]) for v in r.monitor
        ]
        label = r.label_delays[0]
        data = sum(a.kind == "data" for a in alarms)
        prediction = sum(a.kind == "prediction" for a in alarms)
        rest = "  ".join(_cells(r.baselines[d], True) for d in DETECTORS)
        features = "/".join(
            str(sum(len(v.false_alarms) for v in r.feature_baselines[d])) for d in DETECTORS
        )
        lines.append(
            f"{r.scenario.name:30} {_cells(concept, True)} {label or '-':>6} {data:>4} "
            f"{prediction:>4}  {rest}  {features:>14}"
        )
    return "\n".join(lines)


def _notes(results: list[ScenarioResult]) -> str:
    stationary = next(r for r in results if not r.changed)
    changed = sorted({r.kswin_view for r in results if r.changed and not r.scenario.concept})
    kswin_false = sum(len(v.false_alarms) for v in stationary.baselines["KSWIN"])
    seen = min(STATIONARY_EVENTS, _kswin_events(stationary.kswin_view))
    half = _half_sigma(results)
    delays = ", ".join("-" if v.delay is None else str(v.delay) for v in half.monitor)
    return "\n".join(
        [
            f"* KSWIN (~130 us per update) saw a subsample: stationary, {stationary.kswin_view}; "
            f"changes, {' or '.join(changed)} (the changed one first); concept drift, the same "
            "events of the error stream and of up to --kswin-features inputs. ADWIN and "
            "PageHinkley saw every event of every column.",
            f"  KSWIN's stationary false alarms scaled to {STATIONARY_EVENTS:,} events: "
            f"{kswin_false * STATIONARY_EVENTS / seen:,.0f}",
            "  PageHinkley's default threshold (50) is in each column's own units, so its false "
            "alarms grow with the column's scale.",
            f"monitor delays of the 0.5 sigma shift by seed: {delays} (feature checks run "
            f"every {DriftSettings().every} events, so their delays are multiples of it)",
        ]
    )


def _kswin_events(view: str) -> int:
    first, last = view.split()[1].split("-")
    return int(last) - int(first)


def _half_sigma(results: list[ScenarioResult]) -> ScenarioResult:
    return next(r for r in results if r.scenario.name == HALF_SIGMA)


def _targets(results: list[ScenarioResult]) -> str:
    stationary = next(r for r in results if not r.changed)
    false = sum(
        a.kind in ("data", "prediction") for v in stationary.monitor for a in v.false_alarms
    )
    half = _half_sigma(results)
    delays = [v.delay if v.delay is not None else math.inf for v in half.monitor]
    median = statistics.median(delays)
    return "\n".join(
        [
            f"data/prediction false alarms in {STATIONARY_EVENTS:,} stationary events with 25 "
            f"features: {false} (target {TARGET_FALSE_ALARMS}): "
            + _verdict(false <= TARGET_FALSE_ALARMS),
            f"median delay of the 0.5 sigma shift over {len(delays)} seeds: {median:.0f} events "
            f"(target <= {TARGET_DELAY}): " + _verdict(median <= TARGET_DELAY),
        ]
    )


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


if __name__ == "__main__":
    raise SystemExit(main())
