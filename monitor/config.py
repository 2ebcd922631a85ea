"""The monitor's YAML configuration, validated at start-up.

Every error names the key path (``models.0.label_ttl``) and what is wrong with it; secrets in
``kafka.client`` are held as :class:`~pydantic.SecretStr` and masked when the config is shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from driftwarden.monitor.config_types import Duration, Strict, parse_duration
from driftwarden.monitor.errors import ConfigError
from driftwarden.monitor.join import DEFAULT_MAX_PENDING_BYTES
from driftwarden.monitor.kafka_config import KafkaConfig
from driftwarden.monitor.performance import METRICS_BY_TASK
from driftwarden.retrain.config import HttpConfig, Notifiers, TrainingConfig, resolve_secret
from driftwarden.retrain.privacy import MIN_KEY_BYTES, PiiMode, check_pii_settings
from driftwarden.retrain.targets import FeatureType, Task

__all__ = [
    "ModelConfig",
    "MonitorConfig",
    "masked_dict",
    "load_config",
    "parse_config",
    "parse_duration",
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


class FeatureDriftConfig(Strict):
    method: Literal["auto", "ks", "psi", "wasserstein", "jensen_shannon", "chi2"] | None = None
    threshold: float | None = Field(default=None, gt=0)


class FeaturesDriftConfig(Strict):
    method: Literal["auto", "ks", "psi", "wasserstein", "jensen_shannon", "chi2"] = "auto"
    threshold: float | None = Field(default=None, gt=0)
    overrides: dict[str, FeatureDriftConfig] = Field(default_factory=dict)


class ConceptDriftConfig(Strict):
    detector: str = "ADWIN"
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_detector(self) -> ConceptDriftConfig:
        from driftwarden.monitor.drift.concept import make_detector

        make_detector(self.detector, self.params)
        return self


class DriftConfig(Strict):
    window: int = Field(default=2000, ge=50)
    every: int = Field(default=500, gt=0)
    false_alarm_rate: float = Field(default=0.001, gt=0, lt=1)
    resolve_ratio: float = Field(default=0.8, gt=0, le=1)
    features: FeaturesDriftConfig = Field(default_factory=FeaturesDriftConfig)
    concept: ConceptDriftConfig = Field(default_factory=ConceptDriftConfig)

    @model_validator(mode="after")
    def _every_within_window(self) -> DriftConfig:
        if self.every > self.window:
            raise ValueError("'every' must not be larger than 'window'")
        return self


_HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "macro_f1", "r2"}


class PerformanceTrigger(Strict):
    metric: str = "accuracy"
    value: float
    min_examples: int = Field(default=500, gt=0)

    @field_validator("metric")
    @classmethod
    def _higher_is_better(cls, value: str) -> str:
        if value not in _HIGHER_IS_BETTER:
            raise ValueError(
                f"{value!r} cannot fall below a floor: use one of {sorted(_HIGHER_IS_BETTER)}"
            )
        return value


AlarmKind = Literal["data", "prediction", "label", "concept"]


def _default_kinds() -> list[AlarmKind]:
    return ["concept", "data"]


class DriftTrigger(Strict):
    kinds: list[AlarmKind] = Field(default_factory=_default_kinds, min_length=1)
    min_features: int = Field(default=1, gt=0)


class RetrainWhen(Strict):
    performance_below: PerformanceTrigger | None = None
    drift: DriftTrigger | None = None
    schedule: str | None = None  # cron, run by the retrain worker's scheduler

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            CronTrigger.from_crontab(value, timezone="UTC")
        return value


class RetrainPolicyConfig(Strict):
    when: RetrainWhen = Field(default_factory=RetrainWhen)
    cooldown: Duration = 1800.0


class ModelConfig(Strict):
    name: str = Field(min_length=1)
    task: Task
    positive_label: int | str | bool | None = None
    features: dict[str, FeatureType] = Field(default_factory=dict)
    label_ttl: Duration = 3600.0
    future_tolerance: Duration | None = 3600.0
    window: int = Field(default=1000, gt=0)
    max_pending: int = Field(default=100_000, gt=0)
    max_pending_bytes: int = Field(default=DEFAULT_MAX_PENDING_BYTES, gt=0)
    max_features: int = Field(default=1000, gt=0)
    max_versions: int = Field(default=20, gt=0)
    max_classes: int = Field(default=100, gt=1)
    reference: Path | None = None
    drift: DriftConfig = Field(default_factory=DriftConfig)
    training: TrainingConfig | None = None
    retrain: RetrainPolicyConfig | None = None
    pii: list[str] = Field(default_factory=list)
    pii_mode: PiiMode = "drop"

    @model_validator(mode="after")
    def _pii_fits_the_features(self) -> ModelConfig:
        gate = self.training.gate if self.training else None
        check_pii_settings(
            self.pii,
            self.pii_mode,
            features={n: t.value for n, t in self.features.items()},
            drift_overrides=self.drift.features.overrides,
            gate_features=[
                *([gate.segments.by] if gate and gate.segments else []),
                *([gate.fairness.sensitive] if gate and gate.fairness else []),
            ],
        )
        return self

    @model_validator(mode="after")
    def _declared_features_fit_max_features(self) -> ModelConfig:
        if len(self.features) > self.max_features:
            raise ValueError(
                f"{len(self.features)} features are declared but max_features is "
                f"{self.max_features}: raise max_features"
            )
        return self

    @model_validator(mode="after")
    def _trigger_metric_fits_the_task(self) -> ModelConfig:
        trigger = self.retrain and self.retrain.when.performance_below
        if trigger and trigger.metric not in METRICS_BY_TASK[self.task.value]:
            raise ValueError(
                f"retrain.when.performance_below.metric {trigger.metric!r} is not a "
                f"{self.task.value} metric: use one of {list(METRICS_BY_TASK[self.task.value])}"
            )
        return self

    @model_validator(mode="after")
    def _training_fits_the_task(self) -> ModelConfig:
        if self.training is None:
            return self
        regression = self.task is Task.REGRESSION
        gate = self.training.gate.metric
        allowed = {
            Task.REGRESSION: {"mae", "rmse", "r2"},
            Task.MULTICLASS: {"accuracy", "f1", "log_loss"},
            Task.BINARY: {"accuracy", "f1", "log_loss", "roc_auc"},
        }[self.task]
        if gate not in allowed:
            raise ValueError(
                f"training.gate.metric {gate!r} does not fit task {self.task.value!r}: use one "
                f"of {sorted(allowed)}"
            )
        if regression and self.training.estimator.endswith("Classifier"):
            raise ValueError(
                f"training.estimator {self.training.estimator!r} is a classifier but the task "
                "is 'regression': set e.g. sklearn.ensemble.HistGradientBoostingRegressor"
            )
        return self

    @model_validator(mode="after")
    def _binary_detector_needs_classes(self) -> ModelConfig:
        from driftwarden.monitor.drift.concept import is_binary, make_detector

        concept = self.drift.concept
        if self.task is Task.REGRESSION and is_binary(
            make_detector(concept.detector, concept.params)
        ):
            raise ValueError(
                f"drift.concept.detector {concept.detector!r} takes 0/1 errors: use a detector "
                "for real values (ADWIN, KSWIN, PageHinkley) with task 'regression'"
            )
        return self

    @model_validator(mode="after")
    def _positive_label_for_binary(self) -> ModelConfig:
        if self.task is Task.BINARY and self.positive_label is None:
            raise ValueError("'positive_label' is required when task is 'binary'")
        if self.task is not Task.BINARY and self.positive_label is not None:
            raise ValueError("'positive_label' applies only to task 'binary'")
        return self


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


def load_config(path: str | Path) -> MonitorConfig:
    """Read and validate a YAML file; raise :class:`ConfigError` naming every bad key."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {_yaml_problem(exc)}") from None
    return parse_config(data, source=str(path))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found wrong and where, without its copy of the offending line (which may
    hold a secret)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return type(exc).__name__
    parts = []
    for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark)):
        if text:
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            parts.append(f"{text}{where}")
    return "; ".join(parts) or "malformed YAML"


def parse_config(data: object, source: str = "config") -> MonitorConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    try:
        return MonitorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: {exc.error_count()} invalid setting(s)"]
    for error in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in error["loc"] if not _is_tag(part)) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {path}: {message}")
    return "\n".join(lines)


def _is_tag(part: object) -> bool:
    return isinstance(part, str) and part.startswith("function-")


def masked_dict(config: MonitorConfig) -> dict[str, Any]:
    """The normalized config as plain data, secrets replaced by ``'**********'``."""
    return config.model_dump(mode="json", by_alias=True)
