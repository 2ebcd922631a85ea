"""Seeded synthetic streams with known drift: tables of columns, shifts, micro-batches.

A *table* maps a column name to a numpy array, one row per event. :class:`Schema` draws the
synthetic 25-feature table (20 numeric features cycling through gaussian, lognormal and uniform
families, 5 categorical ones) with optional :class:`MeanShift` / :class:`CategoryShift` injected
at a known row; :func:`binary_outcome` adds a logistic classifier's scores, predictions and
labels; :func:`river_table` and :func:`bundled_table` turn river's synthetic generators and
scikit-learn's bundled breast-cancer data (no download) into tables; :func:`micro_batches` cuts
a table into the parsed batches (feature dicts, predictions, labels, scores, timestamps) that
the monitor's processor hands to the drift checks and metrics.

>>> schema = Schema.default()
>>> shift = MeanShift("num_00", 2.0, start=3, ramp=2)
>>> shift.fraction(6).tolist()
[0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
>>> table = schema.generate(np.random.default_rng(0), 6, [shift])
>>> len(schema.feature_types()), len(table["num_00"]), set(table["cat_0"]) <= {"a", "b", "c"}
(25, 6, True)
>>> rows = to_rows(table, ["num_00", "cat_0"])
>>> sorted(rows[0]), type(rows[0]["num_00"]).__name__
(['cat_0', 'num_00'], 'float')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np
import numpy.typing as npt

from driftwarden.contracts.inputs import Target

__all__ = [
    "FAMILIES",
    "CategoricalFeature",
    "CategoryShift",
    "ClassifierOutput",
    "MeanShift",
    "START_TIMESTAMP",
    "MicroBatch",
    "NumericFeature",
    "Schema",
    "Table",
    "Target",
    "binary_outcome",
    "bundled_table",
    "micro_batches",
    "resample",
    "river_table",
    "switched",
    "to_rows",
]

Table = dict[str, npt.NDArray[Any]]
FloatArray = npt.NDArray[np.float64]
FAMILIES = ("gaussian", "lognormal", "uniform")
START_TIMESTAMP = 1_795_600_000.0  # 2026-11-25T08:26:40Z, one event per second after it


@dataclass(frozen=True)
class NumericFeature:
    """``loc + scale * Z`` for a gaussian, ``exp(loc + scale * Z)`` for a lognormal, and
    uniform on ``[loc, loc + scale)``."""

    name: str
    family: str
    loc: float
    scale: float

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        if self.family == "gaussian":
            return rng.normal(self.loc, self.scale, n)
        if self.family == "lognormal":
            return rng.lognormal(self.loc, self.scale, n)
        if self.family == "uniform":
            return rng.uniform(self.loc, self.loc + self.scale, n)
        raise ValueError(f"unknown family {self.family!r}; use one of {', '.join(FAMILIES)}")

    @property
    def mean(self) -> float:
        """Mean of the distribution (not of a sample)."""
        if self.family == "gaussian":
            return self.loc
        if self.family == "lognormal":
            return math.exp(self.loc + self.scale**2 / 2)
        return self.loc + self.scale / 2

    @property
    def std(self) -> float:
        """Standard deviation of the distribution (not of a sample)."""
        if self.family == "gaussian":
            return self.scale
        if self.family == "lognormal":
            s2 = self.scale**2
            return math.sqrt((math.exp(s2) - 1) * math.exp(2 * self.loc + s2))
        return self.scale / math.sqrt(12)


@dataclass(frozen=True)
class CategoricalFeature:
    name: str
    categories: tuple[str, ...]
    probabilities: tuple[float, ...]

    def sample(
        self, rng: np.random.Generator, n: int, probabilities: Sequence[float] | None = None
    ) -> npt.NDArray[np.str_]:
        p = np.asarray(self.probabilities if probabilities is None else probabilities)
        return np.asarray(self.categories)[rng.choice(len(self.categories), n, p=p / p.sum())]

    def with_share(self, category: str, share: float) -> tuple[float, ...]:
        """Probabilities with ``category`` at ``share``, the others scaled to fill the rest."""
        i = self.categories.index(category)
        rest = (1 - share) / (1 - self.probabilities[i])
        return tuple(share if j == i else p * rest for j, p in enumerate(self.probabilities))


@dataclass(frozen=True)
class MeanShift:
    """Add ``sigmas`` standard deviations to ``feature`` from row ``start`` on, ramping
    linearly over ``ramp`` rows (0: abrupt)."""

    feature: str
    sigmas: float
    start: int
    ramp: int = 0

    def apply(self, values: FloatArray, std: float) -> FloatArray:
        """``values`` shifted by ``sigmas * std`` along the ramp."""
        return values + self.sigmas * std * self.fraction(len(values))

    def fraction(self, n: int) -> FloatArray:
        """Share of the full shift applied at each of ``n`` rows."""
        done = np.arange(n, dtype=np.float64) - self.start + 1
        if self.ramp <= 0:
            return (done > 0).astype(np.float64)
        return np.clip(done / self.ramp, 0.0, 1.0)


@dataclass(frozen=True)
class CategoryShift:
    """From row ``start`` on, ``category`` of ``feature`` is drawn with probability ``share``."""

    feature: str
    category: str
    share: float
    start: int


Shift = MeanShift | CategoryShift


@dataclass(frozen=True)
class Schema:
    numeric: tuple[NumericFeature, ...]
    categorical: tuple[CategoricalFeature, ...]

    @classmethod
    def default(cls, numeric: int = 20, categorical: int = 5) -> Schema:
        """``num_00`` .. ``num_19`` cycling gaussian, lognormal, uniform with varied scales;
        ``cat_0`` .. ``cat_4`` with 3 to 7 categories, the first one at a 30% share."""
        features = []
        for i in range(numeric):
            family = FAMILIES[i % len(FAMILIES)]
            loc, scale = {
                "gaussian": (10.0 * i, 1.0 + i),
                "lognormal": (1.0 + i / 10, 0.25 + i / 40),
                "uniform": (-float(i), 2.0 + i),
            }[family]
            features.append(NumericFeature(f"num_{i:02d}", family, loc, scale))
        return cls(tuple(features), tuple(_categorical(i) for i in range(categorical)))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.numeric] + [f.name for f in self.categorical]

    def feature_types(self) -> dict[str, str]:
        return {
            **{f.name: "numeric" for f in self.numeric},
            **{f.name: "categorical" for f in self.categorical},
        }

    def std(self, feature: str) -> float:
        return next(f.std for f in self.numeric if f.name == feature)

    def generate(self, rng: np.random.Generator, n: int, shifts: Iterable[Shift] = ()) -> Table:
        """``n`` rows of every feature, with ``shifts`` applied."""
        table: Table = {f.name: f.sample(rng, n) for f in self.numeric}
        for feature in self.categorical:
            table[feature.name] = feature.sample(rng, n)
        for shift in shifts:
            if isinstance(shift, MeanShift):
                table[shift.feature] = shift.apply(table[shift.feature], self.std(shift.feature))
            else:
                self._shift_category(table, shift, rng, n)
        return table

    def _shift_category(
        self, table: Table, shift: CategoryShift, rng: np.random.Generator, n: int
    ) -> None:
        feature = next(f for f in self.categorical if f.name == shift.feature)
        after = feature.sample(
            rng, n - shift.start, feature.with_share(shift.category, shift.share)
        )
        table[shift.feature] = np.concatenate([table[shift.feature][: shift.start], after])


def _categorical(i: int) -> CategoricalFeature:
    count = 3 + i
    names = tuple("abcdefgh"[:count])
    weights = np.arange(count, 0, -1, dtype=np.float64)[1:]
    rest = 0.7 * weights / weights.sum()
    return CategoricalFeature(f"cat_{i}", names, (0.3, *rest.tolist()))


@dataclass(frozen=True)
class ClassifierOutput:
    """A binary classifier's view of a table: positive-class scores, predictions, labels."""

    scores: FloatArray
    predictions: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]


def binary_outcome(
    table: Table, schema: Schema, rng: np.random.Generator, features: int = 3
) -> ClassifierOutput:
    """A logistic model of the first ``features`` numeric features (standardized); the label
    is drawn with the model's probability, so the model is calibrated and ~80% accurate."""
    z = np.zeros(len(next(iter(table.values()))))
    for feature in schema.numeric[:features]:
        z += 1.5 * (table[feature.name] - feature.mean) / feature.std
    scores = 1 / (1 + np.exp(-z))
    labels = (rng.random(len(z)) < scores).astype(np.int64)
    return ClassifierOutput(scores, (scores >= 0.5).astype(np.int64), labels)


def to_rows(table: Table, names: Sequence[str]) -> list[dict[str, object]]:
    """Row dicts of plain Python values, as the monitor's parser produces them."""
    columns = [table[name].tolist() for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


@dataclass(frozen=True)
class MicroBatch:
    """One parsed micro-batch; every prediction is joined with its label in the same batch.

    ``scores`` holds a classifier's ``{class: probability}`` per event, or ``None``s.
    """

    rows: list[dict[str, object]]
    predictions: list[Target]
    labels: list[Target]
    scores: list[dict[str, float] | None]
    timestamps: list[float]


def micro_batches(
    table: Table,
    names: Sequence[str],
    predictions: npt.NDArray[Any] | None,
    labels: npt.NDArray[Any] | None,
    size: int,
    scores: FloatArray | None = None,
) -> Iterator[MicroBatch]:
    """Consecutive batches of ``size`` rows, one event per second from ``START_TIMESTAMP``."""
    n = len(table[names[0]])
    for start in range(0, n, size):
        stop = min(start + size, n)
        part = {name: table[name][start:stop] for name in names}
        yield MicroBatch(
            rows=to_rows(part, names),
            predictions=[] if predictions is None else predictions[start:stop].tolist(),
            labels=[] if labels is None else labels[start:stop].tolist(),
            scores=[None] * (stop - start) if scores is None else _score_dicts(scores[start:stop]),
            timestamps=(START_TIMESTAMP + np.arange(start, stop, dtype=np.float64)).tolist(),
        )


def _score_dicts(scores: FloatArray) -> list[dict[str, float] | None]:
    return [{"0": 1 - s, "1": s} for s in scores.tolist()]


def switched(
    before: Iterable[tuple[dict[Any, Any], Any]],
    after: Iterable[tuple[dict[Any, Any], Any]],
    change: int,
    n: int,
) -> Iterator[tuple[dict[Any, Any], Any]]:
    """The first ``change`` samples of ``before``, then ``n - change`` samples of ``after``."""
    yield from islice(before, change)
    yield from islice(after, n - change)


def river_table(samples: Iterable[tuple[dict[Any, Any], Any]], n: int) -> tuple[Table, FloatArray]:
    """``n`` samples of a river dataset as a table (keys become ``str``) and the targets."""
    xs: list[dict[Any, Any]] = []
    ys: list[Any] = []
    for x, y in islice(samples, n):
        xs.append(x)
        ys.append(y)
    keys = list(xs[0])
    table = {str(k): np.array([x[k] for x in xs], dtype=np.float64) for k in keys}
    return table, np.asarray(ys, dtype=np.float64)


def bundled_table() -> Table:
    """scikit-learn's breast cancer data (569 rows, 30 numeric features), read from the
    package's own files: nothing is downloaded."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return {
        str(name): data.data[:, i].astype(np.float64) for i, name in enumerate(data.feature_names)
    }


def resample(table: Table, rng: np.random.Generator, n: int) -> Table:
    """``n`` rows drawn with replacement: a stationary stream from a finite dataset."""
    rows = rng.integers(0, len(next(iter(table.values()))), n)
    return {name: values[rows] for name, values in table.items()}
