"""A tampered artifact and an estimator outside the allow-list, through the real commands."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from driftwarden.cli import main
from driftwarden.retrain.audit import AuditLog
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.testing import TansuBroker
from tests.conftest import TopicNames
from tests.monitor.harness import write_config
from tests.retrain.test_run_governance import configure

pytestmark = pytest.mark.kafka


def tamper(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))


def test_a_tampered_champion_fails_the_run_and_reproduce_with_a_clear_error(
    broker: TansuBroker,
    topic_names: TopicNames,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, path = configure(broker, topic_names, tmp_path)
    assert main(["retrain", "run", "--config", str(path), "--model", "churn"]) == 0
    registry = ModelRegistry(tmp_path / "registry")
    assert registry.production("churn").version == "1"  # type: ignore[union-attr]
    tamper(registry.get("churn", "1").path / "model.skops")
    capsys.readouterr()

    # The next run loads version 1 as the champion: refused, the run fails, nothing registered.
    assert main(["retrain", "run", "--config", str(path), "--model", "churn"]) == 1
    outcome = orjson.loads(capsys.readouterr().out)
    assert outcome["outcome"] == "failed"
    assert "registry/churn/1/model.skops: SHA-256" in outcome["error"]
    assert "does not match metadata; refusing to load it" in outcome["error"]
    assert [v.version for v in registry.versions("churn")] == ["1"]
    assert registry.production("churn").version == "1"  # type: ignore[union-attr]
    failed = [e for e in AuditLog(tmp_path / "registry/audit.jsonl").entries()][-1]
    assert failed.action == "run_failed" and "refusing to load" in failed.details["error"]

    # reproduce rebuilds the same training data, then refuses to compare with the artifact.
    assert main(["retrain", "reproduce", "churn", "1", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "error: " in err and "does not match metadata; refusing to load it" in err


def test_an_estimator_outside_the_allow_list_is_refused_at_load(
    broker: TansuBroker,
    topic_names: TopicNames,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, _ = configure(broker, topic_names, tmp_path, estimator="os:system")
    path = write_config(tmp_path / "driftwarden.yaml", config)
    for argv in (
        ["config", "check", str(path)],
        ["retrain", "run", "--config", str(path), "--model", "churn"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "models.0.training: estimator 'os:system' is outside the allowed module" in err
    assert not (tmp_path / "registry").exists() or not ModelRegistry(
        tmp_path / "registry"
    ).versions("churn")
