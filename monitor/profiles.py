"""Which reference profile a model version is checked against.

The registry's profile of that exact version when it has one (every version the retrain side
registers carries the profile of its training data), else the model's configured ``reference``.
The registry comes in as a :class:`~driftwarden.core.registry.ProfileLookup`: the command line
passes whichever backend the config names.
"""

from __future__ import annotations

import logging
from pathlib import Path

from driftwarden.config import MonitorConfig
from driftwarden.core.errors import ConfigError, DriftwardenError, ProfileError
from driftwarden.core.profile import ReferenceProfile
from driftwarden.core.profile_json import load_profile, profile_from_dict
from driftwarden.core.registry import ProfileLookup

__all__ = ["ProfileSource"]

log = logging.getLogger(__name__)


class ProfileSource:
    def __init__(
        self, configured: dict[str, ReferenceProfile], registry: ProfileLookup | None
    ) -> None:
        self._configured = configured
        self._registry = registry

    @classmethod
    def from_config(cls, config: MonitorConfig, registry: ProfileLookup | None) -> ProfileSource:
        """Load every configured ``reference`` now: a bad file is a config error at start-up."""
        configured = {}
        for index, model in enumerate(config.models):
            if model.reference is None:
                continue
            try:
                configured[model.name] = load_profile(Path(model.reference))
            except ProfileError as exc:
                raise ConfigError(f"models.{index}.reference: {exc}") from exc
        return cls(configured, registry)

    def __call__(self, model: str, version: str) -> ReferenceProfile | None:
        registered = self._registered(model, version)
        return registered if registered is not None else self._configured.get(model)

    def _registered(self, model: str, version: str) -> ReferenceProfile | None:
        if self._registry is None:
            return None
        try:
            document = self._registry.profile(model, version)
        except DriftwardenError:
            return None
        if document is None:
            return None
        try:
            return profile_from_dict(document, source=f"registry {model} {version}")
        except ProfileError as exc:
            log.error("the registry's profile of %s %s is unusable: %s", model, version, exc)
            return None
