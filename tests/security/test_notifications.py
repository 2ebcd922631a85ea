"""Strings from the input topics in Slack and PagerDuty payloads (dispatcher -> local receiver)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from driftwarden.core.notifier_config import NotifierConfig
from driftwarden.core.notify import NotificationDispatcher

INJECTED = "4 <!channel> & <https://evil.example|click here>"


class Bodies:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.arrived = threading.Condition()

    def wait_for(self, count: int) -> list[bytes]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, 10)
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[tuple[str, Bodies]]:
    bodies = Bodies()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with bodies.arrived:
                bodies.received.append(body)
                bodies.arrived.notify_all()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    finally:
        server.shutdown()
        server.server_close()


def deliver(url: str, bodies: Bodies, kind: str, event: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": "n", "type": kind, "url": url}
    if kind == "pagerduty":
        fields["routing_key"] = "R0UT1NG"
    with NotificationDispatcher([NotifierConfig.model_validate(fields)]) as dispatcher:
        dispatcher.submit(event)
    [body] = bodies.wait_for(1)
    parsed: dict[str, Any] = orjson.loads(body)
    return parsed


def drift(**fields: Any) -> dict[str, Any]:
    return {
        "schema": 1,
        "type": "drift_detected",
        "model": "churn",
        "version": "3",
        "kind": "data",
        "features": [{"name": "tenure", "statistic": "ks", "score": 0.31, "threshold": 0.12}],
        "timestamp": "2024-05-01T12:00:00Z",
        **fields,
    }


def test_slack_text_escapes_a_mention_injected_in_model_version(
    receiver: tuple[str, Bodies],
) -> None:
    url, bodies = receiver
    features = [{"name": "<!here>", "statistic": "ks", "score": 0.5, "threshold": 0.1}]
    text = deliver(url, bodies, "slack", drift(version=INJECTED, features=features))["text"]
    # The previous code sent "<!channel>" as is: Slack notified everyone in the channel.
    assert "<!" not in text and "<https" not in text
    assert "churn v4 &lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;" in text
    assert "&lt;!here&gt; (ks 0.5 > 0.1)" in text


def test_pagerduty_payload_is_bounded(receiver: tuple[str, Bodies]) -> None:
    url, bodies = receiver
    huge = "m" * 100_000
    features = [{"name": f"f{i}" * 50, "statistic": "ks", "score": 1.0} for i in range(2000)]
    body = deliver(url, bodies, "pagerduty", drift(model=huge, version=huge, features=features))
    assert len(body["dedup_key"]) <= 255
    payload = body["payload"]
    assert len(payload["summary"]) <= 1024
    assert len(payload["source"]) <= 255 and len(payload["component"]) <= 255
    assert payload["custom_details"]["truncated"] is True
    assert len(orjson.dumps(body)) < 20_000
