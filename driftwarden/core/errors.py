"""The exception root of driftwarden, and the errors raised by the shared core."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DriftwardenError",
    "NotificationFailed",
    "ProfileError",
    "RegistryUnavailable",
]


class DriftwardenError(Exception):
    """Root of every error driftwarden raises on purpose."""


class ConfigError(DriftwardenError, ValueError):
    """The configuration is invalid; ``str()`` names every offending key path."""


class ProfileError(DriftwardenError, ValueError):
    """A reference profile cannot be built, read or used; the message names the file or key."""


class RegistryUnavailable(DriftwardenError, ConnectionError):
    """A model registry could not be read (unreachable, timed out, refused the request); trying
    again later may help. The message names the registry."""


class NotificationFailed(DriftwardenError, RuntimeError):
    """A notifier could not deliver an event; ``retryable`` when trying again may help."""

    def __init__(self, notifier: str, reason: str, *, retryable: bool) -> None:
        super().__init__(f"notifier {notifier!r}: {reason}")
        self.notifier = notifier
        self.retryable = retryable
