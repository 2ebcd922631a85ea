"""A hostile producer on the examples topic, and an audit log cut at its end (real broker, CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from driftwarden.cli import main
from driftwarden.retrain.audit import AuditLog
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.testing import TansuBroker, produce
from tests.conftest import TopicNames
from tests.monitor.badinput import RawKey
from tests.monitor.harness import read_topic, write_config
from tests.retrain.test_retrain_loop import loop_config

pytestmark = pytest.mark.kafka


def example(prediction_id: str, **fields: Any) -> bytes:
    doc = {
        "schema": 1,
        "prediction_id": prediction_id,
        "model": "churn",
        "model_version": "0",
        "features": {"x1": 0.5, "x2": -0.5, "plan": "pro"},
        "prediction": 1,
        "scores": None,
        "label": 1,
        "prediction_timestamp": 1_795_600_000.0,
        "label_timestamp": 1_795_600_005.0,
    }
    return orjson.dumps({**doc, **fields})


def test_malformed_examples_are_skipped_and_counted_in_the_lineage(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = loop_config(broker, topic_names, tmp_path)
    path = write_config(tmp_path / "driftwarden.yaml", config)
    topic = config["topics"]["examples"]
    malformed = (b"{not json", b"[1]", example("p-2", features=None), example("p-3", label=[]))
    produce(
        broker.bootstrap,
        [
            *((topic, b"churn", value) for value in malformed),
            # A header key that is not UTF-8 stopped the reader (the run then timed out).
            (topic, b"churn", example("p-1"), [(RawKey("k"), b"v")]),
        ],
    )

    # The previous code failed the run on the first malformed record, and every later run too.
    assert main(["retrain", "run", "--config", str(path), "--model", "churn"]) == 0
    data = ModelRegistry(tmp_path / "registry").get("churn", "1").metadata["data"]
    assert data["skipped_examples"] == {"json": 1, "schema": 1, "field": 2}
    assert data["production_examples"] == 1
    card = (tmp_path / "registry" / "churn" / "1" / "model_card.md").read_text()
    assert "skipped_examples" in card


def test_verify_catches_entries_cut_from_the_end_of_the_audit_log(
    broker: TansuBroker,
    topic_names: TopicNames,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = loop_config(broker, topic_names, tmp_path)
    path = write_config(tmp_path / "driftwarden.yaml", config)
    assert main(["retrain", "run", "--config", str(path), "--model", "churn"]) == 0
    audit = AuditLog(tmp_path / "registry" / "audit.jsonl")
    count = audit.verify()
    heads = [
        orjson.loads(r.value)
        for r in read_topic(broker.bootstrap, config["topics"]["events"], count)
        if orjson.loads(r.value)["type"] == "audit_head"
    ]
    assert [h["seq"] for h in heads] == list(range(1, count + 1))
    capsys.readouterr()
    assert main(["models", "audit", "--verify", "--config", str(path)]) == 0
    assert f"up to the head published as seq {count}" in capsys.readouterr().out

    lines = audit.path.read_bytes().splitlines(keepends=True)
    audit.path.write_bytes(b"".join(lines[:-2]))
    assert audit.verify() == count - 2  # the chain alone cannot tell
    # The previous code printed "audit log intact" and exited 0.
    assert main(["models", "audit", "--verify", "--config", str(path)]) == 1
    error = capsys.readouterr().err
    assert f"ends at seq {count - 2}, but the head seq {count}" in error
    assert f"entries {count - 1} to {count} were removed" in error
