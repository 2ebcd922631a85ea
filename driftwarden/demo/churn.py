"""The monitor's config for :func:`driftwarden.testing.generate_stream`'s churn model, for tests
and benchmarks that run the monitor on that stream."""

from __future__ import annotations

from pathlib import Path

from driftwarden.config import MonitorConfig, parse_config

__all__ = ["demo_config"]


def demo_config(bootstrap: str, prefix: str, state_dir: Path) -> MonitorConfig:
    """The ``churn`` model on topics ``{prefix}predictions``, ``{prefix}labels`` and so on,
    consumer group ``{prefix}monitor``, state in ``state_dir`` and HTTP on a free port."""
    return parse_config(
        {
            "kafka": {
                "bootstrap_servers": bootstrap,
                "group_id": f"{prefix}monitor",
                "session_timeout_ms": 6000,
                "heartbeat_interval_ms": 1500,
            },
            "topics": {
                name: f"{prefix}{name}"
                for name in (
                    "predictions",
                    "labels",
                    "events",
                    "examples",
                    "retrain_requests",
                    "dead_letter",
                )
            },
            "http": {"host": "127.0.0.1", "port": 0},
            "state": {"dir": str(state_dir), "checkpoint_every": "1s"},
            "models": [
                {
                    "name": "churn",
                    "task": "binary",
                    "positive_label": 1,
                    "features": {"tenure": "numeric", "plan": "categorical"},
                    "label_ttl": "1h",
                    "window": 1000,
                    # Synthetic event time (one event a second from a fixed start) can run
                    # ahead of the Kafka timestamps of long streams: no future check.
                    "future_tolerance": None,
                }
            ],
        },
        source="demo",
    )
