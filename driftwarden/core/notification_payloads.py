"""Notification bodies built from events (schema 1): pure functions, no I/O.

:func:`summarize` is the one line people read (Slack text, PagerDuty summary);
:func:`pagerduty_event` maps events onto PagerDuty incidents.

Events carry strings that whoever writes the input topics controls (model names and versions,
feature names, errors), so each is cut to :data:`MAX_VALUE_CHARS` and, in Slack text, escaped
(``&``, ``<``, ``>``): a model version ``<!channel>`` cannot notify a whole channel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

__all__ = [
    "MAX_VALUE_CHARS",
    "Event",
    "pagerduty_alarm",
    "pagerduty_event",
    "slack_message",
    "summarize",
]

Event = dict[str, Any]
Quote = Callable[[object], str]

MAX_VALUE_CHARS = 200
"""Longest event value put into a notification's text."""
_MAX_DEDUP_KEY = 255  # PagerDuty's limit
_MAX_DETAILS_BYTES = 16 * 1024
_DETAIL_KEYS = ("type", "model", "version", "kind", "outcome", "request_id", "timestamp")
_SLACK_ICONS = {
    "drift_detected": ":rotating_light:",
    "drift_resolved": ":white_check_mark:",
    "approval_required": ":raised_hand:",
    "model_promoted": ":rocket:",
    "model_rejected": ":no_entry:",
}


def summarize(event: Event, quote: Quote | None = None) -> str:
    """One line for people: what happened to which model version.

    Every value taken from the event goes through ``quote`` (default: cut to
    :data:`MAX_VALUE_CHARS`).

    >>> summarize({"type": "drift_detected", "model": "churn", "version": "3", "kind": "data",
    ...            "features": [{"name": "tenure", "statistic": "ks", "score": 0.31,
    ...                          "threshold": 0.12}]})
    'drift detected: churn v3, data drift in tenure (ks 0.31 > 0.12)'
    >>> summarize({"type": "retrain_completed", "model": "churn", "version": "4",
    ...            "outcome": "awaiting_approval", "duration_seconds": 12.5})
    'retrain of churn finished: awaiting_approval (churn v4, 12.5s)'
    """
    q = quote or _plain
    kind = event.get("type", "event")
    model, version = q(event.get("model", "?")), event.get("version")
    subject = f"{model} v{q(version)}" if version is not None else model
    if kind in ("drift_detected", "drift_resolved"):
        features = ", ".join(_feature(f, q) for f in _listed(event.get("features"))) or "-"
        verb = "detected" if kind == "drift_detected" else "resolved"
        return f"drift {verb}: {subject}, {q(event.get('kind', '?'))} drift in {features}"
    if kind == "retrain_completed":
        if event.get("outcome") == "failed":
            return f"retrain of {model} failed: {q(event.get('error'))}"
        took = event.get("duration_seconds")
        return f"retrain of {model} finished: {q(event.get('outcome'))} ({subject}, {q(took)}s)"
    if kind == "model_promoted":
        previous = event.get("previous_version")
        was = f"v{q(previous)}" if previous is not None else "none"
        return f"{subject} promoted to production by {q(event.get('by'))} (previous: {was})"
    if kind == "approval_required":
        return (
            f"{subject} awaits approval: driftwarden models approve {model} {q(version)} "
            "--by NAME --reason TEXT --config ..."
        )
    if kind == "model_rejected":
        return f"{subject} rejected: it did not pass the gates"
    return f"{q(kind)}: {subject}"


def _listed(features: object) -> list[dict[str, Any]]:
    items = features if isinstance(features, list) else []
    return [f for f in items[:20] if isinstance(f, dict)]


def _feature(feature: dict[str, Any], q: Quote) -> str:
    name, statistic = q(feature.get("name")), q(feature.get("statistic"))
    score, threshold = feature.get("score"), feature.get("threshold")
    if not isinstance(score, int | float):
        return f"{name} ({statistic})"
    if not isinstance(threshold, int | float):
        return f"{name} ({statistic} {score:.3g})"
    return f"{name} ({statistic} {score:.3g} {'>' if score >= threshold else '<'} {threshold:.3g})"


def _plain(value: object) -> str:
    return _clip(str(value), MAX_VALUE_CHARS)


def _slack_escaped(value: object) -> str:
    """Cut, then escaped as Slack's mrkdwn requires: no mention, link or markup gets through.

    >>> _slack_escaped("4 <!channel> & <https://evil.example|click>")
    '4 &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;'
    """
    text = _plain(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def slack_message(event: Event) -> Event:
    """A Slack incoming-webhook body: one short line of text.

    >>> slack_message({"type": "model_rejected", "model": "churn", "version": "4"})["text"]
    ':no_entry: *driftwarden* churn v4 rejected: it did not pass the gates'
    """
    icon = _SLACK_ICONS.get(str(event.get("type")), ":information_source:")
    return {"text": f"{icon} *driftwarden* {summarize(event, _slack_escaped)}"}


def pagerduty_alarm(event: Event) -> tuple[str, str] | None:
    """``(dedup_key, severity)`` for events that open or close an incident, else None."""
    kind, model, version = event.get("type"), event.get("model"), event.get("version")
    if kind in ("drift_detected", "drift_resolved"):
        return _dedup_key(f"driftwarden/{model}/{version}/drift/{event.get('kind')}"), "warning"
    if kind == "approval_required":
        return _dedup_key(f"driftwarden/{model}/{version}/approval"), "info"
    if kind == "retrain_completed" and event.get("outcome") == "failed":
        return _dedup_key(f"driftwarden/{model}/retrain-failed"), "error"
    return None


def _dedup_key(key: str) -> str:
    """``key``, or its start and a digest of all of it when over PagerDuty's 255 characters."""
    if len(key) <= _MAX_DEDUP_KEY:
        return key
    return f"{key[:188]}...{hashlib.sha256(key.encode()).hexdigest()}"  # 255 characters


def _details(event: Event) -> Event:
    """The event as PagerDuty's ``custom_details``; its main fields only when it is large."""
    if len(orjson.dumps(event, default=str)) <= _MAX_DETAILS_BYTES:
        return event
    brief = {key: _plain(event[key]) for key in _DETAIL_KEYS if event.get(key) is not None}
    return {**brief, "truncated": True}


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
            "source": f"driftwarden/{_plain(event.get('model'))}",
            "severity": severity,
            "component": _plain(event.get("model")),
            "class": _plain(kind),
            "custom_details": _details(event),
        }
        if isinstance(event.get("timestamp"), str):
            payload["timestamp"] = event["timestamp"]
        body["payload"] = payload
    return body
