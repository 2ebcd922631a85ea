"""The ``driftwarden`` parser and entry point."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from driftwarden import __version__
from driftwarden.cli import config, demo, models, monitor, profile, retrain
from driftwarden.cli.base import EXIT_CONFIG, EXIT_FAILURE, RAW
from driftwarden.core.errors import ConfigError, DriftwardenError

__all__ = ["build_parser", "main"]

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
    """The whole command line; each subcommand carries the ``handler`` that runs it."""
    parser = argparse.ArgumentParser(
        prog="driftwarden", description=_DESCRIPTION, formatter_class=RAW
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (monitor, config, profile, retrain, models, demo):
        group.add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (DriftwardenError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
