"""``driftwarden retrain worker`` keeps consuming retrain requests across a broker restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest

from driftwarden.contracts.requests import RetrainRequest
from driftwarden.testing import TansuBroker, produce
from tests.conftest import TopicNames
from tests.helpers import wait_until
from tests.monitor.harness import scrape, total, write_config
from tests.retrain.test_retrain_loop import loop_config

pytestmark = pytest.mark.kafka

REQUESTS = "driftwarden_retrain_requests_total"


def _requests_taken(url: str) -> float:
    try:
        return total(scrape(url), REQUESTS, model="churn")
    except (urllib.error.URLError, ConnectionError):
        return -1.0


def _wait(proc: subprocess.Popen[bytes], url: str, count: int, log: Path) -> None:
    def taken() -> bool:
        assert proc.poll() is None, f"worker died:\n{log.read_text()[-3000:]}"
        return _requests_taken(url) >= count

    wait_until(taken, lambda: f"{count} requests taken:\n{log.read_text()[-3000:]}", 120, 0.2)


def test_worker_takes_requests_after_a_broker_restart(
    restartable_broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    broker = restartable_broker
    config = loop_config(broker, topic_names, tmp_path)
    topic = config["topics"]["retrain_requests"]
    url = f"http://127.0.0.1:{config['worker']['http']['port']}/metrics"
    log = tmp_path / "worker.log"
    command = [sys.executable, "-m", "driftwarden", "retrain", "worker", "--config"]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, str(write_config(tmp_path / "driftwarden.yaml", config))],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:

        def request(i: int) -> tuple[str, bytes, bytes]:
            raw = RetrainRequest.new("churn", None, "drift", timestamp=time.time() + i).to_json()
            return (topic, b"churn", raw)

        produce(broker.bootstrap, [request(0)])
        _wait(proc, url, 1, log)

        broker.halt()
        # Longer than the group session (4 s): the worker's membership expires meanwhile.
        time.sleep(8)
        assert proc.poll() is None, log.read_text()[-3000:]
        broker.start()

        produce(broker.bootstrap, [request(1)])
        _wait(proc, url, 2, log)
    finally:
        proc.terminate()
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]
