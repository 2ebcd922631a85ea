"""From raw feature dicts to a matrix: the first step of every pipeline the trainer saves.

A saved pipeline scores the same dicts the model receives in production, so serving needs no
feature code of its own. Numbers and booleans become one column each (booleans as 0/1), a text
value becomes a one-hot column ``name=value``; a missing value (absent, ``None`` or NaN) is 0,
and a feature that was missing in some training rows but not all gets a ``name__missing``
indicator column. Values never seen in training (a new category, a new feature) are ignored.

Bounded, so that one example cannot blow up a run: with ``features`` (the model's declared
features) every other feature is ignored, and with ``max_columns`` at most that many columns are
kept. Over the cap, features are ranked by the number of rows that have them (ties by name) and
their columns taken in that order, each feature's one-hot columns by their row counts, then its
missing indicator; the rest are dropped and counted in ``dropped_columns_``.

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
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
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


def make_pipeline(
    estimator: Any, features: Collection[str] = (), max_columns: int | None = None
) -> Pipeline:
    """``estimator`` (an estimator or a pipeline) behind a :class:`FeatureVectorizer` that uses
    only ``features`` (all when empty) and at most ``max_columns`` columns (any when None)."""
    vectorizer = FeatureVectorizer(tuple(sorted(features)) or None, max_columns)
    return Pipeline([("features", vectorizer), ("model", estimator)])


class FeatureVectorizer(TransformerMixin, BaseEstimator):
    """Turns a sequence of feature dicts into a dense float matrix (see the module docstring).

    Parameters
    ----------
    features : tuple of str, optional
        The only features to use; all when None.
    max_columns : int, optional
        The most columns (value columns and missing indicators) to keep; any number when None.

    Attributes
    ----------
    columns_ : list of str
        Value columns, sorted: feature names and ``name=value`` one-hot columns.
    missing_indicators_ : list of str
        Features that were missing in some training rows but not all, sorted.
    index_ : dict of str to int
        Column position of each value column and of each ``name__missing`` indicator.
    dropped_columns_ : int
        Columns left out to stay within ``max_columns``.

    Examples
    --------
    >>> vectorizer = FeatureVectorizer().fit([{"a": 2, "b": True}, {"b": False, "c": "x"}])
    >>> vectorizer.transform([{"a": 5, "c": "y"}]).tolist()
    [[5.0, 0.0, 0.0, 0.0, 0.0]]
    >>> list(vectorizer.get_feature_names_out())
    ['a', 'b', 'c=x', 'a__missing', 'c__missing']
    >>> rows = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "junk": 1}]
    >>> capped = FeatureVectorizer(max_columns=3).fit(rows)
    >>> list(capped.get_feature_names_out()), capped.dropped_columns_
    (['a', 'b=x', 'b=y'], 3)
    """

    def __init__(
        self, features: tuple[str, ...] | None = None, max_columns: int | None = None
    ) -> None:
        self.features = features
        self.max_columns = max_columns

    def fit(self, X: Sequence[Features], y: object = None) -> FeatureVectorizer:
        if self.max_columns is not None and self.max_columns < 1:
            raise ValueError(f"max_columns must be at least 1, got {self.max_columns!r}")
        declared = None if self.features is None else frozenset(self.features)
        rows = 0
        present: Counter[str] = Counter()  # feature -> rows that have it
        support: Counter[str] = Counter()  # value column -> rows that set it
        columns_of: dict[str, set[str]] = {}  # feature -> its value columns
        for row in X:
            rows += 1
            for name, column in _columns(row, declared):
                present[name] += 1
                support[column] += 1
                columns_of.setdefault(name, set()).add(column)
        missing = {name for name, count in present.items() if count < rows}
        columns, indicators = set(support), missing
        total = len(columns) + len(indicators)
        if self.max_columns is not None and total > self.max_columns:
            columns, indicators = _most_used(
                present, support, columns_of, missing, self.max_columns
            )
        self.columns_ = sorted(columns)
        self.missing_indicators_ = sorted(indicators)
        self.dropped_columns_ = total - len(columns) - len(indicators)
        names = self.columns_ + [name + MISSING_SUFFIX for name in self.missing_indicators_]
        self.index_ = {name: position for position, name in enumerate(names)}
        return self

    def transform(self, X: Sequence[Features]) -> npt.NDArray[np.float64]:
        """The matrix of ``X``: feature dicts, or a data frame of feature columns (as MLflow's
        ``pyfunc`` flavour passes them)."""
        check_is_fitted(self)
        if hasattr(X, "to_dict"):  # a pandas DataFrame: its rows as feature dicts
            X = X.to_dict("records")
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


def _columns(row: Features, declared: frozenset[str] | None) -> Iterator[tuple[str, str]]:
    """``(feature, value column)`` of each present feature of ``row`` (declared ones only)."""
    for name, value in row.items():
        if _is_missing(value) or (declared is not None and name not in declared):
            continue
        yield name, f"{name}={value}" if isinstance(value, str) else name


def _most_used(
    present: Counter[str],
    support: Counter[str],
    columns_of: dict[str, set[str]],
    missing: set[str],
    limit: int,
) -> tuple[set[str], set[str]]:
    """The first ``limit`` columns in rank order (see the module docstring): value columns and
    the features whose missing indicators are kept."""
    columns: set[str] = set()
    indicators: set[str] = set()
    room = limit
    for name in sorted(present, key=lambda n: (-present[n], n)):
        ranked = sorted(columns_of[name], key=lambda c: (-support[c], c))
        columns.update(ranked[:room])
        room -= min(room, len(ranked))
        if room and name in missing:
            indicators.add(name)
            room -= 1
        if not room:
            break
    return columns, indicators


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
