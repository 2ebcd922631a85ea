"""``driftwarden demo`` end to end at a small size: the loop must close."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.kafka

SUMMARY_FIELDS = {
    "scenario",
    "label_delay",
    "estimation_threshold",
    "estimate_below_threshold_at",
    "realized_below_threshold_at",
    "estimate_lead_events",
    "estimate_led",
    "events",
    "change_at",
    "first_drift_alarm_at",
    "retrain_runs",
    "promoted_versions",
    "accuracy_before_change",
    "accuracy_after_change_before_promotion",
    "accuracy_after_promotion",
    "wall_seconds",
    "metrics_url",
}


def test_demo_closes_the_loop(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftwarden",
            "demo",
            "--events",
            "12000",
            "--change-at",
            "2000",
            "--out",
            str(out),
            "--summary-json",
            str(tmp_path / "summary.json"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert SUMMARY_FIELDS <= set(summary)
    assert summary == orjson.loads((out / "summary.json").read_bytes())
    assert summary["loop_closed"] is True
    assert (summary["events"], summary["change_at"]) == (12000, 2000)
    assert summary["first_drift_alarm_at"] > 2000
    assert summary["promoted_versions"] and summary["promoted_versions"][0] == "2"
    assert any(run["outcome"] == "promoted" for run in summary["retrain_runs"])
    before = summary["accuracy_after_change_before_promotion"]
    assert summary["accuracy_after_promotion"] > before + 0.2
    assert summary["accuracy_before_change"] > 0.85
    assert summary["metrics_url"].startswith("http://127.0.0.1:")
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "audit trail:" in result.stdout and "promoted" in result.stdout
    assert "loop closed" in result.stdout


def test_demo_covariate_scenario_estimate_leads_the_labels(tmp_path: Path) -> None:
    """Only the inputs shift: the monitor's estimate (scraped from /metrics) falls below the
    retrain threshold before the realized accuracy does, which waits for labels 1500 events
    late."""
    out = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftwarden",
            "demo",
            "--scenario",
            "covariate",
            "--events",
            "5000",
            "--change-at",
            "1500",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert SUMMARY_FIELDS <= set(summary)
    assert (summary["scenario"], summary["label_delay"]) == ("covariate", 1500)
    assert summary["estimation_threshold"] == 0.8
    estimate, realized = (
        summary["estimate_below_threshold_at"],
        summary["realized_below_threshold_at"],
    )
    assert estimate is not None and estimate > 1500
    assert realized is None or estimate < realized
    assert summary["estimate_led"] is True
    assert (
        summary["accuracy_before_change"]
        > 0.9
        > 0.8
        > summary["accuracy_after_change_before_promotion"]
    )
    assert "estimated accuracy < 0.8 at event" in result.stdout
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
