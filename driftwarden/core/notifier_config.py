"""``notifiers[]``: direct notifiers (webhook, Slack, PagerDuty) and the event types they carry."""

from __future__ import annotations

from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from driftwarden.core.config import Strict, resolve_secret

__all__ = [
    "EVENT_TYPES",
    "PAGERDUTY_EVENTS_URL",
    "EventType",
    "NotifierConfig",
    "Notifiers",
]

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
EventType = Literal[
    "drift_detected",
    "drift_resolved",
    "retrain_completed",
    "model_promoted",
    "approval_required",
    "model_rejected",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


class NotifierConfig(Strict):
    """One direct notifier (``notifiers[]``): events sent without Alertmanager.

    ``url`` and ``routing_key`` may be given as ``{env: NAME}`` or ``{file: PATH}``; both are
    held as secrets (a Slack webhook URL is a credential) and masked when the config is shown.
    ``events`` and ``models`` left out mean every event type and every model.
    """

    name: str = Field(min_length=1)
    """Unique among the notifiers; the `notifier` label of `driftwarden_notifications_total`."""
    type: Literal["webhook", "slack", "pagerduty"]
    """`webhook`: POST the event as JSON; `slack`: a Slack incoming webhook, one line of text;
    `pagerduty`: PagerDuty Events API v2.
    """
    url: SecretStr | None = None
    """Where to POST. Redirects are not followed. Required for `webhook` and `slack`; `pagerduty`
    defaults to `https://events.pagerduty.com/v2/enqueue`.
    """
    routing_key: SecretStr | None = None
    """The PagerDuty integration (routing) key. Required for `pagerduty`, not allowed otherwise; a
    secret.
    """
    events: list[EventType] | None = Field(default=None, min_length=1)
    """Send only these: `drift_detected`, `drift_resolved`, `retrain_completed`, `model_promoted`,
    `approval_required`, `model_rejected`. Null: every type.
    """
    models: list[str] | None = Field(default=None, min_length=1)
    """Send only events of these models. Null: every model."""
    rate_per_minute: float = Field(default=30.0, gt=0)
    """Most events a minute (token bucket, bursts of up to this many); the rest are dropped."""
    max_retries: int = Field(default=3, ge=0, le=10)
    """Retries after a network error, a timeout, a 5xx or a 429, with exponential backoff (0.5 s,
    doubling, at most 30 s).
    """
    timeout: float = Field(default=5.0, gt=0, le=120)
    """Seconds. Per HTTP request. A plain number: `5s` is rejected."""

    @field_validator("url", "routing_key", mode="before")
    @classmethod
    def _resolve(cls, value: object) -> object:
        return resolve_secret(value)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _fits_the_type(self) -> NotifierConfig:
        if self.type == "pagerduty" and not self.routing_key:
            raise ValueError("type 'pagerduty' needs 'routing_key' (the integration key)")
        if self.type != "pagerduty" and self.routing_key is not None:
            raise ValueError("'routing_key' applies only to type 'pagerduty'")
        if self.type != "pagerduty" and self.url is None:
            raise ValueError(f"type {self.type!r} needs 'url'")
        return self

    def endpoint(self) -> str:
        """The URL to post to, revealed."""
        return self.url.get_secret_value() if self.url is not None else PAGERDUTY_EVENTS_URL


def _unique_names(notifiers: list[NotifierConfig]) -> list[NotifierConfig]:
    names = [n.name for n in notifiers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"notifier names must be unique, repeated: {', '.join(duplicates)}")
    return notifiers


Notifiers = Annotated[list[NotifierConfig], AfterValidator(_unique_names)]
