"""The retraining loop end to end on the real broker: monitor -> request -> worker -> promotion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftwarden.cli import main
from driftwarden.config import parse_config
from driftwarden.retrain.audit import AuditLog
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.testing import TansuBroker, create_topics, free_port, produce
from tests.conftest import TopicNames
from tests.helpers import wait_until
from tests.monitor.harness import (
    ThreadedMonitor,
    monitor_config,
    read_topic,
    scrape,
    total,
    write_config,
)

pytestmark = pytest.mark.kafka


def world(n: int, seed: int, changed: bool) -> list[dict[str, Any]]:
    """Rows whose label follows x1 + x2 > 0 before the change and x1 - x2 > 0 after it."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    plan = rng.choice(["basic", "pro"], n)
    y = (x1 - x2 > 0) if changed else (x1 + x2 > 0)
    return [
        {"x1": float(a), "x2": float(b), "plan": str(c), "label": int(d)}
        for a, b, c, d in zip(x1, x2, plan, y, strict=True)
    ]


def base_table(path: Path) -> Path:
    rows = world(1500, seed=1, changed=False)
    path.write_text(
        "x1,x2,plan,label\n"
        + "".join(f"{r['x1']},{r['x2']},{r['plan']},{r['label']}\n" for r in rows)
    )
    return path


def loop_config(broker: TansuBroker, topic_names: TopicNames, tmp_path: Path) -> dict[str, Any]:
    config = monitor_config(
        broker.bootstrap,
        topic_names("loop"),
        tmp_path / "state",
        features={"x1": "numeric", "x2": "numeric", "plan": "categorical"},
        window=300,
    )
    config["models"][0].update(
        {
            "training": {
                "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
                "params": {"max_iter": 60},
                "data": {"examples": 4000, "base": str(base_table(tmp_path / "base.csv"))},
                "seed": 0,
                "risk_tier": "low",
            },
            "retrain": {
                "when": {
                    "performance_below": {"metric": "accuracy", "value": 0.8, "min_examples": 300}
                },
                "cooldown": "1d",
            },
        }
    )
    config["registry"] = str(tmp_path / "registry")
    config["worker"] = {
        "http": {"host": "127.0.0.1", "port": free_port()},
        "max_workers": 1,
        "group_id": f"{config['kafka']['group_id']}-worker",
    }
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=1)
    create_topics(
        broker.bootstrap,
        [topics["examples"], topics["retrain_requests"], topics["events"], topics["dead_letter"]],
        partitions=1,
    )
    return config


def serve(
    registry: ModelRegistry,
    version: str,
    rows: list[dict[str, Any]],
    start: int,
    topics: dict[str, str],
) -> list[tuple[str, bytes, bytes]]:
    """What a serving system does: predict with a registered version, later publish labels."""
    model = registry.load_artifact("churn", version)
    features = [{k: r[k] for k in ("x1", "x2", "plan")} for r in rows]
    predictions = model.predict(features)
    messages = []
    for i, (row, feats, pred) in enumerate(zip(rows, features, predictions, strict=True)):
        pid = f"p-{version}-{start + i}"
        ts = 1_795_600_000.0 + start + i
        messages.append(
            (
                topics["predictions"],
                pid.encode(),
                orjson.dumps(
                    {
                        "prediction_id": pid,
                        "model": "churn",
                        "model_version": version,
                        "timestamp": ts,
                        "features": feats,
                        "prediction": int(pred),
                    }
                ),
            )
        )
        messages.append(
            (
                topics["labels"],
                pid.encode(),
                orjson.dumps(
                    {
                        "prediction_id": pid,
                        "model": "churn",
                        "label": row["label"],
                        "timestamp": ts + 5,
                    }
                ),
            )
        )
    return messages


def test_drop_in_accuracy_retrains_and_promotes_a_better_version(
    broker: TansuBroker,
    topic_names: TopicNames,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = loop_config(broker, topic_names, tmp_path)
    path = write_config(tmp_path / "driftwarden.yaml", config)
    topics = config["topics"]

    # Bootstrap: no production version yet, so the first one is trained from the base table.
    assert main(["retrain", "run", "--config", str(path), "--model", "churn"]) == 0
    registry = ModelRegistry.from_settings(RetrainSettings.from_config(parse_config(config)))
    assert registry.production("churn").version == "1"  # type: ignore[union-attr]

    worker = subprocess.Popen(
        [sys.executable, "-m", "driftwarden", "retrain", "worker", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "worker.log").open("wb"),
    )
    try:
        after = world(3000, seed=2, changed=True)
        sent = produce(broker.bootstrap, serve(registry, "1", after, 0, topics))
        with ThreadedMonitor(config) as monitor:
            monitor.wait_consumed(sent)
            promoted = _wait_for_version(registry, "2", worker, tmp_path / "worker.log")
            assert promoted.metadata["parent_version"] == "1"
            assert promoted.metadata["trigger"] == "performance_below"
            later = world(1000, seed=3, changed=True)
            more = produce(broker.bootstrap, serve(registry, "2", later, 10_000, topics))
            samples = monitor.wait_consumed(sent + more)
        worker_samples = scrape(f"http://127.0.0.1:{config['worker']['http']['port']}/metrics")
    finally:
        worker.terminate()
        worker.wait(30)

    def accuracy(version: str) -> float:
        return total(
            samples,
            "driftwarden_performance",
            version=version,
            metric="accuracy",
            window="cumulative",
        )

    assert accuracy("1") < 0.7 < 0.85 < accuracy("2")
    assert total(samples, "driftwarden_retrain_requests_total", reason="performance_below") == 1
    # Each version is checked against the profile the registry holds for it.
    assert total(samples, "driftwarden_reference_missing", version="1") == 0
    assert total(samples, "driftwarden_reference_missing", version="2") == 0
    assert total(worker_samples, "driftwarden_retrain_runs_total", outcome="promoted") == 1
    assert total(worker_samples, "driftwarden_model_info", version="2", stage="production") == 1
    assert total(worker_samples, "driftwarden_model_info", version="1", stage="archived") == 1

    events = [orjson.loads(r.value) for r in read_topic(broker.bootstrap, topics["events"], 3)]
    promoted_events = [e for e in events if e["type"] == "model_promoted"]
    assert [(e["version"], e["previous_version"]) for e in promoted_events] == [
        ("1", None),
        ("2", "1"),
    ]
    requests = read_topic(broker.bootstrap, topics["retrain_requests"], 1)
    assert [orjson.loads(r.value)["reason"] for r in requests] == ["performance_below"]

    assert AuditLog(tmp_path / "registry" / "audit.jsonl").verify() > 5
    assert main(["retrain", "reproduce", "churn", "2", "--config", str(path)]) == 0
    assert "churn 2: reproduced" in capsys.readouterr().out


def _wait_for_version(
    registry: ModelRegistry,
    version: str,
    worker: subprocess.Popen[bytes],
    log: Path,
    timeout: float = 120,
) -> Any:
    def promoted() -> Any:
        assert worker.poll() is None, log.read_text()[-3000:]
        production = registry.production("churn")
        return production if production is not None and production.version == version else None

    return wait_until(
        promoted,
        lambda: f"version {version} to be promoted: {log.read_text()[-3000:]}",
        timeout,
        0.2,
    )
