"""Memory under a flood of maximal events: pending state against ``models[].max_pending_bytes``.

The scenario of :mod:`benchmarks.memory` with the worst events the bounds allow instead of the
generated stream: predictions that never get a label, each at the ``max_features`` limit with
256-byte ids (``prediction_id`` and ``model_version``) and long, distinct feature names and string
values. The model declares no features, so all of them are held; ``label_ttl`` is 24h and
``max_pending`` 100,000, so only ``max_pending_bytes`` bounds the buffers.

Two measurements over the same events:

* ``driftwarden monitor`` as a child process on an embedded Tansu broker (the method of
  :mod:`benchmarks.memory`): ``VmRSS`` sampled every 0.25 s, from before the first event is counted
  to the last; the growth includes what the consumer fetches (up to ``fetch_max_bytes``, 50 MiB).
* the same records through :class:`~driftwarden.monitor.processor.StreamProcessor` in this process
under
  tracemalloc: the memory the state holds after each batch, next to the join's own estimate
  (``pending_bytes``, the sum of :func:`~driftwarden.monitor.bounds.footprint`) and the budget.

    python -m benchmarks.memory_flood [--events 600] [--max-features 1000] [--value-chars 200]
                                      [--max-pending-bytes 33554432] [--partitions 4]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import tracemalloc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer

from benchmarks.memory import Run, bench_config, run_monitor
from driftwarden.config import parse_config
from driftwarden.contracts.inputs import MAX_ID_BYTES
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.state import MonitorState
from driftwarden.testing import TansuBroker, create_topics
from driftwarden.testing.streams import START_TIMESTAMP
from tests.monitor.harness import Record

MIB = 2**20


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    with TansuBroker() as broker, tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        config = _flood_config(broker.bootstrap, Path(tmp), args)
        events = list(flood(args))
        topic = config["topics"]["predictions"]
        create_topics(broker.bootstrap, [topic, config["topics"]["labels"]], args.partitions)
        producer = KafkaProducer(
            bootstrap_servers=broker.bootstrap, linger_ms=10, max_request_size=2 * MIB
        )
        for i, value in enumerate(events):
            producer.send(topic, key=str(i).encode(), value=value, partition=i % args.partitions)
        producer.flush()
        producer.close()
        size = sum(len(value) for value in events)
        print(
            f"flood of {len(events)} maximal predictions ({args.max_features} features, "
            f"{MAX_ID_BYTES}-byte ids, {args.value_chars}-character values): {size / MIB:.1f} "
            f"MiB of JSON; max_pending_bytes {args.max_pending_bytes / MIB:.1f} MiB over "
            f"{args.partitions} partitions",
            flush=True,
        )
        run = run_monitor(config, 0, Path(tmp), len(events))
        print(_rss_report(run, args), flush=True)
        print(_traced_report(config, events, args))
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory_flood", description=__doc__)
    parser.add_argument("--events", type=int, default=600, help="predictions in the flood")
    parser.add_argument("--max-features", type=int, default=1000, help="models[].max_features")
    parser.add_argument("--value-chars", type=int, default=200, help="length of each value")
    parser.add_argument("--max-pending-bytes", type=int, default=32 * MIB)
    parser.add_argument("--partitions", type=int, default=4, help="partitions per input topic")
    args = parser.parse_args(argv)
    if min(args.events, args.max_features, args.value_chars, args.partitions) < 1:
        parser.error("every option must be >= 1")
    return args


def _flood_config(bootstrap: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    data = bench_config(bootstrap, tmp, max_pending=100_000)
    data["models"][0].update(
        features={},
        max_features=args.max_features,
        max_pending_bytes=args.max_pending_bytes,
    )
    parse_config(data)
    return data


def flood(args: argparse.Namespace) -> Iterator[bytes]:
    """Predictions at every bound: ``max_features`` distinct 64-character names with
    ``value_chars``-character values, 256-byte ids, never labelled."""
    for i in range(args.events):
        stamp = f"{i:08}"
        features = {
            f"{stamp}-{j:0>55}": (stamp + str(j)) * (args.value_chars // 8 + 1)
            for j in range(args.max_features)
        }
        yield orjson.dumps(
            {
                "prediction_id": stamp.rjust(MAX_ID_BYTES, "p"),
                "model": "churn",
                "model_version": "v".rjust(MAX_ID_BYTES, "v"),
                "timestamp": START_TIMESTAMP,
                "features": {k: v[: args.value_chars] for k, v in features.items()},
                "prediction": 0,
                "scores": {"0": 0.6, "1": 0.4},
            }
        )


def _rss_report(run: Run, args: argparse.Namespace) -> str:
    idle = run.idle_mib
    peak = max(s.rss_mib for s in run.samples)
    end = run.samples[-1]
    return (
        f"monitor child process: RSS before the first event {idle:.1f} MiB, highest "
        f"{peak:.1f} MiB (+{peak - idle:.1f}), at the end {end.rss_mib:.1f} MiB "
        f"(+{end.rss_mib - idle:.1f}); items pending at the end {end.pending:,}; "
        f"max_pending_bytes {args.max_pending_bytes / MIB:.1f} MiB"
    )


def _traced_report(config: dict[str, Any], events: list[bytes], args: argparse.Namespace) -> str:
    """The records through the processor under tracemalloc, one batch of 50 per partition."""
    processor = StreamProcessor(parse_config(config), MonitorState(), args.partitions)
    topic = config["topics"]["predictions"]
    records = [
        Record(topic, i % args.partitions, i // args.partitions, str(i).encode(), value)
        for i, value in enumerate(events)
    ]
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        traced = estimated = 0
        for start in range(0, len(records), 50 * args.partitions):
            batch = records[start : start + 50 * args.partitions]
            for partition in range(args.partitions):
                processor.process([r for r in batch if r.partition == partition])
            processor.process([])  # releases the last batch's drift inputs: state alone is left
            gc.collect()
            traced = max(traced, tracemalloc.get_traced_memory()[0] - base)
            joins = [p.joins["churn"] for p in processor.state.partitions.values()]
            estimated = max(estimated, sum(join.pending_bytes for join in joins))
    finally:
        tracemalloc.stop()
    pending = sum(processor.state.pending().values())
    evicted = sum(processor.state.totals().unmatched.values())
    return (
        f"processor state under tracemalloc: highest after a batch {traced / MIB:.1f} MiB "
        f"(estimate held: {estimated / MIB:.1f} MiB; budget {args.max_pending_bytes / MIB:.1f} "
        f"MiB); pending at the end {pending:,}, evicted {evicted:,}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
