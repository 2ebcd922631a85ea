"""Confidence-based performance estimation (CBPE): performance without labels.

From calibrated probabilities, each prediction's chance of being right is known, so the expected
confusion matrix of a set of predictions is too. A binary prediction of the positive class with
probability ``p`` of the positive class adds ``p`` to the true positives and ``1 - p`` to the
false positives; a negative prediction adds ``p`` to the false negatives and ``1 - p`` to the true
negatives. Multiclass: per class ``c``, a prediction of ``c`` adds ``P(c)`` to its true positives
and ``1 - P(c)`` to its false positives, any other prediction ``P(c)`` to its false negatives.
Accuracy, precision, recall and F1 are read off the expected matrix (ratios of expected counts);
ROC AUC is the Mann-Whitney statistic with each prediction counted ``p`` times as a positive and
``1 - p`` times as a negative, never paired with itself (ties half).

The band is where the realized value of these very predictions would fall, 95% of the time, if the
probabilities are right (the sampling band): for accuracy, whose count of correct predictions is
Poisson-binomial, ``value ± 1.96·sqrt(sum c(1-c))/n`` with ``c`` each prediction's chance of being
right; for the other metrics the 2.5th and 97.5th percentiles of the metric over
``MONTE_CARLO_DRAWS`` label sets drawn from the probabilities with a fixed seed, so that the same
predictions always give the same band. Multiclass precision, recall, F1 and ROC AUC are macro
averages over the classes for which they are defined.

>>> estimates = estimate_binary(np.array([True, True, False, False]), np.array([.9, .8, .3, .1]))
>>> [round(estimates[m].value, 3) for m in ("accuracy", "precision", "recall", "roc_auc")]
[0.825, 0.85, 0.81, 0.922]
>>> realized = realized_binary(np.array([True, True, False, False]),
...                            np.array([True, False, False, False]), np.array([.9, .8, .3, .1]))
>>> realized["accuracy"], realized["precision"], realized["recall"]
(0.75, 0.5, 1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "METRICS",
    "MONTE_CARLO_DRAWS",
    "Estimate",
    "estimate_binary",
    "estimate_multiclass",
    "realized_binary",
    "realized_multiclass",
]

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
MONTE_CARLO_DRAWS = 200
_SEED = 20_240_514
_Z = 1.959963984540054

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Estimate:
    """An estimated metric and its sampling band (NaN when the metric is undefined)."""

    value: float
    lower: float
    upper: float


def estimate_binary(
    predicted_positive: npt.ArrayLike, probability: npt.ArrayLike
) -> dict[str, Estimate]:
    """Estimated ``accuracy, precision, recall, f1, roc_auc`` of the positive class, with bands.

    ``probability`` is each prediction's calibrated probability of the positive class.
    """
    predicted = np.asarray(predicted_positive, dtype=bool)
    p = np.clip(np.asarray(probability, dtype=np.float64), 0.0, 1.0)
    if not predicted.size:
        return _undefined()
    values = _binary_metrics(predicted[None, :], p[None, :], p)
    draws = np.random.default_rng(_SEED).random((MONTE_CARLO_DRAWS, p.size)) < p
    sampled = _binary_metrics(predicted[None, :], draws.astype(np.float64), p)
    correct = np.where(predicted, p, 1.0 - p)
    return _with_bands(values, sampled, correct)


def estimate_multiclass(
    predicted: npt.ArrayLike, probabilities: npt.ArrayLike
) -> dict[str, Estimate]:
    """Estimated accuracy and macro precision, recall, F1 and one-vs-rest ROC AUC, with bands.

    ``predicted`` holds class indices (n,), ``probabilities`` the calibrated rows (n, k); an
    index outside ``0..k-1`` is a prediction of a class the rows do not have (never right).
    """
    classes = np.asarray(predicted, dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    if not classes.size:
        return _undefined()
    values = _multiclass_metrics(classes, probs, probs)
    cumulative = np.cumsum(probs, axis=1)
    uniform = np.random.default_rng(_SEED).random((MONTE_CARLO_DRAWS, classes.size))
    sampled: dict[str, list[float]] = {name: [] for name in METRICS}
    for row in uniform:
        drawn = np.minimum((row[:, None] > cumulative).sum(axis=1), probs.shape[1] - 1)
        one_hot = np.eye(probs.shape[1])[drawn]
        for name, value in _multiclass_metrics(classes, one_hot, probs).items():
            sampled[name].append(float(value[0]))
    known = (classes >= 0) & (classes < probs.shape[1])
    correct = np.where(known, probs[np.arange(classes.size), np.where(known, classes, 0)], 0.0)
    return _with_bands(values, {k: np.array(v) for k, v in sampled.items()}, correct)


def realized_binary(
    predicted_positive: npt.ArrayLike, actual_positive: npt.ArrayLike, probability: npt.ArrayLike
) -> dict[str, float]:
    """The same metrics from the labels, ROC AUC ranking by ``probability``, for comparison."""
    predicted = np.asarray(predicted_positive, dtype=bool)
    actual = np.asarray(actual_positive, dtype=np.float64)
    values = _binary_metrics(predicted[None, :], actual[None, :], np.asarray(probability, float))
    return {name: float(value[0]) for name, value in values.items()}


def realized_multiclass(
    predicted: npt.ArrayLike, actual: npt.ArrayLike, probabilities: npt.ArrayLike
) -> dict[str, float]:
    """The same metrics from the labels (class indices), ROC AUC ranking by ``probabilities``.

    A predicted or actual index outside the k classes stands for a class the probabilities do
    not have: never right.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    k = probs.shape[1]
    labels = np.asarray(actual, dtype=np.int64)
    # A label of no class of ``probabilities`` (index k or more) is a row of zeros.
    one_hot = np.eye(k + 1)[np.where((labels >= 0) & (labels < k), labels, k)][:, :k]
    values = _multiclass_metrics(np.asarray(predicted, dtype=np.int64), one_hot, probs)
    return {name: float(value[0]) for name, value in values.items()}


def _binary_metrics(predicted: Bools, positive: Floats, ranking: Floats) -> dict[str, Floats]:
    """Metrics of rows of (expected or drawn) positive weights ``positive`` (d, n)."""
    n = positive.shape[1]
    tp = (positive * predicted).sum(axis=1)
    predicted_count = float(predicted.sum())
    fp = predicted_count - tp
    fn = positive.sum(axis=1) - tp
    tn = n - tp - fp - fn
    return {
        "accuracy": (tp + tn) / n,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": _weighted_auc(ranking, positive),
    }


def _multiclass_metrics(
    predicted: npt.NDArray[np.int64], weights: Floats, ranking: Floats
) -> dict[str, Floats]:
    """Metrics of one (expected or drawn) one-hot weight matrix ``weights`` (n, k)."""
    n, k = weights.shape
    known = (predicted >= 0) & (predicted < k)
    chosen = np.eye(k, dtype=bool)[np.where(known, predicted, 0)] & known[:, None]
    tp = (weights * chosen).sum(axis=0)
    fp = chosen.sum(axis=0) - tp
    fn = weights.sum(axis=0) - tp
    aucs = np.array([_weighted_auc(ranking[:, c], weights[None, :, c])[0] for c in range(k)])
    return {
        "accuracy": np.array([tp.sum() / n]),
        "precision": np.array([_macro(_ratio(tp, tp + fp))]),
        "recall": np.array([_macro(_ratio(tp, tp + fn))]),
        "f1": np.array([_macro(_ratio(2 * tp, 2 * tp + fp + fn))]),
        "roc_auc": np.array([_macro(aucs)]),
    }


def _weighted_auc(ranking: Floats, positive: Floats) -> Floats:
    """Mann-Whitney ROC AUC per row of positive weights (d, n); ``1 - w`` counts as negative."""
    order = np.argsort(ranking, kind="stable")
    ranked = ranking[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # groups of tied scores
    pos = np.add.reduceat(positive[:, order], starts, axis=1)
    neg = np.diff(np.r_[starts, ranked.size])[None, :] - pos
    below = np.cumsum(neg, axis=1) - neg
    # A prediction is never paired with itself: with weights it would be, p(1-p) times (a tie).
    itself = (positive * (1.0 - positive)).sum(axis=1)
    area = (pos * (below + neg / 2)).sum(axis=1) - itself / 2
    return _ratio(area, pos.sum(axis=1) * neg.sum(axis=1) - itself)


def _ratio(top: Floats, bottom: Floats) -> Floats:
    safe = np.where(bottom > 1e-12, bottom, 1.0)
    return np.where(bottom > 1e-12, top / safe, np.nan)


def _macro(values: Floats) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else math.nan


def _with_bands(
    values: dict[str, Floats], sampled: dict[str, Floats], correct: Floats
) -> dict[str, Estimate]:
    out = {}
    for name in METRICS:
        value = float(values[name][0])
        if name == "accuracy":
            half = _Z * math.sqrt(float((correct * (1.0 - correct)).sum())) / correct.size
            lower, upper = max(value - half, 0.0), min(value + half, 1.0)
        else:
            defined = sampled[name][~np.isnan(sampled[name])]
            if math.isnan(value) or not defined.size:
                out[name] = Estimate(value, math.nan, math.nan)
                continue
            low, high = np.percentile(defined, [2.5, 97.5])
            lower, upper = min(float(low), value), max(float(high), value)
        out[name] = Estimate(value, lower, upper)
    return out


def _undefined() -> dict[str, Estimate]:
    return {name: Estimate(math.nan, math.nan, math.nan) for name in METRICS}
