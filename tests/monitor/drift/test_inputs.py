"""Drift inputs as records: each evaluation names the records that triggered it."""

from __future__ import annotations

import orjson

from driftwarden.core.tasks import Task
from driftwarden.monitor.drift.checks import DriftSettings, VersionDrift
from driftwarden.monitor.drift.inputs import DriftBatch, JoinedExample, ObservedPrediction, Source
from driftwarden.testing import generate_stream, stream_profile


def shifted_batch(events: int) -> DriftBatch:
    """Predictions shifted from the first event (data drift), every label right and then, from
    the second half on, every label wrong (concept drift)."""
    batch = DriftBatch()
    stream = [(e.topic, orjson.loads(e.value)) for e in generate_stream(events, 7, shift_at=0)]
    sources: dict[str, Source] = {}
    for offset, (topic, doc) in enumerate(stream):
        here = Source(topic, 0, offset)
        if topic == "predictions":
            sources[doc["prediction_id"]] = here
            batch.predictions.append(
                ObservedPrediction(doc["features"], doc["prediction"], doc["timestamp"], here)
            )
        else:
            wrong = len(batch.examples) >= events // 2
            prediction = 1 - doc["label"] if wrong else doc["label"]
            source = sources[doc["prediction_id"]]
            batch.examples.append(
                JoinedExample(doc["label"], prediction, doc["timestamp"], source, here)
            )
    return batch


def test_each_evaluation_comes_with_the_records_that_triggered_it() -> None:
    settings = DriftSettings(window=60, every=20, detector="PageHinkley")
    drift = VersionDrift(stream_profile(2000, seed=3), settings, Task.BINARY)
    batch = shifted_batch(600)
    triggered = batch.observe(drift)
    kinds = {t.evaluation.kind for t in triggered}
    assert {"data", "concept"} <= kinds
    for evaluation, sources in triggered:
        if evaluation.kind in ("data", "prediction"):
            assert sources == (batch.predictions[evaluation.index].source,)
        else:
            example = batch.examples[evaluation.index]
            assert sources == (example.prediction_source, example.label_source)
    assert drift.events_seen == len(batch.predictions)
    assert drift.joined_seen == len(batch.examples)
    assert batch.latest_timestamp() == max(e.timestamp for e in batch.examples)
    assert batch.last_source() == batch.examples[-1].label_source
