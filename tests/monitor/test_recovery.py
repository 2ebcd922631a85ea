"""Crash, signal and start-up behaviour of ``driftwarden monitor`` run as a process."""

from __future__ import annotations

import math
import random
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from driftwarden.core.profile_json import save_profile
from driftwarden.monitor.checkpoint import CheckpointStore
from driftwarden.testing import (
    TansuBroker,
    create_topics,
    free_port,
    generate_stream,
    produce,
    stream_profile,
)
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


def _topics(config: dict[str, object]) -> dict[str, str]:
    topics = config["topics"]
    assert isinstance(topics, dict)
    return topics


def _same(actual: Samples, expected: Samples) -> list[tuple[object, float | None, float]]:
    """Samples that differ; floats summed one example at a time (log loss) within 1e-9."""
    differ = []
    for key, want in expected.items():
        got = actual.get(key)
        if got is None or (math.isnan(want) and math.isnan(got)):
            if got is None:
                differ.append((key, got, want))
            continue
        summed = key[0] == "driftwarden_performance" and ("metric", "log_loss") in key[1]
        if got != (pytest.approx(want, rel=1e-9) if summed else want):
            differ.append((key, got, want))
    differ += [(key, actual[key], math.nan) for key in actual.keys() - expected.keys()]
    return differ


def test_kill_9_at_random_points_leaves_every_counter_and_window_as_an_uninterrupted_run(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    prefix = topic_names("crash")
    # Small polls and frequent checkpoints: a slower monitor and many crash points. A covariate
    # shift half way: drift alarms enter while the monitor is being killed.
    crashing = monitor_config(
        broker.bootstrap,
        prefix,
        tmp_path / "crash-state",
        free_port(),
        label_ttl="10m",
        reference=str(save_profile(stream_profile(), tmp_path / "churn.json")),
        drift={"window": 1000, "every": 250},
    )
    crashing["kafka"]["max_poll_records"] = 200  # type: ignore[index]
    crashing["state"]["checkpoint_every"] = "300ms"  # type: ignore[index]
    topics = _topics(crashing)
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=2)
    # 25,000 predictions and their labels: 50,000 events.
    stream = generate_stream(25_000, seed=11, shift_at=12_500)
    sent = produce(broker.bootstrap, [(topics[e.topic], e.key, e.value) for e in stream])

    reference = {
        **crashing,
        "kafka": {
            **crashing["kafka"],
            "group_id": f"{prefix}-ref",  # type: ignore[dict-item]
            "transactional_id": f"{prefix}-ref-tx",
        },
        "http": {"host": "127.0.0.1", "port": 0},
        "state": {"dir": str(tmp_path / "ref-state"), "checkpoint_every": "500ms"},
    }
    with ThreadedMonitor(reference) as monitor:
        expected = monitor.wait_consumed(sent)

    path = write_config(tmp_path / "monitor.yaml", crashing)
    proc = MonitorProcess(path, crashing["http"]["port"], tmp_path / "monitor.log")  # type: ignore[index]
    rng = random.Random(5)
    consumed_at_kill = []
    for fraction in sorted(rng.uniform(0.05, 0.9) for _ in range(4)):
        proc.start().wait_ready()
        _wait_until_consumed(proc, fraction * sent)
        time.sleep(rng.uniform(0, 0.3))
        consumed_at_kill.append(consumed(scrape(f"{proc.url}/metrics")))
        proc.kill9()
    # Every kill landed mid-stream.
    assert max(consumed_at_kill) < sent, consumed_at_kill
    proc.start().wait_ready()
    try:
        actual = proc.wait_consumed(sent)
    finally:
        assert proc.terminate() == 0

    assert total(expected, "driftwarden_joined_total") > 15_000
    want = stream_counters(expected)
    # Every family is there: performance (both windows), drift scores of every column,
    # thresholds, data quality, and the alarms the shift raised.
    families = {name for name, _ in want}
    assert {
        "driftwarden_performance",
        "driftwarden_drift_score",
        "driftwarden_drift_threshold",
        "driftwarden_data_quality_ratio",
        "driftwarden_drift_active",
        "driftwarden_drift_alarms_total",
        "driftwarden_pending",
        "driftwarden_label_delay_seconds_bucket",
    } <= families, families
    assert total(expected, "driftwarden_drift_alarms_total", kind="data", feature="tenure") >= 1
    windows = {lbl for name, lbl in want if name == "driftwarden_performance"}
    assert {("window", "rolling") in lbl for lbl in windows} == {True, False}
    assert _same(stream_counters(actual), want) == []

    # Outputs may repeat where a crash cut a transaction short on this broker (it does not
    # abort), but deduplicated by their source headers they are exactly the joins.
    examples = read_topic(
        broker.bootstrap,
        topics["examples"],
        expected=int(total(expected, "driftwarden_joined_total")),
    )
    positions = {
        (dict(r.headers)["source-partition"], dict(r.headers)["source-offset"]) for r in examples
    }
    assert len(positions) == total(expected, "driftwarden_joined_total")
    ids = {orjson.loads(r.value)["prediction_id"] for r in examples}
    assert len(ids) == len(positions)


def _wait_until_consumed(proc: MonitorProcess, count: float, timeout: float = 60) -> None:
    wait_until(
        lambda: consumed(scrape(f"{proc.url}/metrics")) >= count,
        f"the monitor to reach {count} messages",
        timeout,
        0.02,
    )


def test_sigterm_checkpoints_commits_and_exits_0(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    prefix = topic_names("term")
    config = monitor_config(broker.bootstrap, prefix, tmp_path / "state", free_port())
    config["state"] = {"dir": str(tmp_path / "state"), "checkpoint_every": "1h"}
    topics = _topics(config)
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=2)
    sent = produce(
        broker.bootstrap, [(topics[e.topic], e.key, e.value) for e in generate_stream(2000, seed=3)]
    )
    proc = MonitorProcess(
        write_config(tmp_path / "m.yaml", config),
        config["http"]["port"],  # type: ignore[index]
        tmp_path / "m.log",
    )
    proc.start().wait_ready()
    proc.wait_consumed(sent)
    started = time.monotonic()
    assert proc.terminate(timeout=10) == 0
    assert time.monotonic() - started < 5

    state = CheckpointStore(tmp_path / "state").load()
    assert state is not None
    assert sum(state.offsets.values()) == sent
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=f"{prefix}-group", enable_auto_commit=False
    )
    try:
        for (topic, partition), offset in state.offsets.items():
            assert consumer.committed(TopicPartition(topic, partition)) == offset
    finally:
        consumer.close()


def _run_monitor(config_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftwarden", "monitor", "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_input_topic_is_a_clear_startup_error(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = monitor_config(broker.bootstrap, topic_names("missing"), tmp_path / "state")
    topics = _topics(config)
    create_topics(broker.bootstrap, [topics["predictions"]])
    result = _run_monitor(write_config(tmp_path / "m.yaml", config))
    assert result.returncode == 1
    assert f"input topic(s) '{topics['labels']}' do not exist" in result.stderr


def test_inputs_must_be_co_partitioned(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    config = monitor_config(broker.bootstrap, topic_names("copart"), tmp_path / "state")
    topics = _topics(config)
    create_topics(broker.bootstrap, [topics["predictions"]], partitions=2)
    create_topics(broker.bootstrap, [topics["labels"]], partitions=3)
    result = _run_monitor(write_config(tmp_path / "m.yaml", config))
    assert result.returncode == 1
    assert "must be co-partitioned" in result.stderr


def test_invalid_config_exits_2_before_touching_kafka(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("kafka: {bootstrap_servers: 127.0.0.1:1}\nmodels:\n  - {name: m, task: bin}\n")
    result = _run_monitor(path)
    assert result.returncode == 2
    assert "models.0.task" in result.stderr
