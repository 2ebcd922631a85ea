"""Prometheus, Alertmanager and a webhook receiver as plain loopback processes, for tests.

The repo's own configs (deploy/prometheus, deploy/alertmanager) are rewritten for a test run:
short intervals, targets on loopback ports, receivers pointed at :class:`WebhookReceiver`. The
routing tree, inhibition rules, jobs, rules and templates stay as they are.
"""

from __future__ import annotations

import json
import math
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self, TypeVar

import yaml

from driftwarden.testing import free_port
from tests.helpers import wait_until

__all__ = [
    "Alertmanager",
    "Delivery",
    "Prometheus",
    "WebhookReceiver",
    "alertmanager_config",
    "fetch",
    "has_finite_value",
    "prometheus_config",
    "rules_with_short_for",
    "write_yaml",
]

T = TypeVar("T")
RECEIVER_CONFIGS = (
    "discord_configs",
    "email_configs",
    "msteams_configs",
    "msteamsv2_configs",
    "jira_configs",
    "opsgenie_configs",
    "pagerduty_configs",
    "pushover_configs",
    "rocketchat_configs",
    "slack_configs",
    "sns_configs",
    "telegram_configs",
    "victorops_configs",
    "webex_configs",
    "webhook_configs",
    "wechat_configs",
)


def write_yaml(path: Path, document: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False), encoding="utf-8")
    return path


def fetch(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
        body: bytes = response.read()
    return body


def has_finite_value(result: list[dict[str, Any]]) -> bool:
    """Whether a query result (vector or matrix) holds at least one finite sample."""
    for series in result:
        samples = series.get("values") or [series["value"]]
        if any(math.isfinite(float(value)) for _, value in samples):
            return True
    return False


# ---- config rewriting --------------------------------------------------------------------


def prometheus_config(
    source: Path,
    *,
    rule_file: Path,
    targets: Mapping[str, str],
    alertmanager: str,
    interval: str = "1s",
) -> dict[str, Any]:
    """``source`` with every interval set to ``interval``, each job scraping ``targets[job]``,
    the rules read from ``rule_file`` and alerts sent to ``alertmanager`` (host:port)."""
    config: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    config["global"] = {
        **config.get("global", {}),
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "evaluation_interval": interval,
    }
    config["rule_files"] = [str(rule_file)]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    if jobs != set(targets):
        raise ValueError(f"{source} scrapes jobs {sorted(jobs)}, the test runs {sorted(targets)}")
    for job in config["scrape_configs"]:
        dropped = {"scrape_interval", "scrape_timeout"} | {
            k for k in job if k.endswith("_sd_configs")
        }
        for key in dropped & set(job):
            del job[key]
        statics = job.get("static_configs") or [{}]
        job["static_configs"] = [{**s, "targets": [targets[job["job_name"]]]} for s in statics]
    for manager in config["alerting"]["alertmanagers"]:
        manager["static_configs"] = [{"targets": [alertmanager]}]
    return config


def rules_with_short_for(source: Path, duration: str = "1s") -> dict[str, Any]:
    """``source`` with every rule's ``for`` (and ``keep_firing_for``) set to ``duration`` and
    groups evaluated at the global interval."""
    rules: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        group.pop("interval", None)
        for rule in group["rules"]:
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = duration
    return rules


def alertmanager_config(source: Path, webhook: str, wait: str = "1s") -> dict[str, Any]:
    """``source`` with each receiver replaced by a webhook to ``webhook``/<receiver name>,
    ``group_wait`` and ``group_interval`` of every route set to ``wait`` and template paths made
    absolute. Routes, inhibition rules and time intervals stay."""
    config: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    config["global"] = {k: v for k, v in config.get("global", {}).items() if k == "resolve_timeout"}
    config["templates"] = [str(source.parent / t) for t in config.get("templates", [])]
    for receiver in config["receivers"]:
        for key in RECEIVER_CONFIGS:
            receiver.pop(key, None)
        receiver["webhook_configs"] = [
            {"url": f"{webhook}/{receiver['name']}", "send_resolved": True}
        ]
    for route in _routes(config["route"]):
        for key in ("group_wait", "group_interval"):
            if key in route or route is config["route"]:
                route[key] = wait
    return config


def _routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", []):
        yield from _routes(child)


# ---- processes ---------------------------------------------------------------------------


class _Server:
    """A child process serving HTTP on 127.0.0.1:``port``, logging to ``log``."""

    name = "server"

    def __init__(self, command: list[str], port: int, log: Path) -> None:
        self.command, self.port, self.log = command, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            try:
                fetch(f"{self.url}/-/ready", timeout=1)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False
            return True

        wait_until(ready, f"{self.name} on {self.url} to be ready", timeout)

    def get_json(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return json.loads(fetch(f"{self.url}{path}{query}"))


class Prometheus(_Server):
    name = "prometheus"

    def __init__(self, binary: str, config: Path, workdir: Path, port: int | None = None) -> None:
        port = port or free_port()
        command = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        super().__init__(command, port, workdir / "prometheus.log")

    def api(self, path: str, **params: str) -> Any:
        """``/api/v1/<path>``'s ``data``; fails unless the status is ``success``."""
        body = self.get_json(f"/api/v1/{path}", **params)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: str) -> list[dict[str, Any]]:
        data = self.api("query_range", query=expr, start=str(start), end=str(end), step=step)
        result: list[dict[str, Any]] = data["result"]
        return result

    def target_health(self) -> dict[str, str]:
        """Job -> health (``up``, ``down``, ``unknown``) of the active targets."""
        targets = self.api("targets", state="active")["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in targets}

    def alerts(self, name: str, state: str = "firing") -> list[dict[str, Any]]:
        return [
            alert
            for alert in self.api("alerts")["alerts"]
            if alert["labels"]["alertname"] == name and alert["state"] == state
        ]


class Alertmanager(_Server):
    name = "alertmanager"

    def __init__(self, binary: str, config: Path, workdir: Path, port: int | None = None) -> None:
        port = port or free_port()
        command = [
            binary,
            f"--config.file={config}",
            f"--storage.path={workdir / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ]
        super().__init__(command, port, workdir / "alertmanager.log")

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.get_json("/api/v2/alerts")
        return alerts


@dataclass(frozen=True)
class Delivery:
    """One notification POSTed to the webhook receiver."""

    receiver: str  # the URL path: Alertmanager's receiver name
    body: dict[str, Any]

    def alert_names(self) -> set[str]:
        return {alert["labels"]["alertname"] for alert in self.body.get("alerts", [])}


class WebhookReceiver:
    """An HTTP server on loopback that records every JSON POST (Alertmanager's webhooks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _record(self, path: str, body: bytes) -> None:
        delivery = Delivery(path.strip("/"), json.loads(body))
        with self._lock:
            self._deliveries.append(delivery)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        record = self._record

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                record(self.path, self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        return Handler
