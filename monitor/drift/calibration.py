"""Drift thresholds calibrated by resampling the reference, with an extrapolated upper tail.

A threshold ``t`` for one feature is chosen so that, while production traffic follows the
reference distribution, a window of ``window`` events scores above ``t`` with probability about
``alpha``. No asymptotic law is assumed: the null distribution of the score is simulated.

1. **Resample.** Each of ``draws`` draws takes a reference-sized sample,
   ``q* = Multinomial(m, q) / m`` with ``m`` the reference's event count (capped at 1,000,000),
   and a window, ``c* = Multinomial(window, q)``, and scores ``c*`` against ``q*``. The reference
   is itself a finite sample: resampling it accounts for its own noise, which otherwise makes a
   stationary stream look drifted (most visibly for ``chi2``, which grows like ``1 + window/m``).
   All draws are scored in one vectorized call.
2. **Quantile.** When ``alpha >= 10 / draws`` the threshold is the empirical ``1 - alpha``
   quantile of the scores.
3. **Extrapolate.** Smaller ``alpha`` (for example 0.001 spread over 25 features, 4e-5) lies
   beyond the draws, so the tail is extrapolated by peaks over threshold: with ``u`` the 90%
   quantile of the scores, the excesses above ``u`` are modelled as exponential with their
   sample mean ``mean_excess``, and ``t = u + mean_excess * ln(0.10 / alpha)``. The tail shape
   decides the error: scores with a lighter, Gaussian-like tail (``ks``, ``wasserstein``,
   ``jensen_shannon``) get a conservative threshold (fewer false alarms than ``alpha``, at some
   cost in power), while ``chi2`` over a rare bin (expected window count below 1) has a heavier
   tail and gets a few times more false alarms than ``alpha``.

>>> reference = np.full(10, 0.1)
>>> t_small = calibrate_threshold("ks", reference, reference_count=50_000, window=200, alpha=1e-3)
>>> t_large = calibrate_threshold("ks", reference, reference_count=50_000, window=2000, alpha=1e-3)
>>> bool(0 < t_large < t_small < 1)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from driftwarden.monitor.drift.statistics import drift_scores

__all__ = [
    "MIN_DRAWS",
    "REFERENCE_COUNT_CAP",
    "calibrate_threshold",
    "calibrate_thresholds",
    "upper_quantile",
]

REFERENCE_COUNT_CAP = 1_000_000
MIN_DRAWS = 100
_TAIL_START = 0.10  # peaks over threshold: the excesses above the 90% quantile
_EMPIRICAL_MIN_EXCEEDANCES = 10  # the empirical quantile when alpha * draws >= 10


def calibrate_threshold(
    statistic: str,
    reference: NDArray[np.floating[Any]],
    reference_count: int,
    window: int,
    alpha: float,
    widths: NDArray[np.floating[Any]] | None = None,
    *,
    draws: int = 4000,
    seed: int = 0,
) -> float:
    """Score above which a stationary window of ``window`` events falls with probability ``alpha``.

    Parameters
    ----------
    statistic
        A name from :data:`driftwarden.monitor.drift.statistics.STATISTICS`.
    reference
        Reference bin frequencies, shape ``(K,)``, summing to 1 (may be zero-padded).
    reference_count
        Number of events the reference frequencies were estimated from.
    window
        Number of events in a production window.
    alpha
        False-alarm probability per window, in ``(0, 1)``.
    widths
        Bin widths for ``wasserstein`` (see
        :func:`~driftwarden.monitor.drift.statistics.drift_scores`).
    draws
        Number of resampled (reference, window) pairs; at least 100.
    seed
        Seed of ``numpy.random.default_rng``: the same arguments give the same threshold.

    Returns
    -------
    float
        The threshold; alarm when a window's score is strictly greater.

    Examples
    --------
    >>> reference = np.array([0.5, 0.3, 0.2])
    >>> threshold = calibrate_threshold("chi2", reference, 10**6, 500, 0.01, draws=40_000)
    >>> round(threshold, 1)  # the 99% quantile of chi-squared with 2 degrees of freedom: 9.21
    9.2
    """
    _check_arguments(reference_count, window, alpha, draws)
    q = _frequencies(reference)
    rng = np.random.default_rng(seed)
    resampled = min(reference_count, REFERENCE_COUNT_CAP)
    q_draws = rng.multinomial(resampled, q, size=draws) / resampled
    counts = rng.multinomial(window, q, size=draws)
    return upper_quantile(drift_scores(statistic, counts, q_draws, widths), alpha)


def calibrate_thresholds(
    statistic: str,
    references: NDArray[np.floating[Any]],
    reference_counts: NDArray[np.integer[Any]],
    window: int,
    alpha: float,
    widths: NDArray[np.floating[Any]] | None = None,
    *,
    draws: int = 4000,
    seed: int = 0,
) -> NDArray[np.float64]:
    """:func:`calibrate_threshold` for each feature (row) of ``references``, shape ``(F, K)``.

    Feature ``i`` is calibrated with its own seed, drawn from
    ``numpy.random.SeedSequence(seed, spawn_key=(i,))``: its threshold depends on ``seed`` and
    ``i`` only, not on the other features.

    >>> references = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    >>> thresholds = calibrate_thresholds("psi", references, np.array([10_000, 10_000]), 500, 0.01)
    >>> thresholds.shape
    (2,)
    """
    references = np.asarray(references)
    widths_rows = None if widths is None else np.broadcast_to(widths, references.shape)
    thresholds = [
        calibrate_threshold(
            statistic,
            references[i],
            int(reference_counts[i]),
            window,
            alpha,
            None if widths_rows is None else widths_rows[i],
            draws=draws,
            seed=_feature_seed(seed, i),
        )
        for i in range(references.shape[0])
    ]
    return np.array(thresholds, dtype=np.float64)


def upper_quantile(scores: NDArray[np.floating[Any]], alpha: float) -> float:
    """The ``1 - alpha`` quantile of ``scores``, extrapolated by peaks over threshold if needed.

    Empirical when ``alpha`` leaves at least 10 scores above it; otherwise
    ``u + mean_excess * ln(0.10 / alpha)`` with ``u`` the 90% quantile and ``mean_excess`` the
    mean of the excesses above ``u`` (an exponential tail).

    >>> exponential = -np.log(1 - (np.arange(10_000) + 0.5) / 10_000)  # Exp(1) quantiles
    >>> round(upper_quantile(exponential, 1e-6), 2), round(float(-np.log(1e-6)), 2)
    (13.82, 13.82)
    """
    scores = np.asarray(scores, dtype=np.float64)
    if alpha * scores.size >= _EMPIRICAL_MIN_EXCEEDANCES:
        return float(np.quantile(scores, 1 - alpha))
    start = float(np.quantile(scores, 1 - _TAIL_START))
    excesses = scores[scores > start] - start
    mean_excess = float(excesses.mean()) if excesses.size else 0.0
    return start + mean_excess * float(np.log(_TAIL_START / alpha))


def _check_arguments(reference_count: int, window: int, alpha: float, draws: int) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if reference_count < 1 or window < 1:
        raise ValueError(
            f"reference_count and window must be positive, got {reference_count} and {window}"
        )
    if draws < MIN_DRAWS:
        raise ValueError(f"draws must be at least {MIN_DRAWS}, got {draws}")


def _frequencies(reference: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    """The reference renormalized to sum exactly 1, as ``Generator.multinomial`` requires."""
    q = np.asarray(reference, dtype=np.float64)
    if q.ndim != 1 or np.any(q < 0) or not q.sum() > 0:
        raise ValueError("reference must be one row of non-negative bin frequencies summing to 1")
    return q / q.sum()


def _feature_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(1)[0])
