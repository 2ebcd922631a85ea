"""Seeded binary streams with delayed labels for the estimation benchmark (benchmarks.estimation).

The world: six standard normal features and a logistic concept,
``P(y=1 | x) = sigmoid(2 x0 - 1.5 x1 + x2 x3 + 0.3)``. A scikit-learn
``HistGradientBoostingClassifier`` is trained on ``TRAIN_ROWS`` rows of it; its raw scores on
``REFERENCE_ROWS`` further rows and their labels fit the isotonic
:class:`~driftwarden.core.calibration.Calibration` (and are NannyML's reference). The production
stream has ``events`` predictions, one a second on average (exponential gaps), each labelled
``LABEL_DELAY_S`` of event time later; its first half is drawn like the reference, its second half
is changed by the scenario:

- ``covariate``: x0 and x1 shrink to 35% of their spread, so the inputs crowd the decision
  boundary; ``P(y | x)`` is unchanged, so the calibration holds and the estimate should track;
- ``prior``: the positive share falls to 20% by rejection sampling by class (``P(x | y)`` is kept,
  so ``P(y | x)`` and the calibration change: CBPE's assumption does not hold);
- ``concept``: the sign of x1 in the concept flips (``P(y | x)`` changes, the inputs do not):
  the model stays confident and wrong, which no label-free estimate can see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier

from driftwarden.core.calibration import Calibration

SCENARIOS = ("covariate", "prior", "concept")
FEATURES = 6
TRAIN_ROWS = 10_000
REFERENCE_ROWS = 10_000
LABEL_DELAY_S = 3600.0
MEAN_GAP_S = 1.0
SHRINK = 0.35
PRIOR_AFTER = 0.2

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Scored:
    """Predictions of the model: raw positive-class scores, decisions and (eventual) labels."""

    score: Floats
    predicted: Bools
    actual: Bools


@dataclass(frozen=True)
class Stream:
    """One scenario's production stream and what the reference gives the estimators."""

    name: str
    reference: Scored
    production: Scored
    calibrated: Floats  # P(positive) of the production scores through the fitted calibration
    event_time_s: Floats  # each prediction's event time; its label lands LABEL_DELAY_S later
    change: int  # index of the first changed prediction


def build_streams(events: int, seed: int) -> list[Stream]:
    """The three scenarios, sharing one trained model, reference and unchanged first half."""
    rng = np.random.default_rng(seed)
    x_train, y_train = _draw(rng, TRAIN_ROWS, flipped=False)
    model = HistGradientBoostingClassifier(max_iter=150, random_state=seed)
    model.fit(x_train, y_train)
    x_ref, y_ref = _draw(rng, REFERENCE_ROWS, flipped=False)
    reference = _scored(model, x_ref, y_ref)
    calibration = Calibration.fit(
        np.column_stack([1 - reference.score, reference.score]), y_ref.astype(int), ["0", "1"]
    )
    change = events // 2
    x_before, y_before = _draw(rng, change, flipped=False)
    gaps = rng.exponential(MEAN_GAP_S, events)
    event_time_s = np.cumsum(gaps)
    streams = []
    for index, name in enumerate(SCENARIOS):
        x_after, y_after = _changed(name, np.random.default_rng([seed, index]), events - change)
        production = _scored(
            model, np.vstack([x_before, x_after]), np.concatenate([y_before, y_after])
        )
        calibrated = calibration.apply(np.column_stack([1 - production.score, production.score]))
        streams.append(Stream(name, reference, production, calibrated[:, 1], event_time_s, change))
    return streams


def _concept(x: Floats, *, flipped: bool) -> Floats:
    sign = 1.0 if flipped else -1.0
    logit = 2.0 * x[:, 0] + sign * 1.5 * x[:, 1] + x[:, 2] * x[:, 3] + 0.3
    return np.asarray(1.0 / (1.0 + np.exp(-logit)), dtype=np.float64)


def _draw(
    rng: np.random.Generator, rows: int, *, flipped: bool, shrink: float = 1.0
) -> tuple[Floats, Bools]:
    x = rng.standard_normal((rows, FEATURES))
    x[:, :2] *= shrink
    return x, rng.random(rows) < _concept(x, flipped=flipped)


def _changed(name: str, rng: np.random.Generator, rows: int) -> tuple[Floats, Bools]:
    if name == "covariate":
        return _draw(rng, rows, flipped=False, shrink=SHRINK)
    if name == "concept":
        return _draw(rng, rows, flipped=True)
    # Prior shift: keep every negative and a share of the positives, until enough rows.
    x, y = _draw(rng, 8 * rows, flipped=False)
    base = float(y.mean())
    keep_positive = PRIOR_AFTER * (1 - base) / ((1 - PRIOR_AFTER) * base)
    kept = ~y | (rng.random(y.size) < keep_positive)
    if kept.sum() < rows:
        raise RuntimeError("prior shift: too few rows kept; raise the oversampling factor")
    return x[kept][:rows], y[kept][:rows]


def _scored(model: HistGradientBoostingClassifier, x: Floats, y: Bools) -> Scored:
    score = np.asarray(model.predict_proba(x)[:, 1], dtype=np.float64)
    return Scored(score, score >= 0.5, y)
