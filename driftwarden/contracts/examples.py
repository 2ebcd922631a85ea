"""The joined example on the examples topic (schema 1): the monitor writes it, the retrain worker
reads it.

One record per labeled prediction, key = model name, headers naming the prediction's place
(``source-*``) and the label's offset (``label-offset``). The reader checks the fields training
uses; any other breach of the schema makes a :class:`MalformedExample`, which the worker skips.

>>> from driftwarden.contracts.inputs import Label, Prediction
>>> prediction = Prediction("p-1", "churn", "3", 10.0, {"tenure": 1.5}, 1, None)
>>> record = example_record(prediction, Label("p-1", "churn", 0, 15.0), ("predictions", 0, 4), 9)
>>> record.key, record.headers[-1]
(b'churn', ('label-offset', b'9'))
>>> parse_example(record.value)
ExampleFields(prediction_id='p-1', model_version='3', features={'tenure': 1.5}, label=0, \
prediction_timestamp=10.0)
>>> try:
...     parse_example(b'{"schema": 1, "label": 1}')
... except MalformedExample as exc:
...     print(exc.reason, "-", exc)
field - missing field 'features'
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import orjson

from driftwarden.contracts.errors import MalformedExample
from driftwarden.contracts.inputs import Label, Prediction, Target
from driftwarden.contracts.records import Record, source_headers
from driftwarden.contracts.schema import SCHEMA_VERSION

__all__ = ["SKIP_REASONS", "ExampleFields", "example_record", "parse_example"]

SKIP_REASONS = ("json", "schema", "field")
"""Why an examples record was skipped: not JSON; not a schema-1 object; a field missing or of
the wrong type."""


class ExampleFields(NamedTuple):
    """The fields of a joined example that training reads."""

    prediction_id: str
    model_version: str
    features: dict[str, Any]  # values as published, not checked
    label: Target
    prediction_timestamp: float


def example_record(
    prediction: Prediction, label: Label, source: tuple[str, int, int], label_offset: int
) -> Record:
    """The record of ``prediction`` joined with its ``label``; ``source`` is the prediction's
    topic, partition and offset."""
    value = orjson.dumps(
        {
            "schema": SCHEMA_VERSION,
            "prediction_id": prediction.prediction_id,
            "model": prediction.model,
            "model_version": prediction.version,
            "features": prediction.features,
            "prediction": prediction.prediction,
            "scores": prediction.scores,
            "label": label.label,
            "prediction_timestamp": prediction.timestamp,
            "label_timestamp": label.timestamp,
        }
    )
    headers = source_headers(*source)
    headers.append(("label-offset", str(label_offset).encode()))
    return Record(prediction.model.encode(), value, headers)


def parse_example(value: bytes) -> ExampleFields:
    """The joined example in ``value``; raise :class:`MalformedExample` naming what is wrong."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise MalformedExample("json", f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MalformedExample("schema", f"expected a JSON object, got {type(doc).__name__}")
    schema = doc.get("schema")
    if schema != SCHEMA_VERSION or isinstance(schema, bool):
        raise MalformedExample("schema", f"unsupported schema {schema!r}, expected 1")
    features = _field(doc, "features", dict)
    label = _field(doc, "label", (bool, int, float, str))
    timestamp = float(_field(doc, "prediction_timestamp", (int, float)))
    if not math.isfinite(timestamp):
        raise MalformedExample("field", "field 'prediction_timestamp' is not finite")
    version = str(_field(doc, "model_version", (str, int)))
    return ExampleFields(
        prediction_id=_field(doc, "prediction_id", str),
        model_version=version,
        features=features,
        label=label,
        prediction_timestamp=timestamp,
    )


def _field(doc: dict[str, Any], name: str, kinds: type | tuple[type, ...]) -> Any:
    value = doc.get(name)
    if value is None:
        raise MalformedExample("field", f"missing field {name!r}")
    allowed = kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        message = f"field {name!r} has unexpected type {type(value).__name__}"
        raise MalformedExample("field", message)
    return value
