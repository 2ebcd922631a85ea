from __future__ import annotations

import random

import pytest
from sklearn import metrics as skm

from driftwarden.core.tasks import METRICS_BY_TASK, Task
from driftwarden.monitor.codec import StateDecodeError
from driftwarden.monitor.performance import (
    BinaryPerformance,
    MulticlassPerformance,
    RegressionPerformance,
    VersionPerformance,
)


def binary_stream(n: int, seed: int) -> list[tuple[int, int, float]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        y = int(rng.random() < 0.4)
        score = min(max(rng.gauss(0.35 + 0.3 * y, 0.2), 0.0), 1.0)
        rows.append((y, int(score >= 0.5), score))
    return rows


def sklearn_binary(rows: list[tuple[int, int, float]]) -> dict[str, float]:
    y = [r[0] for r in rows]
    p = [r[1] for r in rows]
    s = [r[2] for r in rows]
    return {
        "accuracy": skm.accuracy_score(y, p),
        "precision": skm.precision_score(y, p),
        "recall": skm.recall_score(y, p),
        "f1": skm.f1_score(y, p),
        "log_loss": skm.log_loss(y, [min(max(v, 1e-15), 1 - 1e-15) for v in s]),
        "roc_auc": skm.roc_auc_score(y, s),
    }


def test_binary_metrics_match_sklearn_cumulative_and_rolling() -> None:
    rows = binary_stream(3000, seed=1)
    perf = VersionPerformance.for_task(Task.BINARY, positive_label=1, window=500)
    for y, p, s in rows:
        perf.update(y, p, {"0": 1 - s, "1": s})
    values = perf.values()
    for window, subset in (("cumulative", rows), ("rolling", rows[-500:])):
        expected = sklearn_binary(subset)
        for name, value in expected.items():
            # Cumulative AUC is binned (1000 bins); river's rolling AUC treats tied scores
            # (here the clipped 0.0 and 1.0) slightly differently from scikit-learn.
            tolerance = 2e-3 if name == "roc_auc" else 1e-9
            assert values[(name, window)] == pytest.approx(value, abs=tolerance), (name, window)


def test_classes_compare_by_canonical_key() -> None:
    perf = VersionPerformance.for_task(Task.BINARY, positive_label=True, window=10)
    assert perf.update(1, True, None)
    assert perf.update("0", 0.0, None)
    assert not perf.update("1", 0, None)
    assert perf.values()[("accuracy", "cumulative")] == pytest.approx(2 / 3)
    assert ("log_loss", "cumulative") not in perf.values()  # only once scores exist


def test_multiclass_metrics_match_sklearn() -> None:
    rng = random.Random(3)
    classes = ["a", "b", "c"]
    rows = [(rng.choice(classes), rng.choice(classes)) for _ in range(2000)]
    perf = VersionPerformance.for_task(Task.MULTICLASS, None, window=300)
    for y, p in rows:
        perf.update(y, p, None)
    values = perf.values()
    for window, subset in (("cumulative", rows), ("rolling", rows[-300:])):
        y, p = [r[0] for r in subset], [r[1] for r in subset]
        assert values[("accuracy", window)] == pytest.approx(skm.accuracy_score(y, p))
        assert values[("macro_f1", window)] == pytest.approx(skm.f1_score(y, p, average="macro"))


def test_regression_metrics_match_sklearn() -> None:
    rng = random.Random(4)
    rows = [(x, x + rng.gauss(0, 1)) for x in (rng.uniform(0, 10) for _ in range(2000))]
    perf = VersionPerformance.for_task(Task.REGRESSION, None, window=250)
    for y, p in rows:
        assert perf.update(y, p, None) is False
    values = perf.values()
    for window, subset in (("cumulative", rows), ("rolling", rows[-250:])):
        y, p = [r[0] for r in subset], [r[1] for r in subset]
        assert values[("mae", window)] == pytest.approx(skm.mean_absolute_error(y, p))
        assert values[("rmse", window)] == pytest.approx(skm.mean_squared_error(y, p) ** 0.5)
        assert values[("r2", window)] == pytest.approx(skm.r2_score(y, p), abs=1e-9)


@pytest.mark.parametrize(
    ("task", "positive", "kind"),
    [
        (Task.BINARY, 1, BinaryPerformance),
        (Task.MULTICLASS, None, MulticlassPerformance),
        (Task.REGRESSION, None, RegressionPerformance),
    ],
)
def test_each_task_has_its_class_and_reports_its_metrics(
    task: Task, positive: int | None, kind: type[VersionPerformance]
) -> None:
    perf = VersionPerformance.for_task(task, positive, window=5)
    assert type(perf) is kind and perf.task is task
    perf.update(1, 1, {"1": 0.8, "0": 0.2})
    assert {metric for metric, _ in perf.values()} == set(METRICS_BY_TASK[task])
    restored = VersionPerformance.from_state(perf.to_state())
    assert type(restored) is kind and restored.to_state() == perf.to_state()


def test_only_the_binary_class_has_a_positive_class() -> None:
    assert VersionPerformance.for_task(Task.BINARY, True, window=5).to_state()["positive"] == "1"
    for task in (Task.MULTICLASS, Task.REGRESSION):
        assert not hasattr(VersionPerformance.for_task(task, None, window=5), "positive")
        with pytest.raises(ValueError, match="only to task 'binary'"):
            VersionPerformance.for_task(task, 1, window=5)


@pytest.mark.parametrize(
    ("task", "field", "value"),
    [
        (Task.REGRESSION, "positive", "1"),
        (Task.MULTICLASS, "positive", "1"),
        (Task.BINARY, "classes", ["a"]),
        (Task.REGRESSION, "classes", ["a"]),
    ],
)
def test_a_document_with_another_task_s_fields_does_not_decode(
    task: Task, field: str, value: object
) -> None:
    doc = VersionPerformance.for_task(task, 1 if task is Task.BINARY else None, 5).to_state()
    with pytest.raises(StateDecodeError):
        VersionPerformance.from_state({**doc, field: value})
