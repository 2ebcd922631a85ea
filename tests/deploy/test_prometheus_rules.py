"""deploy/prometheus: the scrape config, the rules and their unit tests, checked with promtool.

The rules may only use the metrics and labels of the README's metrics reference (``CONTRACT``),
every alert needs a runbook and a test that it fires and one that it does not, and every
recording rule must be evaluated in rules_test.yml.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from tests.deploy import (
    PROMETHEUS_CONFIG,
    RULES,
    RULES_TEST,
    alert_rules,
    load_yaml,
    require_binary,
)

pytestmark = pytest.mark.prometheus

ALERTS = {
    "DataDriftDetected",
    "ConceptDriftDetected",
    "ModelPerformanceLow",
    "EstimatedPerformanceDrop",
    "LabelsNotArriving",
    "PredictionsStopped",
    "ConsumerLagHigh",
    "DeadLetterRateHigh",
    "InputsMisrouted",
    "ChangelogRecordsRejected",
    "CheckpointStale",
    "RetrainFailing",
    "RetrainRequestsRejected",
    "ApprovalPending",
    "MonitorDown",
    "WorkerDown",
}
JOBS = {"driftwarden-monitor": "monitor:9108", "driftwarden-worker": "worker:9109"}
RUNBOOK = "docs/runbooks.md#"

_DRIFT = frozenset({"model", "version", "feature", "statistic"})
_ALARM = frozenset({"model", "version", "kind", "feature"})
# Metric names and labels exported by the monitor and the worker (README, "Metrics reference").
CONTRACT: dict[str, frozenset[str]] = {
    "driftwarden_predictions_total": frozenset({"model", "version", "partition"}),
    "driftwarden_labels_total": frozenset({"model", "partition"}),
    "driftwarden_joined_total": frozenset({"model", "version", "partition"}),
    "driftwarden_correct_total": frozenset({"model", "version", "partition"}),
    "driftwarden_unmatched_total": frozenset({"model", "kind", "reason", "partition"}),
    "driftwarden_invalid_events_total": frozenset({"topic", "reason", "partition"}),
    "driftwarden_misrouted_records_total": frozenset({"topic", "partition"}),
    "driftwarden_changelog_records_rejected_total": frozenset({"reason"}),
    "driftwarden_retrain_requests_rejected_total": frozenset({"reason"}),
    "driftwarden_pending": frozenset({"model", "kind"}),
    "driftwarden_label_delay_seconds_bucket": frozenset({"model", "le", "partition"}),
    "driftwarden_label_delay_seconds_sum": frozenset({"model", "partition"}),
    "driftwarden_label_delay_seconds_count": frozenset({"model", "partition"}),
    "driftwarden_performance": frozenset({"model", "version", "metric", "window"}),
    "driftwarden_estimated_performance": frozenset({"model", "version", "metric", "window"}),
    "driftwarden_estimated_performance_lower": frozenset({"model", "version", "metric", "window"}),
    "driftwarden_estimated_performance_upper": frozenset({"model", "version", "metric", "window"}),
    "driftwarden_estimation_calibrated": frozenset({"model", "version"}),
    "driftwarden_consumer_lag": frozenset({"topic", "partition"}),
    "driftwarden_last_checkpoint_timestamp_seconds": frozenset(),
    "driftwarden_drift_score": _DRIFT,
    "driftwarden_drift_threshold": _DRIFT,
    "driftwarden_drift_active": _ALARM,
    "driftwarden_drift_alarms_total": _ALARM,
    "driftwarden_data_quality_ratio": frozenset({"model", "version", "feature", "check"}),
    "driftwarden_reference_missing": frozenset({"model", "version"}),
    "driftwarden_retrain_requests_total": frozenset({"model", "reason", "partition"}),
    "driftwarden_retrain_runs_total": frozenset({"model", "outcome"}),
    "driftwarden_retrain_duration_seconds_bucket": frozenset({"model", "le"}),
    "driftwarden_retrain_duration_seconds_sum": frozenset({"model"}),
    "driftwarden_retrain_duration_seconds_count": frozenset({"model"}),
    "driftwarden_model_info": frozenset({"model", "version", "stage"}),
    "driftwarden_last_retrain_timestamp_seconds": frozenset({"model"}),
    "driftwarden_approvals_pending": frozenset({"model"}),
}
TARGET_LABELS = frozenset({"job", "instance"})

# A driftwarden metric name, not part of a recorded name such as model:driftwarden_x:rate5m.
_METRIC = re.compile(r"(?<![\w:])(driftwarden_\w+)(?![\w:])")
_SELECTOR = re.compile(r"(?<![\w:])(driftwarden_\w+)\s*\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_NAME_REGEX = re.compile(r'__name__\s*=~\s*"([^"]+)"')
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(duration: str) -> float:
    """Seconds of a Prometheus duration such as ``90m`` or ``1h30m``."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def rule_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = load_yaml(RULES_TEST)["tests"]
    return tests


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool", "prometheus")


def test_prometheus_config_passes_promtool(promtool: str) -> None:
    # Also loads and checks the rule files, found relative to the config file.
    result = run(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_pass_promtool(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_config_has_the_two_jobs_and_relative_rule_files() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    jobs = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    assert jobs == {name: [target] for name, target in JOBS.items()}
    assert config["rule_files"] == [RULES.name]


def test_every_alert_is_defined_once_with_severity_and_runbook() -> None:
    alerts = alert_rules()
    names = [rule["alert"] for rule in alerts]
    assert sorted(names) == sorted(ALERTS)
    for rule in alerts:
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["labels"]["component"] in {"monitor", "model", "worker"}, name
        assert seconds(rule["for"]) >= 60, f"{name}: a for: of at least 1m"
        annotations = rule["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip(), name
        assert annotations["runbook_url"] == RUNBOOK + name.lower(), name


def test_pages_are_reserved_for_outages_and_bad_models() -> None:
    critical = {r["alert"] for r in alert_rules() if r["labels"]["severity"] == "critical"}
    assert critical == {
        "MonitorDown",
        "CheckpointStale",
        "PredictionsStopped",
        "ModelPerformanceLow",
    }


def test_every_alert_has_a_firing_case_after_a_quiet_one() -> None:
    """Per alert, one test group checks it quiet at some time and firing at a later time."""
    covered: set[str] = set()
    for group in rule_tests():
        quiet: dict[str, float] = {}
        firing: dict[str, float] = {}
        for case in group.get("alert_rule_test", []):
            times = firing if case.get("exp_alerts") else quiet
            name, at = case["alertname"], seconds(case["eval_time"])
            times[name] = min(at, times.get(name, at))
        covered |= {name for name, at in firing.items() if quiet.get(name, at) < at}
    assert covered == ALERTS


def test_every_recording_rule_is_evaluated_in_a_test() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    evaluated = {
        case["expr"].strip()
        for group in rule_tests()
        for case in group.get("promql_expr_test", [])
        if case.get("exp_samples")
    }
    assert recorded, "rules.yml has no recording rules"
    assert recorded <= evaluated, sorted(recorded - evaluated)


def test_rules_use_only_the_metric_contract() -> None:
    known_labels = frozenset().union(*CONTRACT.values()) | TARGET_LABELS
    for rule in rules():
        name = rule.get("alert") or rule["record"]
        expr = rule["expr"]
        unknown = set(_METRIC.findall(expr)) - CONTRACT.keys()
        assert not unknown, f"{name}: metrics not in the contract: {sorted(unknown)}"
        for metric, matchers in _SELECTOR.findall(expr):
            labels = set(_MATCHER_LABEL.findall(matchers))
            extra = labels - CONTRACT[metric] - TARGET_LABELS
            assert not extra, f"{name}: {metric} has no label {sorted(extra)}"
        for grouping in _GROUPING.findall(expr):
            labels = {label.strip() for label in grouping.split(",") if label.strip()}
            assert labels <= known_labels, f"{name}: unknown labels {labels - known_labels}"
        for pattern in _NAME_REGEX.findall(expr):
            assert any(re.fullmatch(pattern, metric) for metric in CONTRACT), (name, pattern)


def test_rules_select_the_jobs_of_prometheus_yml() -> None:
    selected = {job for rule in rules() for job in re.findall(r'job="([^"]+)"', rule["expr"])}
    assert selected == set(JOBS)


@pytest.mark.parametrize(
    ("duration", "expected"), [("90m", 5400), ("1h30m", 5400), ("4h", 14400), ("500ms", 0.5)]
)
def test_seconds(duration: str, expected: float) -> None:
    assert seconds(duration) == expected
