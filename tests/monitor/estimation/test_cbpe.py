"""CBPE: exact expected confusion matrices, and bands that hold the realized value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from driftwarden.monitor.estimation.cbpe import (
    METRICS,
    estimate_binary,
    estimate_multiclass,
    realized_binary,
    realized_multiclass,
)


def test_binary_estimate_is_the_expected_confusion_matrix() -> None:
    predicted = np.array([True, True, True, False, False])
    p = np.array([0.9, 0.6, 0.7, 0.2, 0.4])
    tp, fp = 0.9 + 0.6 + 0.7, 0.1 + 0.4 + 0.3
    fn, tn = 0.2 + 0.4, 0.8 + 0.6
    estimates = estimate_binary(predicted, p)
    assert estimates["accuracy"].value == pytest.approx((tp + tn) / 5)
    assert estimates["precision"].value == pytest.approx(tp / (tp + fp))
    assert estimates["recall"].value == pytest.approx(tp / (tp + fn))
    assert estimates["f1"].value == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # Expected Mann-Whitney: each pair (i, j), i != j, weighted p_i (1 - p_j), ties half.
    pairs = [
        p[i] * (1 - p[j]) * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
        for i in range(5)
        for j in range(5)
        if i != j
    ]
    norm = sum(p[i] * (1 - p[j]) for i in range(5) for j in range(5) if i != j)
    assert estimates["roc_auc"].value == pytest.approx(sum(pairs) / norm)


def test_multiclass_estimate_is_the_expected_confusion_matrix() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    predicted = np.array([0, 1, 2, 0])
    estimates = estimate_multiclass(predicted, probs)
    assert estimates["accuracy"].value == pytest.approx((0.7 + 0.8 + 0.4 + 0.5) / 4)
    tp = np.array([0.7 + 0.5, 0.8, 0.4])
    fp = np.array([2, 1, 1]) - tp
    fn = probs.sum(axis=0) - tp
    assert estimates["precision"].value == pytest.approx(np.mean(tp / (tp + fp)))
    assert estimates["recall"].value == pytest.approx(np.mean(tp / (tp + fn)))
    assert estimates["f1"].value == pytest.approx(np.mean(2 * tp / (2 * tp + fp + fn)))


def test_realized_values_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(4)
    p = rng.random(500)
    actual = rng.random(500) < p
    predicted = p > 0.5
    realized = realized_binary(predicted, actual, p)
    assert realized["f1"] == pytest.approx(f1_score(actual, predicted))
    assert realized["precision"] == pytest.approx(precision_score(actual, predicted))
    assert realized["recall"] == pytest.approx(recall_score(actual, predicted))
    assert realized["roc_auc"] == pytest.approx(roc_auc_score(actual, p))
    probs = rng.dirichlet([1, 1, 1, 1], 400)
    labels = np.array([rng.choice(4, p=row) for row in probs])
    multi = realized_multiclass(probs.argmax(axis=1), labels, probs)
    assert multi["f1"] == pytest.approx(f1_score(labels, probs.argmax(axis=1), average="macro"))
    assert multi["roc_auc"] == pytest.approx(roc_auc_score(labels, probs, multi_class="ovr"))


def test_on_calibrated_data_the_band_holds_the_realized_value_most_of_the_time() -> None:
    rng = np.random.default_rng(5)
    inside = dict.fromkeys(METRICS, 0)
    trials = 60
    for _ in range(trials):
        p = rng.beta(2, 3, 1000)
        actual = rng.random(1000) < p  # calibrated by construction
        predicted = p > 0.4
        estimates = estimate_binary(predicted, p)
        realized = realized_binary(predicted, actual, p)
        for name in METRICS:
            est = estimates[name]
            assert est.lower <= est.value <= est.upper
            inside[name] += est.lower <= realized[name] <= est.upper
    for name in METRICS:
        assert inside[name] / trials >= 0.8, (name, inside[name])


def test_miscalibrated_scores_miss_the_band() -> None:
    rng = np.random.default_rng(6)
    p = rng.beta(2, 3, 2000)
    actual = rng.random(2000) < p**2  # the scores overstate the positives
    estimates = estimate_binary(p > 0.4, p)
    realized = realized_binary(p > 0.4, actual, p)
    assert not estimates["precision"].lower <= realized["precision"] <= estimates["precision"].upper


def test_the_band_is_deterministic_and_undefined_metrics_are_nan() -> None:
    p = np.linspace(0.05, 0.95, 300)
    assert estimate_binary(p > 0.5, p) == estimate_binary(p > 0.5, p)
    none_predicted = estimate_binary(np.zeros(3, dtype=bool), np.array([0.1, 0.2, 0.3]))
    assert math.isnan(none_predicted["precision"].value)
    assert not math.isnan(none_predicted["accuracy"].value)
    assert all(math.isnan(e.value) for e in estimate_binary(np.array([]), np.array([])).values())
