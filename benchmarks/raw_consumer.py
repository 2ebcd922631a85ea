"""A raw consumer for :mod:`benchmarks.memory`'s RSS baseline: kafka-python and orjson only.

Reads every partition of the given topics from the start without a group, decodes each value
with ``orjson.loads`` and drops it, until ``total`` records; then prints its ``VmRSS`` in MiB.

    python -m benchmarks.raw_consumer BOOTSTRAP TOTAL TOPIC [TOPIC ...]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
from kafka import KafkaConsumer, TopicPartition

TIMEOUT_S = 600.0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    bootstrap, total, topics = args[0], int(args[1]), args[2:]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        seen, deadline = 0, time.monotonic() + TIMEOUT_S
        while seen < total:
            if time.monotonic() > deadline:
                print(f"read {seen} of {total} records in {TIMEOUT_S:.0f}s", file=sys.stderr)
                return 1
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    orjson.loads(record.value)
                seen += len(records)
    finally:
        consumer.close()
    print(f"{vm_rss_mib():.1f}")
    return 0


def vm_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmRSS")


if __name__ == "__main__":
    raise SystemExit(main())
