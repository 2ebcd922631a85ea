"""Attacks through the changelog topic, as a producer with write rights on it would try them.

One instance consumes a stream and stops, leaving its snapshot on the changelog; a record is
then produced onto the changelog partition; a fresh instance of the same group takes the
partition over and must neither run code from it nor crash, but skip it (counted), resume from
the last valid snapshot and go on committing.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from driftwarden.monitor.changelog import PartitionSnapshot, SnapshotAssembler, encode_snapshot
from driftwarden.monitor.state import PartitionState, StreamCounters
from driftwarden.testing import TansuBroker, create_topics, free_port, generate_stream, produce
from tests.conftest import TopicNames
from tests.helpers import wait_until
from tests.monitor.harness import (
    MonitorProcess,
    Samples,
    ThreadedMonitor,
    monitor_config,
    read_topic,
    total,
    write_config,
)

pytestmark = pytest.mark.kafka

REJECTED = "driftwarden_changelog_records_rejected_total"
Injected = list[tuple[bytes, bytes, list[tuple[str, bytes]]]]


class _Call:
    """Pickles as ``fn(*args)``: a chain of these reaches ``exec`` through the old
    unpickler's allow-list (``builtins.getattr`` and a function's ``__globals__``)."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn, self.args = fn, args

    def __call__(self) -> None:  # pickle requires a callable in a reduce tuple
        raise NotImplementedError

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (self.fn, self.args)


def exploit(marker: Path) -> bytes:
    """A pickle that, loaded by the previous snapshot unpickler, writes ``marker``."""
    function = _Call(getattr, StreamCounters, "observe_delay")
    module_globals = _Call(getattr, function, "__globals__")
    builtins = _Call(_Call(getattr, module_globals, "get"), "__builtins__")
    run = _Call(_Call(getattr, builtins, "get"), "exec")
    code = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')"
    return pickle.dumps(_Call(run, code), protocol=pickle.HIGHEST_PROTOCOL)


def _headers(payload: bytes, snapshot_id: bytes = b"attacker:1") -> list[tuple[str, bytes]]:
    return [
        ("snapshot-id", snapshot_id),
        ("chunk", b"0"),
        ("chunks", b"1"),
        ("sha256", hashlib.sha256(payload).hexdigest().encode()),
    ]


def _config(broker: TansuBroker, prefix: str, tmp_path: Path, **state: Any) -> dict[str, Any]:
    config = monitor_config(broker.bootstrap, prefix, tmp_path / "unused", label_ttl="10m")
    config["topics"]["changelog"] = f"{prefix}.changelog"
    config["state"].update(checkpoint_every="300ms", **state)
    create_topics(broker.bootstrap, [config["topics"]["predictions"], config["topics"]["labels"]])
    return config


def _member(config: dict[str, Any], name: str, tmp_path: Path) -> dict[str, Any]:
    return {
        **config,
        "kafka": {**config["kafka"], "transactional_id": f"{config['kafka']['group_id']}-{name}"},
        "http": {"host": "127.0.0.1", "port": free_port()},
        "state": {**config["state"], "dir": str(tmp_path / name)},
    }


def _stream(config: dict[str, Any], count: int, seed: int) -> list[tuple[str, bytes, bytes]]:
    topics = config["topics"]
    return [
        (topics[e.topic], e.key, e.value) for e in generate_stream(count, seed=seed, max_delay=600)
    ]


def _inject(bootstrap: str, topic: str, records: Injected) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=2_000_000)
    for key, value, headers in records:
        producer.send(topic, key=key, value=value, headers=headers, partition=0)
    producer.flush()
    producer.close()


def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        return consumer.committed(TopicPartition(topic, 0))  # type: ignore[no-any-return]
    finally:
        consumer.close()


def _wait_committed(bootstrap: str, group: str, topic: str, expected: int) -> None:
    committed = None

    def reached() -> bool:
        nonlocal committed
        committed = _committed(bootstrap, group, topic)
        return committed == expected

    wait_until(reached, lambda: f"commit {expected} (committed {committed})", 30, 0.2)


@pytest.fixture
def handover(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> Iterator[tuple[dict[str, Any], int]]:
    """A first instance consumed a stream and stopped, its snapshot on the changelog: the
    group's config and the number of input records."""
    config = _config(broker, topic_names("sec"), tmp_path)
    yield config, _first_owner(broker, config, tmp_path)


def _first_owner(broker: TansuBroker, config: dict[str, Any], tmp_path: Path) -> int:
    sent = produce(broker.bootstrap, _stream(config, 300, seed=1))
    with ThreadedMonitor(_member(config, "first", tmp_path)) as first:
        first.wait_consumed(sent)
    return sent


def _take_over(
    broker: TansuBroker, config: dict[str, Any], sent: int, tmp_path: Path
) -> tuple[MonitorProcess, Samples]:
    """A fresh instance of the group takes the partition; more events come; it must consume
    and commit them all."""
    member = _member(config, "second", tmp_path)
    path = write_config(tmp_path / "second.yaml", member)
    proc = MonitorProcess(path, member["http"]["port"], tmp_path / "second.log").start()
    try:
        proc.wait_ready(60)
        more = produce(broker.bootstrap, _stream(config, 100, seed=2))
        samples = proc.wait_consumed(sent + more, timeout=90)
        predictions = config["topics"]["predictions"]
        expected = sum(1 for topic, _, _ in _stream(config, 100, seed=2) if topic == predictions)
        expected += sum(1 for topic, _, _ in _stream(config, 300, seed=1) if topic == predictions)
        _wait_committed(broker.bootstrap, config["kafka"]["group_id"], predictions, expected)
        assert proc.alive()
        return proc, samples
    except BaseException:
        proc.terminate()
        raise


def _resumed_from(proc: MonitorProcess) -> str:
    log = proc.log_path.read_text()
    return log.split("partition 0 resumes from ", 1)[1].split(" ", 1)[0]


def test_a_pickle_that_ran_code_is_skipped_and_runs_nothing(
    broker: TansuBroker, handover: tuple[dict[str, Any], int], tmp_path: Path
) -> None:
    config, sent = handover
    marker = tmp_path / "pwned"
    payload = zlib.compress(exploit(marker))
    _inject(broker.bootstrap, config["topics"]["changelog"], [(b"0/0", payload, _headers(payload))])
    proc, samples = _take_over(broker, config, sent, tmp_path)
    proc.terminate()
    assert not marker.exists()
    assert total(samples, REJECTED, reason="undecodable") == 1
    assert _resumed_from(proc) == "changelog"  # the first instance's snapshot, before it
    assert "partition 0: skipped a record or snapshot (undecodable" in proc.log_path.read_text()


def test_a_garbage_record_is_skipped_and_the_partition_resumes(
    broker: TansuBroker, handover: tuple[dict[str, Any], int], tmp_path: Path
) -> None:
    config, sent = handover
    _inject(broker.bootstrap, config["topics"]["changelog"], [(b"\xff", b"\x00garbage", [])])
    proc, samples = _take_over(broker, config, sent, tmp_path)
    proc.terminate()
    assert total(samples, REJECTED, reason="malformed") >= 1
    assert _resumed_from(proc) == "changelog"


def test_a_zlib_bomb_is_rejected_without_being_inflated(
    broker: TansuBroker, handover: tuple[dict[str, Any], int], tmp_path: Path
) -> None:
    config, sent = handover
    deflate = zlib.compressobj(9)
    zeros = b"\0" * (1 << 20)
    bomb = b"".join(deflate.compress(zeros) for _ in range(1024)) + deflate.flush()  # 1 GiB
    half = len(bomb) // 2
    headers = _headers(bomb, b"bomb:1")
    chunks = [(b"0/0", bomb[:half], [*headers]), (b"0/1", bomb[half:], [*headers])]
    for index, (_, _, chunk_headers) in enumerate(chunks):
        chunk_headers[1:3] = [("chunk", str(index).encode()), ("chunks", b"2")]
    _inject(broker.bootstrap, config["topics"]["changelog"], chunks)
    proc, samples = _take_over(broker, config, sent, tmp_path)
    assert proc.proc is not None
    status = Path(f"/proc/{proc.proc.pid}/status").read_text()
    peak_kib = int(status.split("VmHWM:", 1)[1].split()[0])
    proc.terminate()
    assert total(samples, REJECTED, reason="too_large") == 1
    assert "inflates to more than" in proc.log_path.read_text()
    assert peak_kib < 700 * 1024, f"peak RSS {peak_kib} KiB: the bomb was inflated"
    assert _resumed_from(proc) == "changelog"


def test_with_a_key_a_snapshot_forged_without_it_is_rejected(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    key_file = tmp_path / "changelog.key"
    key_file.write_text("0123456789abcdef0123456789abcdef")
    config = _config(broker, topic_names("sec"), tmp_path, changelog_key={"file": str(key_file)})
    sent = _first_owner(broker, config, tmp_path)
    inflated = StreamCounters()
    inflated.predictions[("churn", "1")] = 10**6
    forged = PartitionSnapshot(0, {}, PartitionState(counters=inflated), "attacker")
    records = encode_snapshot(forged, "attacker:1")  # a valid snapshot, without the key
    _inject(
        broker.bootstrap,
        config["topics"]["changelog"],
        [(r.key, r.value, r.headers) for r in records],
    )
    proc, samples = _take_over(broker, config, sent, tmp_path)
    proc.terminate()
    assert total(samples, REJECTED, reason="unauthenticated") == 1
    assert _resumed_from(proc) == "changelog"  # the first instance's authenticated snapshot
    assert total(samples, "driftwarden_predictions_total") < 10**6


def test_a_small_max_request_size_still_commits_a_large_state(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = _config(broker, topic_names("sec"), tmp_path)
    config["kafka"]["client"] = {"max_request_size": 200_000}
    config["models"][0]["label_ttl"] = "1d"  # nothing expires: the state grows past 200 kB
    topics = config["topics"]
    events = []
    for event in generate_stream(1500, seed=3):
        doc = orjson.loads(event.value)
        if event.topic == "predictions":
            doc["features"]["plan"] = os.urandom(300).hex()  # incompressible
        elif len(events) % 10:  # labels of other predictions: most predictions stay pending
            doc["prediction_id"] = f"other-{doc['prediction_id']}"
        events.append((topics[event.topic], event.key, orjson.dumps(doc)))
    sent = produce(broker.bootstrap, events)
    predictions = sum(1 for topic, _, _ in events if topic == topics["predictions"])
    with ThreadedMonitor(_member(config, "small", tmp_path)) as monitor:
        samples = monitor.wait_consumed(sent)
        _wait_committed(
            broker.bootstrap, config["kafka"]["group_id"], topics["predictions"], predictions
        )
    assert total(samples, "driftwarden_kafka_reconnects_total") == 0
    changelog = read_topic(broker.bootstrap, topics["changelog"], 2)
    assert len(changelog) >= 2 and all(len(r.value) < 200_000 for r in changelog)
    assembler = SnapshotAssembler()
    for record in changelog:
        assembler.add(record.key, record.value, record.headers, record.partition)
    assert assembler.rejected == []
    assert assembler.latest()[0].offsets == {
        (topics["predictions"], 0): predictions,
        (topics["labels"], 0): sent - predictions,
    }
    assert len(assembler.latest()[0].state.joins["churn"].predictions) > predictions * 0.8
