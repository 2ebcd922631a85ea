"""From raw feature dicts to a matrix: the first step of every pipeline the trainer saves.

A saved pipeline scores the same dicts the model receives in production, so serving needs no
feature code of its own. Numbers and booleans become one column each (booleans as 0/1), a text
value becomes a one-hot column ``name=value``; a missing value (absent, ``None`` or NaN) is 0,
and a feature that was missing in some training rows but not all gets a ``name__missing``
indicator column. Values never seen in training (a new category, a new feature) are ignored.

>>> from sklearn.linear_model import LogisticRegression
>>> rows = [{"tenure": 1.0, "plan": "pro"}, {"tenure": 9.0}, {"tenure": 2.0, "plan": "free"}]
>>> pipeline = make_pipeline(LogisticRegression()).fit(rows, [1, 0, 1])
>>> list(pipeline.named_steps["features"].get_feature_names_out())
['plan=free', 'plan=pro', 'tenure', 'plan__missing']
>>> pipeline.predict([{"tenure": 3.0, "plan": "team", "seats": 4}]).shape
(1,)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

__all__ = ["FeatureValue", "FeatureVectorizer", "Features", "make_pipeline"]

FeatureValue = float | int | str | bool | None
Features = Mapping[str, FeatureValue]

MISSING_SUFFIX = "__missing"


def make_pipeline(estimator: Any) -> Pipeline:
    """``estimator`` (an estimator or a pipeline) behind a :class:`FeatureVectorizer`."""
    return Pipeline([("features", FeatureVectorizer()), ("model", estimator)])


class FeatureVectorizer(TransformerMixin, BaseEstimator):
    """Turns a sequence of feature dicts into a dense float matrix (see the module docstring).

    Attributes
    ----------
    columns_ : list of str
        Value columns, sorted: feature names and ``name=value`` one-hot columns.
    missing_indicators_ : list of str
        Features that were missing in some training rows but not all, sorted.
    index_ : dict of str to int
        Column position of each value column and of each ``name__missing`` indicator.

    Examples
    --------
    >>> vectorizer = FeatureVectorizer().fit([{"a": 2, "b": True}, {"b": False, "c": "x"}])
    >>> vectorizer.transform([{"a": 5, "c": "y"}]).tolist()
    [[5.0, 0.0, 0.0, 0.0, 0.0]]
    >>> list(vectorizer.get_feature_names_out())
    ['a', 'b', 'c=x', 'a__missing', 'c__missing']
    """

    def fit(self, X: Sequence[Features], y: object = None) -> FeatureVectorizer:
        encoded = [_encode(row) for row in X]
        present = [_present(row) for row in X]
        ever = set().union(*present)
        always = set.intersection(*present) if present else set()
        self.columns_ = sorted(set().union(*encoded))
        self.missing_indicators_ = sorted(ever - always)
        names = self.columns_ + [name + MISSING_SUFFIX for name in self.missing_indicators_]
        self.index_ = {name: position for position, name in enumerate(names)}
        return self

    def transform(self, X: Sequence[Features]) -> npt.NDArray[np.float64]:
        check_is_fitted(self)
        matrix = np.zeros((len(X), len(self.index_)))
        for i, row in enumerate(X):
            for column, value in _encode(row).items():
                position = self.index_.get(column)
                if position is not None:
                    matrix[i, position] = value
            present = _present(row)
            for name in self.missing_indicators_:
                if name not in present:
                    matrix[i, self.index_[name + MISSING_SUFFIX]] = 1.0
        return matrix

    def get_feature_names_out(self, input_features: object = None) -> npt.NDArray[np.object_]:
        check_is_fitted(self)
        return np.asarray(list(self.index_), dtype=object)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _present(row: Features) -> set[str]:
    return {name for name, value in row.items() if not _is_missing(value)}


def _encode(row: Features) -> dict[str, float]:
    encoded: dict[str, float] = {}
    for name, value in row.items():
        if _is_missing(value):
            continue
        if isinstance(value, str):
            encoded[f"{name}={value}"] = 1.0
        elif isinstance(value, bool | int | float | np.number):
            encoded[name] = float(value)
        else:
            raise TypeError(
                f"feature {name!r} has unsupported type {type(value).__name__}: "
                "use a number, a boolean, a string or None"
            )
    return encoded
