"""``driftwarden`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from driftwarden import __version__
from driftwarden.monitor.cli_retrain import add_commands
from driftwarden.monitor.config import load_config, masked_dict
from driftwarden.monitor.errors import ConfigError, InstanceFenced, MonitorError
from driftwarden.monitor.logs import configure_logging
from driftwarden.monitor.privacy import pii_policy
from driftwarden.retrain.config import secret_values
from driftwarden.retrain.errors import RetrainError
from driftwarden.retrain.privacy import PiiPolicy
from driftwarden.retrain.profile_json import save_profile

__all__ = ["main"]

log = logging.getLogger("driftwarden")

EXIT_CONFIG = 2
EXIT_FAILURE = 1

_DESCRIPTION = """\
driftwarden watches models in production: it joins the prediction and label streams from Kafka,
keeps online performance metrics, detects drift against a reference profile of the training
data and exports everything for Prometheus.

examples:
  driftwarden demo                               # everything on an embedded broker
  driftwarden config check monitor.yaml          # validate and print the normalized config
  driftwarden monitor --config monitor.yaml      # run the monitor service
  driftwarden profile build --model churn --data train.parquet --label churned \\
      --out profiles/churn.json                  # reference profile for the drift checks
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftwarden",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    monitor = commands.add_parser(
        "monitor",
        help="run the monitor service",
        description="Consume predictions and labels, join them, export metrics on /metrics.\n\n"
        "example:\n  driftwarden monitor --config monitor.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    monitor.add_argument("--config", required=True, help="YAML config file")

    config = commands.add_parser("config", help="work with config files")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = config_commands.add_parser(
        "check",
        help="validate a config and print it normalized, secrets masked",
        description="Validate a config file. Exit 0 and print the normalized config (defaults "
        "filled in, secrets masked) or exit 2 naming every bad key.\n\n"
        "example:\n  driftwarden config check monitor.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file", help="YAML config file")

    profile = commands.add_parser("profile", help="work with reference profiles")
    profile_commands = profile.add_subparsers(
        dest="profile_command", required=True, metavar="ACTION"
    )
    build = profile_commands.add_parser(
        "build",
        help="build a model's reference profile from its training table",
        description="Summarize a training table (CSV or Parquet) into the reference profile that "
        "the drift checks compare production with: quantile bins per numeric feature, top "
        "categories per categorical feature, the prediction and label distributions and the "
        "reference performance. Feature types come from --config when given, else from the "
        "column types.\n\nexample:\n  driftwarden profile build --model churn --data "
        "train.parquet --label churned --prediction predicted --out profiles/churn-3.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("--model", required=True, help="model name")
    build.add_argument("--data", required=True, help="training table, .csv or .parquet")
    build.add_argument("--label", help="label column")
    build.add_argument("--prediction", help="prediction column")
    build.add_argument("--version", help="model version the profile belongs to")
    build.add_argument("--config", help="monitor config: take the model's task and features")
    build.add_argument(
        "--pii",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a PII column to leave out (repeatable); with --config, added to the model's 'pii' "
        "and treated by its 'pii_mode'",
    )
    build.add_argument("--out", required=True, help="where to write the profile JSON")

    add_commands(commands)

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
        "# then curl the printed /metrics URL",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--events", type=int, default=20_000, help="applications to replay")
    demo.add_argument(
        "--change-at", type=int, default=8_000, help="event index where the world changes"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed of the world")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "config":
            return _config_check(args.file)
        if args.command == "monitor":
            return _monitor(args.config)
        if args.command == "profile":
            return _profile_build(args)
        if hasattr(args, "handler"):
            return int(args.handler(args))
        return _demo(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (MonitorError, RetrainError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _demo(args: argparse.Namespace) -> int:
    from driftwarden.monitor.demo.runner import DemoOptions, run_demo

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
    )
    try:
        return run_demo(options)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def _config_check(path: str) -> int:
    config = load_config(path)
    print(yaml.safe_dump(masked_dict(config), sort_keys=False), end="")
    return 0


def _profile_build(args: argparse.Namespace) -> int:
    from driftwarden.retrain.profile_build import build_profile_from_file

    feature_types, task, pii = _profile_settings(args)
    print(f"reading {args.data} ...", file=sys.stderr)
    profile = build_profile_from_file(
        args.model,
        args.data,
        label=args.label,
        prediction=args.prediction,
        feature_types=feature_types,
        task=task,
        version=args.version,
        pii=pii,
    )
    save_profile(profile, Path(args.out))
    print(
        f"profiled {profile.rows} rows, {len(profile.features)} features -> {args.out}",
        file=sys.stderr,
    )
    return 0


def _profile_settings(
    args: argparse.Namespace,
) -> tuple[dict[str, str] | None, str | None, PiiPolicy | None]:
    """Feature types, task and PII policy of ``profile build``, from ``--config`` and ``--pii``."""
    pii = PiiPolicy(frozenset(args.pii)) if args.pii else None
    if not args.config:
        return None, None, pii
    config = load_config(args.config)
    model = config.model(args.model)
    if model is None:
        raise ConfigError(f"{args.config}: no model named {args.model!r} under 'models'")
    feature_types = {n: t.value for n, t in model.features.items()} or None
    pii = pii_policy(config, model.model_copy(update={"pii": [*model.pii, *args.pii]}))
    if feature_types and pii is not None and pii.mode == "drop":
        feature_types = {n: t for n, t in feature_types.items() if n not in pii.names} or None
    return feature_types, model.task.value, pii


def _monitor(path: str) -> int:
    from driftwarden.monitor.app import MonitorService

    config = load_config(path)
    configure_logging(config.logging.level, config.logging.json_format, secret_values(config))
    service = MonitorService(config)
    service.install_signal_handlers()
    try:
        service.run()
    except InstanceFenced as exc:
        log.error("%s", exc)  # one line: the clash and what to set, no traceback
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
