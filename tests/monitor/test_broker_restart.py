"""``driftwarden monitor`` rides out a broker restart mid-stream (Tansu on S3 storage)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from driftwarden.testing import TansuBroker, create_topics, free_port, generate_stream, produce
from tests.conftest import TopicNames
from tests.helpers import wait_until
from tests.monitor.harness import (
    MonitorProcess,
    Samples,
    ThreadedMonitor,
    consumed,
    monitor_config,
    read_topic,
    scrape,
    stream_counters,
    total,
    write_config,
)

pytestmark = pytest.mark.kafka

RECONNECTS = "driftwarden_kafka_reconnects_total"
Message = tuple[str, bytes | None, bytes]
BAD = b"{not json"


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _messages(topics: dict[str, str], events: int, seed: int) -> list[Message]:
    """The demo stream plus a few undecodable predictions (dead letters) in each half."""
    stream = [(topics[e.topic], e.key, e.value) for e in generate_stream(events, seed)]
    for i in range(0, len(stream), len(stream) // 10):
        stream.insert(i, (topics["predictions"], f"bad-{i}".encode(), BAD))
    return stream


def test_broker_restart_mid_stream_resumes_and_counts_every_event_once(
    restartable_broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    broker = restartable_broker
    prefix = topic_names("restart")
    config = monitor_config(
        broker.bootstrap, prefix, tmp_path / "state", free_port(), label_ttl="10m"
    )
    # Small polls and frequent checkpoints: the stream is still being worked on when it stops.
    config["kafka"]["max_poll_records"] = 100  # type: ignore[index]
    config["state"]["checkpoint_every"] = "300ms"  # type: ignore[index]
    topics = config["topics"]
    assert isinstance(topics, dict)
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=2)
    stream = _messages(topics, 6000, seed=21)
    half = len(stream) // 2

    proc = MonitorProcess(
        write_config(tmp_path / "monitor.yaml", config),
        config["http"]["port"],  # type: ignore[index]
        tmp_path / "monitor.log",
    )
    produce(broker.bootstrap, stream[:half])
    proc.start().wait_ready()
    wait_until(lambda: consumed(scrape(f"{proc.url}/metrics")) >= half // 4, "first events", 90)

    broker.halt()
    wait_until(lambda: _status(f"{proc.url}/readyz") == 503, "/readyz to report the outage", 90)
    assert _status(f"{proc.url}/healthz") == 200
    # The commit in flight gives up and the session is dropped; then a reconnect fails too.
    wait_until(lambda: total(scrape(f"{proc.url}/metrics"), RECONNECTS) >= 2, "reconnects", 90)
    assert proc.alive(), proc.log_path.read_text()[-3000:]
    assert _status(f"{proc.url}/healthz") == 200
    assert _status(f"{proc.url}/readyz") == 503
    assert consumed(scrape(f"{proc.url}/metrics")) < len(stream)

    broker.start()
    produce(broker.bootstrap, stream[half:])
    try:
        proc.wait_ready(timeout=90)
        actual = proc.wait_consumed(len(stream), timeout=120)
    finally:
        assert proc.terminate() == 0, proc.log_path.read_text()[-3000:]
    assert total(actual, RECONNECTS) >= 1

    reference = {
        **config,
        "kafka": {
            **config["kafka"],  # type: ignore[dict-item]
            "group_id": f"{prefix}-ref",
            "transactional_id": f"{prefix}-ref-tx",
        },
        "http": {"host": "127.0.0.1", "port": 0},
        "state": {"dir": str(tmp_path / "ref-state"), "checkpoint_every": "500ms"},
    }
    with ThreadedMonitor(reference) as monitor:
        expected = monitor.wait_consumed(len(stream))

    joined = total(expected, "driftwarden_joined_total")
    bad = sum(1 for m in stream if m[2] == BAD)
    assert joined > 3000
    assert total(expected, "driftwarden_invalid_events_total") == bad
    # Predictions, labels, joins, dead letters, pending...: as if the broker had never stopped.
    assert _counters(actual) == _counters(expected)
    for key, value in stream_counters(expected).items():
        if key[0] == "driftwarden_performance" and ("window", "cumulative") in key[1]:
            assert actual[key] == pytest.approx(value, rel=1e-9), key

    # The broker does not abort the transaction cut short by the outage, so outputs may repeat;
    # deduplicated by their source headers they are exactly the joins and the dead letters.
    examples = read_topic(broker.bootstrap, topics["examples"], expected=int(joined))
    positions = {
        (dict(r.headers)["source-partition"], dict(r.headers)["source-offset"]) for r in examples
    }
    assert len(positions) == joined
    assert len({orjson.loads(r.value)["prediction_id"] for r in examples}) == joined
    dead = read_topic(broker.bootstrap, topics["dead_letter"], expected=bad)
    assert {r.key for r in dead} == {m[1] for m in stream if m[2] == BAD}


def _counters(samples: Samples) -> Samples:
    return {k: v for k, v in stream_counters(samples).items() if k[0] != "driftwarden_performance"}
