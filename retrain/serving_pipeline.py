"""A trained pipeline without driftwarden's classes, for model servers that load it from MLflow.

A trained pipeline starts with :class:`~driftwarden.retrain.features.FeatureVectorizer`, so loading
it needs driftwarden. :func:`frame_pipeline` rebuilds the same model from scikit-learn parts
only, over a pandas data frame of the feature columns: one ``ColumnTransformer`` part per column
of the fitted vectorizer, in its order (a number: ``SimpleImputer`` with 0 for a missing value; a
``name=value`` column: ``OneHotEncoder`` of that one value, 0 for anything else; a ``name__missing``
indicator: ``MissingIndicator``), then the same fitted estimator. A missing value is NaN or
``None`` in a text column, or NaN in a numeric one; every feature column must be present (the
logged signature lists them). Its predictions are the original's. A pipeline that does not
start with the vectorizer, or a feature that was both a number and a text, cannot be rebuilt:
:func:`frame_pipeline` returns ``None`` and the original is logged.

:func:`dict_scorer` wraps a rebuilt pipeline back into one that scores feature dicts, as
driftwarden's own callers (runs, gates, ``reproduce``) do.

>>> from sklearn.linear_model import LogisticRegression
>>> from driftwarden.retrain.features import make_pipeline
>>> rows = [{"tenure": 1.0, "plan": "pro"}, {"tenure": 9.0}, {"tenure": 2.0, "plan": "free"}]
>>> pipeline = make_pipeline(LogisticRegression()).fit(rows, [1, 0, 1])
>>> served = frame_pipeline(pipeline)
>>> served.features
('plan', 'tenure')
>>> dict_scorer(served).predict(rows).tolist() == pipeline.predict(rows).tolist()
True
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from driftwarden.retrain.features import FeatureVectorizer

__all__ = [
    "FeatureFrame",
    "FramePipeline",
    "dict_scorer",
    "frame_pipeline",
    "scoring_feature_dicts",
    "serving_types",
]


@dataclass(frozen=True)
class FramePipeline:
    """A scikit-learn-only pipeline over a data frame of ``features`` (in that column order)."""

    pipeline: Pipeline
    features: tuple[str, ...]


def frame_pipeline(pipeline: object) -> FramePipeline | None:
    """``pipeline`` rebuilt from scikit-learn parts, or ``None`` when it cannot be."""
    steps = getattr(pipeline, "named_steps", None)
    if not isinstance(pipeline, Pipeline) or steps is None or len(pipeline.steps) != 2:
        return None
    vectorizer, estimator = steps.get("features"), steps.get("model")
    if not isinstance(vectorizer, FeatureVectorizer) or estimator is None:
        return None
    parts: list[tuple[str, Any, list[str]]] = []
    values: dict[str, set[str]] = {}  # feature -> "number" and/or its one-hot values
    for column in vectorizer.columns_:  # the vectorizer's order: value columns, indicators
        name, equals, value = column.partition("=")
        if equals:
            values.setdefault(name, set()).add("text")
            encoder = OneHotEncoder(
                categories=[[value]], handle_unknown="ignore", sparse_output=False
            )
            parts.append((f"c{len(parts)}", encoder, [name]))
        else:
            values.setdefault(column, set()).add("number")
            imputer = SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True)
            parts.append((f"c{len(parts)}", imputer, [column]))
    for feature in vectorizer.missing_indicators_:
        parts.append((f"c{len(parts)}", MissingIndicator(features="all"), [feature]))
    if any(len(kinds) > 1 for kinds in values.values()):
        return None  # a feature seen as a number and as a text: no one column type fits it
    features = tuple(sorted({*values, *vectorizer.missing_indicators_}))
    transformer = ColumnTransformer(parts, sparse_threshold=0.0)
    transformer.fit(_example_frame(features, vectorizer.columns_))
    return FramePipeline(Pipeline([("features", transformer), ("model", estimator)]), features)


def dict_scorer(served: FramePipeline) -> Pipeline:
    """``served`` behind a step that turns feature dicts into its data frame."""
    return Pipeline([("frame", FeatureFrame(served.features)), ("served", served.pipeline)])


def scoring_feature_dicts(loaded: Any) -> Any:
    """A loaded MLflow model as driftwarden scores: a rebuilt pipeline (its first step a
    ``ColumnTransformer`` fitted on a data frame) behind :class:`FeatureFrame`; any other as is."""
    first = loaded.steps[0][1] if isinstance(loaded, Pipeline) and loaded.steps else None
    names = getattr(first, "feature_names_in_", None)
    if not isinstance(first, ColumnTransformer) or names is None:
        return loaded
    features = tuple(str(name) for name in names)
    return dict_scorer(FramePipeline(loaded, features))


class FeatureFrame(TransformerMixin, BaseEstimator):
    """Feature dicts (or a data frame) to a data frame of exactly ``features``; stateless."""

    def __init__(self, features: tuple[str, ...] = ()) -> None:
        self.features = features

    def fit(self, X: object, y: object = None) -> FeatureFrame:
        return self

    def transform(self, X: Sequence[dict[str, Any]]) -> Any:
        import pandas as pd

        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(list(X))
        frame = frame.reindex(columns=list(self.features))
        return frame.astype(object).where(frame.notna(), np.nan)

    def __sklearn_is_fitted__(self) -> bool:
        return True


@functools.cache
def serving_types() -> frozenset[str]:
    """The types a rebuilt pipeline's skops file names beyond skops' defaults (found by
    rebuilding a small pipeline here, never read from a file being checked)."""
    from sklearn.dummy import DummyClassifier

    from driftwarden.retrain.features import make_pipeline

    rows = [{"n": 1.0, "t": "a"}, {"n": 2.0}, {"t": "b"}]
    served = frame_pipeline(make_pipeline(DummyClassifier()).fit(rows, [0, 1, 0]))
    assert served is not None  # noqa: S101 - a fixed pipeline that rebuilds
    return frozenset(sio.get_untrusted_types(data=sio.dumps(served.pipeline)))


def _example_frame(features: tuple[str, ...], columns: list[str]) -> Any:
    """A frame with a value of every column (fitting the parts reads only their column names
    and types: nothing of the training data is in them)."""
    import pandas as pd

    row: dict[str, Any] = {}
    for column in columns:
        name, equals, value = column.partition("=")
        row[name] = value if equals else 0.0
    return pd.DataFrame([row, {}], columns=list(features))
