"""The whole YAML file: Kafka, topics, HTTP, state, logging, models, registry, worker,
notifiers and privacy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from driftwarden.config.kafka import KafkaConfig
from driftwarden.config.model import ModelConfig
from driftwarden.core.config import Duration, Strict, resolve_secret
from driftwarden.core.http_config import HttpConfig
from driftwarden.core.notifier_config import Notifiers
from driftwarden.core.privacy import MIN_KEY_BYTES, PiiPolicy

__all__ = [
    "LoggingConfig",
    "MonitorConfig",
    "PrivacyConfig",
    "SecretKey",
    "StateConfig",
    "TopicsConfig",
    "WorkerConfig",
    "WorkerHttpConfig",
]


class TopicsConfig(Strict):
    predictions: str = "predictions"
    labels: str = "labels"
    events: str = "driftwarden.events"
    examples: str = "driftwarden.examples"
    retrain_requests: str = "driftwarden.retrain-requests"
    dead_letter: str = "driftwarden.dead-letter"
    # Per-partition state snapshots; default "<kafka.group_id>.changelog" (one per group).
    changelog: str | None = None

    @model_validator(mode="after")
    def _distinct_inputs(self) -> TopicsConfig:
        if self.predictions == self.labels:
            raise ValueError("'predictions' and 'labels' must be different topics")
        outputs = {self.events, self.examples, self.retrain_requests, self.dead_letter}
        if self.changelog is not None:
            if self.changelog in outputs:
                raise ValueError("'changelog' must be a topic of its own")
            outputs.add(self.changelog)
        if outputs & {self.predictions, self.labels}:
            raise ValueError("output topics must differ from the input topics")
        return self


def _long_key(value: SecretStr | None) -> SecretStr | None:
    if value is not None and len(value.get_secret_value().encode()) < MIN_KEY_BYTES:
        raise ValueError(
            f"must be at least {MIN_KEY_BYTES} bytes; generate one, e.g. "
            "'openssl rand -hex 32', and pass it as {env: NAME} or {file: PATH}"
        )
    return value


# A secret key of at least MIN_KEY_BYTES bytes, also given as {env: NAME} or {file: PATH}.
SecretKey = Annotated[SecretStr | None, BeforeValidator(resolve_secret), AfterValidator(_long_key)]


class StateConfig(Strict):
    dir: Path = Path("./state")
    checkpoint_every: Duration = 5.0
    # How often an owned partition's state goes to the changelog (also on revocation and stop).
    changelog_every: Duration = 60.0
    # HMAC-SHA256 key of the changelog snapshots ({env: NAME} or {file: PATH}); without it a
    # snapshot carries a SHA-256 checksum only, which anyone who can produce to the topic forges.
    changelog_key: SecretKey = None

    def changelog_secret(self) -> bytes | None:
        """The changelog key's bytes, if one is set."""
        return (
            None if self.changelog_key is None else self.changelog_key.get_secret_value().encode()
        )


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    json_format: bool = Field(default=False, alias="json")


class PrivacyConfig(Strict):
    """Keys of the PII handling; see ``models[].pii``."""

    hash_key: SecretKey = None  # HMAC key of pii_mode 'hash'


class WorkerHttpConfig(HttpConfig):
    """``worker.http``: as ``http``, on port 9109 by default (also when only other keys are set)."""

    port: int = Field(default=9109, ge=0, le=65535)


class WorkerConfig(Strict):
    """The retrain worker (``driftwarden retrain worker``)."""

    group_id: str = "driftwarden-retrain"
    executor: Literal["local", "command"] = "local"
    command: list[str] = Field(default_factory=list)  # for "command": gets the request on stdin
    max_workers: int = Field(default=2, gt=0)
    http: WorkerHttpConfig = Field(default_factory=WorkerHttpConfig)

    @model_validator(mode="after")
    def _command_for_command_executor(self) -> WorkerConfig:
        if self.executor == "command" and not self.command:
            raise ValueError("executor 'command' needs 'command' (a list: program and arguments)")
        return self


class MonitorConfig(Strict):
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    models: list[ModelConfig] = Field(min_length=1)
    registry: Path = Path("./registry")
    # Authenticates each registered artifact's SHA-256 (an HMAC in its metadata); a secret.
    registry_key: SecretKey = None
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    notifiers: Notifiers = Field(default_factory=list)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)

    @model_validator(mode="after")
    def _hash_key_for_hash_mode(self) -> MonitorConfig:
        for index, model in enumerate(self.models):
            if model.pii and model.pii_mode == "hash" and self.privacy.hash_key is None:
                raise ValueError(
                    f"models.{index}.pii_mode is 'hash' but privacy.hash_key is not set: set it "
                    "to a secret of at least 16 bytes, e.g. {env: DRIFTWARDEN_PII_KEY}, or use "
                    "pii_mode 'drop'"
                )
        return self

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models: list[ModelConfig]) -> list[ModelConfig]:
        names = [m.name for m in models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique, repeated: {', '.join(duplicates)}")
        return models

    def pii_policy(self, model: ModelConfig) -> PiiPolicy | None:
        """The model's PII policy, or ``None`` when it declares no PII."""
        if not model.pii:
            return None
        key = self.privacy.hash_key
        revealed = key.get_secret_value().encode() if key and model.pii_mode == "hash" else None
        return PiiPolicy(frozenset(model.pii), model.pii_mode, revealed)

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def transactional_id(self) -> str:
        """This instance's producer transactional id (see ``KafkaConfig.transactional_prefix``)."""
        return self.kafka.transactional_prefix(self.state.dir)

    @property
    def changelog_topic(self) -> str:
        """Where partition state snapshots go: ``topics.changelog``, else one topic per group."""
        return self.topics.changelog or f"{self.kafka.group_id}.changelog"
