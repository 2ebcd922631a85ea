"""Exception root of the monitor package."""

from __future__ import annotations

from driftwarden.core.errors import DriftwardenError

__all__ = ["InstanceFenced", "MonitorError", "StartupError"]


class MonitorError(DriftwardenError):
    """Root of every error the monitor raises on purpose."""


class StartupError(MonitorError, RuntimeError):
    """The service cannot start in this environment (missing topic, bad partitioning...)."""


class InstanceFenced(MonitorError, RuntimeError):
    """Another instance took over this instance's transactional id: this one must stop."""

    def __init__(self, transactional_id: str) -> None:
        self.transactional_id = transactional_id
        super().__init__(
            f"another monitor instance uses transactional id {transactional_id!r} and fenced "
            "this one, which stops: give every instance its own kafka.transactional_id, or "
            "leave it unset and give every instance its own state.dir (the default id is "
            "<group_id>-<hostname>-<hash of state.dir>)"
        )
