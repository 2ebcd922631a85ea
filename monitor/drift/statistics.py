"""Distances between a window's bin counts and a reference profile's bin frequencies.

A sliding window of ``n`` events gives, per feature, the counts ``c`` of the reference profile's
bins; ``p = c / n`` is compared with the reference frequencies ``q`` (which sum to 1). Arrays
carry the bins on the last axis and any number of leading axes (features, resampling draws), so
one call scores every feature, or every draw of a calibration, at once.

Rows may be zero-padded at the end so that features with different numbers of bins share one
array: a padded bin has reference 0 and count 0 and contributes nothing. A row with ``n == 0``
scores 0.0.

>>> counts = np.array([[30, 50, 20], [0, 0, 0]])
>>> reference = np.array([0.3, 0.5, 0.2])
>>> drift_scores("ks", counts, reference)
array([0., 0.])
>>> drift_scores("jensen_shannon", np.array([10, 0, 0]), np.array([0.0, 0.5, 0.5]))
array(1.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["EPSILON", "NUMERIC_ONLY", "STATISTICS", "drift_scores"]

STATISTICS: tuple[str, ...] = ("ks", "psi", "wasserstein", "jensen_shannon", "chi2")
NUMERIC_ONLY = frozenset({"ks", "wasserstein"})
EPSILON = 1e-4
"""Frequency floor of ``psi`` (both sides) and of ``chi2`` (reference bins never seen)."""

FloatArray = NDArray[np.float64]


class _Binned(NamedTuple):
    """One window per row, already normalized: ``p = counts / n`` (0 where ``n == 0``)."""

    counts: NDArray[np.integer[Any]]
    n: NDArray[np.integer[Any]]
    p: FloatArray
    q: FloatArray
    widths: NDArray[np.floating[Any]] | None


def drift_scores(
    statistic: str,
    counts: NDArray[np.integer[Any]],
    reference: NDArray[np.floating[Any]],
    widths: NDArray[np.floating[Any]] | None = None,
) -> FloatArray:
    """Score each window's bin counts against the reference frequencies.

    Parameters
    ----------
    statistic
        One of :data:`STATISTICS`:

        - ``ks``: binned two-sample Kolmogorov-Smirnov ``D = max_k |P_k - Q_k|`` (cumulative sums).
        - ``psi``: population stability index ``sum (p - q) ln((p + eps) / (q + eps))`` with
          ``eps = EPSILON`` (1e-4), so that empty bins on either side stay finite.
        - ``wasserstein``: earth mover's distance ``sum_k |P_k - Q_k| widths_k`` between the binned
          distributions; in units of the reference standard deviation when ``widths`` are.
        - ``jensen_shannon``: Jensen-Shannon distance with base 2 (square root of the
          divergence), in ``[0, 1]``.
        - ``chi2``: Pearson's ``sum (c - n q)^2 / (n q)`` over bins with ``q > 0``; a bin never
          seen in the reference (``q == 0``) but present in the window counts with ``q = eps``.
    counts
        Integer window bin counts, shape ``(..., K)``.
    reference
        Reference bin frequencies, broadcastable to ``(..., K)``, each row summing to 1.
    widths
        For ``wasserstein`` only: distance between bin ``k`` and bin ``k + 1`` representatives,
        divided by the reference standard deviation; broadcastable to ``(..., K)``, last
        element unused.

    Returns
    -------
    numpy.ndarray
        Scores of shape ``(...)``: 0.0 for identical distributions and for empty windows.

    Raises
    ------
    ValueError
        If ``statistic`` is unknown, or ``widths`` is missing for ``wasserstein``.

    Examples
    --------
    >>> counts = np.array([[50, 30, 20], [30, 30, 40]])
    >>> reference = np.array([0.3, 0.3, 0.4])
    >>> drift_scores("ks", counts, reference).round(4)
    array([0.2, 0. ])
    >>> drift_scores("chi2", counts, reference).round(4)
    array([23.3333,  0.    ])
    >>> drift_scores("wasserstein", counts, reference, np.array([1.0, 1.0, 0.0])).round(4)
    array([0.4, 0. ])
    >>> drift_scores("psi", counts, reference).round(4)
    array([0.2407, 0.    ])
    """
    score = _SCORES.get(statistic)
    if score is None:
        raise ValueError(
            f"unknown drift statistic {statistic!r}; expected one of {', '.join(STATISTICS)}"
        )
    counts = np.asarray(counts)
    n = counts.sum(axis=-1)
    p = counts / np.maximum(n, 1)[..., np.newaxis]
    scores = score(_Binned(counts, n, p, np.asarray(reference, dtype=np.float64), widths))
    return np.where(n > 0, scores, 0.0)


def _cdf_gap(binned: _Binned) -> FloatArray:
    return np.cumsum(binned.p, axis=-1) - np.cumsum(binned.q, axis=-1)


def _ks(binned: _Binned) -> FloatArray:
    return np.abs(_cdf_gap(binned)).max(axis=-1)


def _psi(binned: _Binned) -> FloatArray:
    p, q = binned.p, binned.q
    return ((p - q) * np.log((p + EPSILON) / (q + EPSILON))).sum(axis=-1)


def _wasserstein(binned: _Binned) -> FloatArray:
    if binned.widths is None:
        raise ValueError("the wasserstein statistic needs the bin widths of the reference profile")
    return (np.abs(_cdf_gap(binned)) * binned.widths).sum(axis=-1)


def _jensen_shannon(binned: _Binned) -> FloatArray:
    p, q = binned.p, binned.q
    middle = (p + q) / 2
    divergence = (_relative_entropy(p, middle) + _relative_entropy(q, middle)) / (2 * np.log(2))
    return np.sqrt(np.clip(divergence, 0.0, 1.0))


def _relative_entropy(a: FloatArray, b: FloatArray) -> FloatArray:
    """``sum a ln(a / b)`` with ``0 ln 0 = 0``; needs ``b > 0`` wherever ``a > 0``."""
    present = a > 0
    ratio = np.where(present, a, 1.0) / np.where(present, b, 1.0)
    return (a * np.log(ratio)).sum(axis=-1)


def _chi2(binned: _Binned) -> FloatArray:
    counts = binned.counts
    q = np.where((binned.q == 0) & (counts > 0), EPSILON, binned.q)
    expected = binned.n[..., np.newaxis] * q
    used = expected > 0
    terms = (counts - expected) ** 2 / np.where(used, expected, 1.0)
    return np.where(used, terms, 0.0).sum(axis=-1)


_SCORES: dict[str, Callable[[_Binned], FloatArray]] = {
    "ks": _ks,
    "psi": _psi,
    "wasserstein": _wasserstein,
    "jensen_shannon": _jensen_shannon,
    "chi2": _chi2,
}
