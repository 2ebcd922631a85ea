"""How a model's join bounds are shared among the input partitions."""

from __future__ import annotations

__all__ = ["pending_share"]


def pending_share(max_pending: int, partition_id: int, partition_count: int) -> int:
    """The part of ``max_pending`` that input partition ``partition_id`` may hold: the shares of
    partitions ``0 .. partition_count - 1`` add up to exactly ``max_pending``.

    >>> [pending_share(10, p, 4) for p in range(4)]
    [3, 3, 2, 2]
    """
    base, extra = divmod(max_pending, partition_count)
    return base + (partition_id < extra)
