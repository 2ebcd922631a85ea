"""Exception root of the monitor package."""

from __future__ import annotations

__all__ = ["ConfigError", "MonitorError", "StartupError"]


class MonitorError(Exception):
    """Root of every error the monitor raises on purpose."""


class ConfigError(MonitorError, ValueError):
    """The configuration is invalid; ``str()`` names every offending key path."""


class StartupError(MonitorError, RuntimeError):
    """The service cannot start in this environment (missing topic, bad partitioning...)."""
