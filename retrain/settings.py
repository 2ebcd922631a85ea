"""What the retraining side needs from the shared config, as plain picklable values.

The YAML file is parsed and validated by the monitor's config loader; the command line turns it
into :class:`RetrainSettings` so that this package never imports the monitor, and so that a run
can be handed to a worker process as one picklable object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftwarden.retrain.config import BasicAuthConfig, NotifierConfig, TlsConfig, TrainingConfig
from driftwarden.retrain.privacy import PiiPolicy

__all__ = ["ModelTraining", "RetrainSettings"]


@dataclass(frozen=True)
class ModelTraining:
    name: str
    task: str  # binary | multiclass | regression
    positive_label: int | str | bool | float | None
    features: dict[str, str]  # name -> numeric | categorical (may be empty: inferred)
    training: TrainingConfig
    schedule: str | None = None  # cron, UTC
    pii: PiiPolicy | None = None  # PII features of base tables: dropped or hashed
    # retrain.cooldown: a request that starts no run is audited at most once per cooldown
    cooldown: float = 1800.0

    @property
    def declared_features(self) -> frozenset[str]:
        """The features a pipeline may use: ``features`` and the PII ones; empty: any."""
        if not self.features:
            return frozenset()
        return frozenset([*self.features, *(self.pii.names if self.pii else ())])


@dataclass(frozen=True)
class RetrainSettings:
    registry: Path
    state_dir: Path
    # kafka-python options, secrets revealed: kept out of repr() so they never reach a log
    consumer_options: dict[str, Any] = field(repr=False)
    producer_options: dict[str, Any] = field(repr=False)
    examples_topic: str
    events_topic: str
    requests_topic: str
    group_id: str
    models: dict[str, ModelTraining] = field(default_factory=dict)
    executor: str = "local"  # local | command
    command: tuple[str, ...] = ()
    max_workers: int = 2
    http_host: str = "0.0.0.0"  # noqa: S104 - a service in a container listens on all interfaces
    http_port: int = 9109
    http_tls: TlsConfig | None = None
    http_basic_auth: BasicAuthConfig | None = None
    http_max_connections: int = 512
    http_request_timeout: float = 10.0  # seconds
    notifiers: tuple[NotifierConfig, ...] = ()  # direct notifiers for run outcomes
    # registry_key, revealed: authenticates artifact digests in the registry (see
    # driftwarden.retrain.registry)
    registry_key: bytes | None = field(default=None, repr=False)

    def model(self, name: str) -> ModelTraining:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none"
            raise LookupError(
                f"model {name!r} has no 'training' section in the config (models with one: {known})"
            ) from None
