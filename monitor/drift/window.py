"""Fixed-size ring buffer of encoded events: constant memory whatever the stream length."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["EncodedWindow"]


class EncodedWindow:
    """The last ``size`` events as bin indices (``-1`` = not binned) and quality flag bits.

    >>> window = EncodedWindow(size=3, features=1)
    >>> window.push(np.array([[0], [1], [1], [2]]), np.zeros((4, 1), np.uint8), np.arange(4.0))
    >>> window.counts(bins=3).tolist(), window.first_timestamp, window.last_timestamp
    ([[0, 2, 1]], 1.0, 3.0)
    """

    def __init__(self, size: int, features: int) -> None:
        self.size = size
        self.bins = np.full((size, features), -1, dtype=np.int16)
        self.flags = np.zeros((size, features), dtype=np.uint8)
        self.timestamps = np.zeros(size, dtype=np.float64)
        self.filled = 0
        self._next = 0

    def push(
        self, bins: NDArray[np.integer], flags: NDArray[np.uint8], timestamps: NDArray[np.float64]
    ) -> None:
        n = len(timestamps)
        if n >= self.size:
            bins, flags, timestamps = (
                bins[-self.size :],
                flags[-self.size :],
                timestamps[-self.size :],
            )
            n = self.size
        end = self._next + n
        first = min(end, self.size) - self._next
        self.bins[self._next : self._next + first] = bins[:first]
        self.flags[self._next : self._next + first] = flags[:first]
        self.timestamps[self._next : self._next + first] = timestamps[:first]
        rest = n - first
        if rest:
            self.bins[:rest] = bins[first:]
            self.flags[:rest] = flags[first:]
            self.timestamps[:rest] = timestamps[first:]
        self._next = end % self.size
        self.filled = min(self.filled + n, self.size)

    def counts(self, bins: int) -> NDArray[np.int64]:
        """Per feature, how many events of the window fall in each bin: shape (features, bins)."""
        held = self.bins[: self.filled] if self.filled < self.size else self.bins
        features = held.shape[1]
        valid = held >= 0
        flat = (held.astype(np.int64) + np.arange(features) * bins)[valid]
        return np.bincount(flat, minlength=features * bins).reshape(features, bins)

    def flag_ratios(self, bit: int) -> NDArray[np.float64]:
        """Per feature, the share of the window's events with ``bit`` set."""
        held = self.flags[: self.filled] if self.filled < self.size else self.flags
        if not len(held):
            return np.zeros(held.shape[1])
        return np.asarray(((held & bit) != 0).mean(axis=0), dtype=np.float64)

    @property
    def first_timestamp(self) -> float:
        return float(self.timestamps[self._next if self.filled == self.size else 0])

    @property
    def last_timestamp(self) -> float:
        return float(self.timestamps[(self._next - 1) % self.size])
