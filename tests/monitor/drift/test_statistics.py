from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import spatial, stats

from driftwarden.monitor.drift.statistics import STATISTICS, drift_scores

K = 12
REPRESENTATIVES = np.cumsum(np.linspace(0.5, 2.0, K))  # unequally spaced bin positions
STD = 3.0
WIDTHS = np.append(np.diff(REPRESENTATIVES) / STD, 0.0)


def random_rows(seed: int, rows: int = 6) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Window counts and strictly positive reference frequencies, ``rows`` of each."""
    rng = np.random.default_rng(seed)
    reference = rng.dirichlet(np.ones(K), size=rows)
    counts = rng.multinomial(400, rng.dirichlet(np.ones(K)), size=rows)
    return counts, reference


def test_ks_is_the_largest_gap_between_cumulative_frequencies() -> None:
    counts, reference = random_rows(seed=1)
    expected = []
    for row, q in zip(counts, reference, strict=True):
        p = row / row.sum()
        expected.append(max(abs(sum(p[: k + 1]) - sum(q[: k + 1])) for k in range(K)))
    assert drift_scores("ks", counts, reference) == pytest.approx(expected, abs=1e-12)


def test_ks_equals_the_two_sample_statistic_of_samples_binned_alike() -> None:
    rng = np.random.default_rng(2)
    window = rng.choice(K, size=300, p=rng.dirichlet(np.ones(K)))
    reference_sample = rng.choice(K, size=5000, p=rng.dirichlet(np.ones(K)))
    counts = np.bincount(window, minlength=K)
    reference = np.bincount(reference_sample, minlength=K) / reference_sample.size
    expected = stats.ks_2samp(window, reference_sample).statistic
    assert float(drift_scores("ks", counts, reference)) == pytest.approx(expected, abs=1e-12)


def test_jensen_shannon_matches_scipy() -> None:
    counts, reference = random_rows(seed=3)
    counts[0, :4] = 0  # empty bins on the window side
    expected = [
        spatial.distance.jensenshannon(row / row.sum(), q, base=2)
        for row, q in zip(counts, reference, strict=True)
    ]
    assert drift_scores("jensen_shannon", counts, reference) == pytest.approx(expected, abs=1e-9)


def test_jensen_shannon_of_disjoint_distributions_is_one() -> None:
    score = drift_scores("jensen_shannon", np.array([7, 3, 0, 0]), np.array([0, 0, 0.5, 0.5]))
    assert float(score) == pytest.approx(1.0)


def test_chi2_matches_scipy_chisquare() -> None:
    counts, reference = random_rows(seed=4)
    expected = [
        stats.chisquare(row, row.sum() * q).statistic
        for row, q in zip(counts, reference, strict=True)
    ]
    assert drift_scores("chi2", counts, reference) == pytest.approx(expected, rel=1e-12)


def test_chi2_counts_a_category_absent_from_the_reference_with_epsilon_frequency() -> None:
    score = drift_scores("chi2", np.array([4, 4, 2]), np.array([0.5, 0.5, 0.0]))
    # Expected counts 5, 5 and 10 * 1e-4 for the unseen category.
    assert float(score) == pytest.approx(1 / 5 + 1 / 5 + (2 - 0.001) ** 2 / 0.001)


def test_psi_by_hand() -> None:
    score = drift_scores("psi", np.array([5, 5]), np.array([0.25, 0.75]))
    expected = 0.25 * math.log(0.5001 / 0.2501) - 0.25 * math.log(0.5001 / 0.7501)
    assert float(score) == pytest.approx(expected, rel=1e-12)
    assert float(score) == pytest.approx(0.25 * math.log(3), abs=1e-3)  # psi without epsilon


def test_psi_stays_finite_for_empty_bins() -> None:
    score = drift_scores("psi", np.array([10, 0]), np.array([0.0, 1.0]))
    assert float(score) == pytest.approx(2 * math.log(1.0001 / 1e-4))


def test_wasserstein_matches_scipy_on_bin_representatives() -> None:
    counts, reference = random_rows(seed=5)
    expected = [
        stats.wasserstein_distance(REPRESENTATIVES, REPRESENTATIVES, row / row.sum(), q) / STD
        for row, q in zip(counts, reference, strict=True)
    ]
    scores = drift_scores("wasserstein", counts, reference, WIDTHS)
    assert scores == pytest.approx(expected, rel=1e-9)


def test_wasserstein_needs_widths() -> None:
    with pytest.raises(ValueError, match="widths"):
        drift_scores("wasserstein", np.array([1, 1]), np.array([0.5, 0.5]))


@pytest.mark.parametrize("statistic", STATISTICS)
def test_identical_distributions_score_zero(statistic: str) -> None:
    reference = np.array([0.125, 0.25, 0.5, 0.125])
    score = drift_scores(statistic, np.array([10, 20, 40, 10]), reference, np.ones(4))
    assert float(score) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("statistic", STATISTICS)
def test_zero_padding_changes_nothing(statistic: str) -> None:
    counts, reference = random_rows(seed=6)
    padded_counts = np.pad(counts, ((0, 0), (0, 5)))
    padded_reference = np.pad(reference, ((0, 0), (0, 5)))
    padded_widths = np.pad(WIDTHS, (0, 5))
    expected = drift_scores(statistic, counts, reference, WIDTHS)
    scores = drift_scores(statistic, padded_counts, padded_reference, padded_widths)
    assert scores == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("statistic", STATISTICS)
def test_scores_broadcast_over_leading_dimensions(statistic: str) -> None:
    rng = np.random.default_rng(7)
    references = rng.dirichlet(np.ones(K), size=4)  # 4 features
    counts = rng.multinomial(200, np.full(K, 1 / K), size=(3, 4))  # 3 draws of each feature
    scores = drift_scores(statistic, counts, references, WIDTHS)
    assert scores.shape == (3, 4)
    for draw in range(3):
        for feature in range(4):
            one = drift_scores(statistic, counts[draw, feature], references[feature], WIDTHS)
            assert scores[draw, feature] == pytest.approx(float(one), rel=1e-12)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("statistic", STATISTICS)
def test_empty_windows_score_zero(statistic: str) -> None:
    counts = np.array([[0, 0, 0], [3, 0, 1]])
    reference = np.array([0.0, 0.5, 0.5])
    scores = drift_scores(statistic, counts, reference, np.ones(3))
    assert scores[0] == 0.0
    assert scores[1] > 0.0


def test_unknown_statistic_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="ks, psi, wasserstein, jensen_shannon, chi2"):
        drift_scores("hellinger", np.array([1]), np.array([1.0]))
