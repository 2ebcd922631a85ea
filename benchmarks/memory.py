"""Memory under a long stream: the monitor's RSS while it consumes a million events.

Method. One embedded Tansu broker; the input topics are filled once with the generated churn
stream (:func:`driftwarden.testing.generate_stream`: predictions one second apart, labels 30 s
to 15 min
later) with a label storm and a prediction flood mixed in evenly: by default 10% of the events are
labels whose ids match no prediction and predictions that never get a label. The model has a
reference profile, so drift checks run on every version (window 2000, every 500), a 1000-example
metrics window, ``label_ttl`` 24h (nothing of the storm expires for a day of event time, 86,400
predictions, so ``max_pending`` is what bounds the buffers) and ``max_pending`` 10,000.

Each run starts ``driftwarden monitor`` as a child process with a fresh group and state, so its
RSS is its own, and samples ``VmRSS`` from ``/proc/<pid>/status`` and the consumed count from
``/metrics`` every 0.25 s until every event is counted. The baseline is the RSS once the windows
and join buffers are full, at 20% of the stream (``--baseline``), measured in the same run; the
report gives RSS every ``--every`` events, the end/baseline and peak/baseline ratios, and the
events/s from the first counted event to the last (the snapshot behind ``/metrics`` refreshes once
a second, so rates carry ~1 s of slack). For scale, :mod:`benchmarks.raw_consumer` (kafka-python
and orjson, keeping nothing) then reads the same topics in a child process and reports its RSS.
With ``--repeat`` > 1 the medians are over runs. Exits 0.

The worst events the size bounds allow (at ``max_features``, maximal ids and long values) are
:mod:`benchmarks.memory_flood`, which reuses this method.

    python -m benchmarks.memory [--events 1000000] [--junk 0.1] [--max-pending 10000]
                                [--partitions 4] [--repeat 3] [--every 100000]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.ingest import CHECKPOINT_EVERY_S
from driftwarden.config import parse_config
from driftwarden.core.profile_json import save_profile
from driftwarden.demo import demo_config
from driftwarden.testing import (
    StreamEvent,
    TansuBroker,
    create_topics,
    free_port,
    generate_stream,
    stream_profile,
)
from driftwarden.testing.streams import START_TIMESTAMP

SAMPLE_EVERY_S = 0.25
COUNTED = ("driftwarden_predictions_total", "driftwarden_labels_total")
COUNTED_INVALID = "driftwarden_invalid_events_total"


@dataclass(frozen=True)
class Sample:
    seconds: float  # since the monitor was started
    consumed: int
    pending: int
    rss_mib: float


@dataclass(frozen=True)
class Run:
    samples: list[Sample]

    def at(self, consumed: int) -> Sample:
        """The first sample that had counted at least ``consumed`` events."""
        return next(s for s in self.samples if s.consumed >= consumed)

    @property
    def idle_mib(self) -> float:
        """RSS of the last sample before the first event was counted: started, not loaded."""
        return [s for s in self.samples if s.consumed == 0][-1].rss_mib

    def rate(self, total: int) -> float:
        first = next(s for s in self.samples if s.consumed > 0)
        seconds = self.at(total).seconds - first.seconds
        return (total - first.consumed) / seconds if seconds else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    with TansuBroker() as broker, tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        config = bench_config(broker.bootstrap, Path(tmp), args.max_pending)
        produced, produce_s = _produce(broker.bootstrap, config, args)
        print(_header(args, produced, produce_s, broker.bootstrap), flush=True)
        runs = []
        for run in range(args.repeat):
            runs.append(run_monitor(config, run, Path(tmp), produced))
            print(_run_table(runs[-1], run, produced, args), flush=True)
        raw = [_raw_consumer_mib(broker.bootstrap, config, produced) for _ in range(args.repeat)]
    print(_summary(runs, produced, args, raw))
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in all")
    parser.add_argument("--junk", type=float, default=0.1, help="share of never-joining events")
    parser.add_argument("--max-pending", type=int, default=10_000, help="models[].max_pending")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per input topic")
    parser.add_argument("--repeat", type=int, default=3, help="monitor runs over the same topics")
    parser.add_argument("--every", type=int, default=100_000, help="RSS report interval, events")
    parser.add_argument("--baseline", type=float, default=0.2, help="baseline point, share")
    args = parser.parse_args(argv)
    if args.events < 1000 or not 0 <= args.junk < 1 or not 0 < args.baseline < 1:
        parser.error("--events must be >= 1000, --junk in [0, 1), --baseline in (0, 1)")
    if args.max_pending < 1 or args.partitions < 1 or args.repeat < 1 or args.every < 1:
        parser.error("--max-pending, --partitions, --repeat and --every must be >= 1")
    return args


def bench_config(bootstrap: str, tmp: Path, max_pending: int) -> dict[str, Any]:
    """The demo config with a reference profile, a day's ttl and the given ``max_pending``."""
    prefix = f"bench-memory-{uuid.uuid4().hex[:8]}."
    config = demo_config(bootstrap, prefix, tmp / "state")
    data = config.model_dump(mode="json", exclude_unset=True)
    data["state"]["checkpoint_every"] = CHECKPOINT_EVERY_S
    data["models"][0].update(
        reference=str(save_profile(stream_profile(), tmp / "reference.json")),
        label_ttl="24h",
        max_pending=max_pending,
    )
    parse_config(data)  # fail here, not in the child, if the config is wrong
    return data


def stream(events: int, junk: float) -> Iterator[StreamEvent]:
    """``events`` events (rounded down to even): the generated stream with ``junk`` of them
    replaced, evenly spread, by orphan labels and unlabelled predictions in the same event time.
    """
    junk_events = 2 * round(events * junk / 2)
    real = generate_stream((events - junk_events) // 2)
    every = (events - junk_events) / junk_events if junk_events else float("inf")
    made, clock = 0, START_TIMESTAMP
    for i, event in enumerate(real):
        if event.topic == "predictions":
            clock += 1.0  # the generated predictions are one second apart
        yield event
        while made < junk_events and made * every <= i:
            yield _junk(made, clock)
            made += 1


def _junk(n: int, timestamp: float) -> StreamEvent:
    if n % 2:
        pid = f"orphan-{n}"
        doc = {"prediction_id": pid, "model": "churn", "label": 1, "timestamp": timestamp}
        return StreamEvent("labels", pid.encode(), orjson.dumps(doc))
    pid = f"unlabelled-{n}"
    doc = {
        "prediction_id": pid,
        "model": "churn",
        "model_version": "1",
        "timestamp": timestamp,
        "features": {"tenure": 24.0, "plan": "pro"},
        "prediction": 0,
        "scores": {"0": 0.6, "1": 0.4},
    }
    return StreamEvent("predictions", pid.encode(), orjson.dumps(doc))


def _produce(bootstrap: str, config: dict[str, Any], args: argparse.Namespace) -> tuple[int, float]:
    """Create and fill the input topics; return the events sent and the seconds it took."""
    topics = {name: config["topics"][name] for name in ("predictions", "labels")}
    create_topics(bootstrap, topics.values(), partitions=args.partitions)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, batch_size=262144)
    started = time.perf_counter()
    sent = 0
    for event in stream(args.events, args.junk):
        producer.send(topics[event.topic], key=event.key, value=event.value)
        sent += 1
    producer.flush()
    elapsed = time.perf_counter() - started
    producer.close()
    return sent, elapsed


def run_monitor(config: dict[str, Any], run: int, tmp: Path, total: int) -> Run:
    """``driftwarden monitor`` in a child process with a fresh group and state, sampled until
    it has counted ``total`` events, then stopped with SIGTERM."""
    port = free_port()
    data = {**config, "http": {"host": "127.0.0.1", "port": port}}
    data["kafka"] = {**config["kafka"], "group_id": f"{config['kafka']['group_id']}-{run}"}
    data["state"] = {**config["state"], "dir": str(tmp / f"state-{run}")}
    path = tmp / f"monitor-{run}.yaml"
    path.write_text(yaml.safe_dump(data))
    log = tmp / f"monitor-{run}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "driftwarden", "monitor", "--config", str(path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        samples = _sample(proc, f"http://127.0.0.1:{port}/metrics", total, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return Run(samples)


def _raw_consumer_mib(bootstrap: str, config: dict[str, Any], total: int) -> float:
    """RSS of :mod:`benchmarks.raw_consumer` (kafka-python + orjson) after reading it all."""
    topics = [config["topics"]["predictions"], config["topics"]["labels"]]
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks.raw_consumer", bootstrap, str(total), *topics],
        capture_output=True,
        text=True,
        check=False,
        timeout=660,
    )
    if done.returncode:
        raise RuntimeError(f"the raw consumer failed ({done.returncode}): {done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def _sample(proc: subprocess.Popen[bytes], url: str, total: int, log: Path) -> list[Sample]:
    started = time.perf_counter()
    deadline = started + 120 + total / 2_000
    samples: list[Sample] = []
    while not samples or samples[-1].consumed < total:
        if proc.poll() is not None:
            raise RuntimeError(f"the monitor exited with {proc.returncode}:\n{_tail(log)}")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the monitor counted {samples[-1].consumed} of {total} events")
        rss = _proc_status_mib(proc.pid, "VmRSS")
        consumed, pending = _scrape(url)
        samples.append(Sample(time.perf_counter() - started, consumed, pending, rss))
        time.sleep(SAMPLE_EVERY_S)
    return samples


def _scrape(url: str) -> tuple[int, int]:
    """(events counted, items pending) from ``/metrics``; zeros until it answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return 0, 0
    consumed = pending = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in COUNTED or sample.name == COUNTED_INVALID:
                consumed += sample.value
            elif sample.name == "driftwarden_pending":
                pending += sample.value
    return int(consumed), int(pending)


def _proc_status_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # reported in kB
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def _header(args: argparse.Namespace, produced: int, produce_s: float, bootstrap: str) -> str:
    junk = 2 * round(args.events * args.junk / 2)
    return (
        f"memory benchmark: {produced:,} events ({produced - junk:,} of the generated stream + "
        f"{junk // 2:,} orphan labels + {junk // 2:,} unlabelled predictions), "
        f"{args.partitions} partitions per topic, drift checks on, max_pending "
        f"{args.max_pending:,}, label_ttl 24h, Tansu on {bootstrap}\n"
        f"generated and produced in {produce_s:.1f} s ({produced / produce_s:,.0f} ev/s)"
    )


def _marks(total: int, every: int) -> list[int]:
    return [*range(every, total, every), total]


def _run_table(run: Run, index: int, total: int, args: argparse.Namespace) -> str:
    lines = [f"run {index + 1}: {'events':>10} {'s':>7} {'RSS MiB':>8} {'pending':>8} {'ev/s':>8}"]
    previous = run.samples[0]
    for mark in _marks(total, args.every):
        sample = run.at(mark)
        if sample is previous:
            continue  # one sample passed several marks
        rate = (sample.consumed - previous.consumed) / max(sample.seconds - previous.seconds, 1e-9)
        lines.append(
            f"       {sample.consumed:>10,} {sample.seconds:>7.1f} {sample.rss_mib:>8.1f} "
            f"{sample.pending:>8,} {rate:>8,.0f}"
        )
        previous = sample
    return "\n".join(lines)


def _summary(runs: list[Run], total: int, args: argparse.Namespace, raw: list[float]) -> str:
    baseline_at = int(total * args.baseline)
    base = [r.at(baseline_at).rss_mib for r in runs]
    end = [r.at(total).rss_mib for r in runs]
    after = [max(s.rss_mib for s in r.samples if s.consumed >= baseline_at) for r in runs]
    rates = [r.rate(total) for r in runs]
    idle = [r.idle_mib for r in runs]
    ratio_end = statistics.median(e / b for e, b in zip(end, base, strict=True))
    ratio_peak = statistics.median(a / b for a, b in zip(after, base, strict=True))
    return "\n".join(
        [
            f"medians over {len(runs)} run(s):",
            f"  RSS before the first event counted: {statistics.median(idle):.1f} MiB",
            f"  RSS at {args.baseline:.0%} of the stream (baseline): "
            f"{statistics.median(base):.1f} MiB; at the end: {statistics.median(end):.1f} MiB",
            f"  end / baseline: {ratio_end:.3f}; highest RSS after the baseline / baseline: "
            f"{ratio_peak:.3f}; highest RSS sampled: "
            f"{statistics.median(max(s.rss_mib for s in r.samples) for r in runs):.1f} MiB",
            f"  events/s, first to last event counted: {statistics.median(rates):,.0f}",
            f"  raw consumer (kafka-python + orjson, no state) after reading it all: "
            f"{statistics.median(raw):.1f} MiB; monitor at the end / raw: "
            f"{statistics.median(end) / statistics.median(raw):.2f}",
            f"  most items pending seen: {max(s.pending for r in runs for s in r.samples):,} "
            f"(max_pending {args.max_pending:,})",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
