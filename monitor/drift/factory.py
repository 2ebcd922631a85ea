"""Builds a model version's drift checks from the config and its reference profile."""

from __future__ import annotations

from collections.abc import Callable

from driftwarden.config import ModelConfig, MonitorConfig
from driftwarden.core.profile import ReferenceProfile
from driftwarden.monitor.drift.checks import DriftSettings, VersionDrift
from driftwarden.monitor.privacy import PrivacyGuard
from driftwarden.monitor.state import DriftFactory

__all__ = ["ProfileSource", "drift_factory", "drift_settings"]

# The reference profile of a (model, version), None if it has none.
ProfileSource = Callable[[str, str], ReferenceProfile | None]


def drift_factory(config: MonitorConfig, profiles: ProfileSource | None) -> DriftFactory:
    """Builds the drift checks of a (model, version) from its reference profile, if it has one
    (``None`` for a model no longer configured)."""
    models = {m.name: m for m in config.models}
    privacy = PrivacyGuard.from_config(config)

    def build(name: str, version: str) -> VersionDrift | None:
        model = models.get(name)
        profile = None if model is None or profiles is None else profiles(name, version)
        if model is None or profile is None:
            return None
        features = privacy.drift_features(name, list(model.features), profile.features)
        return VersionDrift(profile, drift_settings(model), model.task, features)

    return build


def drift_settings(model: ModelConfig) -> DriftSettings:
    """The ``models[].drift`` settings of ``model`` as the drift checks take them."""
    drift = model.drift
    return DriftSettings(
        window=drift.window,
        every=drift.every,
        false_alarm_rate=drift.false_alarm_rate,
        method=drift.features.method,
        threshold=drift.features.threshold,
        per_feature={
            name: (override.method, override.threshold)
            for name, override in drift.features.overrides.items()
        },
        detector=drift.concept.detector,
        detector_params=drift.concept.params,
        resolve_ratio=drift.resolve_ratio,
    )
