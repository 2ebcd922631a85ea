"""Prediction and label events, the monitor's input (schema 1): the records and their parsers.

Parsing is hand-written rather than model-based because it runs once per consumed message;
every rejection raises :class:`InvalidEvent` with a short machine-readable ``reason`` that ends
up in the ``error`` header of the dead-letter record and in ``driftwarden_invalid_events_total``.

>>> p = parse_prediction(b'{"prediction_id": "p-1", "model": "churn", "model_version": "3",'
...                      b' "timestamp": 0, "features": {"tenure": 1.5}, "prediction": 1}')
>>> p.prediction_id, p.model, p.version, p.timestamp, p.prediction
('p-1', 'churn', '3', 0.0, 1)
>>> parse_label(b'{"prediction_id": "p-1", "model": "churn", "label": true,'
...             b' "timestamp": "2026-11-26T05:10:00Z"}').timestamp
1795669800.0
>>> parse_label(b'{"prediction_id": "p-1", "model": "churn", "timestamp": 0}')
Traceback (most recent call last):
...
driftwarden.contracts.errors.InvalidEvent: schema_violation: missing field 'label'
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from driftwarden.contracts.errors import InvalidEvent
from driftwarden.contracts.schema import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, SCHEMA_VERSION
from driftwarden.core.timestamps import format_timestamp

__all__ = [
    "ID_TOO_LONG",
    "MAX_ID_BYTES",
    "TIMESTAMP_OUT_OF_RANGE",
    "FeatureValue",
    "Label",
    "Prediction",
    "Target",
    "check_ahead",
    "parse_label",
    "parse_prediction",
    "serialize_label",
    "serialize_prediction",
]

Target = int | str | bool | float
FeatureValue = float | int | str | bool | None

_INVALID_JSON = "invalid_json"
_SCHEMA = "schema_violation"
_UNKNOWN_FEATURE_TYPE = "unknown_feature_type"
TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
ID_TOO_LONG = "id_too_long"

# prediction_id, model and model_version are held (and remembered, to reject duplicates) for
# every waiting item, and become label values: each is at most this many bytes of UTF-8.
MAX_ID_BYTES = 256


class Prediction(NamedTuple):
    """A prediction event as the monitor holds it (``model_version`` read as ``version``)."""

    prediction_id: str
    model: str
    version: str
    timestamp: float
    features: dict[str, FeatureValue]
    prediction: Target
    scores: dict[str, float] | None


class Label(NamedTuple):
    """A label event: the true target of the prediction ``prediction_id``."""

    prediction_id: str
    model: str
    label: Target
    timestamp: float


def parse_prediction(raw: bytes) -> Prediction:
    """The prediction event in ``raw``; raise :class:`InvalidEvent` naming what is wrong."""
    doc = _load(raw)
    return Prediction(
        prediction_id=_string(doc, "prediction_id"),
        model=_string(doc, "model"),
        version=_version(doc),
        timestamp=_timestamp(doc),
        features=_features(doc),
        prediction=_target(doc, "prediction"),
        scores=_scores(doc),
    )


def parse_label(raw: bytes) -> Label:
    """The label event in ``raw``; raise :class:`InvalidEvent` naming what is wrong."""
    doc = _load(raw)
    return Label(
        prediction_id=_string(doc, "prediction_id"),
        model=_string(doc, "model"),
        label=_target(doc, "label"),
        timestamp=_timestamp(doc),
    )


def serialize_prediction(prediction: Prediction) -> bytes:
    """The prediction event of ``prediction`` (key: its ``prediction_id``), epoch-second time;
    ``scores`` are left out when there are none.

    >>> serialize_prediction(Prediction("p-1", "churn", "3", 0.0, {"tenure": 1.5}, 1, None))
    b'{"schema":1,"prediction_id":"p-1","model":"churn","model_version":"3","timestamp":0.0,\
"features":{"tenure":1.5},"prediction":1}'
    """
    doc: dict[str, object] = {
        "schema": SCHEMA_VERSION,
        "prediction_id": prediction.prediction_id,
        "model": prediction.model,
        "model_version": prediction.version,
        "timestamp": prediction.timestamp,
        "features": prediction.features,
        "prediction": prediction.prediction,
    }
    if prediction.scores is not None:
        doc["scores"] = prediction.scores
    return orjson.dumps(doc)


def serialize_label(label: Label) -> bytes:
    """The label event of ``label`` (key: its ``prediction_id``), epoch-second time.

    >>> parse_label(serialize_label(Label("p-1", "churn", True, 60.0)))
    Label(prediction_id='p-1', model='churn', label=True, timestamp=60.0)
    """
    return orjson.dumps(
        {
            "schema": SCHEMA_VERSION,
            "prediction_id": label.prediction_id,
            "model": label.model,
            "label": label.label,
            "timestamp": label.timestamp,
        }
    )


def check_ahead(timestamp: float, kafka_ms: int, tolerance: float | None) -> None:
    """Reject an event time more than ``tolerance`` seconds after its message's Kafka timestamp
    (``-1``: none): one far-future timestamp would move the join's event time far ahead and
    expire every waiting item.

    >>> check_ahead(1000.0, 990_000, 60.0)
    >>> check_ahead(1000.0, 900_000, 60.0)
    Traceback (most recent call last):
    ...
    driftwarden.contracts.errors.InvalidEvent: timestamp_out_of_range: field 'timestamp' \
1970-01-01T00:16:40Z is more than models[].future_tolerance (60s) after the message's Kafka \
timestamp 1970-01-01T00:15:00Z: check the producer's clock and time zone
    """
    if tolerance is None or kafka_ms < 0 or timestamp <= kafka_ms / 1000 + tolerance:
        return
    raise InvalidEvent(
        TIMESTAMP_OUT_OF_RANGE,
        f"field 'timestamp' {format_timestamp(timestamp)} is more than"
        f" models[].future_tolerance ({tolerance:g}s) after the message's Kafka timestamp"
        f" {format_timestamp(kafka_ms / 1000)}: check the producer's clock and time zone",
    )


def _load(raw: bytes) -> dict[str, Any]:
    if raw is None:
        raise InvalidEvent(_INVALID_JSON, "empty message value")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(_INVALID_JSON, str(exc)) from exc
    if not isinstance(doc, dict):
        raise InvalidEvent(_SCHEMA, f"expected a JSON object, got {type(doc).__name__}")
    schema = doc.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION or isinstance(schema, bool):
        raise InvalidEvent(_SCHEMA, f"unsupported schema {schema!r}, expected {SCHEMA_VERSION}")
    return doc


def _missing(field: str) -> InvalidEvent:
    return InvalidEvent(_SCHEMA, f"missing field {field!r}")


def _string(doc: dict[str, Any], field: str) -> str:
    value = doc.get(field)
    if value is None:
        raise _missing(field)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(_SCHEMA, f"field {field!r} must be a non-empty string")
    return _short(field, value)


def _short(field: str, value: str) -> str:
    """``value`` if it is at most :data:`MAX_ID_BYTES` bytes of UTF-8."""
    # Up to 4 bytes a character: shorter strings need no encoding to be measured.
    if len(value) > MAX_ID_BYTES // 4 and len(value.encode(errors="surrogatepass")) > MAX_ID_BYTES:
        raise InvalidEvent(
            ID_TOO_LONG, f"field {field!r} is longer than {MAX_ID_BYTES} bytes of UTF-8"
        )
    return value


def _version(doc: dict[str, Any]) -> str:
    value = doc.get("model_version")
    if value is None:
        raise _missing("model_version")
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise InvalidEvent(_SCHEMA, "field 'model_version' must be a non-empty string or integer")
    return _short("model_version", str(value))


def _timestamp(doc: dict[str, Any]) -> float:
    value = doc.get("timestamp")
    if value is None:
        raise _missing("timestamp")
    if isinstance(value, bool):
        raise InvalidEvent(_SCHEMA, "field 'timestamp' must be ISO-8601 or epoch seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value) or abs(value) > LATEST_TIMESTAMP:
            raise InvalidEvent(_SCHEMA, f"field 'timestamp' out of range: {value!r}")
        return _in_range(float(value), value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidEvent(_SCHEMA, f"field 'timestamp' is not ISO-8601: {value!r}") from exc
        if parsed.tzinfo is None:
            raise InvalidEvent(_SCHEMA, f"field 'timestamp' has no time zone: {value!r}")
        return _in_range(parsed.timestamp(), value)
    raise InvalidEvent(_SCHEMA, "field 'timestamp' must be ISO-8601 or epoch seconds")


def _in_range(seconds: float, value: object) -> float:
    if not EARLIEST_TIMESTAMP <= seconds <= LATEST_TIMESTAMP:
        raise InvalidEvent(
            TIMESTAMP_OUT_OF_RANGE,
            f"field 'timestamp' {value!r} is before 1970-01-01T00:00:00Z or after"
            f" {format_timestamp(LATEST_TIMESTAMP)}",
        )
    return seconds


def _target(doc: dict[str, Any], field: str) -> Target:
    if field not in doc or doc[field] is None:
        raise _missing(field)
    value = doc[field]
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEvent(_SCHEMA, f"field {field!r} must be finite")
    if not isinstance(value, int | str | bool | float):
        raise InvalidEvent(_SCHEMA, f"field {field!r} must be a class or a number")
    return value


def _features(doc: dict[str, Any]) -> dict[str, FeatureValue]:
    value = doc.get("features")
    if value is None:
        raise _missing("features")
    if not isinstance(value, dict):
        raise InvalidEvent(_SCHEMA, "field 'features' must be an object")
    for name, item in value.items():
        if item is None or isinstance(item, str | bool | int):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidEvent(_SCHEMA, f"feature {name!r} must be finite")
            continue
        raise InvalidEvent(
            _UNKNOWN_FEATURE_TYPE, f"feature {name!r} has unsupported type {type(item).__name__}"
        )
    return value


def _scores(doc: dict[str, Any]) -> dict[str, float] | None:
    value = doc.get("scores")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidEvent(_SCHEMA, "field 'scores' must be an object of class -> probability")
    for cls, prob in value.items():
        if isinstance(prob, bool) or not isinstance(prob, int | float) or not math.isfinite(prob):
            raise InvalidEvent(_SCHEMA, f"score for class {cls!r} must be a finite number")
    return value
