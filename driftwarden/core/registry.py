"""What the monitor needs of a model registry, whichever backend holds the models."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["ProfileLookup"]


class ProfileLookup(Protocol):
    """Finds the reference profile registered with a model version.

    Returns the profile document, ``None`` when the version has none; raises a
    :class:`~driftwarden.core.errors.DriftwardenError` when the version or the registry cannot be
    read (the monitor then falls back to the model's configured ``reference``).
    """

    def profile(self, model: str, version: str) -> dict[str, Any] | None: ...
