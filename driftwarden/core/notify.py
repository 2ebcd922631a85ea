"""Direct notifiers: events to a webhook, Slack or PagerDuty, for users without Alertmanager.

A :class:`Notifier` delivers one event over HTTP (stdlib only). A
:class:`NotificationDispatcher` puts them behind a bounded queue and one background thread, with
per-notifier filters, a token-bucket rate limit and retries with exponential backoff, so that a
slow or dead receiver never holds up the stream that submits the events. Both services use it:
the monitor for drift events, the retrain worker for run outcomes.
"""

from __future__ import annotations

import http.client
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from driftwarden.core.errors import NotificationFailed
from driftwarden.core.metric_spec import counter
from driftwarden.core.metrics import NOTIFICATIONS
from driftwarden.core.notification_payloads import (
    Event,
    pagerduty_alarm,
    pagerduty_event,
    slack_message,
)
from driftwarden.core.notifier_config import NotifierConfig

__all__ = [
    "OUTCOMES",
    "NotificationDispatcher",
    "Notifier",
    "PagerDutyNotifier",
    "SlackNotifier",
    "TokenBucket",
    "WebhookNotifier",
    "make_notifier",
    "post_json",
]

log = logging.getLogger(__name__)

OUTCOMES = ("sent", "failed", "dropped", "filtered")
USER_AGENT = "driftwarden-notifier/1"


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST would turn into a GET without its body: fail instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)


def post_json(notifier: str, url: str, body: Event, timeout: float) -> None:
    """POST ``body`` as JSON; raise :class:`NotificationFailed` unless the answer is 2xx.

    Network errors, timeouts, 5xx and 429 are retryable; other statuses are not. The URL is
    never part of the error (a Slack webhook URL is a credential).
    """
    request = urllib.request.Request(  # noqa: S310 - the config only accepts http(s) URLs
        url,
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc)
        reason = f"HTTP {exc.code}" + (f": {detail}" if detail else "")
        retryable = exc.code >= 500 or exc.code == 429
        raise NotificationFailed(notifier, reason, retryable=retryable) from exc
    except urllib.error.URLError as exc:
        raise NotificationFailed(notifier, str(exc.reason), retryable=True) from exc
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, bad responses
        reason = f"{type(exc).__name__}: {exc}"
        raise NotificationFailed(notifier, reason, retryable=True) from exc


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The start of an error response's body, on one line (Slack says e.g. ``invalid_token``)."""
    if 300 <= exc.code < 400:
        return "redirects are not followed: configure the final URL"
    try:
        return " ".join(exc.read(200).decode(errors="replace").split()) if exc.fp else ""
    except (OSError, http.client.HTTPException):
        return ""


class Notifier(ABC):
    """Delivers one event somewhere; raises :class:`NotificationFailed` when it could not."""

    def __init__(self, name: str, url: str, timeout: float) -> None:
        self.name = name
        self._url = url
        self._timeout = timeout

    def handles(self, event: Event) -> bool:
        """False for events this kind of notifier has nothing to say about."""
        return True

    @abstractmethod
    def send(self, event: Event) -> None: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class WebhookNotifier(Notifier):
    """POSTs the event itself, as it is on the events topic."""

    def send(self, event: Event) -> None:
        post_json(self.name, self._url, event, self._timeout)


class SlackNotifier(Notifier):
    """A Slack incoming webhook: one short line of text per event."""

    def send(self, event: Event) -> None:
        post_json(self.name, self._url, slack_message(event), self._timeout)


class PagerDutyNotifier(Notifier):
    """PagerDuty Events API v2: drift, approvals and failed runs open incidents, resolved drift
    closes them (see :func:`pagerduty_event`)."""

    def __init__(self, name: str, url: str, timeout: float, routing_key: SecretStr) -> None:
        super().__init__(name, url, timeout)
        self._routing_key = routing_key

    def handles(self, event: Event) -> bool:
        return pagerduty_alarm(event) is not None

    def send(self, event: Event) -> None:
        body = pagerduty_event(event, self._routing_key.get_secret_value())
        if body is not None:
            post_json(self.name, self._url, body, self._timeout)


def make_notifier(config: NotifierConfig) -> Notifier:
    """The notifier ``config.type`` names."""
    url = config.endpoint()
    if config.type == "webhook":
        return WebhookNotifier(config.name, url, config.timeout)
    if config.type == "slack":
        return SlackNotifier(config.name, url, config.timeout)
    if config.routing_key is None:
        raise ValueError(f"notifier {config.name!r}: type 'pagerduty' needs 'routing_key'")
    return PagerDutyNotifier(config.name, url, config.timeout, config.routing_key)


class TokenBucket:
    """``per_minute`` tokens a minute, at most ``max(1, per_minute)`` saved up; one per event.

    >>> now = [0.0]
    >>> bucket = TokenBucket(2, clock=lambda: now[0])
    >>> [bucket.take() for _ in range(3)]
    [True, True, False]
    >>> now[0] = 30.0
    >>> bucket.take(), bucket.take()
    (True, False)
    """

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be positive, got {per_minute}")
        self._rate = per_minute / 60.0
        self._capacity = max(1.0, float(per_minute))
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            elapsed = max(now - self._last, 0.0)
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._last = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


@dataclass(frozen=True)
class _Route:
    """One notifier with its filters, rate limit and retry budget."""

    notifier: Notifier
    events: frozenset[str] | None
    models: frozenset[str] | None
    bucket: TokenBucket
    max_retries: int

    @property
    def name(self) -> str:
        return self.notifier.name

    def accepts(self, event: Event) -> bool:
        return (
            (self.events is None or event.get("type") in self.events)
            and (self.models is None or event.get("model") in self.models)
            and self.notifier.handles(event)
        )


class NotificationDispatcher:
    """Sends events to notifiers from one background thread; :meth:`submit` never blocks.

    Each event is filtered (event types, models, what the notifier handles) and rate limited per
    notifier when it is submitted, then queued. A full queue, the rate limit and :meth:`close`
    drop events; every event ends as one of :data:`OUTCOMES` per notifier in
    ``driftwarden_notifications_total{notifier,outcome}``. With no notifiers it does nothing
    and registers no metric.
    """

    def __init__(
        self,
        configs: Sequence[NotifierConfig],
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        queue_size: int = 1000,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        make: Callable[[NotifierConfig], Notifier] = make_notifier,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        if backoff < 0 or max_backoff < backoff:
            raise ValueError("backoff must be >= 0 and max_backoff >= backoff")
        self._routes = [
            _Route(
                make(c),
                frozenset(c.events) if c.events is not None else None,
                frozenset(c.models) if c.models is not None else None,
                TokenBucket(c.rate_per_minute, clock),
                c.max_retries,
            )
            for c in configs
        ]
        # no notifiers, no metric family
        self.outcomes = counter(NOTIFICATIONS, registry if self._routes else None)
        for route in self._routes:
            for outcome in OUTCOMES:
                self.outcomes.labels(route.name, outcome)
        self._backoff, self._max_backoff = backoff, max_backoff
        self._queue: queue.Queue[tuple[_Route, Event]] = queue.Queue(queue_size)
        self._closing = threading.Event()
        self._abandoned = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> NotificationDispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, event: Event) -> None:
        """Queue ``event`` for every notifier that takes it; drops (and counts) when it cannot."""
        queued = False
        for route in self._routes:
            if self._closing.is_set():
                outcome = "dropped"
            elif not route.accepts(event):
                outcome = "filtered"
            elif not route.bucket.take():
                log.debug(
                    "notifier %s: rate limit reached, %s dropped", route.name, event.get("type")
                )
                outcome = "dropped"
            else:
                try:
                    self._queue.put_nowait((route, event))
                    queued = True
                    continue
                except queue.Full:
                    log.debug("notifier %s: queue full, %s dropped", route.name, event.get("type"))
                    outcome = "dropped"
            self.outcomes.labels(route.name, outcome).inc()
        if queued:
            self._start()

    def close(self, timeout: float = 10.0) -> None:
        """Take no more events, send the queued ones for up to ``timeout`` seconds, drop the rest.

        Returns within ``timeout``: a request still in flight then finishes on its own (daemon)
        thread, and whatever is still queued is counted as dropped.
        """
        with self._start_lock:
            self._closing.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("notifications not drained in %.1fs; dropping the rest", timeout)
                self._abandoned.set()
        self._drop_queued()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._closing.is_set():
                self._thread = threading.Thread(
                    target=self._work, name="notifications", daemon=True
                )
                self._thread.start()

    def _work(self) -> None:
        while True:
            try:
                route, event = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            outcome = "dropped" if self._abandoned.is_set() else self._deliver(route, event)
            self.outcomes.labels(route.name, outcome).inc()

    def _deliver(self, route: _Route, event: Event) -> str:
        """Send with retries; the outcome to count."""
        attempt = 0
        while True:
            try:
                route.notifier.send(event)
                return "sent"
            except NotificationFailed as exc:
                if not exc.retryable or attempt >= route.max_retries:
                    log.warning(
                        "%s event for %s not delivered: %s",
                        event.get("type"),
                        event.get("model"),
                        exc,
                    )
                    return "failed"
                delay = min(self._backoff * 2**attempt, self._max_backoff)
                log.info("%s; retrying in %.1fs", exc, delay)
            except Exception:  # noqa: BLE001 - a broken notifier must not stop the thread
                log.exception("notifier %s failed on a %s event", route.name, event.get("type"))
                return "failed"
            attempt += 1
            if self._abandoned.wait(delay):
                return "dropped"

    def _drop_queued(self) -> None:
        while True:
            try:
                route, _ = self._queue.get_nowait()
            except queue.Empty:
                return
            self.outcomes.labels(route.name, "dropped").inc()
