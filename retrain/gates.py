"""Promotion gates: a challenger replaces the champion only if it is better and no worse where
it matters.

Every gate is evaluated on the same holdout and reported as one :class:`GateCheck`; the
challenger passes when every check passes. The checks, in order:

- ``primary:<metric>``: the challenger beats the champion on ``gate.metric`` by at least
  ``gate.min_improvement`` (passes with "no champion" for a model's first version);
- ``guard:<metric>``: for each guard, the challenger is no worse than the champion by more than
  the allowed amount;
- ``segment:<feature>=<value>``: for each value of ``gate.segments.by``, the challenger's
  primary metric is no more than ``max_drop`` worse than the champion's; segments smaller than
  ``min_group_size`` are reported as skipped;
- ``fairness:<metric>``: the challenger's equal-opportunity or demographic-parity difference
  across the groups of ``gate.fairness.sensitive`` is at most ``gate.fairness.max`` (binary
  tasks only).

"Better" follows the metric: lower is better for :data:`LOWER_IS_BETTER`, higher otherwise.

>>> from driftwarden.config.training import GateConfig
>>> class AlwaysPositive:
...     def predict(self, rows): return [1] * len(rows)
>>> report = evaluate_gates(
...     GateConfig(metric="log_loss", min_improvement=0.01, guards={"accuracy": 0.02}),
...     champion_metrics={"log_loss": 0.40, "accuracy": 0.80},
...     challenger_metrics={"log_loss": 0.35, "accuracy": 0.79},
...     holdout=[], champion=AlwaysPositive(), challenger=AlwaysPositive(),
...     task="binary", positive_label=1,
... )
>>> report.passed, [(check.name, check.passed) for check in report.checks]
(True, [('primary:log_loss', True), ('guard:accuracy', True)])
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from driftwarden.config.training import FairnessGate, GateConfig, SegmentGate
from driftwarden.core.profile import category_key
from driftwarden.core.tasks import Task, class_key
from driftwarden.retrain.dataset import Example, Target
from driftwarden.retrain.trainer import Predictor, evaluate

__all__ = ["LOWER_IS_BETTER", "GateCheck", "GateReport", "evaluate_gates", "improvement"]

LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})
"""Loss-like metrics: a smaller value is a better model."""

_TOLERANCE = 1e-9  # a difference exactly at the limit passes despite float rounding

MISSING_GROUP = "<missing>"
"""Segment or group name of the examples that lack the feature."""


@dataclass(frozen=True, kw_only=True)
class GateCheck:
    """One gate's verdict; ``values`` holds the numbers it was decided on."""

    name: str
    passed: bool
    detail: str
    values: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class GateReport:
    """All checks of one challenger; it may be promoted only if ``passed``."""

    checks: tuple[GateCheck, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> tuple[GateCheck, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"passed": bool, "checks": [{name, passed, detail, values}]}``."""
        return {"passed": self.passed, "checks": [asdict(check) for check in self.checks]}


def improvement(metric: str, champion: float, challenger: float) -> float:
    """How much better the challenger is (negative when worse), whatever the metric's direction.

    >>> improvement("accuracy", 0.75, 0.875), improvement("rmse", 2.0, 2.5)
    (0.125, -0.5)
    """
    return champion - challenger if metric in LOWER_IS_BETTER else challenger - champion


def evaluate_gates(
    gate: GateConfig,
    *,
    champion_metrics: Mapping[str, float] | None,
    challenger_metrics: Mapping[str, float],
    holdout: Sequence[Example],
    champion: Predictor | None,
    challenger: Predictor,
    task: str,
    positive_label: Target | None,
    min_group_size: int = 20,
) -> GateReport:
    """Check the challenger against the champion on ``holdout`` (see the module docstring).

    ``champion_metrics`` and ``challenger_metrics`` are
    :func:`~driftwarden.retrain.trainer.evaluate` of
    each on ``holdout``; ``champion`` and ``challenger`` are their pipelines, needed only by the
    segment and fairness gates. ``champion_metrics=None`` means there is no champion yet.
    """
    checks = [_primary(gate, champion_metrics, challenger_metrics)]
    checks += [
        _guard(metric, allowed, champion_metrics, challenger_metrics)
        for metric, allowed in gate.guards.items()
    ]
    if gate.segments is not None:

        def metric_on(model: Predictor, examples: Sequence[Example]) -> float:
            return evaluate(model, examples, task, positive_label).get(gate.metric, math.nan)

        checks += _segments(
            gate.segments, gate.metric, holdout, champion, challenger, metric_on, min_group_size
        )
    if gate.fairness is not None:
        checks.append(
            _fairness(gate.fairness, holdout, challenger, task, positive_label, min_group_size)
        )
    return GateReport(checks=tuple(checks))


def _primary(
    gate: GateConfig,
    champion_metrics: Mapping[str, float] | None,
    challenger_metrics: Mapping[str, float],
) -> GateCheck:
    name, metric = f"primary:{gate.metric}", gate.metric
    if metric not in challenger_metrics:
        return _unmeasured(name, "challenger", metric, challenger_metrics)
    if champion_metrics is None:
        return GateCheck(
            name=name,
            passed=True,
            detail="no champion",
            values={metric: challenger_metrics[metric]},
        )
    if metric not in champion_metrics:
        return _unmeasured(name, "champion", metric, champion_metrics)
    return _compare(
        name,
        metric,
        champion_metrics[metric],
        challenger_metrics[metric],
        least=gate.min_improvement,
    )


def _guard(
    metric: str,
    allowed: float,
    champion_metrics: Mapping[str, float] | None,
    challenger_metrics: Mapping[str, float],
) -> GateCheck:
    name = f"guard:{metric}"
    if champion_metrics is None:
        return GateCheck(name=name, passed=True, detail="no champion")
    for side, measured in (("challenger", challenger_metrics), ("champion", champion_metrics)):
        if metric not in measured:
            return _unmeasured(name, side, metric, measured)
    return _compare(
        name, metric, champion_metrics[metric], challenger_metrics[metric], least=-allowed
    )


def _segments(
    segments: SegmentGate,
    metric: str,
    holdout: Sequence[Example],
    champion: Predictor | None,
    challenger: Predictor,
    metric_on: Callable[[Predictor, Sequence[Example]], float],
    min_size: int,
) -> list[GateCheck]:
    if champion is None:
        return [GateCheck(name=f"segment:{segments.by}", passed=True, detail="no champion")]
    checks = []
    for value, examples in sorted(_groups(holdout, segments.by).items()):
        name = f"segment:{segments.by}={value}"
        if len(examples) < min_size:
            detail = f"skipped: {len(examples)} examples, fewer than {min_size}"
            checks.append(GateCheck(name=name, passed=True, detail=detail))
            continue
        values = metric_on(champion, examples), metric_on(challenger, examples)
        if any(math.isnan(v) for v in values):
            detail = f"skipped: {metric} is undefined on this segment"
            checks.append(GateCheck(name=name, passed=True, detail=detail))
            continue
        checks.append(_compare(name, metric, *values, least=-segments.max_drop))
    return checks


def _fairness(
    fairness: FairnessGate,
    holdout: Sequence[Example],
    challenger: Predictor,
    task: str,
    positive_label: Target | None,
    min_size: int,
) -> GateCheck:
    name = f"fairness:{fairness.metric}"
    if task != Task.BINARY or positive_label is None:
        detail = f"fairness gates need task 'binary' and a positive_label, got task {task!r}"
        return GateCheck(name=name, passed=False, detail=detail)
    positive = class_key(positive_label)
    predictions = challenger.predict([example.features for example in holdout])
    outcomes: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for example, prediction in zip(holdout, predictions, strict=True):
        outcomes[_group_key(example, fairness.sensitive)].append(
            (class_key(example.label) == positive, class_key(prediction) == positive)
        )
    rates = _positive_rates(outcomes, fairness.metric, min_size)
    if len(rates) < 2:
        detail = f"skipped: fewer than 2 groups of {fairness.sensitive!r} with {min_size} or more"
        return GateCheck(name=name, passed=True, detail=detail, values=rates)
    difference = max(rates.values()) - min(rates.values())
    passed = difference <= fairness.max
    detail = f"{difference:.4f} {'<=' if passed else '>'} {fairness.max} across {sorted(rates)}"
    return GateCheck(
        name=name, passed=passed, detail=detail, values={**rates, "difference": difference}
    )


def _positive_rates(
    outcomes: Mapping[str, list[tuple[bool, bool]]], metric: str, min_size: int
) -> dict[str, float]:
    """Per group: the true-positive rate (equal opportunity) or positive-prediction rate."""
    rates = {}
    for group, pairs in outcomes.items():
        if metric == "equal_opportunity_difference":
            pairs = [pair for pair in pairs if pair[0]]
        if len(pairs) >= min_size:
            rates[group] = sum(predicted for _, predicted in pairs) / len(pairs)
    return rates


def _compare(
    name: str, metric: str, champion: float, challenger: float, *, least: float
) -> GateCheck:
    """Passes when ``improvement(metric, champion, challenger) >= least`` (NaN fails)."""
    gain = improvement(metric, champion, challenger)
    passed = gain >= least - _TOLERANCE
    detail = (
        f"challenger {challenger:.4f} vs champion {champion:.4f}: improvement {gain:+.4f} "
        f"{'>=' if passed else '<'} {least:+.4f}"
    )
    values = {"champion": champion, "challenger": challenger, "improvement": gain}
    return GateCheck(name=name, passed=passed, detail=detail, values=values)


def _unmeasured(name: str, side: str, metric: str, measured: Mapping[str, float]) -> GateCheck:
    detail = f"the {side} has no {metric!r} (measured: {sorted(measured)})"
    return GateCheck(name=name, passed=False, detail=detail)


def _groups(holdout: Sequence[Example], feature: str) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in holdout:
        groups[_group_key(example, feature)].append(example)
    return groups


def _group_key(example: Example, feature: str) -> str:
    value = example.features.get(feature)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_GROUP
    return category_key(value)
