"""The cost of estimation: ``StreamProcessor.process`` with ``estimation`` on and off.

benchmarks.ingest's processing-only setup: the churn stream (its predictions carry ``scores``) is
produced to an embedded Tansu broker once, read back into the per-partition batches a consumer
polls, and fed to a fresh ``StreamProcessor`` per run, alternately with the churn config as is
(estimation off) and with ``estimation: {}`` on its model (the window is the model's). Medians
of the runs; the target is on / off >= 85%.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path

from benchmarks.ingest import Batch, Setup, _batches, _produce, _raw_consumer, with_estimation
from driftwarden.config import MonitorConfig
from driftwarden.demo import demo_config
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.state import MonitorState
from driftwarden.testing import TansuBroker

TARGET = 0.85
PARTITIONS = 4


def estimation_cost(events: int, repeat: int) -> str:
    """The printed table: events/s of processing with estimation off and on, and the ratio."""
    with TansuBroker() as broker, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        prefix = f"bench-{uuid.uuid4().hex[:8]}."
        config = demo_config(broker.bootstrap, prefix, Path(tmp))
        setup = Setup(broker.bootstrap, config, PARTITIONS, 2 * (events // 2))
        _produce(setup)
        with closing(_raw_consumer(setup)) as consumer:
            batches = list(_batches(consumer, setup.total, setup.timeout_s()))
    estimating = with_estimation(config)
    off: list[float] = []
    on: list[float] = []
    for _ in range(repeat):
        off.append(_time(config, batches))
        on.append(_time(estimating, batches))
    rate_off = setup.total / statistics.median(off)
    rate_on = setup.total / statistics.median(on)
    ratio = rate_on / rate_off
    return "\n".join(
        [
            f"Table 3. Processing cost ({setup.total:,} churn events, {PARTITIONS} partitions, "
            f"StreamProcessor.process only, median of {repeat})",
            f"{'estimation':12} {'events/s':>10}  runs (s)",
            f"{'off':12} {rate_off:>10,.0f}  " + " ".join(f"{t:.2f}" for t in off),
            f"{'on':12} {rate_on:>10,.0f}  " + " ".join(f"{t:.2f}" for t in on),
            f"on / off: {ratio:.0%} (target >= {TARGET:.0%}): "
            + ("PASS" if ratio >= TARGET else "MISS"),
        ]
    )


def _time(config: MonitorConfig, batches: list[Batch]) -> float:
    processor = StreamProcessor(config, MonitorState(), PARTITIONS)
    started = time.perf_counter()
    for records in batches:
        processor.process(records)
    return time.perf_counter() - started
