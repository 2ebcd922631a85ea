"""Online performance of one model version, cumulative and over a rolling window, with river.

One class per task behind the :class:`VersionPerformance` interface: :class:`BinaryPerformance`,
:class:`MulticlassPerformance` and :class:`RegressionPerformance`, chosen by the :class:`Task`
(:meth:`VersionPerformance.for_task`, and the ``task`` of a state document in
:meth:`VersionPerformance.from_state`).

The rolling window holds the ``window`` most recent joined examples by an event-time key, by
default the order of arrival; the monitor passes ``(label timestamp, partition, label offset)``.
An example older than every example of a full window leaves it unchanged; a newer one displaces
the oldest, which is reverted from the rolling metrics. So once every example has arrived, the
window (and each rolling value, up to float summation order) is the same whatever order the
partitions were interleaved in, as cumulative values are.

Classification targets are compared by a canonical key (``1``, ``1.0``, ``True`` and ``"1"`` are
one class) so that a label and a prediction serialized differently still agree. Class values come
from the events, so a multiclass version's confusion matrices keep at most ``max_classes``
classes, the first seen; the metrics count any other class as ``OTHER_CLASS`` (a prediction of
another such class that differs from the label as ``OTHER_MISMATCH``, so accuracy stays exact).

>>> perf = VersionPerformance.for_task(Task.BINARY, positive_label=1, window=2)
>>> type(perf).__name__
'BinaryPerformance'
>>> [perf.update(y, p, {"1": s, "0": 1 - s}) for y, p, s in [(1, 1, .9), (0, 1, .6), (0, 0, .2)]]
[True, False, True]
>>> values = perf.values()
>>> values[("accuracy", "cumulative")], values[("accuracy", "rolling")]
(0.666..., 0.5)
"""

from __future__ import annotations

from driftwarden.core.tasks import Task, class_key
from driftwarden.monitor.performance.base import DEFAULT_MAX_CLASSES, ExampleKey, VersionPerformance
from driftwarden.monitor.performance.binary import BinaryPerformance
from driftwarden.monitor.performance.multiclass import (
    OTHER_CLASS,
    OTHER_MISMATCH,
    MulticlassPerformance,
)
from driftwarden.monitor.performance.regression import RegressionPerformance

__all__ = [
    "DEFAULT_MAX_CLASSES",
    "OTHER_CLASS",
    "OTHER_MISMATCH",
    "BinaryPerformance",
    "ExampleKey",
    "MulticlassPerformance",
    "RegressionPerformance",
    "Task",
    "VersionPerformance",
    "class_key",
]
