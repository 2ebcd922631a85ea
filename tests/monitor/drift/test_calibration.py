"""Calibrated thresholds against simulated stationary and shifted production traffic.

Production windows and the reference sample are drawn with their own generators, independent of
the calibration's. The checks are binomial: 20,000 stationary windows at ``alpha = 0.01``
expect 200 alarms (standard deviation 14), and the calibration itself is a 4,000-draw estimate
from one finite reference, which widens the spread of the observed rate to about 0.002.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

from driftwarden.monitor.drift.calibration import (
    calibrate_threshold,
    calibrate_thresholds,
    upper_quantile,
)
from driftwarden.monitor.drift.statistics import NUMERIC_ONLY, STATISTICS, drift_scores

WINDOWS = 20_000
REFERENCE_COUNT = 200_000


@dataclass(frozen=True)
class Shape:
    """A true bin distribution, its bin widths (numeric only) and the same one shifted by 0.1."""

    name: str
    q: NDArray[np.float64]
    widths: NDArray[np.float64] | None
    shifted: NDArray[np.float64]


def _uniform_numeric() -> Shape:
    q = np.full(20, 0.05)  # 20 quantile bins of a standard normal
    representatives = stats.norm.ppf((np.arange(20) + 0.5) / 20)
    shifted = q.copy()
    shifted[:4] -= 0.025  # 0.1 of the mass moves from the lowest to the highest values
    shifted[-4:] += 0.025
    return Shape("uniform", q, np.append(np.diff(representatives), 0.0), shifted)


def _skewed_categorical() -> Shape:
    q = np.array([0.4, 0.2, 0.15, 0.1, 0.07, 0.05, 0.029, 0.001])  # last: a tiny "other"
    shifted = q.copy()
    shifted[0] -= 0.1
    shifted[2] += 0.1
    return Shape("skewed", q, None, shifted)


UNIFORM = _uniform_numeric()
SKEWED = _skewed_categorical()
CASES = [
    pytest.param(statistic, shape, id=f"{statistic}-{shape.name}")
    for shape in (UNIFORM, SKEWED)
    for statistic in STATISTICS
    if shape is UNIFORM or statistic not in NUMERIC_ONLY
]


def sampled_reference(shape: Shape, count: int, rng: np.random.Generator) -> NDArray[np.float64]:
    return rng.multinomial(count, shape.q) / count


def false_alarm_rate(statistic: str, shape: Shape, alpha: float, seed: int = 3) -> float:
    """Alarm rate of the calibrated threshold over stationary windows of 500 events."""
    rng = np.random.default_rng(seed)
    reference = sampled_reference(shape, REFERENCE_COUNT, rng)
    threshold = calibrate_threshold(statistic, reference, REFERENCE_COUNT, 500, alpha, shape.widths)
    windows = rng.multinomial(500, shape.q, size=WINDOWS)
    return float(np.mean(drift_scores(statistic, windows, reference, shape.widths) > threshold))


@pytest.mark.parametrize(("statistic", "shape"), CASES)
def test_false_alarm_rate_matches_alpha(statistic: str, shape: Shape) -> None:
    assert 0.004 <= false_alarm_rate(statistic, shape, alpha=0.01) <= 0.02


@pytest.mark.parametrize(("statistic", "shape"), CASES)
def test_extrapolated_threshold_keeps_false_alarms_rare(statistic: str, shape: Shape) -> None:
    # alpha = 1e-4 expects 2 alarms in 20,000 windows; at most 8 fails once in 4,000 runs. The
    # exponential tail is conservative for light tails. chi2 over the tiny "other" bin (0.5
    # expected events per window) has a heavier tail: over 200 seeds its extrapolated threshold
    # gave a median of 6 alarms (3 times alpha) and at most 31.
    most = 40 if (statistic, shape.name) == ("chi2", "skewed") else 8
    assert false_alarm_rate(statistic, shape, alpha=1e-4) * WINDOWS <= most


@pytest.mark.parametrize(("statistic", "shape"), CASES)
def test_shift_of_a_tenth_of_the_mass_is_detected(statistic: str, shape: Shape) -> None:
    rng = np.random.default_rng(5)
    reference = sampled_reference(shape, REFERENCE_COUNT, rng)
    threshold = calibrate_threshold(statistic, reference, REFERENCE_COUNT, 2000, 1e-4, shape.widths)
    windows = rng.multinomial(2000, shape.shifted, size=1000)
    scores = drift_scores(statistic, windows, reference, shape.widths)
    assert np.mean(scores > threshold) >= 0.99


def test_resampling_the_reference_accounts_for_its_noise() -> None:
    """Averaged over small references, the alarm rate is alpha only if their size is known."""
    rng = np.random.default_rng(11)
    rates: dict[int, list[float]] = {2000: [], 10**6: []}
    for index in range(50):
        reference = sampled_reference(UNIFORM, 2000, rng)
        windows = rng.multinomial(500, UNIFORM.q, size=400)
        scores = drift_scores("psi", windows, reference)
        for assumed_count, observed in rates.items():
            threshold = calibrate_threshold(
                "psi", reference, assumed_count, 500, 0.05, draws=1000, seed=index
            )
            observed.append(float(np.mean(scores > threshold)))
    assert 0.035 <= np.mean(rates[2000]) <= 0.075
    assert np.mean(rates[10**6]) > 0.1  # as if the reference were exact: far too many alarms


def test_chi2_threshold_follows_its_asymptotic_law() -> None:
    """Pearson's statistic against a reference of m events tends to (1 + n/m) chi2(K - 1)."""
    for window in (500, 2000, 8000):
        threshold = calibrate_threshold("chi2", UNIFORM.q, 2000, window, 0.01, draws=20_000)
        expected = (1 + window / 2000) * stats.chi2.ppf(0.99, df=19)
        assert threshold == pytest.approx(expected, rel=0.08)


@pytest.mark.parametrize("statistic", ["ks", "psi", "jensen_shannon", "wasserstein"])
def test_larger_windows_give_smaller_thresholds(statistic: str) -> None:
    thresholds = [
        calibrate_threshold(statistic, UNIFORM.q, 100_000, window, 1e-3, UNIFORM.widths)
        for window in (100, 400, 1600, 6400)
    ]
    assert thresholds == sorted(thresholds, reverse=True)
    assert len(set(thresholds)) == 4


def test_thresholds_are_reproducible_for_a_seed() -> None:
    def threshold(seed: int) -> float:
        return calibrate_threshold("ks", SKEWED.q, 5000, 300, 1e-4, seed=seed)

    assert threshold(7) == threshold(7)
    assert threshold(7) != threshold(8)


def test_each_feature_has_its_own_reproducible_seed() -> None:
    references = np.stack([UNIFORM.q, UNIFORM.q, np.pad(SKEWED.q, (0, 12))])
    counts = np.array([5000, 5000, 8000])
    thresholds = calibrate_thresholds("psi", references, counts, 500, 1e-3, seed=4)
    assert thresholds.shape == (3,)
    assert thresholds[0] != thresholds[1]  # identical features, independent draws
    again = calibrate_thresholds("psi", references[:1], counts[:1], 500, 1e-3, seed=4)
    assert again[0] == thresholds[0]  # a feature's threshold ignores the other features


def test_per_feature_widths_broadcast() -> None:
    references = np.stack([UNIFORM.q, UNIFORM.q])
    assert UNIFORM.widths is not None
    thresholds = calibrate_thresholds(
        "wasserstein", references, np.array([5000, 5000]), 500, 0.01, UNIFORM.widths
    )
    assert np.all(thresholds > 0)


def test_upper_quantile_is_empirical_while_enough_scores_exceed_it() -> None:
    scores = np.random.default_rng(0).exponential(size=4000)
    assert upper_quantile(scores, 0.01) == pytest.approx(np.quantile(scores, 0.99))
    extrapolated = upper_quantile(scores, 1e-5)
    assert extrapolated == pytest.approx(-np.log(1e-5), rel=0.1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"window": 0}, "window"),
        ({"reference_count": 0}, "reference_count"),
        ({"draws": 10}, "draws"),
        ({"reference": np.array([[0.5, 0.5]])}, "reference"),
        ({"reference": np.array([-0.5, 1.5])}, "reference"),
    ],
)
def test_invalid_arguments_are_refused(arguments: dict[str, Any], message: str) -> None:
    call: dict[str, Any] = {
        "reference": np.array([0.5, 0.5]),
        "reference_count": 100,
        "window": 50,
        "alpha": 0.01,
        "draws": 1000,
    } | arguments
    with pytest.raises(ValueError, match=message):
        calibrate_threshold("psi", **call)
