"""Ingest throughput: the monitor end to end against a raw kafka-python consumer.

One run on an embedded Tansu broker: produce a prediction/label topic pair, then alternately
time a group-less raw consume + JSON decode of both topics (the baseline) and the monitor
service consuming the same topics, and, without Kafka, ``StreamProcessor.process`` alone over
the same records. The churn model runs with drift checks, metrics and label-free estimation
(``estimation: {}``; ``--no-estimation`` leaves it off). Prints median rates and the monitor/raw
ratio against the target; exits 0 whether or not the target is met.

    python -m benchmarks.ingest [--events 200000] [--partitions 4] [--repeat 3] [--no-estimation]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from driftwarden.config import MonitorConfig
from driftwarden.config.estimation import EstimationConfig
from driftwarden.demo import demo_config
from driftwarden.monitor.app import MonitorService
from driftwarden.monitor.exporter import MetricsSnapshot
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.state import MonitorState
from driftwarden.testing import TansuBroker, create_topics, generate_stream

TARGET = 0.70  # monitor rate / raw consume rate
CHECKPOINT_EVERY_S = 5.0
READY_POLL_S = 0.001
CONSUMED_POLL_S = 0.01

Batch = list[ConsumerRecord]


@dataclass(frozen=True)
class Setup:
    bootstrap: str
    config: MonitorConfig  # input topics and consumer settings shared by every run
    partitions: int
    total: int

    def input_partitions(self) -> list[TopicPartition]:
        topics = (self.config.topics.predictions, self.config.topics.labels)
        return [TopicPartition(t, p) for t in topics for p in range(self.partitions)]

    def timeout_s(self) -> float:
        return 30.0 + self.total / 5_000


@dataclass(frozen=True)
class MonitorTiming:
    from_ready_s: float
    from_start_s: float


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    with TansuBroker() as broker, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        prefix = f"bench-{uuid.uuid4().hex[:8]}."
        config = demo_config(broker.bootstrap, prefix, Path(tmp))
        if args.estimation:
            config = with_estimation(config)
        setup = Setup(broker.bootstrap, config, args.partitions, 2 * (args.events // 2))
        produce_s = _produce(setup)
        print(_header(setup, args.repeat, produce_s))
        with closing(_raw_consumer(setup)) as consumer:
            batches = list(_batches(consumer, setup.total, setup.timeout_s()))
        raw: list[float] = []
        monitor: list[MonitorTiming] = []
        for run in range(args.repeat):
            raw.append(_time_raw(setup))
            monitor.append(_time_monitor(setup, run, Path(tmp) / f"state-{run}"))
        processing = [_time_processing(setup, batches) for _ in range(args.repeat)]
    print(_report(setup.total, raw, monitor, processing))
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="predictions + labels")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per input topic")
    parser.add_argument("--repeat", type=int, default=3, help="runs of raw and monitor each")
    parser.add_argument(
        "--no-estimation", dest="estimation", action="store_false", help="estimation off"
    )
    args = parser.parse_args(argv)
    if args.events < 2 or args.partitions < 1 or args.repeat < 1:
        parser.error("--events must be >= 2, --partitions and --repeat >= 1")
    return args


def with_estimation(config: MonitorConfig) -> MonitorConfig:
    """``config`` with ``estimation: {}`` on every model (the window is the model's)."""
    models = [m.model_copy(update={"estimation": EstimationConfig()}) for m in config.models]
    return config.model_copy(update={"models": models})


def _produce(setup: Setup) -> float:
    """Create the input topics and fill them; return the seconds taken to generate and send."""
    topics = {"predictions": setup.config.topics.predictions, "labels": setup.config.topics.labels}
    create_topics(setup.bootstrap, topics.values(), partitions=setup.partitions)
    producer = KafkaProducer(bootstrap_servers=setup.bootstrap, linger_ms=10, batch_size=262144)
    started = time.perf_counter()
    for event in generate_stream(setup.total // 2):
        producer.send(topics[event.topic], key=event.key, value=event.value)
    producer.flush()
    elapsed = time.perf_counter() - started
    producer.close()
    return elapsed


def _raw_consumer(setup: Setup) -> KafkaConsumer:
    """No group, manual assignment from the start; fetch settings as in the monitor."""
    consumer = KafkaConsumer(
        bootstrap_servers=setup.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_poll_records=setup.config.kafka.max_poll_records,
    )
    consumer.assign(setup.input_partitions())
    consumer.seek_to_beginning()
    return consumer


def _batches(consumer: KafkaConsumer, total: int, timeout_s: float) -> Iterator[Batch]:
    """Per-partition record lists as polled, until ``total`` records."""
    deadline = time.perf_counter() + timeout_s
    seen = 0
    while seen < total:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"raw consumer read {seen} of {total} in {timeout_s:.0f}s")
        for records in consumer.poll(timeout_ms=200).values():
            seen += len(records)
            yield records


def _time_raw(setup: Setup) -> float:
    with closing(_raw_consumer(setup)) as consumer:
        started = time.perf_counter()
        for records in _batches(consumer, setup.total, setup.timeout_s()):
            for record in records:
                orjson.loads(record.value)
        return time.perf_counter() - started


def _time_monitor(setup: Setup, run: int, state_dir: Path) -> MonitorTiming:
    """Run the service with a fresh group and state; time until it has consumed everything."""
    service = MonitorService(_run_config(setup.config, run, state_dir))
    thread = threading.Thread(target=service.run, name=f"monitor-{run}", daemon=True)
    started = time.perf_counter()
    thread.start()
    try:
        ready = _wait_for(lambda: service.ready, thread, "ready", setup.timeout_s(), READY_POLL_S)
        done = _wait_for(
            lambda: _consumed(service.collector.snapshot) >= setup.total,
            thread,
            f"all {setup.total} consumed",
            setup.timeout_s(),
            CONSUMED_POLL_S,
        )
    finally:
        service.stop()
        thread.join(setup.timeout_s())
    return MonitorTiming(done - ready, done - started)


def _run_config(config: MonitorConfig, run: int, state_dir: Path) -> MonitorConfig:
    kafka = config.kafka.model_copy(update={"group_id": f"{config.kafka.group_id}-{run}"})
    state = config.state.model_copy(
        update={"dir": state_dir, "checkpoint_every": CHECKPOINT_EVERY_S}
    )
    return config.model_copy(update={"kafka": kafka, "state": state})


def _wait_for(
    condition: Callable[[], bool],
    thread: threading.Thread,
    what: str,
    timeout_s: float,
    interval_s: float,
) -> float:
    """``perf_counter()`` once ``condition`` holds; raises if the monitor dies or times out."""
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if not thread.is_alive():
            raise RuntimeError(f"the monitor stopped before {what}")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"monitor: {what} not reached in {timeout_s:.0f}s")
        time.sleep(interval_s)
    return time.perf_counter()


def _consumed(snapshot: MetricsSnapshot) -> int:
    counters = snapshot.counters
    applied = sum(counters.predictions.values()) + sum(counters.labels.values())
    return applied + sum(counters.invalid.values())


def _time_processing(setup: Setup, batches: list[Batch]) -> float:
    processor = StreamProcessor(setup.config, MonitorState(), setup.partitions)
    started = time.perf_counter()
    for records in batches:
        processor.process(records)
    return time.perf_counter() - started


def _header(setup: Setup, repeat: int, produce_s: float) -> str:
    half = setup.total // 2
    return (
        f"ingest benchmark: {setup.total:,} events ({half:,} predictions + {half:,} labels), "
        f"{setup.partitions} partitions per topic, {repeat} repetition(s), estimation "
        f"{'on' if any(m.estimation for m in setup.config.models) else 'off'}, Tansu on "
        f"{setup.bootstrap}\ngenerated and produced in {produce_s:.1f} s "
        f"({setup.total / produce_s:,.0f} ev/s)"
    )


def _report(
    total: int, raw: list[float], monitor: list[MonitorTiming], processing: list[float]
) -> str:
    from_ready = [m.from_ready_s for m in monitor]
    rows = [
        ("raw consume + orjson.loads", raw),
        ("monitor, from ready", from_ready),
        ("monitor, incl. start-up", [m.from_start_s for m in monitor]),
        ("StreamProcessor.process only", processing),
    ]
    lines = [f"{'':30} {'median ev/s':>12} {'us/event':>9}  runs (s)"]
    for name, times in rows:
        runs = " ".join(f"{t:.2f}" for t in times)
        lines.append(
            f"{name:30} {total / statistics.median(times):>12,.0f} "
            f"{_us_per_event(times, total):>9.1f}  {runs}"
        )
    raw_us, monitor_us = _us_per_event(raw, total), _us_per_event(from_ready, total)
    processing_us = _us_per_event(processing, total)
    ratio = raw_us / monitor_us
    lines += [
        f"monitor / raw: {ratio:.0%} (target >= {TARGET:.0%}): "
        + ("PASS" if ratio >= TARGET else "MISS"),
        f"monitor per event: {raw_us:.1f} us Kafka I/O + decode, {processing_us:.1f} us "
        f"processing, {monitor_us - raw_us - processing_us:.1f} us the rest (publishing, "
        "checkpoints, thread contention)",
        "The monitor is timed from service.ready (partitions assigned and positioned) to the",
        "snapshot showing every event counted: the group join (~3 s) is excluded, as the raw",
        "consumer has no group. 'incl. start-up' adds topic checks, producer init and the join.",
        "The snapshot refreshes about once a second, so the end is seen up to ~1 s late.",
    ]
    return "\n".join(lines)


def _us_per_event(times: list[float], total: int) -> float:
    return 1e6 * statistics.median(times) / total


if __name__ == "__main__":
    raise SystemExit(main())
