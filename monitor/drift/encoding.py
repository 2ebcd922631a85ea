"""Turns a micro-batch of raw values into reference-bin indices and data-quality flags.

Numeric columns flag values outside the reference range and values that are not numbers (type
mismatch, not binned); categorical columns accept any scalar (canonicalized like the profile) and
flag categories the reference did not list (binned as "other").

Each column is converted once per batch and binned with numpy; the Python work left is one
comprehension per column to read the values out of the event dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from driftwarden.core.profile import CategoricalProfile, NumericProfile, category_key

__all__ = ["MISSING", "OUT_OF_RANGE", "QUALITY_CHECKS", "TYPE_MISMATCH", "UNSEEN", "ColumnEncoder"]

MISSING, OUT_OF_RANGE, UNSEEN, TYPE_MISMATCH = 1, 2, 4, 8
QUALITY_CHECKS: dict[str, int] = {
    "missing": MISSING,
    "out_of_range": OUT_OF_RANGE,
    "unseen_category": UNSEEN,
    "type_mismatch": TYPE_MISMATCH,
}
_NUMBER = (int, float)

Encoded = tuple[NDArray[np.int16], NDArray[np.uint8]]


class ColumnEncoder:
    """Bins one column like its reference profile did; values that cannot be binned get ``-1``.

    >>> from driftwarden.core.profile import build_profile
    >>> profile = build_profile("m", {"x": [1.0, 2.0, 3.0, 4.0]}, {"x": "numeric"}, bins=2)
    >>> bins, flags = ColumnEncoder(profile.features["x"]).encode([1.5, None, "7", 9.0])
    >>> bins.tolist(), flags.tolist()
    ([0, -1, -1, 1], [0, 1, 8, 2])
    """

    def __init__(
        self,
        profile: NumericProfile | CategoricalProfile,
        key: Callable[[object], str] = category_key,
    ) -> None:
        self.profile = profile
        self.numeric = isinstance(profile, NumericProfile)
        self.bins = len(profile.frequencies)
        self._key = key
        if isinstance(profile, CategoricalProfile):
            self._index = {name: i for i, name in enumerate(profile.categories)}

    def encode(self, values: Sequence[object]) -> Encoded:
        if self.numeric:
            return self._encode_numeric(values)
        return self._encode_categorical(values)

    def _encode_numeric(self, values: Sequence[object]) -> Encoded:
        profile = self.profile
        assert isinstance(profile, NumericProfile)  # noqa: S101 - set in __init__
        numbers = np.array([v if type(v) in _NUMBER else np.nan for v in values], dtype=np.float64)
        missing = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        unusable = np.isnan(numbers)
        flags = np.where(missing, MISSING, 0).astype(np.uint8)
        flags[unusable & ~missing] |= TYPE_MISMATCH
        with np.errstate(invalid="ignore"):
            flags[(numbers < profile.min) | (numbers > profile.max)] |= OUT_OF_RANGE
        bins = profile.bin_indices(np.where(unusable, 0.0, numbers)).astype(np.int16)
        bins[unusable] = -1
        return bins, flags

    def _encode_categorical(self, values: Sequence[object]) -> Encoded:
        index, other, key = self._index, self.bins - 1, self._key
        bins: list[int] = []
        flags: list[int] = []
        for value in values:
            if value is None:
                bins.append(-1)
                flags.append(MISSING)
            else:
                found = index.get(value if type(value) is str else key(value))
                bins.append(other if found is None else found)
                flags.append(UNSEEN if found is None else 0)
        return np.array(bins, dtype=np.int16), np.array(flags, dtype=np.uint8)
