"""What every command shares: exit codes, signal handling, the clock."""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Callable
from typing import Any

__all__ = ["EXIT_CONFIG", "EXIT_FAILURE", "RAW", "Commands", "now", "stop_on_signals"]

EXIT_FAILURE = 1  # the command ran and failed (a run failed, a check did not pass)
EXIT_CONFIG = 2  # the config file or the arguments are invalid

RAW = argparse.RawDescriptionHelpFormatter
# What ``ArgumentParser.add_subparsers`` returns (a private argparse type).
Commands = Any


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGTERM and SIGINT (a container stop, Ctrl+C)."""

    def handle(signum: int, frame: object) -> None:
        stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def now() -> float:
    """Seconds since the epoch, UTC."""
    return time.time()
