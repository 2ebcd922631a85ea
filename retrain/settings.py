"""What the retraining side needs from the config file, as plain picklable values.

:meth:`RetrainSettings.from_config` turns the validated config (:mod:`driftwarden.config`) into
one picklable object that a run hands to a worker process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftwarden.config import MonitorConfig
from driftwarden.config.model import RetrainPolicyConfig
from driftwarden.config.training import TrainingConfig
from driftwarden.core.http_config import BasicAuthConfig, TlsConfig
from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.core.notifier_config import NotifierConfig
from driftwarden.core.privacy import PiiPolicy

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
    registry: Path  # the registry's local directory: audit.jsonl, and the filesystem backend
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
    # registry: {backend: mlflow}: where MLflow is (versions and tracked runs); None: filesystem
    mlflow: MlflowSettings | None = None

    @classmethod
    def from_config(cls, config: MonitorConfig) -> RetrainSettings:
        """What the retrain side needs of the config file (models with ``training`` only)."""
        kafka, worker = config.kafka, config.worker
        models = {
            m.name: ModelTraining(
                name=m.name,
                task=m.task.value,
                positive_label=m.positive_label,
                features={n: t.value for n, t in m.features.items()},
                training=m.training,
                schedule=m.retrain.when.schedule if m.retrain else None,
                pii=config.pii_policy(m),
                cooldown=(m.retrain or RetrainPolicyConfig()).cooldown,
            )
            for m in config.models
            if m.training is not None
        }
        return cls(
            registry=config.registry.path,
            state_dir=config.state.dir,
            consumer_options={
                **kafka.client_options("consumer"),
                "session_timeout_ms": kafka.session_timeout_ms,
                "heartbeat_interval_ms": kafka.heartbeat_interval_ms,
            },
            producer_options=kafka.client_options("producer"),
            examples_topic=config.topics.examples,
            events_topic=config.topics.events,
            requests_topic=config.topics.retrain_requests,
            group_id=worker.group_id,
            models=models,
            executor=worker.executor,
            command=tuple(worker.command),
            max_workers=worker.max_workers,
            http_host=worker.http.host,
            http_port=worker.http.port,
            http_tls=worker.http.tls,
            http_basic_auth=worker.http.basic_auth,
            http_max_connections=worker.http.max_connections,
            http_request_timeout=worker.http.request_timeout,
            notifiers=tuple(config.notifiers),
            registry_key=(
                config.registry_key.get_secret_value().encode() if config.registry_key else None
            ),
            mlflow=config.registry.mlflow_settings(),
        )

    def model(self, name: str) -> ModelTraining:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none"
            raise LookupError(
                f"model {name!r} has no 'training' section in the config (models with one: {known})"
            ) from None
