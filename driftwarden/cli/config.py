"""``driftwarden config check``: validate a config file and show it normalized."""

from __future__ import annotations

import argparse

import yaml

from driftwarden.cli.base import RAW, Commands
from driftwarden.config import load_config, masked_dict

__all__ = ["add_command"]


def add_command(commands: Commands) -> None:
    config = commands.add_parser("config", help="work with config files")
    actions = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="validate a config and print it normalized, secrets masked",
        description="Validate a config file. Exit 0 and print the normalized config (defaults "
        "filled in, secrets masked) or exit 2 naming every bad key.\n\n"
        "example:\n  driftwarden config check monitor.yaml",
        formatter_class=RAW,
    )
    check.add_argument("file", help="YAML config file")
    check.set_defaults(handler=check_config)


def check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(yaml.safe_dump(masked_dict(config), sort_keys=False), end="")
    return 0
