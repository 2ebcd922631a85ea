"""Golden tests: the retrain request, serialized and parsed."""

from __future__ import annotations

import pytest

from driftwarden.contracts.errors import InvalidRequest
from driftwarden.contracts.requests import RetrainRequest

DRIFT = (
    b'{"schema":1,"type":"retrain_requested","request_id":"r-1","model":"churn","version":"3",'
    b'"reason":"drift","evidence":{"alarms":["data:tenure"]},'
    b'"timestamp":"2026-11-26T03:00:00.500000Z"}'
)


def test_request_bytes() -> None:
    request = RetrainRequest.new(
        "churn", "3", "drift", {"alarms": ["data:tenure"]}, timestamp=1795662000.5, request_id="r-1"
    )
    assert request.to_json() == DRIFT
    manual = RetrainRequest.new("churn", None, "manual", timestamp=0.0, request_id="r-2")
    assert manual.to_json() == (
        b'{"schema":1,"type":"retrain_requested","request_id":"r-2","model":"churn",'
        b'"version":null,"reason":"manual","evidence":{},"timestamp":"1970-01-01T00:00:00Z"}'
    )


def test_request_reads_back() -> None:
    request = RetrainRequest.from_json(DRIFT)
    assert (request.request_id, request.model, request.version) == ("r-1", "churn", "3")
    assert (request.reason, request.evidence) == ("drift", {"alarms": ["data:tenure"]})
    assert request.timestamp == 1795662000.5


BASE = b'{"request_id":"r","model":"m","reason":"drift","timestamp":"2026-11-26T03:00:00Z"'


@pytest.mark.parametrize(
    ("raw", "category", "message"),
    [
        (b" " * 65537, "too_large", "65537 bytes, over 65536"),
        (b"{", "malformed", "not JSON: unexpected end of data: line 1 column 2 (char 1)"),
        (b'{"schema":2}', "malformed", "expected a schema-1 JSON object"),
        (b'{"type":"other"}', "malformed", "field 'type' must be 'retrain_requested'"),
        (b'{"version":[1]}', "malformed", "field 'version' must be a string or null"),
        (b'{"request_id":""}', "malformed", "field 'request_id' must be a non-empty string"),
        (
            b'{"request_id":"a b"}',
            "request_id",
            "field 'request_id' must be at most 128 characters of A-Z a-z 0-9 . _ : -",
        ),
        (
            b'{"request_id":"r","model":"' + b"m" * 257 + b'"}',
            "model",
            "field 'model' is over 256 characters",
        ),
        (
            b'{"request_id":"r","model":"m","reason":"whim"}',
            "reason",
            "field 'reason' must be one of performance_below, estimated_performance_below, drift, "
            "schedule, manual",
        ),
        (BASE + b',"evidence":[]}', "evidence", "field 'evidence' must be a JSON object"),
        (
            BASE + b',"evidence":{"a":"' + b"x" * 17000 + b'"}}',
            "evidence",
            "field 'evidence' is 17008 bytes, over 16384",
        ),
        (
            BASE.replace(b"2026-11-26T03:00:00Z", b"now") + b"}",
            "timestamp",
            "field 'timestamp' is not ISO-8601: 'now'",
        ),
        (
            BASE.replace(b"03:00:00Z", b"03:00:00") + b"}",
            "timestamp",
            "field 'timestamp' has no time zone",
        ),
        (
            BASE.replace(b"2026-11-26T03:00:00Z", b"0001-01-01T00:00:00+14:00") + b"}",
            "timestamp",
            "field 'timestamp' '0001-01-01T00:00:00+14:00' is before 1970-01-01 or after"
            " 5138-11-16",
        ),
    ],
)
def test_bad_request_is_rejected_with_its_category(raw: bytes, category: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        RetrainRequest.from_json(raw)
    assert (caught.value.category, str(caught.value)) == (category, message)
