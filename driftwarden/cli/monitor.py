"""``driftwarden monitor``: run the monitor service."""

from __future__ import annotations

import argparse
import logging

from driftwarden.cli.base import EXIT_FAILURE, RAW, Commands
from driftwarden.cli.registries import profile_lookup
from driftwarden.config import load_config
from driftwarden.core.config import secret_values
from driftwarden.core.logs import configure_logging

__all__ = ["add_command"]

log = logging.getLogger("driftwarden")


def add_command(commands: Commands) -> None:
    parser = commands.add_parser(
        "monitor",
        help="run the monitor service",
        description="Consume predictions and labels, join them, export metrics on /metrics.\n\n"
        "example:\n  driftwarden monitor --config monitor.yaml",
        formatter_class=RAW,
    )
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.set_defaults(handler=run_monitor)


def run_monitor(args: argparse.Namespace) -> int:
    from driftwarden.monitor.app import MonitorService
    from driftwarden.monitor.errors import InstanceFenced

    config = load_config(args.config)
    configure_logging(config.logging.level, config.logging.json_format, secret_values(config))
    lookup = profile_lookup(config.registry.path, config.registry.mlflow_settings())
    service = MonitorService(config, model_registry=lookup)
    service.install_signal_handlers()
    try:
        service.run()
    except InstanceFenced as exc:
        log.error("%s", exc)  # one line: the clash and what to set, no traceback
        return EXIT_FAILURE
    return 0
