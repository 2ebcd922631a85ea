"""``driftwarden retrain worker|run|reproduce``: the retraining side's services and jobs."""

from __future__ import annotations

import argparse
import sys

import orjson

from driftwarden.cli.base import RAW, Commands, now, stop_on_signals
from driftwarden.config import load_config
from driftwarden.contracts.requests import REASONS
from driftwarden.core.config import secret_values
from driftwarden.core.logs import configure_logging
from driftwarden.retrain.settings import RetrainSettings

__all__ = ["add_command"]


def add_command(commands: Commands) -> None:
    raw = RAW
    retrain = commands.add_parser("retrain", help="retrain models: worker, one run, reproduce")
    retrain.set_defaults(handler=run_retrain)
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


def run_retrain(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    configure_logging(config.logging.level, config.logging.json_format, secret_values(config))
    settings = RetrainSettings.from_config(config)
    if args.retrain_command == "worker":
        from driftwarden.retrain.worker import RetrainWorker

        worker = RetrainWorker(settings)
        stop_on_signals(worker.stop)
        worker.run()
        return 0
    if args.retrain_command == "run":
        from driftwarden.contracts.requests import RetrainRequest
        from driftwarden.retrain.worker import run_request

        settings.model(args.model)  # a clear error before any work
        request = RetrainRequest.new(args.model, None, args.reason, timestamp=now())
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
