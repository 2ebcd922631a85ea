"""Notification bodies built from events (schema 1): pure functions, no I/O.

:func:`summarize` is the one line people read (Slack text, PagerDuty summary);
:func:`pagerduty_event` maps events onto PagerDuty incidents.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Event", "pagerduty_alarm", "pagerduty_event", "slack_message", "summarize"]

Event = dict[str, Any]
_SLACK_ICONS = {
    "drift_detected": ":rotating_light:",
    "drift_resolved": ":white_check_mark:",
    "approval_required": ":raised_hand:",
    "model_promoted": ":rocket:",
    "model_rejected": ":no_entry:",
}


def summarize(event: Event) -> str:
    """One line for people: what happened to which model version.

    >>> summarize({"type": "drift_detected", "model": "churn", "version": "3", "kind": "data",
    ...            "features": [{"name": "tenure", "statistic": "ks", "score": 0.31,
    ...                          "threshold": 0.12}]})
    'drift detected: churn v3, data drift in tenure (ks 0.31 > 0.12)'
    >>> summarize({"type": "retrain_completed", "model": "churn", "version": "4",
    ...            "outcome": "awaiting_approval", "duration_seconds": 12.5})
    'retrain of churn finished: awaiting_approval (churn v4, 12.5s)'
    """
    kind, model, version = event.get("type", "event"), event.get("model", "?"), event.get("version")
    subject = f"{model} v{version}" if version is not None else str(model)
    if kind in ("drift_detected", "drift_resolved"):
        features = ", ".join(_feature(f) for f in event.get("features") or []) or "-"
        verb = "detected" if kind == "drift_detected" else "resolved"
        return f"drift {verb}: {subject}, {event.get('kind', '?')} drift in {features}"
    if kind == "retrain_completed":
        if event.get("outcome") == "failed":
            return f"retrain of {model} failed: {_clip(str(event.get('error')), 300)}"
        took = event.get("duration_seconds")
        return f"retrain of {model} finished: {event.get('outcome')} ({subject}, {took}s)"
    if kind == "model_promoted":
        previous = event.get("previous_version")
        was = f"v{previous}" if previous is not None else "none"
        return f"{subject} promoted to production by {event.get('by')} (previous: {was})"
    if kind == "approval_required":
        return (
            f"{subject} awaits approval: driftwarden models approve {model} {version} "
            "--by NAME --reason TEXT --config ..."
        )
    if kind == "model_rejected":
        return f"{subject} rejected: it did not pass the gates"
    return f"{kind}: {subject}"


def _feature(feature: dict[str, Any]) -> str:
    name, statistic, score = feature.get("name"), feature.get("statistic"), feature.get("score")
    threshold = feature.get("threshold")
    if not isinstance(score, int | float):
        return f"{name} ({statistic})"
    if not isinstance(threshold, int | float):
        return f"{name} ({statistic} {score:.3g})"
    return f"{name} ({statistic} {score:.3g} {'>' if score >= threshold else '<'} {threshold:.3g})"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def slack_message(event: Event) -> Event:
    """A Slack incoming-webhook body: one short line of text.

    >>> slack_message({"type": "model_rejected", "model": "churn", "version": "4"})["text"]
    ':no_entry: *driftwarden* churn v4 rejected: it did not pass the gates'
    """
    icon = _SLACK_ICONS.get(str(event.get("type")), ":information_source:")
    return {"text": f"{icon} *driftwarden* {summarize(event)}"}


def pagerduty_alarm(event: Event) -> tuple[str, str] | None:
    """``(dedup_key, severity)`` for events that open or close an incident, else None."""
    kind, model, version = event.get("type"), event.get("model"), event.get("version")
    if kind in ("drift_detected", "drift_resolved"):
        return f"driftwarden/{model}/{version}/drift/{event.get('kind')}", "warning"
    if kind == "approval_required":
        return f"driftwarden/{model}/{version}/approval", "info"
    if kind == "retrain_completed" and event.get("outcome") == "failed":
        return f"driftwarden/{model}/retrain-failed", "error"
    return None


def pagerduty_event(event: Event, routing_key: str) -> Event | None:
    """The Events API v2 body for ``event``, or None for events that page no one.

    Detected and resolved drift of one model version and kind share a ``dedup_key``, so the
    resolve closes the incident the trigger opened.

    >>> drift = {"type": "drift_detected", "model": "churn", "version": "3", "kind": "data",
    ...          "features": [], "timestamp": "2024-05-01T12:00:00Z"}
    >>> body = pagerduty_event(drift, "KEY")
    >>> body["event_action"], body["dedup_key"], body["payload"]["severity"]
    ('trigger', 'driftwarden/churn/3/drift/data', 'warning')
    >>> pagerduty_event({**drift, "type": "drift_resolved"}, "KEY")
    {'routing_key': 'KEY', 'event_action': 'resolve', 'dedup_key': 'driftwarden/churn/3/drift/data'}
    >>> pagerduty_event({"type": "model_promoted", "model": "churn"}, "KEY") is None
    True
    """
    alarm = pagerduty_alarm(event)
    if alarm is None:
        return None
    dedup_key, severity = alarm
    kind = event.get("type")
    action = "resolve" if kind == "drift_resolved" else "trigger"
    body: Event = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        payload: Event = {
            "summary": _clip(summarize(event), 1024),
            "source": f"driftwarden/{event.get('model')}",
            "severity": severity,
            "component": str(event.get("model")),
            "class": kind,
            "custom_details": event,
        }
        if isinstance(event.get("timestamp"), str):
            payload["timestamp"] = event["timestamp"]
        body["payload"] = payload
    return body
