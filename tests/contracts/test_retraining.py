"""Golden tests: the retraining events the worker publishes on the events topic."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from driftwarden.contracts.retraining import AuditHead, promotion_event
from driftwarden.retrain.audit import AuditEntry
from driftwarden.retrain.audit_head import head_of
from driftwarden.retrain.run import RetrainJob, RunOutcome

NOW = 1795662000.5
AT = b'"timestamp":"2026-11-26T03:00:00.500000Z"'


def announced(outcome: RunOutcome) -> list[bytes]:
    """What a job publishes when it announces ``outcome`` (the job's clock fixed at NOW)."""
    events: list[dict[str, Any]] = []
    job = SimpleNamespace(_publish=events.append, _clock=lambda: NOW)
    RetrainJob._announce(job, outcome)  # type: ignore[arg-type]  # noqa: SLF001
    return [orjson.dumps(event) for event in events]


def test_promoted_run_announces_completion_and_promotion() -> None:
    outcome = RunOutcome("churn", "r-1", "promoted", "4", "3", 12.34567, None, {"accuracy": 0.9})
    assert announced(outcome) == [
        b'{"schema":1,"model":"churn","version":"4","request_id":"r-1",' + AT + b","
        b'"type":"retrain_completed","outcome":"promoted","duration_seconds":12.346,'
        b'"error":null,"metrics":{"accuracy":0.9}}',
        b'{"schema":1,"type":"model_promoted","model":"churn","version":"4",'
        b'"previous_version":"3","by":"driftwarden","request_id":"r-1",' + AT + b"}",
    ]


@pytest.mark.parametrize(
    ("outcome", "follow_up"),
    [("rejected", b"model_rejected"), ("awaiting_approval", b"approval_required")],
)
def test_gated_run_announces_completion_and_its_follow_up(outcome: str, follow_up: bytes) -> None:
    completed, second = announced(RunOutcome("churn", "r-2", outcome, "4", None, 1.0))
    head = b'{"schema":1,"model":"churn","version":"4","request_id":"r-2",' + AT
    assert completed == (
        head + b',"type":"retrain_completed","outcome":"' + outcome.encode() + b'",'
        b'"duration_seconds":1.0,"error":null,"metrics":{}}'
    )
    assert second == head + b',"type":"' + follow_up + b'"}'


def test_failed_run_announces_completion_only() -> None:
    assert announced(RunOutcome("churn", "r-4", "failed", None, None, 0.5, "boom")) == [
        b'{"schema":1,"model":"churn","version":null,"request_id":"r-4",' + AT + b","
        b'"type":"retrain_completed","outcome":"failed","duration_seconds":0.5,"error":"boom",'
        b'"metrics":{}}'
    ]


def test_manual_promotion_event() -> None:
    assert orjson.dumps(promotion_event("churn", "5", None, "alice", None, 0.0)) == (
        b'{"schema":1,"type":"model_promoted","model":"churn","version":"5",'
        b'"previous_version":null,"by":"alice","request_id":null,'
        b'"timestamp":"1970-01-01T00:00:00Z"}'
    )


def test_audit_head_event() -> None:
    entry = AuditEntry(
        seq=7, timestamp="2026-11-26T03:00:00.000Z", action="approved", model="churn",
        version="2", actor="alice", hash="ab" * 32,
    )  # fmt: skip
    event = head_of(entry).to_event()
    assert orjson.dumps(event) == (
        b'{"schema":1,"type":"audit_head","seq":7,"hash":"' + b"ab" * 32 + b'",'
        b'"timestamp":"2026-11-26T03:00:00.000Z"}'
    )
    assert AuditHead.from_event(event) == AuditHead(7, "ab" * 32, "2026-11-26T03:00:00.000Z")


@pytest.mark.parametrize(
    "doc",
    [
        {"type": "model_promoted", "model": "churn"},
        {"type": "audit_head", "seq": 0, "hash": "ab" * 32, "timestamp": "t"},
        {"type": "audit_head", "seq": True, "hash": "ab" * 32, "timestamp": "t"},
        {"type": "audit_head", "seq": 1, "hash": "AB" * 32, "timestamp": "t"},
        {"type": "audit_head", "seq": 1, "hash": "ab" * 32, "timestamp": 0},
        [1],
    ],
)
def test_not_an_audit_head(doc: object) -> None:
    assert AuditHead.from_event(doc) is None
