"""The ``driftwarden`` command line: one module per command group.

``main`` builds the parser from :mod:`~driftwarden.cli.monitor`, :mod:`~driftwarden.cli.config`,
:mod:`~driftwarden.cli.profile`, :mod:`~driftwarden.cli.retrain`, :mod:`~driftwarden.cli.models`
and :mod:`~driftwarden.cli.demo`; each adds its subcommand with the ``handler`` that runs it.
"""

from __future__ import annotations

from driftwarden.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
