"""Isotonic calibration of a classifier's scores, stored as breakpoints (plain JSON, no pickle).

Confidence-based performance estimation needs probabilities that mean what they say: of the
predictions scored 0.8, about 80% should be positive. A :class:`Calibration` is fitted on the
reference data's scores and labels with scikit-learn's ``IsotonicRegression`` and kept only as
the fitted map's breakpoints; applying it is ``np.interp`` between them, so a stored calibration
needs no scikit-learn object and reading one back runs no code.

Binary models get one map, on the positive class's score (the last column); multiclass models one
map per class, the calibrated rows renormalised to sum to 1.

>>> scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
>>> calibration = Calibration.fit(scores, np.array([0, 0, 1, 0, 1]), ["no", "yes"])
>>> calibration.apply(np.array([[0.15, 0.85], [0.95, 0.05]])).round(2).tolist()
[[0.0, 1.0], [1.0, 0.0]]
>>> Calibration.from_doc(calibration.to_doc()) == calibration
True
>>> try:
...     Calibration.from_doc({"method": "isotonic", "classes": ["no"], "maps": []})
... except ProfileError as exc:
...     print(exc)
calibration.classes: needs at least 2 classes, got 1
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from driftwarden.core.columns import Column, as_floats, is_missing
from driftwarden.core.errors import ProfileError
from driftwarden.core.tasks import class_key

__all__ = [
    "MAX_BREAKPOINTS",
    "MAX_CLASSES",
    "Calibration",
    "CalibrationMap",
    "calibration_from_columns",
]

# A stored map keeps at most this many breakpoints (a fitted map with more is thinned, which
# keeps it monotone); a document with more is refused.
MAX_BREAKPOINTS = 1000
MAX_CLASSES = 100
_METHOD = "isotonic"


@dataclass(frozen=True)
class CalibrationMap:
    """A monotone piecewise-linear map from a raw score to a probability, flat outside."""

    scores: tuple[float, ...]
    probabilities: tuple[float, ...]

    def __call__(self, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.interp(raw, self.scores, self.probabilities)

    @classmethod
    def fitted(
        cls, raw: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]
    ) -> CalibrationMap:
        """The isotonic regression of ``positive`` on ``raw``, as at most MAX_BREAKPOINTS points."""
        # Imported here: only fitting needs scikit-learn; the monitor only applies stored maps.
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        model.fit(raw, positive.astype(np.float64))
        xs = np.asarray(model.X_thresholds_, dtype=np.float64)
        ys = np.asarray(model.y_thresholds_, dtype=np.float64)
        if xs.size > MAX_BREAKPOINTS:
            keep = np.unique(np.linspace(0, xs.size - 1, MAX_BREAKPOINTS).round().astype(int))
            xs, ys = xs[keep], ys[keep]
        return cls(tuple(float(x) for x in xs), tuple(float(y) for y in ys))


@dataclass(frozen=True)
class Calibration:
    """Calibrated class probabilities from raw scores: columns in the order of ``classes``."""

    classes: tuple[str, ...]
    maps: tuple[CalibrationMap, ...]

    @classmethod
    def fit(
        cls, scores: npt.ArrayLike, labels: npt.ArrayLike, classes: Sequence[str]
    ) -> Calibration:
        """Fit on raw ``scores`` (n, k) and ``labels``, class indices into ``classes`` (n,)."""
        matrix = _score_matrix(scores, len(classes))
        indices = np.asarray(labels)
        if indices.shape != (matrix.shape[0],) or not matrix.shape[0]:
            raise ProfileError(
                f"calibration: {indices.shape} labels for {matrix.shape[0]} score rows"
            )
        if np.any((indices < 0) | (indices >= len(classes))):
            raise ProfileError("calibration: a label index is outside the classes")
        columns = [len(classes) - 1] if len(classes) == 2 else range(len(classes))
        maps = tuple(CalibrationMap.fitted(matrix[:, c], indices == c) for c in columns)
        return cls(tuple(str(c) for c in classes), maps)

    def apply(self, scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Calibrated probabilities (n, k) of raw ``scores`` (n, k); each row sums to 1."""
        matrix = _score_matrix(scores, len(self.classes))
        if len(self.classes) == 2:
            positive = self.maps[0](matrix[:, 1])
            return np.column_stack([1.0 - positive, positive])
        calibrated = np.column_stack([m(matrix[:, c]) for c, m in enumerate(self.maps)])
        totals = calibrated.sum(axis=1, keepdims=True)
        uniform = np.full_like(calibrated, 1.0 / len(self.classes))
        safe = np.where(totals > 0, totals, 1.0)
        return np.where(totals > 0, calibrated / safe, uniform)

    def to_doc(self) -> dict[str, Any]:
        """The JSON document :meth:`from_doc` reads."""
        return {
            "method": _METHOD,
            "classes": list(self.classes),
            "maps": [
                {"scores": list(m.scores), "probabilities": list(m.probabilities)}
                for m in self.maps
            ],
        }

    @classmethod
    def from_doc(cls, doc: object, *, path: str = "calibration") -> Calibration:
        """Read a document written by anyone: :class:`ProfileError` names the offending key."""
        if not isinstance(doc, Mapping):
            raise ProfileError(f"{path}: must be an object")
        if doc.get("method") != _METHOD:
            raise ProfileError(f"{path}.method: must be {_METHOD!r}, got {doc.get('method')!r}")
        classes = doc.get("classes")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ProfileError(f"{path}.classes: must be a list of class names")
        if not 2 <= len(classes) <= MAX_CLASSES:
            raise ProfileError(
                f"{path}.classes: needs at least 2 classes, got {len(classes)}"
                if len(classes) < 2
                else f"{path}.classes: at most {MAX_CLASSES} classes, got {len(classes)}"
            )
        if len(set(classes)) != len(classes):
            raise ProfileError(f"{path}.classes: repeats a class")
        maps = doc.get("maps")
        expected = 1 if len(classes) == 2 else len(classes)
        if not isinstance(maps, list) or len(maps) != expected:
            raise ProfileError(f"{path}.maps: must be a list of {expected} maps")
        return cls(
            tuple(classes), tuple(_map_from(m, f"{path}.maps[{i}]") for i, m in enumerate(maps))
        )


def calibration_from_columns(labels: Column, scores: Mapping[str, Column]) -> Calibration:
    """Fit on table columns: ``scores`` maps a class to its score column.

    A binary model may give the positive class's score alone (the other class is then the
    label's other value, scored ``1 - s``); otherwise every class of the labels needs a column.
    Rows with a missing label or score are left out.

    >>> c = calibration_from_columns([1, 0, 1, 0], {"1": [0.9, 0.2, 0.7, 0.4]})
    >>> c.classes
    ('0', '1')
    """
    keys = [None if is_missing(v) else class_key(v) for v in labels]
    seen = sorted({k for k in keys if k is not None})
    names = [class_key(name) for name in scores]
    columns = [as_floats(column) for column in scores.values()]
    if len(names) == 1 and len(seen) == 2 and names[0] in seen:
        classes = [next(c for c in seen if c != names[0]), names[0]]
        columns = [1.0 - columns[0], columns[0]]
    else:
        classes = names
        if missing := [c for c in seen if c not in classes]:
            raise ProfileError(f"calibration: no score column for the label classes {missing}")
    matrix = np.column_stack(columns)
    index = {name: i for i, name in enumerate(classes)}
    present = np.array([k is not None for k in keys]) & ~np.isnan(matrix).any(axis=1)
    if not present.any():
        raise ProfileError("calibration: no row has a label and every score")
    targets = np.array([index[k] for k, ok in zip(keys, present, strict=True) if ok and k])
    return Calibration.fit(matrix[present], targets, classes)


def _map_from(doc: object, path: str) -> CalibrationMap:
    if not isinstance(doc, Mapping):
        raise ProfileError(f"{path}: must be an object")
    scores = _numbers(doc.get("scores"), f"{path}.scores")
    probabilities = _numbers(doc.get("probabilities"), f"{path}.probabilities")
    if len(scores) != len(probabilities):
        raise ProfileError(
            f"{path}.probabilities: has {len(probabilities)} entries, expected {len(scores)}"
        )
    if any(b < a for a, b in zip(scores, scores[1:], strict=False)):
        raise ProfileError(f"{path}.scores: must be non-decreasing")
    if any(b < a for a, b in zip(probabilities, probabilities[1:], strict=False)):
        raise ProfileError(f"{path}.probabilities: must be non-decreasing")
    if probabilities[0] < 0 or probabilities[-1] > 1:
        raise ProfileError(f"{path}.probabilities: must lie in [0, 1]")
    return CalibrationMap(scores, probabilities)


def _numbers(value: object, path: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BREAKPOINTS:
        raise ProfileError(f"{path}: must be a list of 1 to {MAX_BREAKPOINTS} numbers")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise ProfileError(f"{path}: {item!r} is not a finite number")
        out.append(float(item))
    return tuple(out)


def _score_matrix(scores: npt.ArrayLike, k: int) -> npt.NDArray[np.float64]:
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != k:
        raise ProfileError(f"calibration: scores of shape {matrix.shape}, expected (n, {k})")
    return matrix
