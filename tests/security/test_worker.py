"""The retrain worker against a hostile producer on the requests topic (real broker, the CLI).

Runs use the ``command`` executor with a command that waits for a file, so no test trains: a
run stays in flight until the test lets it finish, and requests meanwhile are coalesced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftwarden.contracts.requests import REJECTIONS, RetrainRequest
from driftwarden.retrain.audit import AuditLog
from driftwarden.testing import TansuBroker, produce
from tests.conftest import TopicNames
from tests.helpers import wait_until
from tests.monitor.badinput import RawKey
from tests.monitor.harness import Samples, scrape, total, write_config
from tests.retrain.test_retrain_loop import loop_config

pytestmark = pytest.mark.kafka

TAKEN = "driftwarden_retrain_requests_total"
REJECTED = "driftwarden_retrain_requests_rejected_total"


class Worker:
    """``driftwarden retrain worker`` in a subprocess, its runs held until :meth:`release`."""

    def __init__(self, config: dict[str, Any], tmp_path: Path) -> None:
        self.flag = tmp_path / "release-runs"
        wait = f"import pathlib, time\nwhile not pathlib.Path({str(self.flag)!r}).exists(): "
        config["worker"].update(
            {"executor": "command", "command": [sys.executable, "-c", wait + "time.sleep(0.1)"]}
        )
        self.topic = config["topics"]["retrain_requests"]
        self.url = f"http://127.0.0.1:{config['worker']['http']['port']}/metrics"
        self.log = tmp_path / "worker.log"
        self.audit = AuditLog(tmp_path / "registry" / "audit.jsonl")
        path = write_config(tmp_path / "driftwarden.yaml", config)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "driftwarden", "retrain", "worker", "--config", str(path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def wait_until(self, done: Any, what: str, timeout: float = 90.0) -> Samples:
        def finished() -> Samples | None:
            assert self.proc.poll() is None, f"worker died:\n{self.log.read_text()[-3000:]}"
            try:
                samples = scrape(self.url)
            except OSError:
                return None
            return samples if samples and done(samples) else None

        return wait_until(
            finished, lambda: f"{what}:\n{self.log.read_text()[-3000:]}", timeout, 0.2
        )

    def release(self) -> None:
        self.flag.touch()

    def stop(self) -> int:
        self.release()
        self.proc.terminate()
        return self.proc.wait(60)


@pytest.fixture
def worker(broker: TansuBroker, topic_names: TopicNames, tmp_path: Path) -> Iterator[Worker]:
    running = Worker(loop_config(broker, topic_names, tmp_path), tmp_path)
    try:
        yield running
    finally:
        code = running.stop()
        assert code == 0, running.log.read_text()[-3000:]


def send(bootstrap: str, topic: str, values: list[bytes], headers: Any = None) -> None:
    produce(bootstrap, [(topic, b"churn", value, headers or []) for value in values])


def request(**fields: Any) -> bytes:
    doc = orjson.loads(RetrainRequest.new("churn", None, "drift", timestamp=time.time()).to_json())
    return orjson.dumps({**doc, **fields})


def test_a_poison_request_does_not_stop_the_worker(broker: TansuBroker, worker: Worker) -> None:
    # On the previous code the first message killed the worker on every restart (its offset was
    # never committed), and the header key stopped the consumer for good.
    send(broker.bootstrap, worker.topic, [request(timestamp="0001-01-01T00:00:00+14:00")])
    send(broker.bootstrap, worker.topic, [request()], headers=[(RawKey("raw"), b"x")])
    send(broker.bootstrap, worker.topic, [request(reason="manual")])

    samples = worker.wait_until(
        lambda s: total(s, TAKEN, model="churn") >= 2, "the valid requests were not taken"
    )
    assert total(samples, REJECTED, reason="timestamp") == 1
    assert total(samples, TAKEN, model="churn", reason="drift") == 1  # the one with the header
    assert total(samples, TAKEN, model="churn", reason="manual") == 1
    assert "0001-01-01" in worker.log.read_text()  # the rejection is logged, with its cause


def test_hostile_requests_are_rejected_by_category_and_never_label_values(
    broker: TansuBroker, worker: Worker
) -> None:
    hostile = [
        request(reason="<!channel> any text at all"),
        request(evidence={"blob": "x" * 20_000}),
        request(evidence={"blob": "x" * 70_000}),
        request(request_id="r" * 10_000),
        request(request_id="../../etc/passwd"),
        request(model="m" * 1000),
        request(model="no-such-model"),
        b"\x00 not json",
    ]
    send(broker.bootstrap, worker.topic, [*hostile, request()])

    samples = worker.wait_until(lambda s: total(s, TAKEN) >= 1, "the valid request was not taken")
    rejected = {r: total(samples, REJECTED, reason=r) for r in REJECTIONS}
    assert rejected == {
        "too_large": 1,
        "malformed": 1,
        "timestamp": 0,
        "reason": 1,
        "evidence": 1,
        "request_id": 2,
        "model": 1,
        "unknown_model": 1,
        "error": 0,
    }
    labels = {value for (name, lbl), _ in samples.items() for _, value in lbl}
    assert not any("channel" in value or "no-such" in value for value in labels)
    assert {lbl for (name, lbl), _ in samples.items() if name == TAKEN} == {
        frozenset({("model", "churn"), ("reason", "drift")})
    }
    assert len(list(worker.audit.entries())) == 1  # only the valid request was audited


def test_a_flood_of_coalesced_requests_is_audited_once_per_cooldown(
    broker: TansuBroker, worker: Worker
) -> None:
    flood = [request() for _ in range(200)]
    send(broker.bootstrap, worker.topic, flood)

    worker.wait_until(lambda s: total(s, TAKEN) >= 200, "the flood was not taken")
    entries = [e for e in worker.audit.entries() if e.action == "retrain_requested"]
    # The first starts a run; the other 199 are coalesced into it: one entry for all of them
    # (the cooldown is a day). The previous code wrote 200 entries with their evidence.
    assert [e.details["coalesced"] for e in entries] == [False, True]
    assert entries[1].details["unaudited"] == 0

    worker.release()
    worker.wait_until(
        lambda s: total(s, "driftwarden_retrain_runs_total") >= 1, "the run did not finish"
    )
    send(broker.bootstrap, worker.topic, [request()])
    worker.wait_until(lambda s: total(s, TAKEN) >= 201, "the last request was not taken")
    entries = [e for e in worker.audit.entries() if e.action == "retrain_requested"]
    # The next entry of the model says how many requests the log left out.
    assert [(e.details["coalesced"], e.details["unaudited"]) for e in entries] == [
        (False, 0),
        (True, 0),
        (False, 198),
    ]
    assert worker.audit.verify() == 3
