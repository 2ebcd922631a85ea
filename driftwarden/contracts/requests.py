"""The retrain request on the ``retrain_requests`` topic (schema 1), key = model name.

Anyone with produce rights on the topic can write one, so :meth:`RetrainRequest.from_json`
checks every field and bounds every size before a request reaches the worker: a rejected
message raises :class:`~driftwarden.contracts.errors.InvalidRequest`, whose ``category`` is one
of :data:`REJECTIONS` (a fixed set, safe as a metric label), never a string from the message.

>>> request = RetrainRequest.new("churn", "3", "performance_below", {"accuracy": 0.71},
...                              timestamp=1795662000.0, request_id="r-1")
>>> RetrainRequest.from_json(request.to_json()) == request
True
>>> orjson.loads(request.to_json())["timestamp"]
'2026-11-26T03:00:00Z'
>>> bad = request.to_json().replace(b"2026-11-26T03:00:00Z", b"0001-01-01T00:00:00+14:00")
>>> try:
...     RetrainRequest.from_json(bad)
... except InvalidRequest as exc:
...     print(exc.category, "-", exc)
timestamp - field 'timestamp' '0001-01-01T00:00:00+14:00' is before 1970-01-01 or after 5138-11-16
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from driftwarden.contracts.errors import InvalidRequest
from driftwarden.contracts.schema import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, SCHEMA_VERSION
from driftwarden.core.timestamps import format_timestamp

__all__ = [
    "MAX_EVIDENCE_BYTES",
    "MAX_REQUEST_BYTES",
    "REASONS",
    "REJECTIONS",
    "RETRAIN_REQUESTED",
    "RetrainRequest",
]

REASONS = ("performance_below", "estimated_performance_below", "drift", "schedule", "manual")
REJECTIONS = (
    "too_large",  # the whole message is over MAX_REQUEST_BYTES
    "malformed",  # not a schema-1 JSON object, or a field missing or of the wrong type
    "timestamp",  # not ISO-8601 with a time zone, or outside 1970-01-01 .. 1e11 epoch seconds
    "reason",  # not one of REASONS
    "request_id",  # too long, or characters outside [A-Za-z0-9._:-]
    "model",  # a model or version name that is too long
    "evidence",  # not an object, or over MAX_EVIDENCE_BYTES once serialized
    "unknown_model",  # valid, but the worker has no training config for the model
    "error",  # handling the message raised (logged with its traceback)
)
"""Why the worker rejected a message: the values of ``driftwarden_retrain_requests_rejected``."""

MAX_REQUEST_BYTES = 64 * 1024
MAX_EVIDENCE_BYTES = 16 * 1024
MAX_NAME_CHARS = 256  # model and version names
MAX_REQUEST_ID_CHARS = 128
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]+")

RETRAIN_REQUESTED = "retrain_requested"
_LATEST_DAY = format_timestamp(LATEST_TIMESTAMP)[:10]


@dataclass(frozen=True, kw_only=True)
class RetrainRequest:
    request_id: str
    model: str
    version: str | None
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    timestamp: float
    schema: int = SCHEMA_VERSION
    type: str = RETRAIN_REQUESTED

    @classmethod
    def new(
        cls,
        model: str,
        version: str | None,
        reason: str,
        evidence: dict[str, Any] | None = None,
        *,
        timestamp: float,
        request_id: str | None = None,
    ) -> RetrainRequest:
        """A request to publish; ``evidence`` over the size limit is cut to fit it.

        >>> alarms = {"alarms": [f"data:feature_{i}" for i in range(5000)]}
        >>> cut = RetrainRequest.new("churn", "3", "drift", alarms, timestamp=0.0).evidence
        >>> len(cut["alarms"]), cut["omitted"]
        (625, {'alarms': 4375})
        """
        return cls(
            request_id=request_id or uuid.uuid4().hex,
            model=model,
            version=version,
            reason=reason,
            evidence=_fit(evidence or {}),
            timestamp=timestamp,
        )

    def to_json(self) -> bytes:
        """The message to publish, key = ``model``."""
        return orjson.dumps(
            {
                "schema": self.schema,
                "type": self.type,
                "request_id": self.request_id,
                "model": self.model,
                "version": self.version,
                "reason": self.reason,
                "evidence": self.evidence,
                "timestamp": format_timestamp(self.timestamp),
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> RetrainRequest:
        """Parse and check a message; raise :class:`InvalidRequest` naming what is wrong."""
        if len(raw) > MAX_REQUEST_BYTES:
            raise InvalidRequest("too_large", f"{len(raw)} bytes, over {MAX_REQUEST_BYTES}")
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest("malformed", f"not JSON: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise InvalidRequest("malformed", "expected a schema-1 JSON object")
        if doc.get("type", RETRAIN_REQUESTED) != RETRAIN_REQUESTED:
            raise InvalidRequest("malformed", "field 'type' must be 'retrain_requested'")
        version = doc.get("version")
        if version is not None and not isinstance(version, str | int):
            raise InvalidRequest("malformed", "field 'version' must be a string or null")
        return cls(
            request_id=_request_id(_text(doc, "request_id")),
            model=_name(_text(doc, "model"), "model"),
            version=None if version is None else _name(str(version), "version"),
            reason=_reason(_text(doc, "reason")),
            evidence=_evidence(doc.get("evidence")),
            timestamp=_timestamp(_text(doc, "timestamp")),
        )


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequest("malformed", f"field {key!r} must be a non-empty string")
    return value


def _request_id(value: str) -> str:
    if len(value) > MAX_REQUEST_ID_CHARS or not _REQUEST_ID.fullmatch(value):
        raise InvalidRequest(
            "request_id",
            f"field 'request_id' must be at most {MAX_REQUEST_ID_CHARS} characters of "
            "A-Z a-z 0-9 . _ : -",
        )
    return value


def _name(value: str, key: str) -> str:
    if len(value) > MAX_NAME_CHARS:
        raise InvalidRequest("model", f"field {key!r} is over {MAX_NAME_CHARS} characters")
    return value


def _reason(value: str) -> str:
    if value not in REASONS:
        raise InvalidRequest("reason", f"field 'reason' must be one of {', '.join(REASONS)}")
    return value


def _evidence(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest("evidence", "field 'evidence' must be a JSON object")
    size = len(orjson.dumps(value))
    if size > MAX_EVIDENCE_BYTES:
        raise InvalidRequest(
            "evidence", f"field 'evidence' is {size} bytes, over {MAX_EVIDENCE_BYTES}"
        )
    return value


def _timestamp(value: str) -> float:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(
            "timestamp", f"field 'timestamp' is not ISO-8601: {value[:64]!r}"
        ) from exc
    if parsed.tzinfo is None:
        raise InvalidRequest("timestamp", "field 'timestamp' has no time zone")
    try:
        seconds = parsed.timestamp()
    except (OverflowError, ValueError) as exc:
        raise InvalidRequest("timestamp", f"field 'timestamp' out of range: {exc}") from exc
    if not EARLIEST_TIMESTAMP <= seconds <= LATEST_TIMESTAMP:
        raise InvalidRequest(
            "timestamp",
            f"field 'timestamp' {value[:64]!r} is before 1970-01-01 or after {_LATEST_DAY}",
        )
    return seconds


def _fit(evidence: dict[str, Any]) -> dict[str, Any]:
    """``evidence``, its longest lists halved until it fits :data:`MAX_EVIDENCE_BYTES`; the
    number of items cut from each is under ``omitted`` (all of it replaced if that is not
    enough)."""
    fitted, original = dict(evidence), {k: len(v) for k, v in evidence.items() if type(v) is list}
    while len(orjson.dumps(fitted)) > MAX_EVIDENCE_BYTES:
        lists = [key for key, value in fitted.items() if type(value) is list and value]
        if not lists:
            return {"omitted": f"evidence over {MAX_EVIDENCE_BYTES} bytes"}
        longest = max(lists, key=lambda key: len(fitted[key]))
        fitted[longest] = fitted[longest][: len(fitted[longest]) // 2]
        fitted["omitted"] = {
            k: n - len(fitted[k]) for k, n in original.items() if n > len(fitted[k])
        }
    return fitted
