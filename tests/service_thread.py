"""A monitor or retrain worker run on a thread for a test, stopped and checked on the way out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from driftwarden.monitor.app import MonitorService
from driftwarden.retrain.worker import RetrainWorker


@contextmanager
def serving(service: MonitorService | RetrainWorker) -> Iterator[str]:
    """``service`` on a thread; yields the base URL of its endpoints. On exit the service stops,
    and the test fails if it raised or did not stop within 30 s."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            service.run()
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while service.http is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert service.http is not None, errors
    try:
        yield f"http://127.0.0.1:{service.http.port}"
    finally:
        service.stop()
        thread.join(30)
        assert not thread.is_alive() and not errors, errors
