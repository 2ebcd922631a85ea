"""Helpers shared across the tests: a clock, waiting for a condition, a service on a thread
(and its HTTP endpoints' URL).

Ports and producing to the broker come from :mod:`driftwarden.testing` (``free_port``,
``produce``); the fixtures (broker, topic names, admin client) from ``tests/conftest.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from driftwarden.monitor.app import MonitorService
from driftwarden.retrain.worker import RetrainWorker

T = TypeVar("T")


class TickingClock:
    """Epoch seconds advancing by one per call, for what takes ``clock=``."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def wait_until(
    probe: Callable[[], T | None],
    what: str | Callable[[], str],
    timeout: float = 60.0,
    interval: float = 0.1,
) -> T:
    """Call ``probe`` until it returns something truthy, and return that; fail after
    ``timeout`` seconds naming ``what`` (a callable is called then, e.g. for a log tail).

    ``probe`` may itself fail the test at once, e.g. with ``assert process.alive()``.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            waited_for = what if isinstance(what, str) else what()
            raise AssertionError(f"timed out after {timeout:g}s waiting for {waited_for}")
        time.sleep(interval)


class Service(Protocol):
    """What runs until stopped: the monitor service, the retrain worker."""

    def run(self) -> object: ...

    def stop(self) -> object: ...


S = TypeVar("S", bound=Service)


class ServiceThread(Generic[S]):
    """``service.run()`` on a daemon thread of the test process.

    ``with ServiceThread(worker):`` starts it; leaving the block calls ``stop()``, waits up to
    ``join_timeout`` seconds for ``run()`` to return, fails if it did not and re-raises what
    ``run()`` raised (also in :attr:`error` meanwhile).
    """

    def __init__(self, service: S, join_timeout: float = 30.0) -> None:
        self.service = service
        self.join_timeout = join_timeout
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.service.run()
        except BaseException as exc:  # noqa: BLE001 - re-raised on exit
            self.error = exc

    def __enter__(self) -> ServiceThread[S]:
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.service.stop()
        self.thread.join(self.join_timeout)
        assert not self.thread.is_alive(), f"{type(self.service).__name__} did not stop"
        if self.error is not None:
            raise self.error


@contextmanager
def serving(service: MonitorService | RetrainWorker) -> Iterator[str]:
    """``service`` on a :class:`ServiceThread`; yields the base URL of its HTTP endpoints."""
    with ServiceThread(service):
        server = wait_until(
            lambda: service.http, f"the {type(service).__name__}'s HTTP server", timeout=10
        )
        yield f"http://127.0.0.1:{server.port}"
