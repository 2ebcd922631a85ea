"""One micro-batch's inputs to the drift checks of one model version, as records.

A :class:`DriftBatch` holds the predictions observed and the examples joined in the batch, each
with where it was read (:class:`Source`), so that an evaluation can name the record that
triggered it.

>>> batch = DriftBatch()
>>> batch.predictions.append(ObservedPrediction({"x": 1.0}, 1, 10.0, Source("p", 0, 7)))
>>> batch.examples.append(
...     JoinedExample(0, 1, 12.0, Source("p", 0, 7), Source("l", 0, 3)))
>>> batch.latest_timestamp(), batch.last_source()
(12.0, Source(topic='l', partition=0, offset=3))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from driftwarden.monitor.drift.checks import Evaluation, VersionDrift

__all__ = ["DriftBatch", "JoinedExample", "ObservedPrediction", "Source", "Triggered"]


class Source(NamedTuple):
    """Where a consumed record was read."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class ObservedPrediction:
    """A prediction event as the data and prediction drift checks see it."""

    features: Mapping[str, object]
    prediction: object
    timestamp: float
    source: Source


@dataclass(frozen=True, slots=True)
class JoinedExample:
    """A prediction joined to its label, as the label and concept drift checks see it."""

    label: object
    prediction: object
    timestamp: float  # the label's
    prediction_source: Source
    label_source: Source


class Triggered(NamedTuple):
    """An evaluation and the records that triggered it, the last one its headers' source."""

    evaluation: Evaluation
    sources: tuple[Source, ...]


@dataclass(slots=True)
class DriftBatch:
    """Made for the first record of a version in a micro-batch: never empty."""

    predictions: list[ObservedPrediction] = field(default_factory=list)
    examples: list[JoinedExample] = field(default_factory=list)

    def observe(self, drift: VersionDrift) -> list[Triggered]:
        """Feed the batch to ``drift``: every evaluation it made, with its triggering records.

        Windows keep the most recent events by (timestamp, partition, offset)."""
        predictions, examples = self.predictions, self.examples
        observed = drift.observe(
            [p.features for p in predictions],
            [p.prediction for p in predictions],
            [p.timestamp for p in predictions],
            [(p.source.partition, p.source.offset) for p in predictions],
        )
        joined = drift.observe_joined(
            [e.label for e in examples],
            [e.prediction for e in examples],
            [e.timestamp for e in examples],
            [(e.label_source.partition, e.label_source.offset) for e in examples],
        )
        return [Triggered(e, (predictions[e.index].source,)) for e in observed] + [
            Triggered(e, (examples[e.index].prediction_source, examples[e.index].label_source))
            for e in joined
        ]

    def latest_timestamp(self) -> float:
        """The largest event time in the batch (a label's time for a joined example)."""
        return max([p.timestamp for p in self.predictions] + [e.timestamp for e in self.examples])

    def last_source(self) -> Source:
        """The last label joined, else the last prediction observed."""
        if self.examples:
            return self.examples[-1].label_source
        return self.predictions[-1].source
