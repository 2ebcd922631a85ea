"""Risk tiers, rejection and schedules through the real commands, broker and registry."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftwarden.cli import main
from driftwarden.config import parse_config
from driftwarden.retrain.audit import AuditLog
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.retrain.worker import RetrainWorker
from driftwarden.testing import TansuBroker
from tests.conftest import TopicNames
from tests.monitor.harness import read_topic, write_config
from tests.retrain.test_retrain_loop import loop_config

pytestmark = pytest.mark.kafka


def configure(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path, **training: Any
) -> tuple[dict[str, Any], Path]:
    config = loop_config(broker, topic_names, tmp_path)
    config["models"][0]["training"].update(training)
    return config, write_config(tmp_path / "driftwarden.yaml", config)


def test_high_risk_tier_waits_for_an_approval(
    broker: TansuBroker,
    topic_names: TopicNames,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, path = configure(broker, topic_names, tmp_path, risk_tier="high")
    assert main(["retrain", "run", "--config", str(path), "--model", "churn"]) == 0
    registry = ModelRegistry(tmp_path / "registry")
    assert registry.production("churn") is None
    assert registry.get("churn", "1").stage.value == "awaiting_approval"
    # Approving needs a name and a reason.
    with pytest.raises(SystemExit):
        main(["models", "approve", "churn", "1", "--config", str(path)])
    assert (
        main(
            [
                "models",
                "approve",
                "churn",
                "1",
                "--by",
                "alice",
                "--reason",
                "reviewed card",
                "--config",
                str(path),
            ]
        )
        == 0
    )
    assert registry.production("churn").version == "1"  # type: ignore[union-attr]
    actions = [(e.action, e.actor) for e in AuditLog(tmp_path / "registry/audit.jsonl").entries()]
    assert ("approved", "alice") in actions
    records = read_topic(broker.bootstrap, config["topics"]["events"], 3)
    events = [e for e in map(orjson.loads, (r.value for r in records)) if e["type"] != "audit_head"]
    assert [e["type"] for e in events] == [
        "retrain_completed",
        "approval_required",
        "model_promoted",
    ]
    assert (events[2]["version"], events[2]["by"], events[2]["previous_version"]) == (
        "1",
        "alice",
        None,
    )
    capsys.readouterr()
    assert main(["models", "audit", "--verify", "--config", str(path)]) == 0
    assert "audit log intact" in capsys.readouterr().out


def test_a_challenger_that_is_not_better_is_rejected(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    _, path = configure(
        broker, topic_names, tmp_path, gate={"metric": "accuracy", "min_improvement": 0.01}
    )
    assert main(["retrain", "run", "--config", str(path), "--model", "churn"]) == 0
    # The same data and seed again: the challenger ties the champion, short of the improvement.
    assert main(["retrain", "run", "--config", str(path), "--model", "churn"]) == 0
    registry = ModelRegistry(tmp_path / "registry")
    assert registry.production("churn").version == "1"  # type: ignore[union-attr]
    rejected = registry.get("churn", "2")
    assert rejected.stage.value == "rejected"
    primary = [c for c in rejected.metadata["gates"]["checks"] if c["name"] == "primary:accuracy"]
    assert primary and primary[0]["passed"] is False


def test_a_cron_schedule_runs_a_retrain_and_survives_a_restart(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    config, _ = configure(broker, topic_names, tmp_path)
    config["models"][0]["retrain"]["when"]["schedule"] = "0 3 * * *"
    settings = RetrainSettings.from_config(parse_config(config))
    first = RetrainWorker(settings)
    first.start_scheduler()
    first.scheduler.shutdown()
    # The schedule is in the persistent store, holding nothing but the model's name.
    store = BackgroundScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(
                url=f"sqlite:///{settings.state_dir / 'worker' / 'schedules.db'}"
            )
        }
    )
    store.start(paused=True)
    [job] = store.get_jobs()
    assert (job.id, job.args, str(job.trigger)) == (
        "schedule:churn",
        ("churn",),
        "cron[month='*', day='*', day_of_week='*', hour='3', minute='0']",
    )
    store.shutdown()
    # A new worker fires it like a request.
    second = RetrainWorker(settings)
    second.start_scheduler()
    try:
        job = second.scheduler.get_job("schedule:churn")
        assert job is not None
        job.modify(next_run_time=datetime.now(UTC))
        registry = ModelRegistry(tmp_path / "registry")
        deadline = time.monotonic() + 90
        while registry.production("churn") is None:
            assert time.monotonic() < deadline, "the scheduled run did not promote a version"
            time.sleep(0.2)
        production = registry.production("churn")
        assert production is not None and production.metadata["trigger"] == "schedule"
    finally:
        second.scheduler.shutdown()


def test_models_register_imports_a_fitted_pipeline(
    broker: TansuBroker,
    topic_names: TopicNames,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from driftwarden.retrain.dataset import read_base_table
    from driftwarden.retrain.features import make_pipeline

    config, path = configure(broker, topic_names, tmp_path, risk_tier="medium")
    table = Path(config["models"][0]["training"]["data"]["base"])
    examples, _ = read_base_table(table, "label")
    pipeline = make_pipeline(LogisticRegression()).fit(
        [dict(e.features) for e in examples], [e.label for e in examples]
    )
    sio.dump(pipeline, tmp_path / "churn.skops")
    assert (
        main(
            [
                "models",
                "register",
                "--model",
                "churn",
                "--artifact",
                str(tmp_path / "churn.skops"),
                "--data",
                str(table),
                "--by",
                "bob",
                "--config",
                str(path),
            ]
        )
        == 0
    )
    assert "churn 1: production" in capsys.readouterr().out
    info = ModelRegistry(tmp_path / "registry").get("churn", "1")
    assert info.metadata["trigger"] == "import"
    assert info.metadata["metrics"]["challenger"]["accuracy"] > 0.9
    assert ModelRegistry(tmp_path / "registry").profile("churn", "1")["rows"] == 1500  # type: ignore[index]

    pickled = tmp_path / "evil.skops"
    pickled.write_bytes(b"not a skops file")
    assert (
        main(
            [
                "models",
                "register",
                "--model",
                "churn",
                "--artifact",
                str(pickled),
                "--data",
                str(table),
                "--config",
                str(path),
            ]
        )
        == 1
    )


def test_requests_for_a_model_with_a_run_in_flight_are_coalesced(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    from driftwarden.contracts.requests import RetrainRequest

    config, _ = configure(broker, topic_names, tmp_path)
    worker = RetrainWorker(RetrainSettings.from_config(parse_config(config)))
    worker.start_scheduler()
    try:
        storm = [
            RetrainRequest.new("churn", "1", "drift", timestamp=float(i)).to_json()
            for i in range(5)
        ]
        assert [worker.submit(raw) for raw in storm] == [True, False, False, False, False]
        assert worker.submit(b"{not json") is False
        registry = ModelRegistry(tmp_path / "registry")
        deadline = time.monotonic() + 90
        while registry.production("churn") is None or worker._running:
            assert time.monotonic() < deadline, "the run did not finish"
            time.sleep(0.1)
        assert len(registry.versions("churn")) == 1
        assert worker.submit(storm[0]) is True  # the model is free again
    finally:
        worker.scheduler.shutdown()


def test_killing_a_run_at_any_point_leaves_only_whole_versions(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    config, path = configure(broker, topic_names, tmp_path, params={"max_iter": 300})
    registry = ModelRegistry.from_settings(RetrainSettings.from_config(parse_config(config)))
    command = [
        sys.executable,
        "-m",
        "driftwarden",
        "retrain",
        "run",
        "--config",
        str(path),
        "--model",
        "churn",
    ]
    for delay in (0.8, 1.2, 1.6, 2.0, 2.4, 2.8, 3.2):
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
        run.wait(30)
        for info in registry.versions("churn"):
            # Every listed version is whole: its artifact matches its metadata and loads.
            assert registry.load_artifact("churn", info.version) is not None
            assert (info.path / "profile.json").exists() and (info.path / "model_card.md").exists()
    registry.cleanup()  # removes what a kill during registration left in staging
    assert registry.cleanup() == []
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    assert registry.production("churn") is not None
    assert AuditLog(tmp_path / "registry" / "audit.jsonl").verify() > 0
