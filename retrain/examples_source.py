"""Reads joined examples back from the examples topic, addressed by offsets.

Timestamp lookups and end offsets are unreliable on some brokers, so the reader scans the topic
up to each partition's high watermark (known from fetch responses) and records, per partition,
the offset range it used. Re-reading those ranges and keeping the newest ``limit`` examples again
gives exactly the same data: the lineage a version records for reproduction.

Anyone with produce rights on the topic can write to it: a record that is not a joined example
is skipped and counted by reason (:data:`driftwarden.contracts.examples.SKIP_REASONS`), never
failing the read.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer

from driftwarden.contracts.errors import MalformedExample
from driftwarden.contracts.examples import SKIP_REASONS
from driftwarden.core import kafka_compat
from driftwarden.core.privacy import PiiPolicy
from driftwarden.retrain.dataset import Example, parse_example
from driftwarden.retrain.errors import TrainingError
from driftwarden.retrain.topic_scan import Bounds, assign, scan

__all__ = ["ExamplesRead", "OffsetRange", "read_examples"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OffsetRange:
    partition: int
    start: int
    end: int  # exclusive

    def to_dict(self) -> dict[str, int]:
        return {"partition": self.partition, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class ExamplesRead:
    """The examples kept (oldest first), the offset ranges they came from, and how many records
    of the model were skipped, by reason (every reason of ``SKIP_REASONS``, zeros included)."""

    examples: list[Example]
    ranges: list[OffsetRange]
    skipped: dict[str, int] = field(default_factory=dict)


def read_examples(
    consumer_options: dict[str, Any],
    topic: str,
    model: str,
    limit: int,
    ranges: Iterable[OffsetRange] | None = None,
    timeout: float = 60.0,
    pii: PiiPolicy | None = None,
) -> ExamplesRead:
    """The newest ``limit`` examples of ``model`` (by prediction time, then id) and the offset
    ranges they came from; with ``ranges``, only those ranges are read. PII features are
    scrubbed by ``pii`` (see :func:`driftwarden.retrain.dataset.parse_example`)."""
    kafka_compat.install()  # a header key that is not UTF-8 must not stop the read
    consumer = KafkaConsumer(
        **consumer_options,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    wanted = {r.partition: (r.start, r.end) for r in ranges} if ranges is not None else None
    newest: list[tuple[float, str, int, int, Example]] = []
    skipped: Counter[str] = Counter()
    try:
        for record in scan(consumer, _assign(consumer, topic, wanted, timeout), timeout):
            if record.key != model.encode():
                continue
            try:
                example = parse_example(record.value or b"", pii)
            except MalformedExample as exc:
                if not skipped:
                    log.warning(
                        "%s partition %d offset %d is not a joined example of %s, skipped (only "
                        "the first is logged; the run's lineage counts them): %s",
                        topic,
                        record.partition,
                        record.offset,
                        model,
                        str(exc)[:200],
                    )
                skipped[exc.reason] += 1
                continue
            item = (
                example.prediction_timestamp,
                example.prediction_id,
                record.partition,
                record.offset,
                example,
            )
            if len(newest) < limit:
                heapq.heappush(newest, item)
            else:
                heapq.heappushpop(newest, item)
    except TimeoutError as exc:
        raise TrainingError(f"examples topic {topic!r}: {exc}") from exc
    finally:
        consumer.close()
    newest.sort()
    counts = {reason: skipped[reason] for reason in SKIP_REASONS}
    return ExamplesRead([item[4] for item in newest], _ranges(newest), counts)


def _assign(
    consumer: KafkaConsumer,
    topic: str,
    wanted: dict[int, tuple[int, int]] | None,
    timeout: float,
) -> Bounds:
    try:
        return assign(consumer, topic, wanted, timeout)
    except LookupError as exc:
        raise TrainingError(f"examples topic {topic!r} does not exist") from exc


def _ranges(items: list[tuple[float, str, int, int, Example]]) -> list[OffsetRange]:
    spans: dict[int, tuple[int, int]] = {}
    for _, _, partition, offset, _ in items:
        low, high = spans.get(partition, (offset, offset))
        spans[partition] = (min(low, offset), max(high, offset))
    return [OffsetRange(p, low, high + 1) for p, (low, high) in sorted(spans.items())]
