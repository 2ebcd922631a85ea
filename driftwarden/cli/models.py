"""``driftwarden models ...``: the model registry and its governance (list, show, audit,
approve, reject, promote, register, rollback)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from driftwarden.cli.base import RAW, Commands, now
from driftwarden.config import load_config
from driftwarden.retrain.settings import RetrainSettings

__all__ = ["add_command"]

if TYPE_CHECKING:
    from driftwarden.retrain.audit import AuditLog
    from driftwarden.retrain.governance import Decision, Governance
    from driftwarden.retrain.versions import VersionInfo


def add_command(commands: Commands) -> None:
    models = commands.add_parser("models", help="the model registry and its governance")
    models.set_defaults(handler=run_models)
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
        formatter_class=RAW,
        help="import a fitted model (skops file or MLflow model) with its training table",
        description="Register a scikit-learn model fitted elsewhere: a .skops file, or a model "
        "logged in MLflow in skops format, of a pipeline that scores raw feature dicts (or a "
        "data frame of the feature columns), with the table it was trained on (its profile and "
        "reference metrics). Promoted per the model's risk tier.\n\nexamples:\n  driftwarden "
        "models register --model churn --artifact churn.skops --data train.parquet --config "
        "monitor.yaml\n  driftwarden models register --model churn --from-mlflow "
        "models:/churn-team/3 --data train.parquet --config monitor.yaml",
    )
    register.add_argument("--model", required=True)
    source = register.add_mutually_exclusive_group(required=True)
    source.add_argument("--artifact", type=Path, help="a skops file")
    source.add_argument(
        "--from-mlflow",
        metavar="URI",
        help="a model logged in MLflow: models:/NAME/VERSION, models:/NAME@ALIAS or "
        "runs:/RUN_ID/PATH (sklearn flavour, skops format)",
    )
    register.add_argument(
        "--mlflow-uri",
        metavar="URI",
        help="the MLflow server of --from-mlflow (default: the registry's tracking_uri)",
    )
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
    return RetrainSettings.from_config(load_config(args.config))


def run_models(args: argparse.Namespace) -> int:
    from driftwarden.retrain.audit_head import HeadPublisher
    from driftwarden.retrain.governance import Governance
    from driftwarden.retrain.registry_backend import open_registry
    from driftwarden.retrain.run import audit_log

    settings = _settings(args)
    heads = HeadPublisher(settings.producer_options, settings.events_topic)
    governance = Governance(open_registry(settings), audit_log(settings, heads))
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
        info, decision = _register(args, settings, governance)
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


def _register(
    args: argparse.Namespace, settings: RetrainSettings, governance: Governance
) -> tuple[VersionInfo, Decision]:
    """``models register``: a skops file (``--artifact``) or an MLflow model (``--from-mlflow``)."""
    model = settings.model(args.model)
    if args.artifact is not None:
        from driftwarden.retrain.importer import import_model

        return import_model(governance, model, args.artifact, args.data, args.by)
    from driftwarden.core.mlflow_settings import MlflowSettings
    from driftwarden.retrain.errors import RegistryError
    from driftwarden.retrain.mlflow_import import import_from_mlflow

    source = MlflowSettings(args.mlflow_uri) if args.mlflow_uri else settings.mlflow
    if source is None:
        raise RegistryError(
            "--from-mlflow needs an MLflow server: give --mlflow-uri, or configure "
            "registry: {backend: mlflow, tracking_uri: ...}"
        )
    return import_from_mlflow(governance, model, source, args.from_mlflow, args.data, args.by)


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

    from driftwarden.contracts.retraining import promotion_event

    event = promotion_event(model, version, before.version if before else None, by, None, now())
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
