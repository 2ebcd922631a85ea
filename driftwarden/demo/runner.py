"""``driftwarden demo``: the whole loop on an embedded broker, in about a minute.

Version 1 of a loan-approval model is trained on the world before a change and registered; the
monitor and the retrain worker run in this process; a model server replays a stream through
Kafka in which, at ``change_at``, the approval rule changes and applicants shift. Drift and the
accuracy drop are detected, a retrain is requested, a new version is trained on post-change
data, passes the gate and is promoted, and accuracy recovers.

With ``scenario="covariate"`` only the applicants shift (see :mod:`driftwarden.demo.world`) and
labels come ``LABEL_DELAYS["covariate"]`` events late: the monitor's label-free estimate falls
below the retrain threshold that many events before the realized accuracy does, and the run
succeeds when it did.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import skops.io as sio
from kafka import KafkaProducer
from sklearn.ensemble import HistGradientBoostingClassifier

from driftwarden.config import MonitorConfig, parse_config
from driftwarden.core.mlflow_profiles import MlflowProfileLookup
from driftwarden.core.registry import ProfileLookup
from driftwarden.demo.estimates import EstimateProbe
from driftwarden.demo.models import MlflowAliasModels, RegistryModels, ServedModels
from driftwarden.demo.report import (
    EventWatcher,
    Stream,
    plot_accuracy,
    print_audit,
    progress_line,
    summarize,
)
from driftwarden.demo.serving import ModelServer, pace
from driftwarden.demo.world import FEATURES, LoanWorld, write_table
from driftwarden.monitor.app import MonitorService
from driftwarden.monitor.errors import MonitorError
from driftwarden.retrain.features import make_pipeline
from driftwarden.retrain.governance import Governance
from driftwarden.retrain.importer import import_model
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.registry_backend import open_registry
from driftwarden.retrain.run import audit_log
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.retrain.worker import RetrainWorker
from driftwarden.testing import TansuBroker, create_topics
from driftwarden.testing.mlflow_server import MlflowServer

__all__ = ["DemoOptions", "run_demo"]

MODEL = "loan"
CHUNK = 100
THRESHOLD = 0.8  # accuracy below which the retrain policy asks, from the labels or the estimate
MIN_EXAMPLES = 300  # labelled examples (or predictions, for the estimate) before it may ask
# Applications (seconds of event time) between a prediction and its label, by scenario.
LABEL_DELAYS = {"concept": 60, "covariate": 1500}


@dataclass(frozen=True)
class DemoOptions:
    events: int = 20_000
    change_at: int = 8_000
    seed: int = 7
    out: Path = Path("demo-out")
    summary_json: Path | None = None
    keep_running: bool = False
    bootstrap: str | None = None
    rate: float = 400.0  # events per second
    registry: str = "filesystem"  # or "mlflow"
    mlflow_uri: str | None = None  # with registry mlflow: this server instead of a local one
    scenario: str = "concept"  # or "covariate" (see driftwarden.demo.world)


def run_demo(options: DemoOptions) -> int:
    if not 0 < options.change_at < options.events:
        raise MonitorError("--change-at must fall inside the stream (0 < change-at < events)")
    started = time.monotonic()
    with ExitStack() as stack:
        bootstrap = options.bootstrap
        if bootstrap is None:
            bootstrap = stack.enter_context(TansuBroker()).bootstrap
            print(f"embedded Kafka-compatible broker on {bootstrap}")
        out = _fresh(options.out)
        config = loan_config(
            bootstrap,
            f"driftwarden-demo-{uuid.uuid4().hex[:8]}.",
            out,
            options.seed,
            _mlflow_uri(options, out, stack),
        )
        _create_topics(bootstrap, config)
        world = LoanWorld(options.events, options.change_at, options.seed, options.scenario)
        _train_first_version(config, world, out, options.seed)
        monitor, worker = _start_services(config, stack)
        watcher = EventWatcher(
            config.kafka.client_options("consumer"), config.topics.events
        ).start()
        stack.callback(watcher.stop)
        assert monitor.http is not None  # noqa: S101 - set when the service started
        url = f"http://127.0.0.1:{monitor.http.port}/metrics"
        probe = EstimateProbe(url, MODEL)
        server = _replay(config, world, options, monitor, watcher, probe)
        _wait_until_done(monitor, worker, 2 * options.events, watcher, probe)
        stream = Stream(
            options.scenario, options.events, options.change_at, LABEL_DELAYS[options.scenario]
        )
        summary = summarize(
            stream,
            server.correct,
            server.served_by,
            watcher,
            probe.samples,
            (THRESHOLD, MIN_EXAMPLES),
            time.monotonic() - started,
            url,
        )
        _report(summary, server, probe, out, options.summary_json, config)
        if options.keep_running:
            _serve_until_interrupted(url)
    succeeded = summary.estimate_led if options.scenario == "covariate" else summary.loop_closed
    return 0 if succeeded else 1


def loan_config(
    bootstrap: str, prefix: str, out: Path, seed: int, mlflow_uri: str | None = None
) -> MonitorConfig:
    topics = ("predictions", "labels", "events", "examples", "retrain_requests", "dead_letter")
    return parse_config(
        {
            "kafka": {
                "bootstrap_servers": bootstrap,
                "group_id": f"{prefix}monitor",
                "session_timeout_ms": 6000,
                "heartbeat_interval_ms": 1500,
            },
            "topics": {name: f"{prefix}{name}" for name in topics},
            "http": {"host": "127.0.0.1", "port": 0},
            "state": {"dir": str(out / "state"), "checkpoint_every": "1s"},
            "registry": {"path": str(out / "registry")}
            | ({} if mlflow_uri is None else {"backend": "mlflow", "tracking_uri": mlflow_uri}),
            "worker": {
                "group_id": f"{prefix}worker",
                "max_workers": 1,
                "http": {"host": "127.0.0.1", "port": 0},
            },
            "models": [
                {
                    "name": MODEL,
                    "task": "binary",
                    "positive_label": 1,
                    "features": FEATURES,
                    "label_ttl": "1h",
                    "window": 500,
                    "drift": {"window": 1000, "every": 250},
                    "estimation": {},
                    "training": {
                        "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
                        "params": {"max_iter": 100},
                        "data": {"examples": 1000},
                        "holdout": 0.25,
                        "seed": seed,
                        "gate": {"metric": "accuracy", "guards": {"log_loss": 0.1}},
                        "risk_tier": "low",
                    },
                    "retrain": {
                        "when": {
                            "performance_below": {
                                "metric": "accuracy",
                                "value": THRESHOLD,
                                "min_examples": MIN_EXAMPLES,
                            },
                            "estimated_performance_below": {
                                "metric": "accuracy",
                                "value": THRESHOLD,
                                "min_predictions": MIN_EXAMPLES,
                            },
                            "drift": {"kinds": ["concept", "data"], "min_features": 2},
                        },
                        "cooldown": "30m",
                    },
                }
            ],
        },
        source="demo",
    )


def _fresh(out: Path) -> Path:
    for part in ("state", "registry", "mlflow"):
        shutil.rmtree(out / part, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _create_topics(bootstrap: str, config: MonitorConfig) -> None:
    topics = config.topics
    create_topics(
        bootstrap,
        [
            topics.predictions,
            topics.labels,
            topics.examples,
            topics.events,
            topics.retrain_requests,
            topics.dead_letter,
        ],
        partitions=1,
    )


def _train_first_version(config: MonitorConfig, world: LoanWorld, out: Path, seed: int) -> None:
    """Train v1 on the world before the change and register it; its reference profile (and the
    calibration of its scores) comes from other applicants than those it was trained on."""
    table = write_table(out / "reference.csv", world.reference_table(3000, seed))
    applicants = world.training_table(3000, seed)
    pipeline = make_pipeline(HistGradientBoostingClassifier(max_iter=100, random_state=seed))
    pipeline.fit([a.features for a in applicants], [a.approved for a in applicants])
    sio.dump(pipeline, out / "loan-v1.skops")
    settings = RetrainSettings.from_config(config)
    governance = Governance(open_registry(settings), audit_log(settings))
    info, decision = import_model(
        governance, settings.model(MODEL), out / "loan-v1.skops", table, by="demo"
    )
    print(
        f"trained {MODEL} v{info.version}, registered with the profile of {table.name}: "
        f"{decision.stage.value}"
    )


def _start_services(
    config: MonitorConfig, stack: ExitStack
) -> tuple[MonitorService, RetrainWorker]:
    mlflow = config.registry.mlflow_settings()
    profiles: ProfileLookup = (
        ModelRegistry(config.registry.path) if mlflow is None else MlflowProfileLookup(mlflow)
    )
    monitor = MonitorService(config, model_registry=profiles)
    worker = RetrainWorker(RetrainSettings.from_config(config))
    for name, service in (("monitor", monitor), ("worker", worker)):
        thread = threading.Thread(target=service.run, name=name, daemon=True)
        thread.start()
        stack.callback(thread.join, 30)
        stack.callback(service.stop)
    _wait(lambda: monitor.ready and worker.ready, 60, "the monitor and the worker to start")
    return monitor, worker


def _replay(
    config: MonitorConfig,
    world: LoanWorld,
    options: DemoOptions,
    monitor: MonitorService,
    watcher: EventWatcher,
    probe: EstimateProbe,
) -> ModelServer:
    producer = KafkaProducer(**config.kafka.client_options("producer"), linger_ms=5)
    server = ModelServer(
        _served_models(config),
        MODEL,
        producer,
        config.topics.predictions,
        config.topics.labels,
        label_delay=LABEL_DELAYS[options.scenario],
    )
    started, shown = time.monotonic(), 0.0
    for start in range(0, options.events, CHUNK):
        server.serve(start, world.stream[start : start + CHUNK])
        done = min(start + CHUNK, options.events)
        pace(started, done, options.rate)
        probe.sample()
        if time.monotonic() - shown > 0.5 or done == options.events:
            rate = done / max(time.monotonic() - started, 1e-9)
            _show(progress_line(done, options.events, rate, monitor.collector.snapshot, watcher))
            shown = time.monotonic()
    server.finish()
    producer.close()
    print(file=sys.stderr)
    return server


def _mlflow_uri(options: DemoOptions, out: Path, stack: ExitStack) -> str | None:
    """The MLflow server of ``--registry mlflow``: ``--mlflow-uri``, else a local one."""
    if options.registry != "mlflow":
        return None
    if options.mlflow_uri is not None:
        return options.mlflow_uri
    server = stack.enter_context(MlflowServer(out / "mlflow"))
    print(f"local MLflow server on {server.uri} (SQLite and artifacts in {out / 'mlflow'})")
    return server.uri


def _served_models(config: MonitorConfig) -> ServedModels:
    """The model server follows the registry's production version; with MLflow, the alias."""
    mlflow = config.registry.mlflow_settings()
    if mlflow is None:
        return RegistryModels(open_registry(RetrainSettings.from_config(config)), MODEL)
    models = MlflowAliasModels(mlflow, MODEL, list(FEATURES))
    print(f"the model server follows {models.model_uri} with mlflow.sklearn.load_model")
    return models


def _wait_until_done(
    monitor: MonitorService,
    worker: RetrainWorker,
    messages: int,
    watcher: EventWatcher,
    probe: EstimateProbe,
) -> None:
    def consumed() -> bool:
        probe.sample()
        counters = monitor.collector.snapshot.counters
        applied = sum(counters.predictions.values()) + sum(counters.labels.values())
        return applied + sum(counters.invalid.values()) >= messages

    _wait(consumed, 120, "the monitor to catch up")
    probe.sample()
    _wait(lambda: worker.idle, 300, "the retrain worker to finish")
    _wait(watcher.caught_up, 30, "the last events")


def _report(
    summary: Any,
    server: ModelServer,
    probe: EstimateProbe,
    out: Path,
    summary_json: Path | None,
    config: MonitorConfig,
) -> None:
    plot = plot_accuracy(out / "accuracy.png", server.correct, summary, probe.samples)
    for path in {out / "summary.json", *([summary_json] if summary_json else [])}:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(summary.to_json())
    print("\nsummary:")
    print(summary.table())
    audit = [
        orjson.loads(line)
        for line in (config.registry.path / "audit.jsonl").read_bytes().splitlines()
        if line.strip()
    ]
    print_audit(audit)
    print(f"plot: {plot}\nsummary: {out / 'summary.json'}\nregistry: {config.registry.path}")
    mlflow = config.registry.mlflow_settings()
    if mlflow is not None and isinstance(served := server.models, MlflowAliasModels):
        loaded = ", ".join(f"v{version}" for version in served.loads)
        print(
            f"mlflow: {mlflow.tracking_uri} (experiment {mlflow.experiment(MODEL)}); the model "
            f"server loaded {loaded} from {served.model_uri}"
        )


def _serve_until_interrupted(url: str) -> None:
    print(f"\nstill serving {url}; press Ctrl+C to stop")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping")


def _show(line: str) -> None:
    if sys.stderr.isatty():
        print(f"\r{line}", end="", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise MonitorError(f"gave up waiting {timeout:.0f}s for {what}")
        time.sleep(0.1)
