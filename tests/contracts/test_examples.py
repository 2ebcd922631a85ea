"""Golden tests: the joined example, written by the monitor and read by the retrain worker."""

from __future__ import annotations

import pytest

from driftwarden.contracts.errors import MalformedExample
from driftwarden.contracts.examples import example_record, parse_example
from driftwarden.contracts.inputs import Label, Prediction

PREDICTION = Prediction(
    prediction_id="p-1",
    model="churn",
    version="3",
    timestamp=1795658400.25,
    features={"tenure": 1.5, "plan": "pro", "vip": True, "age": 40, "note": None},
    prediction="yes",
    scores={"no": 0.25, "yes": 0.75},
)
LABEL = Label("p-1", "churn", "no", 1795662060.5)
VALUE = (
    b'{"schema":1,"prediction_id":"p-1","model":"churn","model_version":"3",'
    b'"features":{"tenure":1.5,"plan":"pro","vip":true,"age":40,"note":null},'
    b'"prediction":"yes","scores":{"no":0.25,"yes":0.75},"label":"no",'
    b'"prediction_timestamp":1795658400.25,"label_timestamp":1795662060.5}'
)


def test_joined_example_record_bytes_and_headers() -> None:
    record = example_record(PREDICTION, LABEL, ("predictions", 2, 41), 7)
    assert record.key == b"churn"
    assert record.value == VALUE
    assert record.headers == [
        ("source-topic", b"predictions"),
        ("source-partition", b"2"),
        ("source-offset", b"41"),
        ("label-offset", b"7"),
    ]


def test_written_example_reads_back() -> None:
    example = parse_example(VALUE)
    assert example.prediction_id == "p-1"
    assert example.model_version == "3"
    assert example.label == "no"
    assert example.prediction_timestamp == 1795658400.25
    assert example.features == PREDICTION.features


@pytest.mark.parametrize(
    ("raw", "reason", "message"),
    [
        (b"{", "json", "not JSON: unexpected end of data: line 1 column 2 (char 1)"),
        (b"[]", "schema", "expected a JSON object, got list"),
        (b'{"label":1}', "schema", "unsupported schema None, expected 1"),
        (b'{"schema":true}', "schema", "unsupported schema True, expected 1"),
        (b'{"schema":1,"label":1}', "field", "missing field 'features'"),
        (b'{"schema":1,"features":{}}', "field", "missing field 'label'"),
        (
            b'{"schema":1,"features":{},"label":[1]}',
            "field",
            "field 'label' has unexpected type list",
        ),
        (
            b'{"schema":1,"features":{},"label":1,"prediction_timestamp":"0"}',
            "field",
            "field 'prediction_timestamp' has unexpected type str",
        ),
        (
            b'{"schema":1,"features":{},"label":1,"prediction_timestamp":0}',
            "field",
            "missing field 'model_version'",
        ),
        (
            b'{"schema":1,"features":{},"label":1,"prediction_timestamp":0,"model_version":3}',
            "field",
            "missing field 'prediction_id'",
        ),
    ],
)
def test_bad_example_is_skipped_with_its_reason(raw: bytes, reason: str, message: str) -> None:
    with pytest.raises(MalformedExample) as caught:
        parse_example(raw)
    assert (caught.value.reason, str(caught.value)) == (reason, message)
