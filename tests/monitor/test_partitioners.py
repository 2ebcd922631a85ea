"""driftwarden.monitor.partitioners and driftwarden.monitor.routing: producers' partitioners
against their reference
values, the guess of which one placed a topic's records, and the once-per-topic report."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import orjson
import pytest

from driftwarden.config import parse_config
from driftwarden.monitor.partitioners import (
    PARTITIONERS,
    UNKNOWN,
    crc32_partition,
    fnv1a_32,
    fnv1a_partition,
    guess_partitioner,
    murmur2_partition,
)
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.routing import MAX_SAMPLES, RoutingCheck
from driftwarden.monitor.state import MonitorState
from tests.monitor.harness import Record, monitor_config

# Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java
# (testMurmur2): Utils.murmur2 as a signed 32-bit integer.
KAFKA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}
# librdkafka, src/rdfnv1a.c (unittest_fnv1a): rd_fnv1a, i.e. |int32(FNV-1a 32)|, as Go's
# hash/fnv New32a with Sarama's absolute value gives it.
_UNALIGNED = b"PreAmbleWillBeRemoved,ThePrePartThatIs"
LIBRDKAFKA_FNV1A = {
    b"kafka": 0xD33C4E1,
    b"giberish123456789": 0x77A58295,
    b"1234": 0x23BDD03,
    b"234": 0x2DEA3CD2,
    b"34": 0x740FA83E,
    b"4": 0x310CA263,
    _UNALIGNED: 0x65CBD69C,
    _UNALIGNED[1:]: 0x6E49C79A,
    _UNALIGNED[2:]: 0x69EED356,
    _UNALIGNED[3:]: 0x6ABCC023,
    b"": 0x7EE3623B,
}
# CRC-32 (ISO-HDLC, as zlib and librdkafka's rd_crc32): the catalogue's check value and a
# classic test string.
CRC32 = {
    b"123456789": 0xCBF43926,
    b"": 0,
    b"The quick brown fox jumps over the lazy dog": 0x414FA339,
}


@pytest.mark.parametrize(("key", "signed"), KAFKA_MURMUR2.items())
def test_murmur2_partition_is_the_java_clients(key: bytes, signed: int) -> None:
    for partitions in (1, 4, 7, 12):
        assert murmur2_partition(key, partitions) == (signed & 0x7FFFFFFF) % partitions


@pytest.mark.parametrize(("key", "hashed"), LIBRDKAFKA_FNV1A.items())
def test_fnv1a_partition_is_librdkafkas_and_saramas(key: bytes, hashed: int) -> None:
    for partitions in (1, 4, 7, 12):
        assert fnv1a_partition(key, partitions) == hashed % partitions


def test_fnv1a_32_reference_vectors() -> None:
    # The FNV reference test suite (www.isthe.com/chongo/src/fnv/test_fnv.c, FNV-1a 32).
    assert fnv1a_32(b"") == 0x811C9DC5
    assert fnv1a_32(b"a") == 0xE40C292C
    assert fnv1a_32(b"foobar") == 0xBF9CF968


@pytest.mark.parametrize(("key", "checksum"), CRC32.items())
def test_crc32_partition_is_librdkafkas_consistent(key: bytes, checksum: int) -> None:
    for partitions in (1, 4, 7, 12):
        assert crc32_partition(key, partitions) == checksum % partitions


def _keys(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(128):032x}".encode() for _ in range(count)]


@pytest.mark.parametrize("name", sorted(PARTITIONERS))
@pytest.mark.parametrize("partitions", [2, 4, 12])
def test_guess_names_the_partitioner_that_placed_the_samples(name: str, partitions: int) -> None:
    place = PARTITIONERS[name]
    samples = [(key, place(key, partitions)) for key in _keys(MAX_SAMPLES)]
    assert guess_partitioner(samples, partitions) == name


def test_guess_is_unknown_when_no_partitioner_fits_and_undecided_while_several_do() -> None:
    keys = _keys(MAX_SAMPLES)
    rotated = [(key, (murmur2_partition(key, 4) + 1) % 4) for key in keys]
    assert guess_partitioner(rotated, 4) == UNKNOWN
    # A key that murmur2 and CRC32 put on the same partition tells them not apart.
    both = next(k for k in keys if murmur2_partition(k, 4) == crc32_partition(k, 4))
    assert guess_partitioner([(both, crc32_partition(both, 4))], 4) is None


def test_routing_check_counts_misrouted_keys_and_reports_each_topic_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="driftwarden.monitor.routing")
    check = RoutingCheck()
    keys = _keys(400)
    crc = [check.misrouted("preds", k, crc32_partition(k, 4), 4) for k in keys]
    java = [check.misrouted("labels", k, murmur2_partition(k, 4), 4) for k in keys]
    fnv = [check.misrouted("other", k, fnv1a_partition(k, 4), 4) for k in keys]
    assert sum(crc) == sum(crc32_partition(k, 4) != murmur2_partition(k, 4) for k in keys) > 0
    assert not any(java)
    assert sum(fnv) > 0
    reports = [r.getMessage() for r in caplog.records]
    assert len(reports) == 2, reports
    assert "topic preds" in reports[0] and "consistent_random" in reports[0]
    assert "partitioner=murmur2_random" in reports[0]
    assert "topic other" in reports[1] and "FNV-1a" in reports[1]


def test_records_without_key_or_with_one_partition_are_not_checked() -> None:
    check = RoutingCheck()
    assert not check.misrouted("t", None, 3, 4)
    assert not check.misrouted("t", b"k", 0, 1)
    key = next(k for k in _keys(50) if murmur2_partition(k, 4) != 0)
    assert check.misrouted("t", key, 0, 4)


def _prediction(pid: str) -> bytes:
    return orjson.dumps(
        {
            "schema": 1,
            "prediction_id": pid,
            "model": "churn",
            "model_version": "1",
            "timestamp": 1000.0,
            "features": {"tenure": 3.0, "plan": "pro"},
            "prediction": 1,
        }
    )


def test_processor_counts_a_misrouted_record_and_still_applies_it(tmp_path: Path) -> None:
    config = parse_config(monitor_config("127.0.0.1:9", "t", tmp_path))
    topic = config.topics.predictions
    processor = StreamProcessor(config, MonitorState(), partition_count=4)
    keys = _keys(40)
    records = [
        Record(topic, crc32_partition(k, 4), i, k, _prediction(k.decode()))
        for i, k in enumerate(keys)
    ]
    processor.process(records)
    totals = processor.state.totals()
    expected = sum(crc32_partition(k, 4) != murmur2_partition(k, 4) for k in keys)
    assert totals.misrouted == {topic: expected}
    assert totals.predictions[("churn", "1")] == len(keys)  # every record applied
