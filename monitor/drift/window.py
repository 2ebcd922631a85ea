"""Fixed-size window of encoded events, the most recent by an event-time key: constant memory
whatever the stream length, and the same content whatever order the events arrived in."""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from driftwarden.monitor.codec import (
    Doc,
    StateDecodeError,
    decode_array,
    encode_array,
    encode_float,
    need,
    need_dict,
    need_float,
    need_int,
    need_list,
)

__all__ = ["EncodedWindow", "ErrorWindow"]

# The per-event rows of an encoded window and their dtypes.
_ROWS = {
    "bins": "int16",
    "flags": "uint8",
    "timestamps": "float64",
    "partitions": "int32",
    "offsets": "int64",
}


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

    # -- state encoding (see driftwarden.monitor.codec)
    # --------------------------------------------------

    def to_state(self) -> Doc:
        rows = {name: encode_array(getattr(self, name)[: self.filled]) for name in _ROWS}
        return {"filled": self.filled, "pushed": self.pushed, "version": self.version, **rows}

    def restore_state(self, doc: object, what: str) -> None:
        """Restore the events of ``doc`` into this (empty) window of the same shape."""
        doc = need_dict(doc, what)
        filled = need_int(need(doc, "filled"), f"{what}.filled", 0, self.size)
        features = self.bins.shape[1]
        for name, dtype in _ROWS.items():
            shape = (filled, features) if name in ("bins", "flags") else (filled,)
            getattr(self, name)[:filled] = decode_array(need(doc, name), dtype, shape, what)
        keys = np.lexsort(
            (self.offsets[:filled], self.partitions[:filled], self.timestamps[:filled])
        )
        if np.any(keys[1:] <= keys[:-1]) or np.isnan(self.timestamps[:filled]).any():
            raise StateDecodeError(f"{what}: events are not in key order")
        self.filled = filled
        self.pushed = need_int(need(doc, "pushed"), f"{what}.pushed", 0)
        self.version = need_int(need(doc, "version"), f"{what}.version", 0)


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

    # -- state encoding (see driftwarden.monitor.codec)
    # --------------------------------------------------

    def to_state(self) -> Doc:
        return {
            "held": [[encode_float(t), p, o, encode_float(e)] for t, p, o, e in self.held],
            "total": encode_float(self.total),
        }

    def restore_state(self, doc: object, what: str) -> None:
        doc = need_dict(doc, what)
        held = []
        for item in need_list(need(doc, "held"), what):
            t, p, o, e = need_list(item, what, 4)
            held.append(
                (need_float(t, what), need_int(p, what), need_int(o, what), need_float(e, what))
            )
        if len(held) > self.size:
            raise StateDecodeError(f"{what} holds more than {self.size} errors")
        heapq.heapify(held)
        self.held = held
        self.total = need_float(need(doc, "total"), what)
