from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from driftwarden.config.training import FairnessGate, GateConfig, SegmentGate
from driftwarden.retrain.dataset import Example
from driftwarden.retrain.features import Features, make_pipeline
from driftwarden.retrain.gates import GateReport, evaluate_gates, improvement
from driftwarden.retrain.trainer import Predictor, evaluate


class AnswerSheet:
    """A model whose prediction for each row is looked up by the row's ``row`` feature."""

    def __init__(self, answers: Mapping[int, int]) -> None:
        self.answers = answers

    def predict(self, rows: Sequence[Features]) -> list[int]:
        return [self.answers[int(row["row"])] for row in rows]  # type: ignore[arg-type]


def holdout(groups: Mapping[str, int], feature: str = "region") -> list[Example]:
    """``count`` examples per group, labels alternating 1, 0 within each group."""
    examples: list[Example] = []
    for name, count in groups.items():
        for i in range(count):
            row = len(examples)
            examples.append(
                Example(
                    features={"row": row, feature: name},
                    label=1 - i % 2,
                    prediction_timestamp=float(row),
                    model_version="1",
                    prediction_id=f"h-{row}",
                )
            )
    return examples


def answers(examples: Sequence[Example], wrong: set[int]) -> AnswerSheet:
    return AnswerSheet(
        {i: int(e.label) if i not in wrong else 1 - int(e.label) for i, e in enumerate(examples)}
    )


def check(
    gate: GateConfig,
    examples: Sequence[Example],
    champion: Predictor | None,
    challenger: Predictor,
) -> GateReport:
    def measured(model: Predictor | None) -> dict[str, float] | None:
        return None if model is None else evaluate(model, examples, "binary", 1)

    challenger_metrics = measured(challenger)
    assert challenger_metrics is not None
    return evaluate_gates(
        gate,
        champion_metrics=measured(champion),
        challenger_metrics=challenger_metrics,
        holdout=examples,
        champion=champion,
        challenger=challenger,
        task="binary",
        positive_label=1,
    )


def verdicts(report: GateReport) -> dict[str, bool]:
    return {c.name: c.passed for c in report.checks}


def trained_pipelines() -> tuple[Any, Any, list[Example]]:
    """A majority-class champion and a logistic challenger, fitted on seeded data."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=600)
    y = (x + rng.normal(scale=0.7, size=600) > 0.3).astype(int)
    rows = [{"x": float(v)} for v in x]
    champion = make_pipeline(DummyClassifier(strategy="most_frequent")).fit(rows[:400], y[:400])
    challenger = make_pipeline(LogisticRegression()).fit(rows[:400], y[:400])
    examples = [
        Example(
            features=row,
            label=int(label),
            prediction_timestamp=float(i),
            model_version="1",
            prediction_id=f"h-{i}",
        )
        for i, (row, label) in enumerate(zip(rows[400:], y[400:], strict=True))
    ]
    return champion, challenger, examples


def test_a_better_challenger_passes() -> None:
    champion, challenger, examples = trained_pipelines()
    gate = GateConfig(metric="roc_auc", min_improvement=0.2, guards={"log_loss": 0.0})
    report = check(gate, examples, champion, challenger)
    assert verdicts(report) == {"primary:roc_auc": True, "guard:log_loss": True}
    assert report.passed
    assert report.checks[0].values["improvement"] > 0.3


def test_a_worse_challenger_fails_on_the_primary_metric() -> None:
    champion, challenger, examples = trained_pipelines()
    report = check(GateConfig(metric="accuracy"), examples, challenger, champion)
    assert not report.passed
    assert [c.name for c in report.failed] == ["primary:accuracy"]
    assert report.checks[0].values["improvement"] < -0.1


def test_a_smaller_improvement_than_required_fails() -> None:
    examples = holdout({"north": 100})
    champion, challenger = answers(examples, set(range(20))), answers(examples, set(range(18)))
    assert verdicts(check(GateConfig(min_improvement=0.02), examples, champion, challenger)) == {
        "primary:accuracy": True
    }
    assert verdicts(check(GateConfig(min_improvement=0.03), examples, champion, challenger)) == {
        "primary:accuracy": False
    }


@pytest.mark.parametrize(
    ("metric", "champion", "challenger", "expected"),
    [("accuracy", 0.8, 0.9, 0.1), ("log_loss", 0.5, 0.4, 0.1), ("mae", 1.0, 1.5, -0.5)],
)
def test_improvement_follows_the_metric_direction(
    metric: str, champion: float, challenger: float, expected: float
) -> None:
    assert improvement(metric, champion, challenger) == pytest.approx(expected)


def pure(
    gate: GateConfig, champion: dict[str, float] | None, challenger: dict[str, float]
) -> GateReport:
    sheet = AnswerSheet({})
    return evaluate_gates(
        gate,
        champion_metrics=champion,
        challenger_metrics=challenger,
        holdout=[],
        champion=None if champion is None else sheet,
        challenger=sheet,
        task="binary",
        positive_label=1,
    )


@pytest.mark.parametrize(("allowed", "passed"), [(0.05, False), (0.1, True)])
def test_a_guard_limits_how_much_worse_another_metric_may_get(allowed: float, passed: bool) -> None:
    gate = GateConfig(metric="accuracy", guards={"log_loss": allowed, "roc_auc": 0.0})
    champion = {"accuracy": 0.80, "log_loss": 0.40, "roc_auc": 0.85}
    challenger = {"accuracy": 0.85, "log_loss": 0.48, "roc_auc": 0.86}
    report = pure(gate, champion, challenger)
    assert verdicts(report) == {
        "primary:accuracy": True,
        "guard:log_loss": passed,
        "guard:roc_auc": True,
    }
    assert report.passed is passed


def test_a_metric_that_was_not_measured_fails_its_check() -> None:
    gate = GateConfig(metric="roc_auc", guards={"log_loss": 0.1})
    report = pure(gate, {"accuracy": 0.8}, {"accuracy": 0.9, "roc_auc": 0.9})
    assert verdicts(report) == {"primary:roc_auc": False, "guard:log_loss": False}
    assert report.checks[0].detail == "the champion has no 'roc_auc' (measured: ['accuracy'])"


def test_an_undefined_challenger_metric_fails_the_primary_check() -> None:
    report = pure(GateConfig(metric="roc_auc"), {"roc_auc": 0.7}, {"roc_auc": math.nan})
    assert not report.passed


def test_the_first_version_passes_without_a_champion() -> None:
    examples = holdout({"north": 40, "south": 40})
    gate = GateConfig(
        metric="accuracy",
        min_improvement=0.1,
        guards={"f1": 0.0},
        segments=SegmentGate(by="region"),
    )
    report = check(gate, examples, None, answers(examples, set(range(30))))
    assert report.passed
    assert [(c.name, c.detail) for c in report.checks] == [
        ("primary:accuracy", "no champion"),
        ("guard:f1", "no champion"),
        ("segment:region", "no champion"),
    ]


def test_a_segment_gate_blocks_a_challenger_better_on_average_but_worse_on_one_segment() -> None:
    examples = holdout({"north": 100, "south": 40, "west": 10})
    north, south = range(0, 100), range(100, 140)
    champion_wrong = {*north[:20], *south[:8]}  # 80% right on both
    challenger_wrong = set(south[:16])  # 100% right on north, 60% on south
    champion, challenger = answers(examples, champion_wrong), answers(examples, challenger_wrong)
    gate = GateConfig(metric="accuracy", segments=SegmentGate(by="region", max_drop=0.05))
    report = check(gate, examples, champion, challenger)
    assert verdicts(report) == {
        "primary:accuracy": True,
        "segment:region=north": True,
        "segment:region=south": False,
        "segment:region=west": True,
    }
    south_check = report.checks[2]
    assert south_check.values == pytest.approx(
        {"champion": 0.8, "challenger": 0.6, "improvement": -0.2}
    )
    assert report.checks[3].detail == "skipped: 10 examples, fewer than 20"
    assert not report.passed
    assert report.to_dict()["checks"][3] == {
        "name": "segment:region=west",
        "passed": True,
        "detail": "skipped: 10 examples, fewer than 20",
        "values": {},
    }


def test_a_segment_drop_within_the_allowed_margin_passes() -> None:
    examples = holdout({"north": 100, "south": 40})
    champion = answers(examples, {*range(20), *range(100, 108)})
    challenger = answers(examples, set(range(100, 110)))  # south: 80% -> 75%
    gate = GateConfig(segments=SegmentGate(by="region", max_drop=0.05))
    assert check(gate, examples, champion, challenger).passed


def fairness_case() -> tuple[list[Example], AnswerSheet, AnswerSheet]:
    """Groups a and b, 50 positives each: the challenger misses 20 positives of group b."""
    examples = holdout({"a": 100, "b": 100}, feature="gender")
    positives_b = [i for i in range(100, 200) if examples[i].label == 1]
    champion = answers(examples, set(range(0, 200, 4)))  # 75% right everywhere
    challenger = answers(examples, set(positives_b[:20]))  # 90% right, TPR 1.0 vs 0.6
    return examples, champion, challenger


def test_a_fairness_gate_blocks_a_challenger_with_a_large_equal_opportunity_gap() -> None:
    examples, champion, challenger = fairness_case()
    gate = GateConfig(fairness=FairnessGate(sensitive="gender", max=0.1))
    report = check(gate, examples, champion, challenger)
    assert verdicts(report) == {
        "primary:accuracy": True,
        "fairness:equal_opportunity_difference": False,
    }
    assert report.checks[1].values == pytest.approx({"a": 1.0, "b": 0.6, "difference": 0.4})


def test_demographic_parity_compares_positive_prediction_rates() -> None:
    examples, champion, challenger = fairness_case()
    strict, loose = (
        GateConfig(
            fairness=FairnessGate(
                sensitive="gender", metric="demographic_parity_difference", max=limit
            )
        )
        for limit in (0.1, 0.25)
    )
    report = check(strict, examples, champion, challenger)
    assert report.checks[1].values == pytest.approx({"a": 0.5, "b": 0.3, "difference": 0.2})
    assert not report.passed
    assert check(loose, examples, champion, challenger).passed


def test_fairness_needs_two_groups_large_enough_to_measure() -> None:
    examples = holdout({"a": 100, "b": 30}, feature="gender")  # only 15 positives in b
    gate = GateConfig(fairness=FairnessGate(sensitive="gender"))
    report = check(gate, examples, None, answers(examples, set(range(100, 130))))
    fairness = report.checks[1]
    assert fairness.passed
    assert fairness.detail.startswith("skipped: fewer than 2 groups")
    assert fairness.values == {"a": 1.0}


def test_a_fairness_gate_on_a_regression_fails() -> None:
    gate = GateConfig(metric="mae", fairness=FairnessGate(sensitive="gender"))
    report = evaluate_gates(
        gate,
        champion_metrics=None,
        challenger_metrics={"mae": 1.0},
        holdout=[],
        champion=None,
        challenger=AnswerSheet({}),
        task="regression",
        positive_label=None,
    )
    assert verdicts(report) == {"primary:mae": True, "fairness:equal_opportunity_difference": False}
