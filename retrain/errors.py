"""Exception root of the retrain package."""

from __future__ import annotations

from driftwarden.core.errors import DriftwardenError

__all__ = [
    "ArtifactTampered",
    "AuditLogBroken",
    "GovernanceError",
    "ModelNotFound",
    "RegistryError",
    "RetrainError",
    "TrainingError",
    "UntrustedArtifact",
]


class RetrainError(DriftwardenError):
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
