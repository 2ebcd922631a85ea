"""``driftwarden demo``: the whole loop on an embedded broker."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from driftwarden.cli.base import RAW, Commands
from driftwarden.core.logs import configure_logging

__all__ = ["add_command"]


def add_command(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="the whole loop on an embedded broker: drift, retrain, promotion",
        description="Start an embedded Kafka-compatible broker on a free loopback port (or use "
        "--bootstrap-servers), train and register version 1 of a loan-approval model, run the "
        "monitor and the retrain worker, and replay a stream in which the world changes at "
        "--change-at. Shows live progress, then a summary, the audit trail, the /metrics URL and "
        "a plot (DIR/accuracy.png). Exits 0 only when the loop closed: a new version was "
        "promoted and accuracy after the promotion beats accuracy between the change and the "
        "promotion.\n\nexamples:\n  driftwarden demo\n  driftwarden demo --events 6000 "
        "--change-at 2000 --summary-json summary.json\n  driftwarden demo --keep-running   "
        "# then curl the printed /metrics URL\n  driftwarden demo --registry mlflow   # versions, "
        "runs and the production alias in a local MLflow\n  driftwarden demo --scenario "
        "covariate   # the estimate leads the labels",
        formatter_class=RAW,
    )
    demo.add_argument("--events", type=int, default=20_000, help="applications to replay")
    demo.add_argument(
        "--change-at", type=int, default=8_000, help="event index where the world changes"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed of the world")
    demo.add_argument(
        "--scenario",
        choices=("concept", "covariate"),  # driftwarden.demo.world.SCENARIOS, not imported here
        default="concept",
        help="what changes at --change-at: 'concept' (the approval rule changes and applicants "
        "shift; a label-free estimate cannot see it) or 'covariate' (only the applicants shift, "
        "toward the ages where the rule flips; the estimate sees it before the labels)",
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("demo-out"),
        help="directory for the plot, summary, registry and audit log",
    )
    demo.add_argument("--summary-json", type=Path, help="also write the summary JSON here")
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the services up after the replay until Ctrl+C",
    )
    demo.add_argument("--rate", type=float, default=400.0, help="events per second to replay")
    demo.add_argument(
        "--bootstrap-servers",
        help="use this Kafka instead of the embedded broker (topics are namespaced)",
    )
    demo.add_argument(
        "--registry",
        choices=("filesystem", "mlflow"),
        default="filesystem",
        help="where versions are registered: the filesystem registry in DIR/registry, or MLflow "
        "(a local server on a loopback port, SQLite and artifacts in DIR/mlflow, unless "
        "--mlflow-uri; needs the mlflow extra); with mlflow the model server loads "
        "models:/loan@production with mlflow.sklearn.load_model and follows the alias",
    )
    demo.add_argument(
        "--mlflow-uri", help="with --registry mlflow: use this MLflow tracking server"
    )
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from driftwarden.demo.runner import DemoOptions, run_demo

    configure_logging("WARNING")
    options = DemoOptions(
        events=args.events,
        change_at=args.change_at,
        seed=args.seed,
        out=args.out,
        summary_json=args.summary_json,
        keep_running=args.keep_running,
        bootstrap=args.bootstrap_servers,
        rate=args.rate,
        registry=args.registry,
        mlflow_uri=args.mlflow_uri,
        scenario=args.scenario,
    )
    try:
        return run_demo(options)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
