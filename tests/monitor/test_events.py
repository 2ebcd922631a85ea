from __future__ import annotations

import orjson
import pytest

from driftwarden.contracts.errors import InvalidEvent
from driftwarden.contracts.inputs import check_ahead, parse_label, parse_prediction

PREDICTION = {
    "schema": 1,
    "prediction_id": "p-000123",
    "model": "churn",
    "model_version": "3",
    "timestamp": "2026-11-26T03:00:00Z",
    "features": {"tenure": 12.0, "plan": "pro"},
    "prediction": 1,
    "scores": {"0": 0.2, "1": 0.8},
}


def _with(**changes: object) -> bytes:
    doc = {**PREDICTION, **changes}
    return orjson.dumps({k: v for k, v in doc.items() if v is not _DROP})


_DROP = object()


def test_contract_example_parses() -> None:
    pred = parse_prediction(orjson.dumps(PREDICTION))
    assert pred.prediction_id == "p-000123"
    assert pred.version == "3"
    assert pred.timestamp == 1795662000.0
    assert pred.scores == {"0": 0.2, "1": 0.8}
    assert pred.features == {"tenure": 12.0, "plan": "pro"}


def test_missing_schema_means_one_and_extra_fields_are_ignored() -> None:
    pred = parse_prediction(_with(schema=_DROP, extra={"anything": [1, 2]}))
    assert pred.model == "churn"


def test_epoch_seconds_and_offsets_are_accepted() -> None:
    assert parse_prediction(_with(timestamp=1795662000)).timestamp == 1795662000.0
    assert parse_prediction(_with(timestamp="2026-11-26T04:00:00+01:00")).timestamp == 1795662000.0


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b'{"x": NaN}', "invalid_json"),
        (b"[1, 2]", "schema_violation"),
        (_with(schema=2), "schema_violation"),
        (_with(prediction_id=_DROP), "schema_violation"),
        (_with(prediction_id=7), "schema_violation"),
        (_with(model_version=True), "schema_violation"),
        (_with(timestamp="yesterday"), "schema_violation"),
        (_with(timestamp="2026-11-26T03:00:00"), "schema_violation"),
        (_with(timestamp=1e300), "schema_violation"),
        (_with(prediction=[1]), "schema_violation"),
        (_with(prediction=_DROP), "schema_violation"),
        (_with(features=[1, 2]), "schema_violation"),
        (_with(scores={"1": "high"}), "schema_violation"),
        (_with(features={"nested": {"a": 1}}), "unknown_feature_type"),
        (_with(features={"list": [1]}), "unknown_feature_type"),
    ],
)
def test_invalid_predictions_name_their_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as excinfo:
        parse_prediction(raw)
    assert excinfo.value.reason == reason


def test_label_accepts_bool_and_string_classes() -> None:
    doc = {"prediction_id": "p-1", "model": "m", "timestamp": 5}
    assert parse_label(orjson.dumps({**doc, "label": True})).label is True
    assert parse_label(orjson.dumps({**doc, "label": "spam"})).label == "spam"
    with pytest.raises(InvalidEvent, match="label"):
        parse_label(orjson.dumps({**doc, "label": None}))


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        (-1, "timestamp_out_of_range"),
        ("1969-12-31T23:59:59Z", "timestamp_out_of_range"),
        ("0001-01-01T00:00:00+14:00", "timestamp_out_of_range"),
        ("9999-12-31T23:59:59Z", "timestamp_out_of_range"),
        (1e11 + 1, "schema_violation"),
        (-1e11 - 1, "schema_violation"),
    ],
)
def test_timestamps_outside_the_writable_range_are_rejected(timestamp: object, reason: str) -> None:
    with pytest.raises(InvalidEvent) as excinfo:
        parse_prediction(_with(timestamp=timestamp))
    assert excinfo.value.reason == reason


def test_the_range_ends_are_accepted() -> None:
    assert parse_prediction(_with(timestamp=0)).timestamp == 0.0
    assert parse_prediction(_with(timestamp="5138-11-16T09:46:40Z")).timestamp == 1e11


def test_timestamps_too_far_ahead_of_the_kafka_timestamp_are_rejected() -> None:
    check_ahead(1000.0, 940_000, 60.0)
    check_ahead(1e10, 0, None)  # no tolerance: no check
    check_ahead(1e10, -1, 60.0)  # no Kafka timestamp: no check
    with pytest.raises(InvalidEvent) as excinfo:
        check_ahead(1000.5, 940_000, 60.0)
    assert excinfo.value.reason == "timestamp_out_of_range"
    assert "future_tolerance" in str(excinfo.value)
