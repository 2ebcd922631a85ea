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
from driftwarden.config.registry import RegistryConfig
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
    """Input: prediction events. Must exist."""
    labels: str = "labels"
    """Input: label events. Must exist and differ from `predictions`."""
    events: str = "driftwarden.events"
    """Output: drift events (`drift_detected`, `drift_resolved`) from the monitor; [retraining
    events](../wire-contract.md#retraining-events-topic-driftwardenevents) from the retraining
    side.
    """
    examples: str = "driftwarden.examples"
    """Output: joined examples."""
    retrain_requests: str = "driftwarden.retrain-requests"
    """Output of the monitor's retrain policy, input of the retrain worker: [retrain
    requests](../retraining.md#retrain-requests).
    """
    dead_letter: str = "driftwarden.dead-letter"
    """Output: rejected messages."""
    changelog: str | None = None
    """Null: `<kafka.group_id>.changelog`. Internal: snapshots of each input partition's join state
    and counters, so they move with the partition between instances ([Scaling
    out](../operations.md#scaling-out)). Created compacted, with the inputs' partition count. One
    per consumer group.
    """

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
    """Checkpoint directory (file `monitor.ckpt`); the retrain worker keeps its cron schedules in
    `worker/schedules.db` under it. Put it on a persistent volume.
    """
    checkpoint_every: Duration = 5.0
    """Interval of commit + checkpoint."""
    changelog_every: Duration = 60.0
    """How often each owned partition's join state and counters are also written to the [changelog
    topic](../operations.md#scaling-out), for another instance to take over; always on revocation
    and on stop. Shorter: less to replay after a crash of an instance; longer: fewer bytes
    written (a snapshot holds the partition's whole join buffer).
    """
    changelog_key: SecretKey = None
    """HMAC-SHA256 key that authenticates the [changelog](../operations.md#scaling-out) snapshots
    (at least 16 bytes, as `{env: NAME}` or `{file: PATH}`; masked by `config check`). Every
    instance of the group needs the same key. Without it a snapshot carries a SHA-256 checksum
    only, which anyone allowed to produce to the changelog topic can compute. Setting or changing
    it makes the snapshots written before unreadable: those partitions are rebuilt once by
    replay.
    """

    def changelog_secret(self) -> bytes | None:
        """The changelog key's bytes, if one is set."""
        return (
            None if self.changelog_key is None else self.changelog_key.get_secret_value().encode()
        )


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level (upper case). The `kafka` library logs at `WARNING` or above."""

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    json_format: bool = Field(default=False, alias="json")
    """Log one JSON object per line (`time`, `level`, `logger`, `message`, `exception`) instead of
    text. Logs go to stderr.
    """


class PrivacyConfig(Strict):
    """Keys of the PII handling; see ``models[].pii``."""

    hash_key: SecretKey = None
    """HMAC key of `pii_mode: hash`; required when a model with `pii` uses it. Write it as `{env:
    NAME}` or `{file: PATH}` as in `kafka.client`; `config check` masks it. At least 16 bytes.
    """


class WorkerHttpConfig(HttpConfig):
    """``worker.http``: as ``http``, on port 9109 by default (also when only other keys are set)."""

    port: int = Field(default=9109, ge=0, le=65535)
    """Listen port; `0` picks a free port (9109 also when only other `http` keys are set)."""


class WorkerConfig(Strict):
    """The retrain worker (``driftwarden retrain worker``)."""

    group_id: str = "driftwarden-retrain"
    """Consumer group of the worker on the requests topic (separate from `kafka.group_id`)."""
    executor: Literal["local", "command"] = "local"
    """How a run is carried out: `local` trains in the worker's process pool; `command` hands the
    request to `command`. See [Executors](../retraining.md#executors).
    """
    command: list[str] = Field(default_factory=list)
    """Program and arguments for the `command` executor (no shell); required with it."""
    max_workers: int = Field(default=2, gt=0)
    """Size of the worker's process pool: runs of different models at the same time."""
    http: WorkerHttpConfig = Field(default_factory=WorkerHttpConfig)
    """Where the worker serves `/metrics`, `/healthz` and `/readyz`: the keys of
    [`http`](../configuration.md#http), with port 9109 by default.
    """

    @model_validator(mode="after")
    def _command_for_command_executor(self) -> WorkerConfig:
        if self.executor == "command" and not self.command:
            raise ValueError("executor 'command' needs 'command' (a list: program and arguments)")
        return self


class MonitorConfig(Strict):
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    """The Kafka cluster and the clients' settings."""
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    """The input and output topics."""
    http: HttpConfig = Field(default_factory=HttpConfig)
    """Where the monitor serves `/metrics`, `/healthz` and `/readyz`, and how they are protected."""
    state: StateConfig = Field(default_factory=StateConfig)
    """The monitor's checkpoint and the changelog snapshots of its partitions."""
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    """Log level and format of every command."""
    models: list[ModelConfig] = Field(min_length=1)
    """The monitored models: at least one, with unique names."""
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    """The [model registry](../retraining.md#the-model-registry): a path (the filesystem backend,
    default `./registry`) or a mapping with `backend` (`filesystem` or `mlflow`, see [Using
    MLflow](../mlflow.md)). Its local `path` holds the audit log (`audit.jsonl`). The monitor
    reads version profiles from it; the worker and the `retrain` and `models` commands read and
    write it. Every process using it needs the same registry.
    """
    registry_key: SecretKey = None
    """Key (at least 16 bytes; `{env: NAME}` or `{file: PATH}`) of the HMAC that authenticates each
    version's artifact digest (`artifact_hmac` in its metadata); when set, an artifact without a
    valid HMAC is never loaded. Give it to the worker and to the `retrain` and `models` commands;
    the monitor does not need it.
    """
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    """Settings of `driftwarden retrain worker`; the monitor ignores them."""
    notifiers: Notifiers = Field(default_factory=list)
    """[Direct notifiers](../observability.md#direct-notifiers): where the monitor sends its drift
    events and the retrain worker its runs' events, besides the events topic.
    """
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    """Keys of the PII handling; see [`privacy`](../configuration.md#privacy)."""

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
