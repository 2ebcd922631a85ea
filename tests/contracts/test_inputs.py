"""Golden tests: prediction and label parsing, and the event-time formatter, byte for byte."""

from __future__ import annotations

import pytest

from driftwarden.contracts.errors import InvalidEvent
from driftwarden.contracts.inputs import (
    Label,
    Prediction,
    check_ahead,
    parse_label,
    parse_prediction,
    serialize_label,
    serialize_prediction,
)
from driftwarden.core.timestamps import format_timestamp

PREDICTION = (
    b'{"prediction_id":"p-1","model":"churn","model_version":3,'
    b'"timestamp":"2026-11-26T03:00:00.25+01:00","features":{"tenure":1.5,"plan":"pro",'
    b'"vip":true,"age":40,"note":null},"prediction":"yes","scores":{"no":0.25,"yes":0.75}}'
)
LABEL = b'{"schema":1,"prediction_id":"p-1","model":"churn","label":"no","timestamp":1795662060.5}'
GOOD = b'{"prediction_id":"p","model":"m","model_version":"1","timestamp":0'
LONG_ID = b'{"prediction_id":"' + b"x" * 257 + b'","model":"m"}'


def test_prediction_parses_to_its_fields() -> None:
    assert parse_prediction(PREDICTION) == Prediction(
        prediction_id="p-1",
        model="churn",
        version="3",
        timestamp=1795658400.25,
        features={"tenure": 1.5, "plan": "pro", "vip": True, "age": 40, "note": None},
        prediction="yes",
        scores={"no": 0.25, "yes": 0.75},
    )


def test_label_parses_to_its_fields() -> None:
    assert parse_label(LABEL) == Label("p-1", "churn", "no", 1795662060.5)


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (None, "invalid_json", "empty message value"),
        (b"{", "invalid_json", "unexpected end of data: line 1 column 2 (char 1)"),
        (b"[1]", "schema_violation", "expected a JSON object, got list"),
        (b'{"schema":2}', "schema_violation", "unsupported schema 2, expected 1"),
        (b'{"schema":true}', "schema_violation", "unsupported schema True, expected 1"),
        (b'{"model":"m"}', "schema_violation", "missing field 'prediction_id'"),
        (
            b'{"prediction_id":"","model":"m"}',
            "schema_violation",
            "field 'prediction_id' must be a non-empty string",
        ),
        (LONG_ID, "id_too_long", "field 'prediction_id' is longer than 256 bytes of UTF-8"),
        (
            b'{"prediction_id":"p","model":"m","model_version":true}',
            "schema_violation",
            "field 'model_version' must be a non-empty string or integer",
        ),
        (
            b'{"prediction_id":"p","model":"m","model_version":"1","timestamp":-1}',
            "timestamp_out_of_range",
            "field 'timestamp' -1 is before 1970-01-01T00:00:00Z or after 5138-11-16T09:46:40Z",
        ),
        (
            b'{"prediction_id":"p","model":"m","model_version":"1","timestamp":1e12}',
            "schema_violation",
            "field 'timestamp' out of range: 1000000000000.0",
        ),
        (
            b'{"prediction_id":"p","model":"m","model_version":"1",'
            b'"timestamp":"2026-11-26T03:00:00"}',
            "schema_violation",
            "field 'timestamp' has no time zone: '2026-11-26T03:00:00'",
        ),
        (
            b'{"prediction_id":"p","model":"m","model_version":"1","timestamp":"yesterday"}',
            "schema_violation",
            "field 'timestamp' is not ISO-8601: 'yesterday'",
        ),
        (
            GOOD + b',"features":{"a":[1]},"prediction":1}',
            "unknown_feature_type",
            "feature 'a' has unsupported type list",
        ),
        (
            GOOD + b',"features":[],"prediction":1}',
            "schema_violation",
            "field 'features' must be an object",
        ),
        (
            GOOD + b',"features":{},"prediction":{}}',
            "schema_violation",
            "field 'prediction' must be a class or a number",
        ),
        (
            GOOD + b',"features":{},"prediction":1,"scores":{"a":"x"}}',
            "schema_violation",
            "score for class 'a' must be a finite number",
        ),
    ],
)
def test_bad_prediction_is_rejected_with_its_reason(
    raw: bytes | None, reason: str, detail: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_prediction(raw)  # type: ignore[arg-type]  # a tombstone's value is None
    assert (caught.value.reason, caught.value.detail) == (reason, detail)
    assert str(caught.value) == f"{reason}: {detail}"


def test_label_without_label_is_a_schema_violation() -> None:
    with pytest.raises(InvalidEvent, match="^schema_violation: missing field 'label'$"):
        parse_label(b'{"prediction_id":"p-1","model":"churn","timestamp":0}')


def test_event_time_far_ahead_of_kafka_time_is_rejected() -> None:
    check_ahead(1000.0, 990_000, 60.0)
    with pytest.raises(InvalidEvent) as caught:
        check_ahead(1000.0, 900_000, 60.0)
    assert caught.value.reason == "timestamp_out_of_range"
    assert caught.value.detail == (
        "field 'timestamp' 1970-01-01T00:16:40Z is more than models[].future_tolerance (60s)"
        " after the message's Kafka timestamp 1970-01-01T00:15:00Z: check the producer's clock"
        " and time zone"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1795662000.5, "2026-11-26T03:00:00.500000Z"),
        (1795662000.123456, "2026-11-26T03:00:00.123456Z"),
        (1e11, "5138-11-16T09:46:40Z"),
    ],
)
def test_timestamps_are_iso_utc_with_z(seconds: float, text: str) -> None:
    assert format_timestamp(seconds) == text


def test_prediction_serializes_as_the_demo_produced_it_and_parses_back() -> None:
    prediction = Prediction(
        "loan-0000001", "loans", "2", 1795600001.0, {"salary": 5e4, "region": "north"}, 1, None
    )
    raw = serialize_prediction(prediction)
    assert raw == (
        b'{"schema":1,"prediction_id":"loan-0000001","model":"loans","model_version":"2",'
        b'"timestamp":1795600001.0,"features":{"salary":50000.0,"region":"north"},"prediction":1}'
    )
    assert parse_prediction(raw) == prediction
    scored = prediction._replace(scores={"0": 0.25, "1": 0.75})
    assert serialize_prediction(scored).endswith(b',"prediction":1,"scores":{"0":0.25,"1":0.75}}')
    assert parse_prediction(serialize_prediction(scored)) == scored


def test_label_serializes_as_the_demo_produced_it_and_parses_back() -> None:
    label = Label("loan-0000001", "loans", 1, 1795600061.0)
    raw = serialize_label(label)
    assert raw == (
        b'{"schema":1,"prediction_id":"loan-0000001","model":"loans","label":1,'
        b'"timestamp":1795600061.0}'
    )
    assert parse_label(raw) == label
