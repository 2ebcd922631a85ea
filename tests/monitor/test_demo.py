"""``driftwarden demo`` end to end at a small size: the loop must close."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.kafka

SUMMARY_FIELDS = {
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
