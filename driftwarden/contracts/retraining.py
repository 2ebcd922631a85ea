"""The retrain worker's events on the events topic (schema 1), and the audit log's head.

After each run the worker publishes ``retrain_completed`` (key = model), then, by outcome,
``model_promoted``, ``approval_required`` or ``model_rejected``; a promotion by hand publishes
``model_promoted`` too. Each append to the audit log publishes an ``audit_head`` (key
:data:`AUDIT_HEAD_KEY`) naming its last entry, so that cutting the log's end is caught; its
``timestamp`` is the entry's, in the audit log's millisecond format.

>>> completed = retrain_completed("churn", "4", "r-1", 0.0, "rejected", 1.25, None, {})
>>> completed["type"], completed["outcome"], completed["timestamp"]
('retrain_completed', 'rejected', '1970-01-01T00:00:00Z')
>>> follow_up("churn", "4", "r-1", 0.0, "rejected")["type"]
'model_rejected'
>>> head = AuditHead(7, "ab" * 32, "2026-11-26T03:00:00.000Z")
>>> AuditHead.from_event(head.to_event()) == head
True
>>> AuditHead.from_event({"type": "model_promoted", "model": "churn"}) is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from driftwarden.contracts.schema import SCHEMA_VERSION
from driftwarden.core.timestamps import format_timestamp

__all__ = [
    "AUDIT_HEAD",
    "AUDIT_HEAD_KEY",
    "FOLLOW_UPS",
    "MODEL_PROMOTED",
    "RETRAIN_COMPLETED",
    "AuditHead",
    "follow_up",
    "promotion_event",
    "retrain_completed",
]

RETRAIN_COMPLETED = "retrain_completed"
MODEL_PROMOTED = "model_promoted"
FOLLOW_UPS = {
    "promoted": MODEL_PROMOTED,
    "awaiting_approval": "approval_required",
    "rejected": "model_rejected",
}
"""The event that follows ``retrain_completed``, by run outcome (a failed run has none)."""

AUDIT_HEAD = "audit_head"
"""The ``type`` of the head events on the events topic."""
AUDIT_HEAD_KEY = b"driftwarden-audit"

_SHA256 = re.compile(r"[0-9a-f]{64}")


def retrain_completed(
    model: str,
    version: str | None,
    request_id: str,
    now: float,
    outcome: str,
    duration: float,
    error: str | None,
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """The event of a finished run: ``outcome`` is promoted, rejected, awaiting_approval or
    failed; ``version`` the version it registered, if any."""
    return {
        **_run(model, version, request_id, now),
        "type": RETRAIN_COMPLETED,
        "outcome": outcome,
        "duration_seconds": round(duration, 3),
        "error": error,
        "metrics": metrics,
    }


def follow_up(
    model: str, version: str | None, request_id: str, now: float, outcome: str
) -> dict[str, Any]:
    """The event after ``retrain_completed`` (see :data:`FOLLOW_UPS`); a promotion publishes
    :func:`promotion_event` instead when it knows the version."""
    return {**_run(model, version, request_id, now), "type": FOLLOW_UPS[outcome]}


def promotion_event(
    model: str, version: str, previous: str | None, by: str, request_id: str | None, now: float
) -> dict[str, Any]:
    """``model_promoted``: ``version`` serves now, in place of ``previous``, promoted ``by``."""
    return {
        "schema": SCHEMA_VERSION,
        "type": MODEL_PROMOTED,
        "model": model,
        "version": version,
        "previous_version": previous,
        "by": by,
        "request_id": request_id,
        "timestamp": format_timestamp(now),
    }


def _run(model: str, version: str | None, request_id: str, now: float) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "model": model,
        "version": version,
        "request_id": request_id,
        "timestamp": format_timestamp(now),
    }


@dataclass(frozen=True)
class AuditHead:
    """The last entry of the audit log when it was published: its ``seq`` and ``hash``."""

    seq: int
    hash: str
    timestamp: str

    def to_event(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "type": AUDIT_HEAD,
            "seq": self.seq,
            "hash": self.hash,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_event(cls, doc: object) -> AuditHead | None:
        """The head an event carries; None for any other event (or a malformed head)."""
        if not isinstance(doc, dict) or doc.get("type") != AUDIT_HEAD:
            return None
        seq, digest, timestamp = doc.get("seq"), doc.get("hash"), doc.get("timestamp")
        if type(seq) is not int or seq < 1 or not isinstance(digest, str):
            return None
        if not _SHA256.fullmatch(digest) or not isinstance(timestamp, str):
            return None
        return cls(seq, digest, timestamp[:64])
