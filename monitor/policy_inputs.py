"""What the retrain policy is given: each model's rules, from ``models[].retrain``, and the
view of the version it serves, from the monitor state."""

from __future__ import annotations

from driftwarden.config import MonitorConfig
from driftwarden.monitor.drift.checks import VersionDrift
from driftwarden.monitor.estimation.window import VersionEstimation
from driftwarden.monitor.performance import VersionPerformance
from driftwarden.monitor.policy import PolicyRules, VersionView

__all__ = ["policy_rules", "version_view"]


def policy_rules(config: MonitorConfig) -> dict[str, PolicyRules]:
    """Rules of every model that has a ``retrain`` section, by model name."""
    rules = {}
    for model in config.models:
        if model.retrain is None:
            continue
        when = model.retrain.when
        performance, drift = when.performance_below, when.drift
        estimated = when.estimated_performance_below
        rules[model.name] = PolicyRules(
            metric=performance.metric if performance else None,
            value=performance.value if performance else 0.0,
            min_examples=performance.min_examples if performance else 500,
            estimated_metric=estimated.metric if estimated else None,
            estimated_value=estimated.value if estimated else 0.0,
            min_predictions=estimated.min_predictions if estimated else 500,
            drift_kinds=tuple(drift.kinds) if drift else (),
            min_features=drift.min_features if drift else 1,
            cooldown=model.retrain.cooldown,
        )
    return rules


def version_view(
    version: str,
    perf: VersionPerformance | None,
    drift: VersionDrift | None,
    estimation: VersionEstimation | None = None,
) -> VersionView:
    """``version`` as the policy sees it: joined examples, rolling performance, active alarms,
    estimated performance."""
    active: dict[str, list[str]] = {}
    if drift is not None:
        for (kind, feature), on in drift.alarms.active.items():
            if on:
                active.setdefault(kind, []).append(feature)
    return VersionView(
        version,
        joined=perf.count if perf is not None else 0,
        rolling={m: v for (m, w), v in (perf.values() if perf else {}).items() if w == "rolling"},
        active_alarms={kind: tuple(features) for kind, features in active.items()},
        estimated={
            m: (e.value, e.lower, e.upper)
            for m, e in (estimation and estimation.latest or {}).items()
        },
        estimated_over=len(estimation.held) if estimation is not None else 0,
    )
