"""The observability stack end to end: monitor and worker -> Prometheus -> Alertmanager, Grafana.

One scenario, shared by the tests of this module: a bootstrap ``driftwarden retrain run`` trains
version 1 of ``churn`` from a base table (the registry keeps its reference profile); the monitor
(a thread) and the retrain worker (a process) run against the test broker; Prometheus and
Alertmanager run as loopback processes with the repo's configs, rewritten for the test by
tests/deploy/observability.py:

- prometheus.yml: scrape and evaluation interval 1s, the two jobs scraping the loopback ports,
  alerts sent to the test's Alertmanager;
- rules.yml: a copy with every ``for:`` set to 1s (DataDriftDetected waits 10m in the real file);
- alertmanager.yml: every receiver becomes a webhook to a local receiver (path = receiver name),
  ``group_wait``/``group_interval`` 1s; the routing tree and inhibition rules are the repo's.

Version 1 serves a stream whose ``x1`` shifts by 1.5 standard deviations half way, so the data
drift alarm on ``x1`` enters and stays active; the drift alarm makes the monitor request a retrain,
and a second, manual request makes the worker run twice (a counter's first increment is invisible
to rate(), so the retrain-duration quantile needs two runs). Some predictions never get a label
(they expire), and a few messages are not JSON (dead letters), so every dashboard panel has data.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftwarden.cli import main
from driftwarden.config import parse_config
from driftwarden.contracts.requests import RetrainRequest
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.testing import TansuBroker, create_topics, free_port, produce
from tests.deploy import ALERTMANAGER_CONFIG, PROMETHEUS_CONFIG, RULES, require_binary
from tests.deploy.observability import (
    Alertmanager,
    Prometheus,
    WebhookReceiver,
    alertmanager_config,
    fetch,
    has_finite_value,
    prometheus_config,
    rules_with_short_for,
    write_yaml,
)
from tests.helpers import wait_until
from tests.monitor.harness import ThreadedMonitor, monitor_config, scrape, total

pytestmark = [pytest.mark.prometheus, pytest.mark.kafka]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "driftwarden.json"
MONITOR_JOB, WORKER_JOB = "driftwarden-monitor", "driftwarden-worker"
MODEL = "churn"
START = 1_795_600_000.0
STEP = 3.0  # event-time seconds between predictions: the stream spans more than label_ttl (1h)
TOOLS = {  # binary -> Debian package
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}
VARIABLES = {
    "$model": MODEL,
    "$__rate_interval": "10s",
    "$__range": "1h",
    "${datasource}": "prometheus",
}


@dataclass(frozen=True)
class Scenario:
    """The running stack, after the scenario played."""

    prometheus: Prometheus
    alertmanager: Alertmanager
    webhook: WebhookReceiver
    monitor_url: str
    worker_url: str
    amtool: str
    promtool: str
    started: float  # when Prometheus started (Unix time): the start of range queries


def rows(n: int, seed: int, shift: float = 0.0) -> list[dict[str, Any]]:
    """Rows whose label is x1 + x2 > 0; ``shift`` moves x1 (a covariate shift)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(shift, 1, n), rng.normal(0, 1, n)
    plan = rng.choice(["basic", "pro"], n)
    return [
        {"x1": float(a), "x2": float(b), "plan": str(c), "label": int(a + b > 0)}
        for a, b, c in zip(x1, x2, plan, strict=True)
    ]


def base_table(path: Path) -> Path:
    lines = [f"{r['x1']},{r['x2']},{r['plan']},{r['label']}\n" for r in rows(1500, seed=1)]
    path.write_text("x1,x2,plan,label\n" + "".join(lines))
    return path


def scenario_config(broker: TansuBroker, tmp: Path) -> dict[str, Any]:
    prefix = f"obs-{uuid.uuid4().hex[:12]}"
    config = monitor_config(
        broker.bootstrap,
        prefix,
        tmp / "state",
        port=free_port(),
        features={"x1": "numeric", "x2": "numeric", "plan": "categorical"},
        window=300,
        drift={"window": 300, "every": 100},
        training={
            "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
            "params": {"max_iter": 30},
            "data": {"examples": 2000, "base": str(base_table(tmp / "base.csv"))},
            "seed": 0,
            "risk_tier": "low",
        },
        retrain={"when": {"drift": {"kinds": ["data"], "min_features": 1}}, "cooldown": "1d"},
        estimation={},
    )
    config["registry"] = str(tmp / "registry")
    config["worker"] = {
        "http": {"host": "127.0.0.1", "port": free_port()},
        "max_workers": 1,
        "group_id": f"{prefix}-worker",
    }
    topics = config["topics"]
    create_topics(broker.bootstrap, list(topics.values()), partitions=1)
    return config


def served(
    registry: ModelRegistry, data: list[dict[str, Any]], first: int, topics: dict[str, str]
) -> list[tuple[str, bytes | None, bytes]]:
    """Version 1's predictions of ``data`` with scores (every 97th without), and labels 5 s to
    10 min later (every 20th prediction gets none), each topic in event-time order, plus two dead
    letters."""
    model = registry.load_artifact(MODEL, "1")
    features = [{k: r[k] for k in ("x1", "x2", "plan")} for r in data]
    predicted, probabilities = model.predict(features), model.predict_proba(features)
    classes = [str(c) for c in model.classes_]
    rng = np.random.default_rng(first)
    predictions, labels = [], []
    for i, (row, feats, pred, proba) in enumerate(
        zip(data, features, predicted, probabilities, strict=True)
    ):
        pid, ts = f"p-{first + i}", START + (first + i) * STEP
        scores = {c: float(p) for c, p in zip(classes, proba, strict=True)}
        event = {"prediction_id": pid, "model": MODEL, "model_version": "1", "timestamp": ts}
        body = {**event, "features": feats, "prediction": int(pred), "scores": scores}
        if (first + i) % 97 == 1:  # now and then one without scores: left out of estimation
            del body["scores"]
        predictions.append((ts, pid, orjson.dumps(body)))
        if (first + i) % 20:
            label_ts = ts + float(rng.uniform(5, 600))
            label = {"prediction_id": pid, "model": MODEL, "label": row["label"]}
            labels.append((label_ts, pid, orjson.dumps({**label, "timestamp": label_ts})))
    messages: list[tuple[str, bytes | None, bytes]] = [
        (topics[topic], pid.encode(), value)
        for topic, events in (("predictions", predictions), ("labels", sorted(labels)))
        for _, pid, value in sorted(events)
    ]
    return messages + [(topics["predictions"], b"junk", b"not json")] * 2


class Worker:
    """``driftwarden retrain worker`` as a child process."""

    def __init__(self, config_path: Path, url: str, log: Path) -> None:
        self.url, self.log = url, log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "driftwarden", "retrain", "worker"]
                + ["--config", str(config_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-3000:]
        return True

    def runs(self) -> float:
        self.alive()
        return total(scrape(f"{self.url}/metrics"), "driftwarden_retrain_runs_total", model=MODEL)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start_stack(
    resources: ExitStack,
    tools: dict[str, str],
    config: dict[str, Any],
    config_path: Path,
    tmp: Path,
) -> tuple[Scenario, Worker, ThreadedMonitor]:
    """Webhook receiver, Alertmanager, Prometheus, worker and monitor, stopped by ``resources``."""
    webhook = resources.enter_context(WebhookReceiver())
    am_config = alertmanager_config(ALERTMANAGER_CONFIG, webhook.url)
    alertmanager = resources.enter_context(
        Alertmanager(
            tools["prometheus-alertmanager"], write_yaml(tmp / "alertmanager.yml", am_config), tmp
        )
    )
    rules = write_yaml(tmp / "rules.yml", rules_with_short_for(RULES))
    monitor_address = f"127.0.0.1:{config['http']['port']}"
    worker_address = f"127.0.0.1:{config['worker']['http']['port']}"
    prom_config = prometheus_config(
        PROMETHEUS_CONFIG,
        rule_file=rules,
        targets={MONITOR_JOB: monitor_address, WORKER_JOB: worker_address},
        alertmanager=alertmanager.url.removeprefix("http://"),
    )
    started = time.time()
    prometheus = resources.enter_context(
        Prometheus(
            tools["prometheus"],
            write_yaml(tmp / "prometheus.yml", prom_config),
            tmp,
        )
    )
    worker = Worker(config_path, f"http://{worker_address}", tmp / "worker.log")
    resources.callback(worker.stop)
    monitor = resources.enter_context(ThreadedMonitor(config))
    scenario = Scenario(
        prometheus,
        alertmanager,
        webhook,
        f"http://{monitor_address}",
        worker.url,
        amtool=tools["amtool"],
        promtool=tools["promtool"],
        started=started,
    )
    return scenario, worker, monitor


def drive(
    scenario: Scenario,
    worker: Worker,
    monitor: ThreadedMonitor,
    registry: ModelRegistry,
    broker: TansuBroker,
    topics: dict[str, str],
) -> None:
    prometheus = scenario.prometheus
    wait_until(
        lambda: (
            worker.alive() and prometheus.target_health() == {MONITOR_JOB: "up", WORKER_JOB: "up"}
        ),
        "Prometheus to scrape the monitor and the worker",
        45,
    )
    # Before the shift, then (once Prometheus has scraped the counters) after it: rates such as
    # model_version:driftwarden_predictions:rate1h, which DataDriftDetected requires, need an
    # increase between two scrapes.
    before = served(registry, rows(600, seed=2), 0, topics)
    monitor.wait_consumed(produce(broker.bootstrap, before))
    wait_until(lambda: prometheus.query("driftwarden_predictions_total"), "a first scrape", 15)
    time.sleep(2)
    after = served(registry, rows(900, seed=3, shift=1.5), 600, topics)
    monitor.wait_consumed(len(before) + produce(broker.bootstrap, after))

    # The drift alarm's retrain request, then a manual one once Prometheus has the first run.
    wait_until(lambda: worker.runs() >= 1, "the drift-triggered retrain run", 90)
    wait_until(lambda: prometheus.query("driftwarden_retrain_runs_total"), "a scrape of it", 15)
    request = RetrainRequest.new(MODEL, None, "manual", timestamp=time.time())
    produce(broker.bootstrap, [(topics["retrain_requests"], MODEL.encode(), request.to_json())])
    wait_until(lambda: worker.runs() >= 2, "the manual retrain run", 90)


@pytest.fixture(scope="module")
def scenario(broker: TansuBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    tools = {name: require_binary(name, package) for name, package in TOOLS.items()}
    tmp = tmp_path_factory.mktemp("observability")
    config = scenario_config(broker, tmp)
    with ExitStack() as resources:
        # A direct notifier beside Alertmanager, so the notification panels have data.
        notified = resources.enter_context(WebhookReceiver())
        config["notifiers"] = [
            {"name": "hook", "type": "webhook", "url": f"{notified.url}/driftwarden"}
        ]
        config_path = write_yaml(tmp / "driftwarden.yaml", config)
        # Version 1, trained from the base table; its registry entry carries the reference profile.
        assert main(["retrain", "run", "--config", str(config_path), "--model", MODEL]) == 0
        registry = ModelRegistry.from_settings(RetrainSettings.from_config(parse_config(config)))
        running, worker, monitor = start_stack(resources, tools, config, config_path, tmp)
        drive(running, worker, monitor, registry, broker, config["topics"])
        yield running


def test_prometheus_scrapes_both_services(scenario: Scenario) -> None:
    up = {s["metric"]["job"]: s["value"][1] for s in scenario.prometheus.query("up")}
    assert up == {MONITOR_JOB: "1", WORKER_JOB: "1"}
    assert (
        scenario.prometheus.alerts("MonitorDown") == scenario.prometheus.alerts("WorkerDown") == []
    )


def test_data_drift_alert_fires_and_reaches_its_receivers(scenario: Scenario) -> None:
    def firing() -> list[dict[str, Any]]:
        return [
            alert
            for alert in scenario.prometheus.alerts("DataDriftDetected")
            if alert["labels"]["kind"] == "data" and alert["labels"]["feature"] == "x1"
        ]

    [alert] = wait_until(firing, "DataDriftDetected on x1 to fire in Prometheus", 30)
    labels = alert["labels"]
    assert (labels["model"], labels["version"]) == (MODEL, "1")
    assert (labels["severity"], labels["component"]) == ("warning", "model")
    [active] = scenario.prometheus.query(
        f'driftwarden_drift_active{{model="{MODEL}", kind="data", feature="x1"}}'
    )
    assert active["value"][1] == "1"

    # Where the repo's routing tree sends it (today: webhook and slack-models), per amtool.
    routed = subprocess.run(
        [scenario.amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}"]
        + [f"{k}={v}" for k, v in labels.items()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    receivers = set(routed.strip().split(","))
    assert receivers, routed

    def delivered() -> set[str] | None:
        got = {
            d.receiver
            for d in scenario.webhook.deliveries
            if d.body["status"] == "firing" and "DataDriftDetected" in d.alert_names()
        }
        return got if got >= receivers else None

    assert wait_until(delivered, f"DataDriftDetected at the webhooks {sorted(receivers)}", 30)
    held = [a for a in scenario.alertmanager.alerts() if a["labels"] == labels]
    assert [a["status"]["state"] for a in held] == ["active"]
    delivery = next(
        d for d in scenario.webhook.deliveries if "DataDriftDetected" in d.alert_names()
    )
    sent = next(a for a in delivery.body["alerts"] if a["labels"]["feature"] == "x1")
    assert sent["annotations"]["runbook_url"].endswith("#datadriftdetected")


def dashboard_queries() -> list[tuple[str, str, bool]]:
    """(panel title, expression with the variables substituted, instant) of every target."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, (panel["title"], expr)
            queries.append((f"{panel['title']} {target['refId']}", expr, target["instant"]))
    return queries


def test_every_dashboard_query_returns_data(scenario: Scenario) -> None:
    """Range queries over the scenario (instant ones now), as Grafana sends them; each must
    return a finite sample. Retried for a while: alerts and the last runs come late."""

    def empty() -> list[str]:
        now = time.time()
        missing = []
        for title, expr, instant in dashboard_queries():
            if instant:
                result = scenario.prometheus.query(expr)
            else:
                result = scenario.prometheus.query_range(expr, scenario.started, now, "1s")
            if not has_finite_value(result):
                missing.append(f"{title}: {expr}")
        return missing

    deadline = time.monotonic() + 30
    while (missing := empty()) and time.monotonic() < deadline:
        time.sleep(1)
    assert missing == []


def test_the_model_variable_lists_the_model(scenario: Scenario) -> None:
    values = scenario.prometheus.api("label/model/values", **{"match[]": "driftwarden_pending"})
    assert MODEL in values


@pytest.mark.parametrize("service", ["monitor", "worker"])
def test_metrics_pass_promtool(scenario: Scenario, service: str) -> None:
    url = scenario.monitor_url if service == "monitor" else scenario.worker_url
    exposition = fetch(f"{url}/metrics")
    assert re.search(rb"^driftwarden_", exposition, re.MULTILINE)
    check = subprocess.run(
        [scenario.promtool, "check", "metrics"], input=exposition, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
