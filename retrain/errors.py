"""Exception root of the retrain package."""

from __future__ import annotations

__all__ = [
    "ArtifactTampered",
    "AuditLogBroken",
    "GovernanceError",
    "ModelNotFound",
    "NotificationFailed",
    "RegistryError",
    "RetrainError",
    "TrainingError",
    "UntrustedArtifact",
]


class RetrainError(Exception):
    """Root of every error the retrain side raises on purpose."""


class RegistryError(RetrainError):
    """The model registry cannot do what was asked."""


class ModelNotFound(RegistryError, LookupError):
    """No such model or version in the registry."""


class ArtifactTampered(RegistryError, ValueError):
    """An artifact's SHA-256 does not match its metadata: it is never deserialized."""


class UntrustedArtifact(RegistryError, ValueError):
    """A model file names a type outside the model's trust list: it is never deserialized."""


class GovernanceError(RetrainError, ValueError):
    """A stage change the governance rules forbid (e.g. approving a version not awaiting it)."""


class AuditLogBroken(RetrainError, ValueError):
    """The audit log's hash chain does not verify: a line was edited, removed or reordered."""


class TrainingError(RetrainError, RuntimeError):
    """Training or evaluating a challenger failed."""


class NotificationFailed(RetrainError, RuntimeError):
    """A notifier could not deliver an event; ``retryable`` when trying again may help."""

    def __init__(self, notifier: str, reason: str, *, retryable: bool) -> None:
        super().__init__(f"notifier {notifier!r}: {reason}")
        self.notifier = notifier
        self.retryable = retryable
