"""Columns of training or production values and what they hold: numbers, categories, gaps.

>>> as_floats([1, "a", None, 2.5, True]).tolist()
[1.0, nan, nan, 2.5, nan]
>>> sorted(distinct([1, True, 1, "1"]), key=repr)
[('1', 1), (1, 2), (True, 1)]
>>> is_numeric([1, None, 2.5]), has_fractions([1.0, 2.0]), is_missing(float("nan"))
(True, False, True)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt

__all__ = [
    "Column",
    "distinct",
    "as_floats",
    "has_fractions",
    "is_missing",
    "is_number",
    "is_numeric",
    "typed",
]

Column = Sequence[object] | npt.NDArray[Any]
"""The values of one column, ``None`` or NaN where missing."""

_NUMBER = (int, float, np.number)


def as_floats(values: Column) -> npt.NDArray[np.float64]:
    """Values as floats, NaN where missing, infinite or not a number (strings, bools)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        floats = values.astype(np.float64)
    else:
        floats = np.fromiter(map(_number_or_nan, values), dtype=np.float64, count=len(values))
    floats[np.isinf(floats)] = np.nan
    return floats


def is_number(value: object) -> TypeGuard[int | float | np.number[Any]]:
    """A number, not a bool."""
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


def is_numeric(values: Column) -> bool:
    """Whether every non-missing value is a number."""
    if isinstance(values, np.ndarray) and values.dtype.kind != "O":
        return values.dtype.kind in "iuf"
    return all(v is None or is_number(v) for v in values)


def has_fractions(values: Column) -> bool:
    """Whether the values are numbers and some of them are not whole."""
    if not is_numeric(values):
        return False
    floats = as_floats(values)
    floats = floats[~np.isnan(floats)]
    return bool(np.any(floats != np.trunc(floats)))


def distinct(values: Column) -> Iterator[tuple[Any, int]]:
    """Each distinct value once with its number of occurrences.

    Counting ``(type, value)`` pairs runs in C and keeps ``True`` apart from ``1``, so a key
    function need only run once per distinct value.
    """
    for (_, value), n in Counter(typed(values)).items():
        yield value, n


def typed(values: Column) -> Iterator[tuple[type, Any]]:
    """``(type, value)`` pairs: ``True`` and ``1`` stay apart."""
    items = values.tolist() if isinstance(values, np.ndarray) else values
    return zip(map(type, items), items, strict=True)


def is_missing(value: object) -> bool:
    """``None`` or NaN."""
    return value is None or isinstance(value, float) and math.isnan(value)


def _number_or_nan(value: object) -> float:
    return float(value) if is_number(value) else math.nan
