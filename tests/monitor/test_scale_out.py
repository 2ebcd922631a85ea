"""Several monitor instances in one consumer group: partitions and their state move together."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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
    total,
    write_config,
)

pytestmark = pytest.mark.kafka

PARTITIONS = 6
# Counters and gauges whose sum over instances must equal a single instance's values.
SUMMED = (
    "driftwarden_predictions_total",
    "driftwarden_labels_total",
    "driftwarden_joined_total",
    "driftwarden_correct_total",
    "driftwarden_unmatched_total",
    "driftwarden_invalid_events_total",
    "driftwarden_label_delay_seconds_bucket",
    "driftwarden_label_delay_seconds_count",
    "driftwarden_pending",
)


def _summed(instances: list[Samples]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    sums: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for samples in instances:
        for (name, labels), value in samples.items():
            if name in SUMMED:
                key = (name, frozenset((k, v) for k, v in labels if k != "partition"))
                sums[key] = sums.get(key, 0.0) + value
    return {k: v for k, v in sums.items() if v}


def _wait_total(procs: list[MonitorProcess], count: int, timeout: float = 90) -> list[Samples]:
    """Scrape every live instance until their consumed counts sum to ``count``."""
    done = 0.0

    def all_consumed() -> bool:
        nonlocal done
        assert all(p.alive() for p in procs), [p.log_path.read_text()[-2000:] for p in procs]
        try:
            samples = [scrape(f"{p.url}/metrics") for p in procs]
        except OSError:  # a busy instance missed the scrape timeout
            return False
        done = sum(consumed(s) for s in samples)
        return done == count and all(p.ready() for p in procs)

    wait_until(all_consumed, lambda: f"{count} consumed (instances consumed {done})", timeout)
    time.sleep(1.2)  # one more snapshot, so gauges reflect the last batch too
    return [scrape(f"{p.url}/metrics") for p in procs]


def _group(broker: TansuBroker, prefix: str) -> dict[str, Any]:
    """The config every member shares: small polls and frequent checkpoints, six partitions."""
    base = monitor_config(broker.bootstrap, prefix, Path("unused"), label_ttl="10m")
    base["kafka"]["max_poll_records"] = 200
    base["state"]["checkpoint_every"] = "300ms"
    topics = base["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], PARTITIONS)
    return base


def _member(base: dict[str, Any], name: str, tmp_path: Path) -> MonitorProcess:
    """A monitor process in the group, with its own port, state and transactional id."""
    config: dict[str, Any] = {
        **base,
        "kafka": {**base["kafka"], "transactional_id": f"{base['kafka']['group_id']}-{name}"},
        "http": {"host": "127.0.0.1", "port": free_port()},
        "state": {**base["state"], "dir": str(tmp_path / name)},
    }
    path = write_config(tmp_path / f"{name}.yaml", config)
    return MonitorProcess(path, config["http"]["port"], tmp_path / f"{name}.log")


def _uninterrupted(base: dict[str, Any], tmp_path: Path, sent: int) -> Samples:
    """The metrics of one instance, in a group of its own, that consumed everything."""
    group = base["kafka"]["group_id"]
    reference = {
        **base,
        "kafka": {**base["kafka"], "group_id": f"{group}-ref", "transactional_id": f"{group}-r"},
        "http": {"host": "127.0.0.1", "port": 0},
        "state": {"dir": str(tmp_path / "ref"), "checkpoint_every": "500ms"},
    }
    with ThreadedMonitor(reference) as monitor:
        return monitor.wait_consumed(sent)


def test_three_instances_lose_one_and_still_count_every_event_once(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    base = _group(broker, topic_names("scale"))
    topics: dict[str, str] = base["topics"]
    stream = [(topics[e.topic], e.key, e.value) for e in generate_stream(30_000, seed=21)]
    thirds = [stream[: len(stream) // 3], stream[len(stream) // 3 : 2 * len(stream) // 3]]
    thirds.append(stream[2 * len(stream) // 3 :])

    a, b, c = (_member(base, name, tmp_path) for name in "abc")
    sent = produce(broker.bootstrap, thirds[0])
    a.start().wait_ready()
    _wait_total([a], sent)
    # Two more members: partitions A worked on move to B and C, with their join state.
    b.start()
    c.start()
    for proc in (a, b, c):
        proc.wait_ready(timeout=60)
    sent += produce(broker.bootstrap, thirds[1])
    _wait_total([a, b, c], sent)
    assert all(
        total(scrape(f"{p.url}/metrics"), "driftwarden_predictions_total") for p in (a, b, c)
    )

    sent += produce(broker.bootstrap, thirds[2])
    deadline = time.monotonic() + 30
    while sum(consumed(scrape(f"{p.url}/metrics")) for p in (a, b, c)) < sent - 5000:
        assert time.monotonic() < deadline, "the instances did not start on the last third"
        time.sleep(0.02)
    b.kill9()  # mid-stream: its uncommitted work is redone by the new owners
    survivors = _wait_total([a, c], sent)
    for proc in (a, c):
        assert proc.terminate() == 0

    expected = _uninterrupted(base, tmp_path, sent)
    joined = total(expected, "driftwarden_joined_total")
    assert joined > 8_000
    assert _summed(survivors) == _summed([expected])

    # No join was lost or repeated by a move: deduplicated by their source, the published
    # examples are exactly the joins (this broker does not abort a killed transaction).
    examples = read_topic(broker.bootstrap, topics["examples"], expected=int(joined))
    sources = {
        (dict(r.headers)["source-partition"], dict(r.headers)["source-offset"]) for r in examples
    }
    assert len(sources) == joined
    assert len({orjson.loads(r.value)["prediction_id"] for r in examples}) == joined


def test_a_member_frozen_past_its_session_rolls_back_and_rejoins(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    """SIGSTOP one of two members for longer than the session timeout: the group moves its
    partitions; when it wakes it has been evicted, so it must not commit what it held and must
    roll back to its checkpoint before taking part again."""
    base = _group(broker, topic_names("frozen"))
    topics: dict[str, str] = base["topics"]
    stream = [(topics[e.topic], e.key, e.value) for e in generate_stream(16_000, seed=8)]
    half = len(stream) // 2

    procs = [_member(base, name, tmp_path) for name in "ab"]
    a, b = procs
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.wait_ready(timeout=60)
    sent = produce(broker.bootstrap, stream[:half])
    _wait_total(procs, sent)

    b.freeze()
    sent += produce(broker.bootstrap, stream[half:])
    time.sleep(8)  # twice the session timeout: the group now consists of A alone
    b.thaw()
    actual = _wait_total(procs, sent)
    assert "evicted from the group: rolled back" in b.log_path.read_text()
    for proc in procs:
        assert proc.terminate() == 0

    assert _summed(actual) == _summed([_uninterrupted(base, tmp_path, sent)])
