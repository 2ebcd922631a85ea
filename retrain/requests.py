"""The retrain request on the ``retrain_requests`` topic (schema 1), key = model name.

>>> request = RetrainRequest.new("churn", "3", "performance_below", {"accuracy": 0.71},
...                              timestamp=1795662000.0, request_id="r-1")
>>> RetrainRequest.from_json(request.to_json()) == request
True
>>> orjson.loads(request.to_json())["timestamp"]
'2026-11-26T03:00:00Z'
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from retrain.errors import RetrainError

__all__ = ["REASONS", "InvalidRequest", "RetrainRequest"]

REASONS = ("performance_below", "drift", "schedule", "manual")


class InvalidRequest(RetrainError, ValueError):
    """A message on the requests topic that is not a schema-1 retrain request."""


@dataclass(frozen=True, kw_only=True)
class RetrainRequest:
    request_id: str
    model: str
    version: str | None
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    timestamp: float
    schema: int = 1
    type: str = "retrain_requested"

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
        return cls(
            request_id=request_id or uuid.uuid4().hex,
            model=model,
            version=version,
            reason=reason,
            evidence=evidence or {},
            timestamp=timestamp,
        )

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "schema": self.schema,
                "type": self.type,
                "request_id": self.request_id,
                "model": self.model,
                "version": self.version,
                "reason": self.reason,
                "evidence": self.evidence,
                "timestamp": _iso(self.timestamp),
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> RetrainRequest:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"not JSON: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("schema", 1) != 1:
            raise InvalidRequest("expected a schema-1 JSON object")
        if doc.get("type", "retrain_requested") != "retrain_requested":
            raise InvalidRequest(f"unexpected type {doc.get('type')!r}")
        try:
            return cls(
                request_id=_text(doc, "request_id"),
                model=_text(doc, "model"),
                version=None if doc.get("version") is None else str(doc["version"]),
                reason=_text(doc, "reason"),
                evidence=dict(doc.get("evidence") or {}),
                timestamp=datetime.fromisoformat(_text(doc, "timestamp")).timestamp(),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(str(exc)) from exc


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"field {key!r} must be a non-empty string")
    return value


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat().replace("+00:00", "Z")
