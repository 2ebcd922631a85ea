"""The catalogue of the metrics defined in the core, which both services export: the HTTP
endpoints' connections (:mod:`driftwarden.core.http_listener`) and the direct notifiers'
outcomes (:mod:`driftwarden.core.notify`, registered only where notifiers are configured: the
monitor).
"""

from __future__ import annotations

from driftwarden.core.metric_spec import MetricSpec

__all__ = ["HTTP_CONNECTIONS_DROPPED", "HTTP_CONNECTIONS_OPEN", "METRICS", "NOTIFICATIONS"]

HTTP_CONNECTIONS_DROPPED = MetricSpec(
    "driftwarden_http_connections_dropped",
    "counter",
    "HTTP connections closed unanswered: over http.max_connections (over_limit) or "
    "without a whole request within http.request_timeout (deadline)",
    ("reason",),
)
HTTP_CONNECTIONS_OPEN = MetricSpec(
    "driftwarden_http_connections_open",
    "gauge",
    "HTTP connections open now (at most http.max_connections)",
)
NOTIFICATIONS = MetricSpec(
    "driftwarden_notifications",
    "counter",
    "Events per direct notifier, by outcome (sent, failed, dropped, filtered).",
    ("notifier", "outcome"),
)

METRICS: tuple[MetricSpec, ...] = (
    HTTP_CONNECTIONS_DROPPED,
    HTTP_CONNECTIONS_OPEN,
    NOTIFICATIONS,
)
