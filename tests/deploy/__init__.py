"""Tests of deploy/: Prometheus config and rules, Alertmanager config, with the real tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES = DEPLOY / "prometheus" / "rules.yml"
RULES_TEST = DEPLOY / "prometheus" / "rules_test.yml"
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"


def require_binary(name: str, package: str) -> str:
    """Path of ``name`` on PATH; skipped locally if missing, a hard failure under CI=true."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = (
        f"{name} is not on PATH: install Debian's {package} package "
        "(scripts/install-system-deps does)"
    )
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def alert_rules() -> list[dict[str, Any]]:
    """The alerting rules of rules.yml, in file order."""
    groups = load_yaml(RULES)["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]
