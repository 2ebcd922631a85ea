"""Slow and surplus HTTP clients against the running services' endpoints (issue 11, item 5).

Each service runs against the real broker; the clients are plain sockets on loopback that send a
request one byte at a time (a "slowloris") or nothing at all.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from driftwarden.config import parse_config
from driftwarden.monitor.app import MonitorService
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.retrain.worker import RetrainWorker
from driftwarden.testing import TansuBroker, create_topics
from tests.conftest import TopicNames
from tests.helpers import serving, wait_until
from tests.monitor.harness import monitor_config, scrape, total

pytestmark = pytest.mark.kafka

SLOW_CLIENTS = 300
DEADLINE_S = 3.0
DROPPED = "driftwarden_http_connections_dropped_total"

Service = MonitorService | RetrainWorker


@contextmanager
def running(
    kind: str, broker: TansuBroker, topic_names: TopicNames, tmp_path: Path, **http: Any
) -> Iterator[str]:
    """The monitor or the retrain worker on a thread; yields its endpoint's base URL."""
    limits = {"host": "127.0.0.1", "port": 0, **http}
    config = monitor_config(broker.bootstrap, topic_names("sec"), tmp_path / "state")
    config["http"] = limits
    config["worker"] = {"http": limits}
    config["registry"] = str(tmp_path / "registry")
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=1)
    parsed = parse_config(config)
    service: Service = (
        MonitorService(parsed)
        if kind == "monitor"
        else RetrainWorker(RetrainSettings.from_config(parsed))
    )
    with serving(service) as url:
        yield url


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (without waiting for it to do so)."""
    sock.settimeout(0.01)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:  # reset
        return True


def timed_scrape(url: str) -> tuple[float, dict[Any, float]]:
    started = time.monotonic()
    samples = scrape(f"{url}/metrics")
    return time.monotonic() - started, samples


@pytest.mark.parametrize("kind", ["monitor", "worker"])
def test_scrapes_are_answered_while_slow_clients_drip_and_the_slow_ones_are_dropped(
    kind: str, broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    with running(kind, broker, topic_names, tmp_path, request_timeout=DEADLINE_S) as url:
        slow = [connect(url) for _ in range(SLOW_CLIENTS)]
        try:
            for sock in slow:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nX-Drip: ")
            # Drip one byte per client every 0.25 s; scrape in between.
            scrapes = []
            for _ in range(4):
                for sock in slow:
                    try:
                        sock.sendall(b"a")
                    except OSError:
                        pass  # already dropped
                scrapes.append(timed_scrape(url)[0])
                time.sleep(0.25)
            assert max(scrapes) < 1.0, scrapes
            # Past the deadline every slow client is disconnected, though it never went quiet.
            assert wait_until(
                lambda: all(closed_by_server(s) for s in slow),
                "slow clients dropped",
                DEADLINE_S + 5,
            )
        finally:
            for sock in slow:
                sock.close()
        elapsed, samples = timed_scrape(url)
        assert elapsed < 1.0
        assert total(samples, DROPPED, reason="deadline") >= SLOW_CLIENTS
        assert total(samples, DROPPED, reason="over_limit") == 0


@pytest.mark.parametrize("kind", ["monitor", "worker"])
def test_connections_over_the_cap_are_closed_at_once(
    kind: str, broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    cap, extra = 20, 5
    with running(
        kind, broker, topic_names, tmp_path, max_connections=cap, request_timeout=60
    ) as url:
        idle = [connect(url) for _ in range(cap + extra)]
        try:
            # The surplus is closed long before the 60 s deadline; the first `cap` stay open.
            assert wait_until(
                lambda: sum(closed_by_server(s) for s in idle) == extra,
                "the surplus to be closed",
                5,
            )
            assert not any(closed_by_server(s) for s in idle[:cap])
        finally:
            for sock in idle:
                sock.close()
        samples: dict[Any, float] = {}

        def scraped() -> bool:
            nonlocal samples
            try:
                samples = scrape(f"{url}/metrics")
            except OSError:  # the server has yet to see the closed clients go
                return False
            return True

        assert wait_until(scraped, "a scrape", 5)
        assert total(samples, DROPPED, reason="over_limit") == extra
