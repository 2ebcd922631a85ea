"""``driftwarden retrain ...`` and ``driftwarden models ...``: the retraining side's commands.

They read the same config file as the monitor, turn it into :class:`RetrainSettings` and call
into :mod:`retrain`, which never imports the monitor.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from driftwarden.monitor.config import MonitorConfig, RetrainPolicyConfig, load_config
from driftwarden.monitor.privacy import pii_policy
from driftwarden.retrain.config import secret_values
from driftwarden.retrain.requests import REASONS
from driftwarden.retrain.settings import ModelTraining, RetrainSettings

__all__ = ["add_commands", "settings_from_config"]

if TYPE_CHECKING:
    from driftwarden.retrain.audit import AuditLog

Handler = Callable[[argparse.Namespace], int]


def settings_from_config(config: MonitorConfig) -> RetrainSettings:
    kafka, worker = config.kafka, config.worker
    models = {
        m.name: ModelTraining(
            name=m.name,
            task=m.task.value,
            positive_label=m.positive_label,
            features={n: t.value for n, t in m.features.items()},
            training=m.training,
            schedule=m.retrain.when.schedule if m.retrain else None,
            pii=pii_policy(config, m),
            cooldown=(m.retrain or RetrainPolicyConfig()).cooldown,
        )
        for m in config.models
        if m.training is not None
    }
    return RetrainSettings(
        registry=config.registry,
        state_dir=config.state.dir,
        consumer_options={
            **kafka.client_options("consumer"),
            "session_timeout_ms": kafka.session_timeout_ms,
            "heartbeat_interval_ms": kafka.heartbeat_interval_ms,
        },
        producer_options=kafka.client_options("producer"),
        examples_topic=config.topics.examples,
        events_topic=config.topics.events,
        requests_topic=config.topics.retrain_requests,
        group_id=worker.group_id,
        models=models,
        executor=worker.executor,
        command=tuple(worker.command),
        max_workers=worker.max_workers,
        http_host=worker.http.host,
        http_port=worker.http.port,
        http_tls=worker.http.tls,
        http_basic_auth=worker.http.basic_auth,
        http_max_connections=worker.http.max_connections,
        http_request_timeout=worker.http.request_timeout,
        notifiers=tuple(config.notifiers),
        registry_key=(
            config.registry_key.get_secret_value().encode() if config.registry_key else None
        ),
    )


def add_commands(commands: Any) -> None:
    """Add the ``retrain`` and ``models`` subcommands (each carries its ``handler``)."""
    raw = argparse.RawDescriptionHelpFormatter
    retrain = commands.add_parser("retrain", help="retrain models: worker, one run, reproduce")
    retrain.set_defaults(handler=_retrain)
    actions = retrain.add_subparsers(dest="retrain_command", required=True, metavar="ACTION")
    worker = actions.add_parser(
        "worker",
        formatter_class=raw,
        help="run the retrain worker service",
        description="Consume retrain requests, run cron schedules, train, gate and promote.\n\n"
        "example:\n  driftwarden retrain worker --config monitor.yaml",
    )
    worker.add_argument("--config", required=True)
    run = actions.add_parser(
        "run",
        formatter_class=raw,
        help="run one retrain job in the foreground",
        description="Train, evaluate against the production version, gate, register and "
        "promote per risk tier, in the foreground (e.g. from a Kubernetes CronJob). With no "
        "production version yet, trains the first one from the base table.\n\n"
        "example:\n  driftwarden retrain run --config monitor.yaml --model churn",
    )
    run.add_argument("--config", required=True)
    run.add_argument("--model", required=True)
    run.add_argument("--reason", default="manual", choices=REASONS)
    again = actions.add_parser(
        "reproduce",
        formatter_class=raw,
        help="rebuild a version from its lineage and compare",
        description="Rebuild the training data from the recorded lineage, check its SHA-256, "
        "retrain with the recorded settings and seed; exit 0 only if predictions and holdout "
        "metrics match.\n\nexample:\n  driftwarden retrain reproduce churn 3 --config "
        "monitor.yaml",
    )
    again.add_argument("model")
    again.add_argument("version")
    again.add_argument("--config", required=True)
    _add_models(commands)


def _add_models(commands: Any) -> None:
    models = commands.add_parser("models", help="the model registry and its governance")
    models.set_defaults(handler=_models)
    actions = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    for name, text in (("list", "list models and versions"), ("audit", "print the audit log")):
        parser = actions.add_parser(name, help=text)
        parser.add_argument("--config", required=True)
        if name == "audit":
            parser.add_argument(
                "--verify",
                action="store_true",
                help="check the hash chain, and its end against the head published on the "
                "events topic; exit 1 if any line was altered or removed",
            )
    show = actions.add_parser("show", help="show a version's metadata")
    show.add_argument("model")
    show.add_argument("version", nargs="?", help="default: the production version")
    show.add_argument("--config", required=True)
    for name, text in (
        ("approve", "approve a version awaiting approval"),
        ("reject", "reject a candidate or a version awaiting approval"),
        ("promote", "put a version in production by hand"),
    ):
        parser = actions.add_parser(name, help=text)
        parser.add_argument("model")
        parser.add_argument("version")
        _actor(parser)
    register = actions.add_parser(
        "register",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="import a fitted model (skops file) with its training table",
        description="Register a scikit-learn model fitted elsewhere: a .skops file of a pipeline "
        "that scores raw feature dicts, with the table it was trained on (its profile and "
        "reference metrics). Promoted per the model's risk tier.\n\nexample:\n  driftwarden "
        "models register --model churn --artifact churn.skops --data train.parquet --config "
        "monitor.yaml",
    )
    register.add_argument("--model", required=True)
    register.add_argument("--artifact", required=True, type=Path)
    register.add_argument("--data", required=True, type=Path)
    register.add_argument("--by", default="driftwarden", help="who imports it (audited)")
    register.add_argument("--config", required=True)
    rollback = actions.add_parser("rollback", help="go back to the previous production version")
    rollback.add_argument("model")
    rollback.add_argument("--to", dest="to_version", help="a version that was in production")
    _actor(rollback)


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", required=True, help="who decides (recorded in the audit log)")
    parser.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    parser.add_argument("--config", required=True)


def _settings(args: argparse.Namespace) -> RetrainSettings:
    return settings_from_config(load_config(args.config))


def _retrain(args: argparse.Namespace) -> int:
    from driftwarden.monitor.logs import configure_logging

    config = load_config(args.config)
    configure_logging(config.logging.level, config.logging.json_format, secret_values(config))
    settings = settings_from_config(config)
    if args.retrain_command == "worker":
        from driftwarden.retrain.worker import RetrainWorker

        worker = RetrainWorker(settings)
        _stop_on_signals(worker.stop)
        worker.run()
        return 0
    if args.retrain_command == "run":
        from driftwarden.retrain.requests import RetrainRequest
        from driftwarden.retrain.worker import run_request

        settings.model(args.model)  # a clear error before any work
        request = RetrainRequest.new(args.model, None, args.reason, timestamp=_now())
        print(f"training {args.model} ...", file=sys.stderr)
        outcome = run_request(settings, request.to_json())
        print(orjson.dumps(outcome.__dict__, option=orjson.OPT_INDENT_2).decode())
        return 1 if outcome.outcome == "failed" else 0
    from driftwarden.retrain.reproduce import reproduce

    report = reproduce(settings, args.model, args.version)
    for line in report.differences:
        print(f"differs: {line}", file=sys.stderr)
    print(f"{args.model} {args.version}: " + ("reproduced" if report.ok else "NOT reproduced"))
    return 0 if report.ok else 1


def _models(args: argparse.Namespace) -> int:
    from driftwarden.retrain.audit_head import HeadPublisher
    from driftwarden.retrain.governance import Governance
    from driftwarden.retrain.registry import ModelRegistry
    from driftwarden.retrain.run import audit_log

    settings = _settings(args)
    heads = HeadPublisher(settings.producer_options, settings.events_topic)
    governance = Governance(ModelRegistry.from_settings(settings), audit_log(settings, heads))
    registry, command = governance.registry, args.models_command
    if command == "list":
        for model in registry.models():
            for info in registry.versions(model):
                print(f"{model}\t{info.version}\t{info.stage.value}\t{info.created_at}")
    elif command == "show":
        shown = (
            registry.get(args.model, args.version)
            if args.version
            else registry.production(args.model)
        )
        if shown is None:
            print(f"error: {args.model} has no production version", file=sys.stderr)
            return 1
        print(orjson.dumps(shown.metadata, option=orjson.OPT_INDENT_2).decode())
    elif command == "audit":
        if args.verify:
            return _verify_audit(settings, governance.audit)
        for entry in governance.audit.entries():
            print(entry.to_line().decode().rstrip())
    elif command == "register":
        from driftwarden.retrain.importer import import_model

        info, decision = import_model(
            governance, settings.model(args.model), args.artifact, args.data, args.by
        )
        print(f"{args.model} {info.version}: {decision.stage.value}")
    elif command == "rollback":
        before = registry.production(args.model)
        info = governance.rollback(args.model, args.by, args.reason, args.to_version)
        print(f"{args.model} {info.version} is in production")
        _announce_promotion(settings, info.model, info.version, before, args.by)
    else:
        before = registry.production(args.model)
        action = getattr(governance, command)
        info = action(args.model, args.version, args.by, args.reason)
        print(f"{args.model} {info.version}: {info.stage.value}")
        if info.stage.value == "production":
            _announce_promotion(settings, info.model, info.version, before, args.by)
    return 0


def _verify_audit(settings: RetrainSettings, audit: AuditLog) -> int:
    """The chain, then its end against the latest head published on the events topic."""
    from kafka.errors import KafkaError

    from driftwarden.retrain.audit_head import check_head, latest_head

    count = audit.verify()
    topic = settings.events_topic
    try:
        head = latest_head(settings.consumer_options, topic)
    except (KafkaError, TimeoutError) as exc:
        print(
            f"error: the chain of {count} entries verifies, but the audit head could not be read "
            f"from {topic!r} ({exc}), so entries removed from its end would go unnoticed",
            file=sys.stderr,
        )
        return 1
    if head is None:
        print(f"audit log intact: {count} entries")
        if count:
            print(
                f"warning: no audit head on {topic!r} (none published yet, or past its "
                "retention): entries removed from the end of the log cannot be detected",
                file=sys.stderr,
            )
        return 0
    check_head(audit, head)
    print(f"audit log intact: {count} entries, up to the head published as seq {head.seq}")
    return 0


def _announce_promotion(
    settings: RetrainSettings, model: str, version: str, before: Any, by: str
) -> None:
    """``model_promoted`` on the events topic for a promotion made by hand."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    from driftwarden.retrain.run import promotion_event

    event = promotion_event(model, version, before.version if before else None, by, None, _now())
    try:
        producer = KafkaProducer(**settings.producer_options)
        producer.send(settings.events_topic, key=model.encode(), value=orjson.dumps(event))
        producer.flush(timeout=10)
        producer.close()
    except KafkaError as exc:
        print(
            f"warning: promoted, but the model_promoted event was not published: {exc}",
            file=sys.stderr,
        )


def _stop_on_signals(stop: Callable[[], None]) -> None:
    import signal

    def handle(signum: int, frame: object) -> None:
        stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _now() -> float:
    import time

    return time.time()
