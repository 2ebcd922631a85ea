"""Two monitor instances on one host (issue 11, item 7): with the default transactional id they
run side by side; a real clash (one explicit id for both) stops the fenced one with one log line.

Both run as ``driftwarden monitor`` processes against the real broker, with their own state
directories and ports.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from driftwarden.testing import TansuBroker, create_topics, free_port, produce
from tests.conftest import TopicNames
from tests.monitor.harness import MonitorProcess, monitor_config, write_config

pytestmark = pytest.mark.kafka

CLASH = "another monitor instance uses transactional id"


def instance(base: dict[str, Any], tmp_path: Path, name: str, **kafka: Any) -> MonitorProcess:
    port = free_port()
    config = {
        **base,
        "kafka": {**base["kafka"], **kafka},
        "http": {"host": "127.0.0.1", "port": port},
        "state": {**base["state"], "dir": str(tmp_path / name / "state")},
    }
    (tmp_path / name).mkdir()
    path = write_config(tmp_path / name / "config.yaml", config)
    return MonitorProcess(path, port, tmp_path / name / "monitor.log")


def base_config(broker: TansuBroker, topic_names: TopicNames, tmp_path: Path) -> dict[str, Any]:
    config = monitor_config(broker.bootstrap, topic_names("inst"), tmp_path / "unused")
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=2)
    return config


def test_two_instances_with_default_ids_on_one_host_both_keep_running(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    base = base_config(broker, topic_names, tmp_path)
    first = instance(base, tmp_path, "first", transactional_id=None).start()
    second = instance(base, tmp_path, "second", transactional_id=None)
    try:
        first.wait_ready()
        second.start().wait_ready()
        # Input for both (dead letters to publish): a fenced producer would find out sending.
        topic = base["topics"]["predictions"]
        produce(broker.bootstrap, [(topic, f"k{i}".encode(), b"not json") for i in range(20)])
        time.sleep(6)  # a dozen checkpoints (every 500 ms) of each
        assert first.alive(), first.log_path.read_text()[-3000:]
        assert second.alive(), second.log_path.read_text()[-3000:]
    finally:
        codes = [p.terminate() if p.alive() else None for p in (first, second)]
    assert codes == [0, 0]


def test_a_clash_of_explicit_ids_ends_the_fenced_instance_with_one_clear_line(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    base = base_config(broker, topic_names, tmp_path)
    shared = f"{base['kafka']['group_id']}-shared"
    first = instance(base, tmp_path, "first", transactional_id=shared).start()
    second = instance(base, tmp_path, "second", transactional_id=shared)
    try:
        first.wait_ready()
        second.start().wait_ready()
        # Input for both (here: dead letters to publish): the fenced one finds out when it sends.
        topic = base["topics"]["predictions"]
        produce(broker.bootstrap, [(topic, f"k{i}".encode(), b"not json") for i in range(20)])
        deadline = time.monotonic() + 30
        while first.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not first.alive(), "the fenced instance kept running"
        assert first.proc is not None and first.proc.returncode == 1
        assert second.alive()
    finally:
        for process in (first, second):
            if process.alive():
                process.terminate()
    log = first.log_path.read_text()
    assert "Traceback" not in log, log[-3000:]
    [line] = [line for line in log.splitlines() if CLASH in line]
    assert repr(shared) in line and "kafka.transactional_id" in line and "state.dir" in line
