"""The retrain worker's Prometheus metrics: their catalogue (:data:`METRICS`) and the objects
that export them.

Run counters live in the worker process; model versions, stages and pending approvals are read
from the registry at scrape time, so they are right whoever changed them (worker or CLI).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from driftwarden.contracts.requests import REJECTIONS
from driftwarden.core.metric_spec import MetricSpec, counter, gauge, gauge_family, histogram
from driftwarden.retrain.governance import Governance
from driftwarden.retrain.run import RunOutcome

__all__ = [
    "APPROVALS_PENDING",
    "LAST_RETRAIN_TIMESTAMP_SECONDS",
    "METRICS",
    "MODEL_INFO",
    "RETRAIN_DURATION_SECONDS",
    "RETRAIN_REQUESTS",
    "RETRAIN_REQUESTS_REJECTED",
    "RETRAIN_RUNS",
    "RegistryCollector",
    "TRACKING_FAILURES",
    "WorkerMetrics",
]

RETRAIN_REQUESTS = MetricSpec(
    "driftwarden_retrain_requests",
    "counter",
    "Retrain requests the worker took.",
    ("model", "reason"),
)
RETRAIN_REQUESTS_REJECTED = MetricSpec(
    "driftwarden_retrain_requests_rejected",
    "counter",
    "Messages on the requests topic the worker rejected, by category.",
    ("reason",),
)
RETRAIN_RUNS = MetricSpec(
    "driftwarden_retrain_runs", "counter", "Finished retrain runs by outcome.", ("model", "outcome")
)
RETRAIN_DURATION_SECONDS = MetricSpec(
    "driftwarden_retrain_duration_seconds", "histogram", "Wall time of retrain runs.", ("model",)
)
LAST_RETRAIN_TIMESTAMP_SECONDS = MetricSpec(
    "driftwarden_last_retrain_timestamp_seconds",
    "gauge",
    "Unix time of the last finished retrain run.",
    ("model",),
)
MODEL_INFO = MetricSpec(
    "driftwarden_model_info",
    "gauge",
    "Registered model versions (1).",
    ("model", "version", "stage"),
)
APPROVALS_PENDING = MetricSpec(
    "driftwarden_approvals_pending",
    "gauge",
    "Versions waiting for a manual approval.",
    ("model",),
)

TRACKING_FAILURES = MetricSpec(
    "driftwarden_tracking_failures",
    "counter",
    "Retrain runs whose MLflow tracking failed; they went on untracked (see the worker's log).",
    ("model",),
)

METRICS: tuple[MetricSpec, ...] = (
    RETRAIN_REQUESTS,
    RETRAIN_REQUESTS_REJECTED,
    RETRAIN_RUNS,
    RETRAIN_DURATION_SECONDS,
    LAST_RETRAIN_TIMESTAMP_SECONDS,
    MODEL_INFO,
    APPROVALS_PENDING,
    TRACKING_FAILURES,
)

_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


OUTCOMES = ("promoted", "rejected", "awaiting_approval", "failed")


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry, models: Sequence[str] = ()) -> None:
        self.requests = counter(RETRAIN_REQUESTS, registry)
        self.rejected = counter(RETRAIN_REQUESTS_REJECTED, registry)
        self.runs = counter(RETRAIN_RUNS, registry)
        self.duration = histogram(RETRAIN_DURATION_SECONDS, registry, _DURATION_BUCKETS)
        self.last = gauge(LAST_RETRAIN_TIMESTAMP_SECONDS, registry)
        self.tracking_failures = counter(TRACKING_FAILURES, registry)
        # Series start at zero, so rate() and increase() see a fresh worker's first run.
        for category in REJECTIONS:
            self.rejected.labels(category)
        for model in models:
            for outcome in OUTCOMES:
                self.runs.labels(model, outcome)
            self.duration.labels(model)
            self.tracking_failures.labels(model)

    def finished(self, outcome: RunOutcome, now: float) -> None:
        self.runs.labels(outcome.model, outcome.outcome).inc()
        self.duration.labels(outcome.model).observe(outcome.duration)
        self.last.labels(outcome.model).set(now)
        if outcome.tracking_failed:
            self.tracking_failures.labels(outcome.model).inc()


class RegistryCollector:
    """``driftwarden_model_info`` and ``driftwarden_approvals_pending`` from the registry."""

    def __init__(self, governance: Governance, models: list[str]) -> None:
        self._governance = governance
        self._models = models

    def collect(self) -> Iterator[Metric]:
        info = gauge_family(MODEL_INFO)
        registry = self._governance.registry
        for model in sorted({*self._models, *registry.models()}):
            for version in registry.versions(model):
                info.add_metric([model, version.version, version.stage.value], 1)
        yield info
        pending = gauge_family(APPROVALS_PENDING)
        waiting = self._governance.pending_approvals()
        for model in sorted({*self._models, *waiting}):
            pending.add_metric([model], waiting.get(model, 0))
        yield pending
