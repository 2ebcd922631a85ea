"""Golden tests: drift events on the events topic."""

from __future__ import annotations

from driftwarden.contracts.drift import drift_events
from driftwarden.monitor.drift.alarms import Transition
from driftwarden.monitor.drift.checks import Evaluation

WINDOW = {"size": 2000.0, "first_timestamp": 1795662000.0, "last_timestamp": 1795662060.25}


def test_entered_and_resolved_alarms_make_one_event_each() -> None:
    entered = Transition("data", "tenure", "ks", 0.31, 0.12, entered=True)
    resolved = Transition("data", "plan", "psi", float("nan"), 0.2, entered=False)
    events = drift_events("churn", "3", Evaluation("data", [entered, resolved], 0, WINDOW, 500))
    window = (
        b'"window":{"size":2000,"first_timestamp":"2026-11-26T03:00:00Z",'
        b'"last_timestamp":"2026-11-26T03:01:00.250000Z"},"events_seen":500,'
        b'"timestamp":"2026-11-26T03:01:00.250000Z"}'
    )
    assert events == [
        b'{"schema":1,"type":"drift_detected","model":"churn","version":"3","kind":"data",'
        b'"features":[{"name":"tenure","statistic":"ks","score":0.31,"threshold":0.12}],' + window,
        b'{"schema":1,"type":"drift_resolved","model":"churn","version":"3","kind":"data",'
        b'"features":[{"name":"plan","statistic":"psi","score":null,"threshold":0.2}],' + window,
    ]


def test_no_transition_no_event() -> None:
    assert drift_events("churn", "3", Evaluation("data", [], 0, WINDOW, 500)) == []
