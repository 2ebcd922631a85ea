"""Bad input never crashes, loses or double-applies: a property test of the processing path.

Generated streams mix valid messages with every kind of bad one on both topics; each stream is
processed in micro-batches as the service does (one topic partition per call), and checked
record by record against the reason its generator expects (duplicates decided by an independent
oracle), then against the counters, the outputs and the state.
"""

from __future__ import annotations

import math
import pickle
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from itertools import groupby

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftwarden.config import MonitorConfig, parse_config
from driftwarden.monitor.exporter import MetricsSnapshot, MonitorCollector
from driftwarden.monitor.processor import BatchOutput, OutputRecord, StreamProcessor
from driftwarden.monitor.state import MonitorState
from driftwarden.testing import stream_profile
from tests.monitor.badinput import (
    BASE_TIME,
    CATEGORIES,
    DuplicateOracle,
    Message,
    message,
    models_config,
)
from tests.monitor.harness import Record

PARTITIONS = 2
MAX_PENDING = 64
SHARE = math.ceil(MAX_PENDING / PARTITIONS)
IDS = 24  # ids per partition, <= the duplicate memory (so the oracle never forgets either)
MAX_REQUEST = 16384  # a small producer limit keeps "too large" messages cheap
TOPICS = {"predictions": "in.predictions", "labels": "in.labels"}
REASONS = {reason for reason in CATEGORIES.values() if reason} | {
    "duplicate_prediction",
    "duplicate_label",
}


PROFILE = stream_profile(600, seed=1)


@cache
def config() -> MonitorConfig:
    return parse_config(
        {
            "kafka": {"client": {"max_request_size": MAX_REQUEST}},
            "topics": {**TOPICS},
            "models": models_config(MAX_PENDING),
        }
    )


def records(messages: Sequence[Message]) -> list[Record]:
    offsets: Counter[tuple[str, int]] = Counter()
    out = []
    for m in messages:
        topic = TOPICS[m.topic]
        offset = offsets[(topic, m.partition)]
        offsets[(topic, m.partition)] += 1
        out.append(Record(topic, m.partition, offset, m.key, m.value, m.headers, m.kafka_ms))
    return out


def run(stream: Sequence[Record], batch: int) -> tuple[StreamProcessor, BatchOutput]:
    """Chunks of ``batch`` records, each split by topic partition like a poll's result."""
    processor = StreamProcessor(
        config(),
        MonitorState(),
        PARTITIONS,
        profiles=lambda m, v: PROFILE if m == "churn" else None,
    )
    total = BatchOutput()
    for start in range(0, len(stream), batch):
        chunk = sorted(stream[start : start + batch], key=lambda r: (r.topic, r.partition))
        for _, group in groupby(chunk, key=lambda r: (r.topic, r.partition)):
            out = processor.process(list(group))
            for name in ("examples", "dead_letters", "events", "requests"):
                getattr(total, name).extend(getattr(out, name))
            check_state(processor.state)
    return processor, total


def headers_named(record: OutputRecord, name: str) -> list[bytes]:
    return [value for key, value in record.headers if key == name]


def source(record: OutputRecord) -> tuple[str, int, int]:
    [topic], [partition], [offset] = (
        headers_named(record, f"source-{part}") for part in ("topic", "partition", "offset")
    )
    return topic.decode(), int(partition), int(offset)


def dead_letter_reasons(output: BatchOutput) -> dict[tuple[str, int, int], str]:
    reasons: dict[tuple[str, int, int], str] = {}
    for letter in output.dead_letters:
        [error] = headers_named(letter, "error")
        assert source(letter) not in reasons, "a record was dead-lettered twice"
        reasons[source(letter)] = error.decode()
    return reasons


def check_state(state: MonitorState) -> None:
    for partition in state.partitions.values():
        for join in partition.joins.values():
            assert 0 <= join.pending_predictions + join.pending_labels <= SHARE
            for side in (join._predictions, join._labels):  # noqa: SLF001 - invariants
                assert len(side.seen) <= SHARE
        for counter in vars(partition.counters).values():
            if isinstance(counter, Counter):
                assert all(count >= 0 for count in counter.values())


def check_dead_letter(letter: OutputRecord, original: Record) -> None:
    assert len(headers_named(letter, "error-detail")) == 1
    assert len(letter.key or b"") + len(letter.value or b"") <= MAX_REQUEST
    [truncated] = headers_named(letter, "value-truncated") or [None]
    if truncated is None:
        assert letter.value == original.value
    else:
        assert int(truncated) == len(original.value or b"")
        assert original.value is not None and original.value.startswith(letter.value or b"")
    if not headers_named(letter, "key-truncated"):
        assert letter.key == original.key
    if not headers_named(letter, "headers-dropped"):
        kept = [h for h in original.headers if h[0] not in ("error", "source-offset")]
        assert letter.headers[: len(kept)] == kept


def check_outputs(
    stream: Sequence[Record], processor: StreamProcessor, output: BatchOutput
) -> None:
    by_source = {(r.topic, r.partition, r.offset): r for r in stream}
    reasons = dead_letter_reasons(output)
    for letter in output.dead_letters:
        check_dead_letter(letter, by_source[source(letter)])
    totals = processor.state.totals()
    applied = sum(totals.predictions.values()) + sum(totals.labels.values())
    assert applied + len(output.dead_letters) == len(stream)
    assert sum(totals.invalid.values()) == len(output.dead_letters)
    assert totals.invalid == Counter((topic, reason) for (topic, _, _), reason in reasons.items())
    # Every joined pair published once; no record joined twice; joins only from applied records.
    assert sum(totals.joined.values()) == len(output.examples)
    sides = Counter()
    for example in output.examples:
        [label_offset] = headers_named(example, "label-offset")
        topic, partition, offset = source(example)
        for side in ((topic, partition, offset), (TOPICS["labels"], partition, int(label_offset))):
            assert side not in reasons
            sides[side] += 1
    assert all(count == 1 for count in sides.values())
    for (topic, partition), offset in processor.state.offsets.items():
        assert offset == 1 + max(
            r.offset for r in stream if (r.topic, r.partition) == (topic, partition)
        )
    collector = MonitorCollector()
    collector.snapshot = MetricsSnapshot.of(processor.state, ["churn", "reg"], {}, None)
    assert list(collector.collect())
    restored = pickle.loads(pickle.dumps(processor.state))  # noqa: S301 - our own bytes
    assert restored.totals().invalid == totals.invalid


def expected(messages: Iterable[Message]) -> list[str | None]:
    oracle = DuplicateOracle(SHARE)
    return [oracle.reason(m) for m in messages]


# About half valid (of three kinds), so that pairs join and ids repeat after joining.
CATEGORY = st.sampled_from(sorted(CATEGORIES) + ["valid"] * 12 + ["valid_extreme"] * 4)
SPECS = st.lists(st.tuples(CATEGORY, st.integers(0, 2**32 - 1)), min_size=1, max_size=200)


def build(specs: Sequence[tuple[str, int]]) -> list[Message]:
    base_ms = int(BASE_TIME * 1000)
    too_large = MAX_REQUEST
    return [
        message(random.Random(seed), category, i, PARTITIONS, IDS * PARTITIONS, too_large, base_ms)
        for i, (category, seed) in enumerate(specs)
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=SPECS, batch=st.integers(1, 40))
def test_every_record_is_applied_or_dead_lettered_exactly_once(
    specs: list[tuple[str, int]], batch: int
) -> None:
    messages = build(specs)
    stream = records(messages)
    processor, output = run(stream, batch)
    check_outputs(stream, processor, output)
    reasons = dead_letter_reasons(output)
    actual = [reasons.get((r.topic, r.partition, r.offset)) for r in stream]
    assert actual == expected(messages)
    assert set(reasons.values()) <= REASONS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=SPECS, batch=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_what_is_rejected_depends_only_on_each_partitions_order(
    specs: list[tuple[str, int]], batch: int, seed: int
) -> None:
    """A replay interleaves the topics and partitions differently and cuts other batches: the
    same records are rejected for the same reasons and the same ones are applied."""
    stream = records(build(specs))
    shuffled = interleave(stream, random.Random(seed))
    first, first_output = run(stream, batch)
    second, second_output = run(shuffled, max(1, 41 - batch))
    assert dead_letter_reasons(first_output) == dead_letter_reasons(second_output)
    first_totals, second_totals = first.state.totals(), second.state.totals()
    assert first_totals.predictions == second_totals.predictions
    assert first_totals.labels == second_totals.labels


def interleave(stream: Sequence[Record], rng: random.Random) -> list[Record]:
    """Another merge of the same per-partition sequences."""
    queues: dict[tuple[str, int], list[Record]] = {}
    for record in stream:
        queues.setdefault((record.topic, record.partition), []).append(record)
    out: list[Record] = []
    while queues:
        key = rng.choice(sorted(queues))
        out.append(queues[key].pop(0))
        if not queues[key]:
            del queues[key]
    return out


def test_a_far_future_timestamp_cannot_expire_what_is_waiting() -> None:
    """One prediction stamped a year ahead of its Kafka timestamp is rejected, so the label that
    was waiting still joins its prediction."""
    base_ms = int(BASE_TIME * 1000)
    doc = {"model": "churn", "timestamp": BASE_TIME + 10}
    label = orjson.dumps({**doc, "prediction_id": "a", "label": 1})
    prediction = {
        **doc,
        "model_version": "1",
        "features": {},
        "prediction": 1,
    }
    bogus = orjson.dumps({**prediction, "prediction_id": "b", "timestamp": BASE_TIME + 3e7})
    good = orjson.dumps({**prediction, "prediction_id": "a"})
    stream = [
        Record(TOPICS["labels"], 0, 0, b"a", label, [], base_ms),
        Record(TOPICS["predictions"], 0, 0, b"b", bogus, [], base_ms),
        Record(TOPICS["predictions"], 0, 1, b"a", good, [], base_ms + 1),
    ]
    processor, output = run(stream, 1)
    assert dead_letter_reasons(output) == {(TOPICS["predictions"], 0, 0): "timestamp_out_of_range"}
    assert len(output.examples) == 1
    assert sum(processor.state.totals().unmatched.values()) == 0


def test_extreme_valid_values_flow_through_drift_and_metrics() -> None:
    """Huge, tiny and far-past values that are valid are applied, joined, checked for drift
    (with a reference profile) and exported without an error."""
    rng = random.Random(4)
    base_ms = int(BASE_TIME * 1000)
    kinds = ["valid", "valid_extreme", "valid_past"]
    messages = [
        message(rng, rng.choice(kinds), 2 * n + side, 1, 0, 1, base_ms, (topic, model, n))
        for n in range(1000)
        for model in [rng.choice(["churn", "churn", "reg"])]
        for side, topic in enumerate(["predictions", "labels"])
    ]
    stream = records(messages)
    processor, output = run(stream, 25)
    check_outputs(stream, processor, output)
    assert len(output.examples) > 50
    snapshot = MetricsSnapshot.of(processor.state, ["churn", "reg"], {}, None)
    assert snapshot.drift.scores  # drift was evaluated, over extreme feature values too
    assert snapshot.performance


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_each_kind_of_message_gets_its_reason(category: str) -> None:
    """500 messages of one kind (with valid ones between them, for duplicates and joins): each
    is applied or dead-lettered with the reason its generator expects. 12,000 in all."""
    kinds = [category, "valid"]
    messages = build([(kinds[seed % 3 == 0], seed) for seed in range(500)])
    stream = records(messages)
    processor, output = run(stream, 50)
    check_outputs(stream, processor, output)
    reasons = dead_letter_reasons(output)
    actual = [reasons.get((r.topic, r.partition, r.offset)) for r in stream]
    assert actual == expected(messages)
    if CATEGORIES[category] is not None:
        assert CATEGORIES[category] in reasons.values()


def test_an_example_too_large_to_publish_is_counted_and_logged_not_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A prediction just under the input limit can grow when written back (``1E9`` becomes
    ``1000000000.0``): its example would exceed the producer's limit and fail to send. The
    model "reg" declares no features, so all 1000 are kept."""
    features = b",".join(b'"f%d":1E9' % i for i in range(1000))
    doc = b'"prediction_id":"a","model":"reg","timestamp":%d' % BASE_TIME
    prediction = b'{%s,"model_version":"1","prediction":1,"features":{%s}}' % (doc, features)
    label = b'{%s,"label":1}' % doc
    base_ms = int(BASE_TIME * 1000)
    stream = [
        Record(TOPICS["predictions"], 0, 0, b"a", prediction, [], base_ms),
        Record(TOPICS["labels"], 0, 0, b"a", label, [], base_ms),
    ]
    assert len(prediction) < MAX_REQUEST - 4096 - 512
    processor, output = run(stream, 2)
    assert output.dead_letters == [] and output.examples == []
    assert sum(processor.state.totals().joined.values()) == 1
    assert "larger than the producer's max_request_size" in caplog.text
