"""The retrain worker's Prometheus metrics.

Run counters live in the worker process; model versions, stages and pending approvals are read
from the registry at scrape time, so they are right whoever changed them (worker or CLI).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from driftwarden.contracts.requests import REJECTIONS
from driftwarden.retrain.governance import Governance
from driftwarden.retrain.run import RunOutcome

__all__ = ["RegistryCollector", "WorkerMetrics"]

_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


OUTCOMES = ("promoted", "rejected", "awaiting_approval", "failed")


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry, models: Sequence[str] = ()) -> None:
        self.requests = Counter(
            "driftwarden_retrain_requests",
            "Retrain requests the worker took.",
            ["model", "reason"],
            registry=registry,
        )
        self.rejected = Counter(
            "driftwarden_retrain_requests_rejected",
            "Messages on the requests topic the worker rejected, by category.",
            ["reason"],
            registry=registry,
        )
        self.runs = Counter(
            "driftwarden_retrain_runs",
            "Finished retrain runs by outcome.",
            ["model", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "driftwarden_retrain_duration_seconds",
            "Wall time of retrain runs.",
            ["model"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.last = Gauge(
            "driftwarden_last_retrain_timestamp_seconds",
            "Unix time of the last finished retrain run.",
            ["model"],
            registry=registry,
        )
        # Series start at zero, so rate() and increase() see a fresh worker's first run.
        for category in REJECTIONS:
            self.rejected.labels(category)
        for model in models:
            for outcome in OUTCOMES:
                self.runs.labels(model, outcome)
            self.duration.labels(model)

    def finished(self, outcome: RunOutcome, now: float) -> None:
        self.runs.labels(outcome.model, outcome.outcome).inc()
        self.duration.labels(outcome.model).observe(outcome.duration)
        self.last.labels(outcome.model).set(now)


class RegistryCollector:
    """``driftwarden_model_info`` and ``driftwarden_approvals_pending`` from the registry."""

    def __init__(self, governance: Governance, models: list[str]) -> None:
        self._governance = governance
        self._models = models

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "driftwarden_model_info",
            "Registered model versions (1).",
            labels=["model", "version", "stage"],
        )
        registry = self._governance.registry
        for model in sorted({*self._models, *registry.models()}):
            for version in registry.versions(model):
                info.add_metric([model, version.version, version.stage.value], 1)
        yield info
        pending = GaugeMetricFamily(
            "driftwarden_approvals_pending",
            "Versions waiting for a manual approval.",
            labels=["model"],
        )
        waiting = self._governance.pending_approvals()
        for model in sorted({*self._models, *waiting}):
            pending.add_metric([model], waiting.get(model, 0))
        yield pending
