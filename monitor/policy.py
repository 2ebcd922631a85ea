"""When to ask for a retrain: thresholds on performance and drift, with a cooldown.

Thresholds on the rolling performance (labels needed), on the estimated performance (none
needed: see :mod:`driftwarden.monitor.estimation`) and on drift alarms. Pure logic over the
monitor's state, in event time (the largest prediction timestamp of the
model), so a replay asks for the same retrains as the live run. A storm of alarms yields one
request per cooldown: after a request the model must wait ``cooldown`` and the version it is then
serving must have ``min_examples`` new joined examples before the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from driftwarden.contracts.requests import RetrainRequest

__all__ = ["PolicyMemory", "PolicyRules", "RetrainPolicy", "VersionView"]


@dataclass(frozen=True)
class PolicyRules:
    metric: str | None = None  # performance_below
    value: float = 0.0
    min_examples: int = 500
    estimated_metric: str | None = None  # estimated_performance_below
    estimated_value: float = 0.0
    min_predictions: int = 500
    drift_kinds: tuple[str, ...] = ()
    min_features: int = 1
    cooldown: float = 1800.0


@dataclass(frozen=True)
class VersionView:
    """What the policy needs to know about the version a model serves now."""

    version: str
    joined: int
    rolling: Mapping[str, float]  # rolling-window performance by metric
    active_alarms: Mapping[str, tuple[str, ...]]  # kind -> features in alarm
    # estimated performance (value, lower, upper) by metric, and the predictions it is over
    estimated: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)
    estimated_over: int = 0


@dataclass
class PolicyMemory:
    last_request: float | None = None
    joined_at_request: dict[str, int] = field(default_factory=dict)


@dataclass
class RetrainPolicy:
    """Decides retrain requests for every model that has rules.

    >>> policy = RetrainPolicy({"churn": PolicyRules(metric="accuracy", value=0.85,
    ...                                              min_examples=100, cooldown=60)})
    >>> view = VersionView("3", joined=150, rolling={"accuracy": 0.7}, active_alarms={})
    >>> policy.check("churn", view, now=1000.0).reason
    'performance_below'
    >>> policy.check("churn", view, now=1030.0) is None      # cooling down
    True
    >>> later = VersionView("3", joined=200, rolling={"accuracy": 0.7}, active_alarms={})
    >>> policy.check("churn", later, now=1100.0) is None     # needs 100 new examples first
    True
    >>> early = RetrainPolicy({"churn": PolicyRules(estimated_metric="f1", estimated_value=0.6)})
    >>> unlabeled = VersionView("3", joined=0, rolling={}, active_alarms={},
    ...                         estimated={"f1": (0.5, 0.45, 0.55)}, estimated_over=1000)
    >>> request = early.check("churn", unlabeled, now=10.0)
    >>> request.reason, request.evidence["estimated"], request.evidence["upper"]
    ('estimated_performance_below', 0.5, 0.55)
    """

    rules: Mapping[str, PolicyRules]
    memory: dict[str, PolicyMemory] = field(default_factory=dict)

    def check(self, model: str, view: VersionView, now: float) -> RetrainRequest | None:
        rules = self.rules.get(model)
        if rules is None:
            return None
        memory = self.memory.setdefault(model, PolicyMemory())
        if not self._ready(rules, memory, view, now):
            return None
        reason, evidence = self._trigger(rules, view)
        if reason is None:
            return None
        memory.last_request = now
        memory.joined_at_request = {view.version: view.joined}
        return RetrainRequest.new(model, view.version, reason, evidence, timestamp=now)

    @staticmethod
    def _ready(rules: PolicyRules, memory: PolicyMemory, view: VersionView, now: float) -> bool:
        if memory.last_request is None:
            return True
        if now < memory.last_request + rules.cooldown:
            return False
        since = view.joined - memory.joined_at_request.get(view.version, 0)
        return since >= rules.min_examples

    @staticmethod
    def _trigger(rules: PolicyRules, view: VersionView) -> tuple[str | None, dict[str, object]]:
        if rules.metric is not None and view.joined >= rules.min_examples:
            value = view.rolling.get(rules.metric)
            if value is not None and value < rules.value:
                return "performance_below", {
                    "metric": rules.metric,
                    "value": value,
                    "threshold": rules.value,
                    "joined": view.joined,
                }
        estimated = RetrainPolicy._estimated_trigger(rules, view)
        if estimated:
            return "estimated_performance_below", estimated
        alarms = {kind: view.active_alarms.get(kind, ()) for kind in rules.drift_kinds}
        in_alarm = [
            f"{kind}:{feature}" for kind, features in alarms.items() for feature in features
        ]
        if rules.drift_kinds and len(in_alarm) >= rules.min_features:
            return "drift", {"alarms": in_alarm}
        return None, {}

    @staticmethod
    def _estimated_trigger(rules: PolicyRules, view: VersionView) -> dict[str, object]:
        """The evidence of an estimate below its floor, before any label exists; {} if not."""
        if rules.estimated_metric is None or view.estimated_over < rules.min_predictions:
            return {}
        estimate = view.estimated.get(rules.estimated_metric)
        if estimate is None or not estimate[0] < rules.estimated_value:
            return {}
        value, lower, upper = estimate
        return {
            "metric": rules.estimated_metric,
            "estimated": value,
            "lower": lower,
            "upper": upper,
            "threshold": rules.estimated_value,
            "predictions": view.estimated_over,
        }
