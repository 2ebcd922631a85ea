"""Direct notifiers against local HTTP receivers: payloads, filters, rate limit, retries."""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from driftwarden.config import masked_dict, parse_config
from driftwarden.core.errors import ConfigError
from driftwarden.core.notifier_config import NotifierConfig
from driftwarden.core.notify import OUTCOMES, NotificationDispatcher, make_notifier
from driftwarden.core.profile_json import save_profile
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.testing import (
    TansuBroker,
    create_topics,
    free_port,
    generate_stream,
    produce,
    stream_profile,
)
from tests.conftest import TopicNames
from tests.monitor.harness import ThreadedMonitor, monitor_config

pytestmark = pytest.mark.kafka

DETECTED: dict[str, Any] = {
    "schema": 1,
    "type": "drift_detected",
    "model": "churn",
    "version": "3",
    "kind": "data",
    "features": [{"name": "tenure", "statistic": "ks", "score": 0.31, "threshold": 0.12}],
    "window": {"size": 1000},
    "events_seen": 4500,
    "timestamp": "2024-05-01T12:00:00Z",
}
RESOLVED = {**DETECTED, "type": "drift_resolved"}
PROMOTED = {"schema": 1, "type": "model_promoted", "model": "churn", "version": "4", "by": "x"}
FAILED_RUN = {
    "schema": 1,
    "type": "retrain_completed",
    "model": "churn",
    "version": None,
    "outcome": "failed",
    "error": "only 3 examples",
}


@dataclass
class Receiver:
    """An HTTP endpoint that records JSON bodies; told to fail or hang on demand."""

    url: str = ""
    bodies: list[Any] = field(default_factory=list)
    attempts: int = 0
    fail_next: int = 0  # answer this many requests with ``fail_status``
    fail_status: int = 500
    hang: bool = False  # hold requests until released (longer than any timeout)
    released: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.bodies) >= count, timeout)
            return list(self.bodies)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with receiver.changed:
                receiver.attempts += 1
                failing = receiver.fail_next > 0
                receiver.fail_next -= int(failing)
            if receiver.hang:
                receiver.released.wait(30)
            status = receiver.fail_status if failing else 202
            if not failing:
                assert self.headers["Content-Type"] == "application/json"
                with receiver.changed:
                    receiver.bodies.append(orjson.loads(body))
                    receiver.changed.notify_all()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def notifier(url: str, **fields: Any) -> NotifierConfig:
    return NotifierConfig.model_validate({"name": "n", "type": "webhook", "url": url, **fields})


def count(registry: CollectorRegistry, outcome: str, name: str = "n") -> float:
    value = registry.get_sample_value(
        "driftwarden_notifications_total", {"notifier": name, "outcome": outcome}
    )
    return value or 0.0


def counts(registry: CollectorRegistry, name: str = "n") -> dict[str, float]:
    return {outcome: count(registry, outcome, name) for outcome in OUTCOMES}


def test_webhook_posts_the_event_itself(receiver: Receiver, registry: CollectorRegistry) -> None:
    with NotificationDispatcher([notifier(receiver.url)], registry=registry) as dispatcher:
        dispatcher.submit(DETECTED)
    assert receiver.bodies == [DETECTED]
    assert counts(registry) == {"sent": 1, "failed": 0, "dropped": 0, "filtered": 0}


def test_slack_gets_one_line_of_text(receiver: Receiver) -> None:
    config = notifier(receiver.url, type="slack")
    with NotificationDispatcher([config]) as dispatcher:
        dispatcher.submit(DETECTED)
        dispatcher.submit(FAILED_RUN)
    [drift, run] = receiver.wait_for(2)
    assert set(drift) == {"text"}
    assert "drift detected: churn v3, data drift in tenure (ks 0.31 > 0.12)" in drift["text"]
    assert "retrain of churn failed: only 3 examples" in run["text"]


def test_pagerduty_opens_and_resolves_one_incident_per_alarm(
    receiver: Receiver, registry: CollectorRegistry
) -> None:
    config = notifier(receiver.url, type="pagerduty", routing_key="R0UT1NG")
    approval = {"type": "approval_required", "model": "churn", "version": "4"}
    with NotificationDispatcher([config], registry=registry) as dispatcher:
        for event in (DETECTED, PROMOTED, RESOLVED, approval, FAILED_RUN):
            dispatcher.submit(event)
    trigger, resolve, approve, failed = receiver.wait_for(4)
    assert {b["routing_key"] for b in (trigger, resolve, approve, failed)} == {"R0UT1NG"}
    assert [b["event_action"] for b in (trigger, resolve, approve, failed)] == [
        "trigger",
        "resolve",
        "trigger",
        "trigger",
    ]
    assert trigger["dedup_key"] == resolve["dedup_key"] == "driftwarden/churn/3/drift/data"
    assert len({trigger["dedup_key"], approve["dedup_key"], failed["dedup_key"]}) == 3
    payload = trigger["payload"]
    assert payload["severity"] == "warning" and payload["source"] == "driftwarden/churn"
    assert "tenure" in payload["summary"] and payload["custom_details"] == DETECTED
    assert failed["payload"]["severity"] == "error"
    assert counts(registry) == {"sent": 4, "failed": 0, "dropped": 0, "filtered": 1}


def test_filters_by_event_type_and_model(receiver: Receiver, registry: CollectorRegistry) -> None:
    config = notifier(receiver.url, events=["drift_detected"], models=["churn"])
    with NotificationDispatcher([config], registry=registry) as dispatcher:
        dispatcher.submit(DETECTED)
        dispatcher.submit({**DETECTED, "model": "fraud"})
        dispatcher.submit(PROMOTED)
    assert receiver.bodies == [DETECTED]
    assert counts(registry) == {"sent": 1, "failed": 0, "dropped": 0, "filtered": 2}


def test_each_notifier_has_its_own_filters(receiver: Receiver, registry: CollectorRegistry) -> None:
    drift = notifier(receiver.url, name="drift", events=["drift_detected"])
    runs = notifier(receiver.url, name="runs", events=["model_promoted"])
    with NotificationDispatcher([drift, runs], registry=registry) as dispatcher:
        dispatcher.submit(DETECTED)
        dispatcher.submit(PROMOTED)
    assert sorted(b["type"] for b in receiver.bodies) == ["drift_detected", "model_promoted"]
    assert count(registry, "sent", "drift") == count(registry, "filtered", "drift") == 1
    assert count(registry, "sent", "runs") == count(registry, "filtered", "runs") == 1


def test_rate_limit_drops_the_excess(receiver: Receiver, registry: CollectorRegistry) -> None:
    now = [1000.0]
    config = notifier(receiver.url, rate_per_minute=3)
    with NotificationDispatcher([config], registry=registry, clock=lambda: now[0]) as dispatcher:
        for _ in range(10):
            dispatcher.submit(DETECTED)
        now[0] += 20.0  # one token back
        dispatcher.submit(DETECTED)
        dispatcher.submit(DETECTED)
    assert len(receiver.bodies) == 4
    assert counts(registry) == {"sent": 4, "failed": 0, "dropped": 8, "filtered": 0}


def test_retries_server_errors_then_succeeds(
    receiver: Receiver, registry: CollectorRegistry
) -> None:
    receiver.fail_next = 2
    config = notifier(receiver.url, max_retries=3)
    with NotificationDispatcher([config], registry=registry, backoff=0.01) as dispatcher:
        dispatcher.submit(DETECTED)
    assert receiver.attempts == 3 and receiver.bodies == [DETECTED]
    assert counts(registry) == {"sent": 1, "failed": 0, "dropped": 0, "filtered": 0}


@pytest.mark.parametrize(
    ("status", "max_retries", "attempts"),
    [(503, 2, 3), (429, 1, 2), (400, 3, 1), (404, 3, 1), (301, 3, 1)],
)
def test_gives_up_after_bounded_attempts_and_never_retries_client_errors(
    receiver: Receiver, registry: CollectorRegistry, status: int, max_retries: int, attempts: int
) -> None:
    receiver.fail_next, receiver.fail_status = 100, status
    config = notifier(receiver.url, max_retries=max_retries)
    with NotificationDispatcher([config], registry=registry, backoff=0.01) as dispatcher:
        dispatcher.submit(DETECTED)
        dispatcher.submit(PROMOTED)
    assert receiver.attempts == 2 * attempts and receiver.bodies == []
    assert counts(registry) == {"sent": 0, "failed": 2, "dropped": 0, "filtered": 0}


@pytest.mark.parametrize("dead", ["hanging", "refusing"])
def test_a_dead_receiver_never_blocks_submit_and_close_keeps_its_timeout(
    receiver: Receiver, registry: CollectorRegistry, dead: str
) -> None:
    receiver.hang = True
    url = receiver.url if dead == "hanging" else f"http://127.0.0.1:{free_port()}/"
    config = notifier(url, timeout=1, max_retries=5, rate_per_minute=1_000_000)
    dispatcher = NotificationDispatcher([config], registry=registry, queue_size=10)
    for _ in range(1000):
        dispatcher.submit(DETECTED)
    # At most one event in flight and ten queued: every other submit returned at once, dropped.
    assert 989 <= count(registry, "dropped") <= 990
    started = time.monotonic()
    dispatcher.close(timeout=0.3)
    assert time.monotonic() - started < 2.0
    assert count(registry, "dropped") >= 999
    assert count(registry, "sent") == 0 and receiver.bodies == []
    dispatcher.submit(DETECTED)  # after close: dropped, not queued
    assert count(registry, "dropped") >= 1000


def test_no_notifiers_no_thread_no_metric(registry: CollectorRegistry) -> None:
    dispatcher = NotificationDispatcher([], registry=registry)
    before = threading.active_count()
    dispatcher.submit(DETECTED)
    dispatcher.close()
    assert threading.active_count() == before
    assert list(registry.collect()) == []


def test_secrets_come_from_env_or_file_and_are_never_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PD_KEY", "pd-secret-key")
    (tmp_path / "slack").write_text("https://hooks.slack.example/T0/B0/slack-secret\n")
    data = {
        "models": [{"name": "churn", "task": "binary", "positive_label": 1}],
        "notifiers": [
            {"name": "pager", "type": "pagerduty", "routing_key": {"env": "PD_KEY"}},
            {"name": "chat", "type": "slack", "url": {"file": str(tmp_path / "slack")}},
        ],
    }
    config = parse_config(data)
    pager, chat = config.notifiers
    assert pager.routing_key is not None
    assert pager.routing_key.get_secret_value() == "pd-secret-key"
    assert pager.endpoint() == "https://events.pagerduty.com/v2/enqueue"
    assert chat.endpoint() == "https://hooks.slack.example/T0/B0/slack-secret"
    shown = [
        repr(config),
        str(config),
        repr(pager),
        str(chat),
        orjson.dumps(masked_dict(config)).decode(),
        repr(make_notifier(pager)),
        repr(make_notifier(chat)),
    ]
    for text in shown:
        assert "pd-secret-key" not in text and "slack-secret" not in text
    settings = RetrainSettings(
        registry=tmp_path,
        state_dir=tmp_path,
        consumer_options={},
        producer_options={},
        examples_topic="e",
        events_topic="v",
        requests_topic="r",
        group_id="g",
        notifiers=tuple(config.notifiers),
    )
    assert pickle.loads(pickle.dumps(settings)).notifiers == settings.notifiers  # noqa: S301


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"type": "pagerduty"}, "needs 'routing_key'"),
        ({"type": "webhook"}, "needs 'url'"),
        ({"type": "slack", "url": "https://x.example", "routing_key": "k"}, "only to type"),
        ({"type": "webhook", "url": "ftp://x.example"}, "http:// or https://"),
        ({"type": "webhook", "url": "https://x.example", "events": ["drift"]}, "drift_detected"),
        ({"type": "webhook", "url": "https://x.example", "rate_per_minute": 0}, "greater than"),
        ({"type": "email", "url": "https://x.example"}, "pagerduty"),
        ({"type": "webhook", "url": {"env": "DW_UNSET_VARIABLE"}}, "is not set"),
    ],
)
def test_invalid_notifier_configs_say_what_is_wrong(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        NotifierConfig.model_validate({"name": "n", **fields})


def test_notifier_names_are_unique() -> None:
    hook = {"name": "hook", "type": "webhook", "url": "https://x.example"}
    data = {
        "models": [{"name": "churn", "task": "binary", "positive_label": 1}],
        "notifiers": [hook, hook],
    }
    with pytest.raises(ConfigError, match="notifiers: notifier names must be unique"):
        parse_config(data)


def test_the_monitor_sends_detected_drift_to_a_webhook(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path, receiver: Receiver
) -> None:
    config = monitor_config(
        broker.bootstrap,
        topic_names("notify"),
        tmp_path / "state",
        reference=str(save_profile(stream_profile(), tmp_path / "churn.json")),
        drift={"window": 1000, "every": 250},
    )
    config["notifiers"] = [
        {"name": "hook", "type": "webhook", "url": receiver.url, "events": ["drift_detected"]}
    ]
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=1)
    stream = generate_stream(8000, seed=5, shift_at=4000)
    sent = produce(broker.bootstrap, [(topics[e.topic], e.key, e.value) for e in stream])
    with ThreadedMonitor(config) as monitor:
        monitor.wait_consumed(sent)
        receiver.wait_for(1)

    data = [e for e in receiver.bodies if e["kind"] == "data"]
    assert [e["type"] for e in receiver.bodies] == ["drift_detected"] * len(receiver.bodies)
    [event] = data
    assert (event["model"], event["version"]) == ("churn", "1")
    assert [f["name"] for f in event["features"]] == ["tenure"]
    registry = monitor.service.registry
    assert count(registry, "sent", "hook") == len(receiver.bodies)
    assert count(registry, "failed", "hook") == count(registry, "dropped", "hook") == 0


@pytest.mark.parametrize(
    ("status", "refused"), [(500, False), (404, False), (302, False), (None, True)]
)
def test_failure_logs_never_show_the_url(
    receiver: Receiver,
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
    status: int | None,
    refused: bool,
) -> None:
    token = "T0K3N-in-the-webhook-path"
    base = f"http://127.0.0.1:{free_port()}" if refused else receiver.url
    receiver.fail_next, receiver.fail_status = 100, status or 500
    config = notifier(f"{base}/{token}?key={token}", max_retries=1)
    with caplog.at_level("DEBUG"):
        with NotificationDispatcher([config], registry=registry, backoff=0.01) as dispatcher:
            dispatcher.submit(DETECTED)
    assert count(registry, "failed") == 1
    assert "not delivered: notifier 'n'" in caplog.text  # the failure was logged, by name
    assert token not in caplog.text and "127.0.0.1" not in caplog.text
