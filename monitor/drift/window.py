"""Fixed-size window of encoded events, the most recent by an event-time key: constant memory
whatever the stream length, and the same content whatever order the events arrived in."""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["EncodedWindow", "ErrorWindow"]


class EncodedWindow:
    """The ``size`` events with the largest keys, as bin indices (``-1`` = not binned) and
    quality flag bits.

    An event's key is ``(timestamp, partition, offset)``; without ``partitions`` and ``offsets``
    a push counts as partition 0 at the next arrival number, so the window holds the last events
    pushed among equal timestamps. Rows are kept sorted by key, oldest first. An event older
    than every event of a full window is not taken in.

    >>> window = EncodedWindow(size=3, features=1)
    >>> window.push(np.array([[0], [1], [1], [2]]), np.zeros((4, 1), np.uint8), np.arange(4.0))
    >>> window.counts(bins=3).tolist(), window.first_timestamp, window.last_timestamp
    ([[0, 2, 1]], 1.0, 3.0)
    >>> window.push(np.array([[0]]), np.zeros((1, 1), np.uint8), np.array([1.5]))
    >>> window.counts(bins=3).tolist(), window.timestamps[: window.filled].tolist()
    ([[1, 1, 1]], [1.5, 2.0, 3.0])
    """

    def __init__(self, size: int, features: int) -> None:
        self.size = size
        self.bins = np.full((size, features), -1, dtype=np.int16)
        self.flags = np.zeros((size, features), dtype=np.uint8)
        self.timestamps = np.zeros(size, dtype=np.float64)
        self.partitions = np.zeros(size, dtype=np.int32)
        self.offsets = np.zeros(size, dtype=np.int64)
        self.filled = 0
        self.pushed = 0  # events ever pushed: the arrival number of the next one
        self.version = 0  # changes whenever the content may have changed

    def __setstate__(self, saved: dict[str, Any]) -> None:
        """Restore checkpoints of the ring buffer in arrival order: keys follow that order."""
        self.__dict__.update(saved)
        if "partitions" in saved:
            return
        start = saved["_next"] if self.filled == self.size else 0
        arrival = (np.arange(self.filled) + start) % self.size
        by_key = np.lexsort((np.arange(self.filled), self.timestamps[arrival]))
        order = arrival[by_key]
        self.bins[: self.filled] = self.bins[order]
        self.flags[: self.filled] = self.flags[order]
        self.timestamps[: self.filled] = self.timestamps[order]
        self.partitions = np.zeros(self.size, dtype=np.int32)
        self.offsets = np.zeros(self.size, dtype=np.int64)
        self.offsets[: self.filled] = by_key  # the arrival number
        self.pushed, self.version = self.filled, 0
        del self.__dict__["_next"]

    def push(
        self,
        bins: NDArray[np.integer],
        flags: NDArray[np.uint8],
        timestamps: NDArray[np.float64],
        partitions: NDArray[np.integer] | None = None,
        offsets: NDArray[np.integer] | None = None,
    ) -> None:
        n = len(timestamps)
        if not n:
            return
        if partitions is None or offsets is None:
            partitions = np.zeros(n, dtype=np.int32)
            offsets = np.arange(self.pushed, self.pushed + n, dtype=np.int64)
        self.pushed += n
        self.version += 1
        held = self.filled
        columns: tuple[NDArray[Any], ...] = (bins, flags, timestamps, partitions, offsets)
        rows: tuple[NDArray[Any], ...] = (
            self.bins,
            self.flags,
            self.timestamps,
            self.partitions,
            self.offsets,
        )
        order = np.lexsort((offsets, partitions, timestamps))
        in_order = bool(np.all(order[1:] > order[:-1]))
        if not in_order or (held and _key(columns, 0) < _key(rows, held - 1)):
            # Out of order: merge with the window and keep the largest keys.
            columns = tuple(
                np.concatenate((r[:held], c)) for r, c in zip(rows, columns, strict=True)
            )
            keep = np.lexsort((columns[4], columns[3], columns[2]))[-self.size :]
            merged = tuple(c[keep] for c in columns)
        else:
            merged = tuple(
                np.concatenate((r[:held], c))[-self.size :]
                for r, c in zip(rows, columns, strict=True)
            )
        self.filled = len(merged[2])
        for row, values in zip(rows, merged, strict=True):
            row[: self.filled] = values

    def counts(self, bins: int) -> NDArray[np.int64]:
        """Per feature, how many events of the window fall in each bin: shape (features, bins)."""
        held = self.bins[: self.filled]
        features = held.shape[1]
        valid = held >= 0
        flat = (held.astype(np.int64) + np.arange(features) * bins)[valid]
        return np.bincount(flat, minlength=features * bins).reshape(features, bins)

    def flag_ratios(self, bit: int) -> NDArray[np.float64]:
        """Per feature, the share of the window's events with ``bit`` set."""
        held = self.flags[: self.filled]
        if not len(held):
            return np.zeros(held.shape[1])
        return np.asarray(((held & bit) != 0).mean(axis=0), dtype=np.float64)

    def keys(self) -> list[tuple[float, int, int]]:
        """The keys of the window's events, oldest first."""
        return [
            (float(t), int(p), int(o))
            for t, p, o in zip(
                self.timestamps[: self.filled],
                self.partitions[: self.filled],
                self.offsets[: self.filled],
                strict=True,
            )
        ]

    @property
    def first_timestamp(self) -> float:
        return float(self.timestamps[0])

    @property
    def last_timestamp(self) -> float:
        return float(self.timestamps[self.filled - 1]) if self.filled else 0.0


def _key(columns: tuple[NDArray[Any], ...], index: int) -> tuple[float, int, int]:
    return (float(columns[2][index]), int(columns[3][index]), int(columns[4][index]))


class ErrorWindow:
    """The ``size`` per-example errors with the largest ``(timestamp, partition, offset)`` keys.

    >>> window = ErrorWindow(size=2)
    >>> for held in [(1.0, 0, 0, 1.0), (3.0, 0, 1, 0.0), (2.0, 1, 0, 1.0), (0.5, 1, 1, 1.0)]:
    ...     window.hold(held)
    >>> window.mean(), window.exact_mean(), len(window)
    (0.5, 0.5, 2)
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.held: list[tuple[float, int, int, float]] = []  # a heap, the oldest key first
        self.total = 0.0  # running sum of the held errors

    def __len__(self) -> int:
        return len(self.held)

    def hold(self, held: tuple[float, int, int, float]) -> None:
        """Keep ``(timestamp, partition, offset, error)`` unless it is older than all of a full
        window (keys are unique, so the tuples compare by key)."""
        if len(self.held) < self.size:
            heapq.heappush(self.held, held)
            self.total += held[3]
        elif held > self.held[0]:
            dropped = heapq.heapreplace(self.held, held)
            self.total += held[3] - dropped[3]

    def mean(self) -> float:
        """The running mean: cheap, its last bits depend on the order errors came in."""
        return self.total / len(self.held)

    def exact_mean(self) -> float:
        """The correctly rounded mean of the held errors, whatever order they came in."""
        return math.fsum(held[3] for held in self.held) / len(self.held)
