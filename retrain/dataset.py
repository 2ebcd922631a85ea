"""Training data: joined production examples, an optional base table, and their time order.

The monitor publishes one joined example per labeled prediction on the examples topic; the
retrain worker reads the latest ones, puts an optional base table (CSV or Parquet) before them,
and splits the result by time so that the holdout is always the most recent data.

>>> records = [
...     b'{"schema": 1, "prediction_id": "p-2", "model": "churn", "model_version": "3",'
...     b' "features": {"tenure": 4.0}, "prediction": 1, "scores": null, "label": 0,'
...     b' "prediction_timestamp": 20, "label_timestamp": 30}',
...     b'{"schema": 1, "prediction_id": "p-1", "model": "churn", "model_version": "3",'
...     b' "features": {"tenure": 1.5}, "prediction": 1, "scores": null, "label": 1,'
...     b' "prediction_timestamp": 10, "label_timestamp": 15}',
... ]
>>> examples = [parse_example(record) for record in records]
>>> training_set = build_training_set([], examples, {"topic": "examples"})
>>> [example.prediction_id for example in training_set.examples]
['p-1', 'p-2']
>>> train, holdout = time_split(training_set, 0.5)
>>> [e.label for e in train], [e.label for e in holdout]
([1], [0])
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from driftwarden.contracts.examples import parse_example as parse_record
from driftwarden.core.errors import ProfileError
from driftwarden.core.privacy import PiiPolicy, scrub_columns, scrub_features
from driftwarden.core.profile_build import read_table
from driftwarden.retrain.errors import TrainingError
from driftwarden.retrain.features import Features

__all__ = [
    "BASE_VERSION",
    "Example",
    "Target",
    "TrainingSet",
    "build_training_set",
    "canonical_sha256",
    "parse_example",
    "read_base_table",
    "time_split",
]

Target = int | float | str | bool

BASE_VERSION = "base"
"""``model_version`` of the examples read from a base table."""

_TIME_COLUMN = "timestamp"


@dataclass(frozen=True, kw_only=True)
class Example:
    """One labeled example: the features a model saw and the label that arrived later."""

    features: Features
    label: Target
    prediction_timestamp: float
    model_version: str
    prediction_id: str


@dataclass(frozen=True, kw_only=True)
class TrainingSet:
    """Examples in time order (base table first) and where they came from."""

    examples: tuple[Example, ...]
    lineage: Mapping[str, Any]


def parse_example(value: bytes, pii: PiiPolicy | None = None) -> Example:
    """The example of a joined-example record (:mod:`driftwarden.contracts.examples`).

    The monitor publishes PII features scrubbed; records from before ``pii`` was configured are
    scrubbed here by ``pii`` (dropped or hashed; pseudonyms are kept as they are). A record that
    breaks the contract raises :class:`~driftwarden.contracts.errors.MalformedExample`.
    """
    record = parse_record(value)
    return Example(
        features=scrub_features(record.features, pii),
        label=record.label,
        prediction_timestamp=record.prediction_timestamp,
        model_version=record.model_version,
        prediction_id=record.prediction_id,
    )


def read_base_table(
    path: str | Path, label_column: str, pii: PiiPolicy | None = None
) -> tuple[list[Example], str]:
    """Examples of a CSV or Parquet base table, and the file's SHA-256 (hex).

    Every column but ``label_column`` and ``timestamp`` is a feature (``None`` where null). Rows
    are timed by the ``timestamp`` column (epoch seconds or a date-time) when there is one, else
    0, 1, 2... in file order; either way the table precedes production data in a training set.
    The PII columns of ``pii`` are dropped or hashed as they are read.
    """
    try:
        columns, sha256 = read_table(path)
    except ProfileError as exc:
        raise TrainingError(f"base table: {exc}") from exc
    columns = scrub_columns(columns, pii)
    if label_column not in columns:
        raise TrainingError(
            f"{path}: no label column {label_column!r}; the columns are {sorted(columns)}"
        )
    values = {name: _python_values(column) for name, column in columns.items()}
    labels = values.pop(label_column)
    times = values.pop(_TIME_COLUMN, None)
    examples = []
    for row, label in enumerate(labels):
        if label is None:
            raise TrainingError(f"{path}: row {row} has no {label_column!r}; drop unlabeled rows")
        examples.append(
            Example(
                features={name: column[row] for name, column in values.items()},
                label=label,
                prediction_timestamp=float(row) if times is None else _row_time(path, row, times),
                model_version=BASE_VERSION,
                prediction_id=f"{BASE_VERSION}-{row}",
            )
        )
    return examples, sha256


def build_training_set(
    base: Sequence[Example], production: Sequence[Example], lineage: Mapping[str, Any]
) -> TrainingSet:
    """Base examples (in time order, file order on ties), then production examples.

    Production examples are ordered by ``(prediction_timestamp, prediction_id)`` and a
    prediction id seen twice (a replayed record) counts once, so the same examples in any input
    order make the same training set. ``lineage`` is kept with three counts added:
    ``base_examples``, ``production_examples`` and ``duplicates_dropped``.
    """
    ordered = sorted(
        production, key=lambda e: (e.prediction_timestamp, e.prediction_id, _canonical_line(e))
    )
    unique = _first_per_id(ordered)
    examples = (*sorted(base, key=lambda e: e.prediction_timestamp), *unique)
    counts = {
        "base_examples": len(base),
        "production_examples": len(unique),
        "duplicates_dropped": len(ordered) - len(unique),
    }
    return TrainingSet(examples=examples, lineage={**lineage, **counts})


def canonical_sha256(training_set: TrainingSet) -> str:
    """SHA-256 (hex) of the examples, one sorted-key JSON line each: same data, same hash.

    >>> from hashlib import sha256
    >>> example = Example(features={"b": 1, "a": "x"}, label=1, prediction_timestamp=0.0,
    ...                   model_version="1", prediction_id="p")
    >>> line = (b'{"features":{"a":"x","b":1},"label":1,"model_version":"1",'
    ...         b'"prediction_id":"p","prediction_timestamp":0.0}\\n')
    >>> canonical_sha256(TrainingSet(examples=(example,), lineage={})) == sha256(line).hexdigest()
    True
    """
    digest = hashlib.sha256()
    for example in training_set.examples:
        digest.update(_canonical_line(example))
    return digest.hexdigest()


def time_split(
    training_set: TrainingSet, holdout: float
) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """``(train, holdout)``: the most recent ``holdout`` fraction (rounded up) is the holdout.

    Both parts keep the time order and each has at least one example; nothing is shuffled.
    """
    if not 0 < holdout < 1:
        raise TrainingError(f"holdout must be a fraction between 0 and 1, got {holdout!r}")
    examples = training_set.examples
    if len(examples) < 2:
        raise TrainingError(f"need at least 2 examples to train and evaluate, got {len(examples)}")
    size = min(math.ceil(len(examples) * holdout), len(examples) - 1)
    return examples[:-size], examples[-size:]


def _python_values(column: Any) -> list[Any]:
    if isinstance(column, np.ndarray):
        return [None if _is_nan(value) else value for value in column.tolist()]
    return list(column)


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _row_time(path: str | Path, row: int, times: list[Any]) -> float:
    value = times[row]
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TrainingError(
        f"{path}: row {row} has {_TIME_COLUMN} {value!r}; use epoch seconds or a date-time"
    )


def _first_per_id(examples: Iterable[Example]) -> list[Example]:
    seen: set[str] = set()
    first = []
    for example in examples:
        if example.prediction_id not in seen:
            seen.add(example.prediction_id)
            first.append(example)
    return first


def _canonical_line(example: Example) -> bytes:
    document = {
        "features": example.features,
        "label": example.label,
        "model_version": example.model_version,
        "prediction_id": example.prediction_id,
        "prediction_timestamp": example.prediction_timestamp,
    }
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS) + b"\n"
