"""deploy/alertmanager: config check, routing (amtool), inhibition and secrets.

amtool cannot test inhibition, so the inhibit rules are evaluated here, with Alertmanager's
matcher semantics, against the labels of every alert in deploy/prometheus/rules.yml.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import ALERTMANAGER_CONFIG, alert_rules, load_yaml, require_binary

pytestmark = pytest.mark.prometheus

SECRETS_DIR = "/etc/alertmanager/secrets/"
# Keys that would hold a secret inline; their *_file variants are used instead.
INLINE_SECRETS = {
    "api_url",
    "slack_api_url",
    "routing_key",
    "service_key",
    "credentials",
    "password",
    "bearer_token",
    "api_key",
}
_MATCHER = re.compile(r'^\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')

Labels = Mapping[str, str]


@pytest.fixture(scope="module")
def amtool() -> str:
    return require_binary("amtool", "prometheus-alertmanager")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


def routes(amtool: str, labels: Labels, verify: list[str] | None = None) -> list[str]:
    """Receivers an alert with ``labels`` is sent to, in routing-tree order."""
    args = [amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}"]
    if verify is not None:
        args.append(f"--verify.receivers={','.join(verify)}")
    result = run(*args, *(f"{name}={value}" for name, value in labels.items()))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()[0].split(",")


def rule_alert_labels() -> dict[str, dict[str, str]]:
    """Labels of each alert of rules.yml as Alertmanager gets them (model="churn" if it has one)."""
    alerts = {}
    for rule in alert_rules():
        labels = {"alertname": rule["alert"], **rule["labels"]}
        if "$labels.model" in json.dumps(rule["annotations"]):
            labels["model"] = "churn"
        alerts[rule["alert"]] = labels
    return alerts


def matches(matcher: str, labels: Labels) -> bool:
    """Alertmanager's matcher semantics: regexes are anchored, a missing label is ""."""
    parsed = _MATCHER.match(matcher)
    assert parsed, f"unsupported matcher syntax: {matcher!r}"
    name, op, raw = parsed.groups()
    value = str(json.loads(f'"{raw}"'))
    actual = labels.get(name, "")
    if op in {"=", "!="}:
        return (actual == value) == (op == "=")
    return (re.fullmatch(value, actual) is not None) == (op == "=~")


def inhibits(rule: Mapping[str, Any], source: Labels, target: Labels) -> bool:
    return (
        all(matches(m, source) for m in rule["source_matchers"])
        and all(matches(m, target) for m in rule["target_matchers"])
        and all(source.get(name, "") == target.get(name, "") for name in rule.get("equal", []))
    )


def inhibited_by(source: Labels) -> set[str]:
    """Names of the rules.yml alerts that a firing ``source`` alert inhibits."""
    config = load_yaml(ALERTMANAGER_CONFIG)
    return {
        name
        for name, labels in rule_alert_labels().items()
        if name != source["alertname"]
        and any(inhibits(rule, source, labels) for rule in config["inhibit_rules"])
    }


def walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every mapping entry in ``node``."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield path, str(key), value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from walk(item, f"{path}[{index}]")


def test_config_passes_amtool_check(amtool: str) -> None:
    # The secret files need not exist: amtool (like Alertmanager) reads them only to notify.
    result = run(amtool, "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        pytest.param(
            {"alertname": "ModelPerformanceLow", "severity": "critical", "model": "churn"},
            ["webhook", "pagerduty", "slack-models"],
            id="critical-model-pages",
        ),
        pytest.param(
            {"alertname": "DataDriftDetected", "severity": "warning", "model": "churn"},
            ["webhook", "slack-models"],
            id="warning-model-slack",
        ),
        pytest.param(
            {"alertname": "MonitorDown", "severity": "critical", "component": "monitor"},
            ["webhook", "pagerduty", "slack-ops"],
            id="critical-service-pages",
        ),
        pytest.param(
            {"alertname": "ConsumerLagHigh", "severity": "warning", "topic": "predictions"},
            ["webhook", "slack-ops"],
            id="warning-service-slack",
        ),
        pytest.param(
            {"alertname": "Anything", "severity": "info", "model": "churn"},
            ["webhook"],
            id="other-severity-webhook-only",
        ),
    ],
)
def test_routes(amtool: str, labels: dict[str, str], receivers: list[str]) -> None:
    assert routes(amtool, labels, verify=receivers) == receivers


def test_every_rule_alert_reaches_the_webhook_and_pages_only_when_critical(amtool: str) -> None:
    for name, labels in rule_alert_labels().items():
        got = routes(amtool, labels)
        slack = "slack-models" if "model" in labels else "slack-ops"
        pager = ["pagerduty"] if labels["severity"] == "critical" else []
        assert got == ["webhook", *pager, slack], name


def test_monitor_down_inhibits_the_monitor_and_model_alerts() -> None:
    source = rule_alert_labels()["MonitorDown"] | {"instance": "monitor:9108"}
    assert inhibited_by(source) == {
        "CheckpointStale",
        "ConsumerLagHigh",
        "DeadLetterRateHigh",
        "InputsMisrouted",
        "ChangelogRecordsRejected",
        "PredictionsStopped",
        "LabelsNotArriving",
        "ModelPerformanceLow",
        "EstimatedPerformanceDrop",
        "DataDriftDetected",
        "ConceptDriftDetected",
    }


def test_worker_down_inhibits_the_retraining_alerts() -> None:
    source = rule_alert_labels()["WorkerDown"]
    assert inhibited_by(source) == {"RetrainFailing", "RetrainRequestsRejected", "ApprovalPending"}


def test_other_alerts_inhibit_nothing() -> None:
    for name, labels in rule_alert_labels().items():
        if name not in {"MonitorDown", "WorkerDown"}:
            assert inhibited_by(labels) == set(), name


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        ('a="x"', {"a": "x"}, True),
        ('a!="x"', {}, True),
        ('a=~"x|y"', {"a": "xy"}, False),
        ('a=~".+"', {}, False),
        ('a!~"m.*"', {"a": "worker"}, True),
        ('a="q\\"uote"', {"a": 'q"uote'}, True),
    ],
)
def test_matches(matcher: str, labels: dict[str, str], expected: bool) -> None:
    assert matches(matcher, labels) is expected


def test_receivers_take_their_secrets_from_files() -> None:
    config = load_yaml(ALERTMANAGER_CONFIG)
    kinds = {key for receiver in config["receivers"] for key in receiver if key != "name"}
    assert {"webhook_configs", "slack_configs", "pagerduty_configs"} <= kinds
    files = []
    for path, key, value in walk(config):
        assert key not in INLINE_SECRETS, f"inline secret {path}.{key}"
        if key.endswith("_file"):
            files.append(value)
            assert str(value).startswith(SECRETS_DIR), f"{path}.{key}: {value}"
    assert len(files) >= 3


def test_notification_templates_render(amtool: str, tmp_path: Path) -> None:
    """Each templated field renders with amtool's example alerts (as Alertmanager would)."""
    empty = tmp_path / "none.tmpl"
    empty.write_text("")
    templated = [
        (f"{path}.{key}", value)
        for path, key, value in walk(load_yaml(ALERTMANAGER_CONFIG)["receivers"])
        if isinstance(value, str) and "{{" in value
    ]
    assert len(templated) >= 5
    for where, text in templated:
        result = run(
            amtool, "template", "render", f"--template.glob={empty}", f"--template.text={text}"
        )
        assert result.returncode == 0, f"{where}: {result.stderr}"
