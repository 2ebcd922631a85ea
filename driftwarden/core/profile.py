"""Reference profile of a model version: a constant-size summary of its training data.

The drift checks compare live traffic against it. A numeric column is summarized by quantile
bins, a categorical one by its most frequent categories plus "other"; production code bins live
values with the profile's own ``bin_indices`` so that both sides count exactly alike. The JSON
document (parsing, validation, files) lives in :mod:`driftwarden.core.profile_json`, which
imports this module (never the other way round).

>>> profile = build_profile(
...     "churn",
...     {"tenure": [1.0, 2.0, 3.0, 4.0], "plan": ["pro", "free", "pro", None], "y": [1, 0, 1, 1]},
...     label="y",
...     bins=2,
... )
>>> profile.features["tenure"].edges, profile.features["tenure"].frequencies
((3.0,), (0.5, 0.5))
>>> plan = profile.features["plan"]
>>> plan.categories, plan.frequencies, plan.missing_rate
(('pro', 'free'), (0.666..., 0.333..., 0.0), 0.25)
>>> from driftwarden.core.profile_json import profile_from_dict
>>> profile_from_dict(profile.to_dict()) == profile
True
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from driftwarden.core.calibration import Calibration, calibration_from_columns
from driftwarden.core.columns import (
    Column,
    as_floats,
    distinct,
    has_fractions,
    is_missing,
    is_numeric,
    typed,
)
from driftwarden.core.errors import ProfileError
from driftwarden.core.tasks import FeatureType, Task, class_key

__all__ = [
    "SCHEMA_VERSION",
    "CategoricalProfile",
    "FeatureProfile",
    "NumericProfile",
    "ReferenceProfile",
    "build_profile",
    "category_key",
]

SCHEMA_VERSION = 1

_SUM_TOLERANCE = 1e-6


def category_key(value: object) -> str:
    """Canonical category name of a feature value.

    >>> [category_key(v) for v in (True, 1, 1.0, 2.5, "pro")]
    ['true', '1', '1', '2.5', 'pro']
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, kw_only=True)
class NumericProfile:
    """Distribution of a numeric column over quantile bins.

    ``edges`` are the inner edges of the bins; bin ``i`` holds ``edges[i-1] <= x < edges[i]``.
    ``frequencies`` has one entry per bin and sums to 1 over the ``count`` non-missing rows.

    >>> p = NumericProfile.from_values([1, 2, 3, 4, None], bins=2)
    >>> p.count, p.missing_rate, p.edges, p.frequencies
    (4, 0.2, (3.0,), (0.5, 0.5))
    >>> p.bin_indices(np.array([-5.0, 2.9, 3.0, 99.0])).tolist()
    [0, 0, 1, 1]
    """

    count: int
    missing_rate: float
    mean: float
    std: float
    min: float
    max: float
    edges: tuple[float, ...]
    frequencies: tuple[float, ...]

    @classmethod
    def from_values(cls, values: Column, *, bins: int = 20) -> NumericProfile:
        """Profile ``values`` with at most ``bins`` bins.

        Edges are the observed values at the quantiles ``i / bins`` (``method="higher"``),
        de-duplicated and above the minimum, so no bin is empty: a discrete column gets fewer
        bins. Missing, infinite and non-number values (strings, bools) count as missing; ``std``
        is the population standard deviation.
        """
        if bins < 1:
            raise ProfileError(f"bins must be at least 1, got {bins}")
        floats = as_floats(values)
        present = floats[~np.isnan(floats)]
        if not present.size:
            raise ProfileError(f"no numeric values among {floats.size} rows")
        quantiles = np.quantile(present, np.arange(1, bins) / bins, method="higher")
        edges = np.unique(quantiles)
        edges = edges[edges > present.min()]
        counts = np.bincount(
            np.searchsorted(edges, present, side="right"), minlength=edges.size + 1
        )
        return cls(
            count=int(present.size),
            missing_rate=(floats.size - present.size) / floats.size,
            mean=float(present.mean()),
            std=float(present.std()),
            min=float(present.min()),
            max=float(present.max()),
            edges=tuple(edges.tolist()),
            frequencies=tuple((counts / present.size).tolist()),
        )

    @cached_property
    def _edges(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.edges, dtype=np.float64)

    def bin_indices(self, values: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
        """Bin (0 to ``len(edges)``) of each value; drop missing values first (NaN bins last)."""
        return np.searchsorted(self._edges, values, side="right")

    def to_dict(self) -> dict[str, Any]:
        return {"type": FeatureType.NUMERIC.value, **_plain(self)}


@dataclass(frozen=True, kw_only=True)
class CategoricalProfile:
    """Distribution of a categorical column over its top categories plus "other".

    ``frequencies`` has ``len(categories) + 1`` entries; the last one is "other".

    >>> p = CategoricalProfile.from_values(["b", "a", "b", "c", None], top_k=2)
    >>> p.categories, p.frequencies, p.missing_rate
    (('b', 'a'), (0.5, 0.25, 0.25), 0.2)
    >>> p.bin_indices(["a", "b", "zzz"]).tolist()
    [1, 0, 2]
    """

    count: int
    missing_rate: float
    categories: tuple[str, ...]
    frequencies: tuple[float, ...]

    @classmethod
    def from_values(
        cls, values: Column, *, top_k: int = 50, key: Callable[[Any], str] = category_key
    ) -> CategoricalProfile:
        """Profile ``values`` by their canonical names ``key(value)``.

        ``None`` and NaN are missing. The ``top_k`` most frequent categories are kept, ties
        broken by name. Use ``driftwarden.core.tasks.class_key`` for a classifier's targets.
        """
        if top_k < 1:
            raise ProfileError(f"top_k must be at least 1, got {top_k}")
        counts: Counter[str] = Counter()
        missing = 0
        for value, n in distinct(values):
            if is_missing(value):
                missing += n
            else:
                counts[key(value)] += n
        count = len(values) - missing
        if not count:
            raise ProfileError(f"no values among {len(values)} rows")
        top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top_k]
        other = count - sum(n for _, n in top)
        return cls(
            count=count,
            missing_rate=missing / len(values),
            categories=tuple(name for name, _ in top),
            frequencies=(*(n / count for _, n in top), other / count),
        )

    @cached_property
    def _index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.categories)}

    def bin_indices(self, keys: Sequence[str]) -> npt.NDArray[np.intp]:
        """Index of each canonical name in ``categories``, ``len(categories)`` for "other"."""
        index, other = self._index, len(self.categories)
        return np.fromiter((index.get(k, other) for k in keys), dtype=np.intp, count=len(keys))

    def to_dict(self) -> dict[str, Any]:
        return {"type": FeatureType.CATEGORICAL.value, **_plain(self)}


FeatureProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True, kw_only=True)
class ReferenceProfile:
    """What one model version's training data looked like; see :func:`build_profile`."""

    schema: int = SCHEMA_VERSION
    model: str
    version: str | None
    created_at: str
    rows: int
    features: dict[str, FeatureProfile]
    prediction: FeatureProfile | None
    label: FeatureProfile | None
    performance: dict[str, float] | None
    source: dict[str, object] | None
    # Isotonic calibration of the model's scores on this data (performance estimation); None:
    # the scores were not given, estimation uses them raw. Written only when present.
    calibration: Calibration | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready document (schema 1; ``calibration`` is an optional key)."""
        doc = {
            "schema": self.schema,
            "model": self.model,
            "version": self.version,
            "created_at": self.created_at,
            "rows": self.rows,
            "features": {name: p.to_dict() for name, p in self.features.items()},
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "label": None if self.label is None else self.label.to_dict(),
            "performance": None if self.performance is None else dict(self.performance),
            "source": None if self.source is None else dict(self.source),
        }
        if self.calibration is not None:
            doc["calibration"] = self.calibration.to_doc()
        return doc


def build_profile(
    model: str,
    columns: Mapping[str, Column],
    feature_types: Mapping[str, str] | None = None,
    *,
    label: str | None = None,
    prediction: str | None = None,
    task: str | None = None,
    version: str | None = None,
    bins: int = 20,
    top_k: int = 50,
    source: dict[str, object] | None = None,
    scores: Mapping[str, Column] | None = None,
) -> ReferenceProfile:
    """Profile the training data in ``columns`` (name -> values, ``None`` or NaN if missing).

    ``feature_types`` (name -> "numeric" | "categorical") selects and types the features;
    without it every column but the label and prediction is a feature, numeric when all its
    values are numbers (not bools). Categorical features use :func:`category_key`. Label and
    prediction are numeric for a regression and categorical by ``class_key`` otherwise; without
    ``task`` a target with fractional values means regression. ``scores`` (class -> the model's
    score of that class, per row) with a ``label`` records an isotonic :class:`Calibration` of
    the scores (see :func:`~driftwarden.core.calibration.calibration_from_columns`). Raises
    :class:`ProfileError` when a named column is absent or a profiled column has no usable value.
    """
    rows = _row_count(columns)
    for role, name in (("label", label), ("prediction", prediction)):
        if name is not None:
            _require_column(columns, name, f"{role} column")
    features = {
        name: _column_profile(name, columns[name], kind, category_key, bins, top_k)
        for name, kind in _feature_kinds(columns, feature_types, {label, prediction}).items()
    }
    regression = _is_regression(task, [columns[n] for n in (label, prediction) if n is not None])
    target_kind = FeatureType.NUMERIC if regression else FeatureType.CATEGORICAL

    def target(name: str | None) -> FeatureProfile | None:
        if name is None:
            return None
        return _column_profile(name, columns[name], target_kind, class_key, bins, top_k)

    performance = None
    if label is not None and prediction is not None:
        performance = _performance(columns[label], columns[prediction], regression)
    return ReferenceProfile(
        model=model,
        version=version,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        rows=rows,
        features=features,
        prediction=target(prediction),
        label=target(label),
        performance=performance,
        source=source,
        calibration=(
            calibration_from_columns(columns[label], scores) if scores and label else None
        ),
    )


def _row_count(columns: Mapping[str, Column]) -> int:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        sizes = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ProfileError(f"columns differ in length: {sizes}")
    rows = next(iter(lengths.values()), 0)
    if not rows:
        raise ProfileError("no rows to profile")
    return rows


def _require_column(columns: Mapping[str, Column], name: str, what: str) -> None:
    if name not in columns:
        raise ProfileError(f"{what} {name!r} not found; available columns: {', '.join(columns)}")


def _feature_kinds(
    columns: Mapping[str, Column], feature_types: Mapping[str, str] | None, targets: set[str | None]
) -> dict[str, FeatureType]:
    if feature_types is None:
        return {
            name: FeatureType.NUMERIC if is_numeric(values) else FeatureType.CATEGORICAL
            for name, values in columns.items()
            if name not in targets
        }
    kinds: dict[str, FeatureType] = {}
    for name, kind in feature_types.items():
        _require_column(columns, name, "feature")
        try:
            kinds[name] = FeatureType(kind)
        except ValueError:
            raise ProfileError(
                f"feature {name!r}: unknown type {kind!r}; use {_choices(FeatureType)}"
            ) from None
    return kinds


def _is_regression(task: str | None, targets: list[Column]) -> bool:
    if task is None:
        return any(has_fractions(values) for values in targets)
    try:
        return Task(task) is Task.REGRESSION
    except ValueError:
        raise ProfileError(f"unknown task {task!r}; use {_choices(Task)}") from None


def _choices(enum: type[FeatureType] | type[Task]) -> str:
    return " or ".join(repr(member.value) for member in enum)


def _column_profile(
    name: str,
    values: Column,
    kind: FeatureType,
    key: Callable[[Any], str],
    bins: int,
    top_k: int,
) -> FeatureProfile:
    try:
        if kind is FeatureType.NUMERIC:
            return NumericProfile.from_values(values, bins=bins)
        return CategoricalProfile.from_values(values, top_k=top_k, key=key)
    except ProfileError as exc:
        raise ProfileError(f"column {name!r}: {exc}") from None


def _performance(labels: Column, predictions: Column, regression: bool) -> dict[str, float] | None:
    """Accuracy, or MAE and RMSE, over the rows where both label and prediction are present."""
    if regression:
        y, p = as_floats(labels), as_floats(predictions)
        errors = (y - p)[~(np.isnan(y) | np.isnan(p))]
        if not errors.size:
            return None
        return {
            "mae": float(np.mean(np.abs(errors))),
            "rmse": float(np.sqrt(np.mean(errors**2))),
        }
    return _accuracy(labels, predictions)


def _accuracy(labels: Column, predictions: Column) -> dict[str, float] | None:
    hits = total = 0
    pairs = Counter(zip(typed(labels), typed(predictions), strict=True))
    for ((_, label), (_, prediction)), n in pairs.items():
        if not (is_missing(label) or is_missing(prediction)):
            total += n
            hits += n * (class_key(label) == class_key(prediction))
    return {"accuracy": hits / total} if total else None


def _plain(profile: FeatureProfile) -> dict[str, Any]:
    data = {f.name: getattr(profile, f.name) for f in fields(profile)}
    return {name: list(v) if isinstance(v, tuple) else v for name, v in data.items()}
