"""``models[]``: one monitored model, its drift detection, training and retrain policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from driftwarden.config.estimation import EstimatedPerformanceTrigger, EstimationConfig
from driftwarden.config.training import TrainingConfig
from driftwarden.core.config import Duration, Strict
from driftwarden.core.detectors import is_binary, make_detector
from driftwarden.core.privacy import PiiMode, check_pii_settings
from driftwarden.core.tasks import METRICS_BY_TASK, FeatureType, Task

__all__ = [
    "DEFAULT_MAX_PENDING_BYTES",
    "AlarmKind",
    "ConceptDriftConfig",
    "DriftConfig",
    "DriftTrigger",
    "FeatureDriftConfig",
    "FeaturesDriftConfig",
    "ModelConfig",
    "PerformanceTrigger",
    "RetrainPolicyConfig",
    "RetrainWhen",
]

# Bytes of joins waiting for their other half, per model (``models[].max_pending_bytes``).
DEFAULT_MAX_PENDING_BYTES = 256 * 2**20


class FeatureDriftConfig(Strict):
    method: Literal["auto", "ks", "psi", "wasserstein", "jensen_shannon", "chi2"] | None = None
    """Statistic of this column, as `features.method`; null: as for all columns."""
    threshold: float | None = Field(default=None, gt=0)
    """Fixed threshold of this column; wins over `features.threshold`. Null: as for all columns."""


class FeaturesDriftConfig(Strict):
    method: Literal["auto", "ks", "psi", "wasserstein", "jensen_shannon", "chi2"] = "auto"
    """Statistic of every column, features, prediction and label alike. `auto`: `ks` for numeric
    columns, `jensen_shannon` for categorical ones. `ks` and `wasserstein` need numbers:
    categorical columns use `jensen_shannon` instead.
    """
    threshold: float | None = Field(default=None, gt=0)
    """Fixed threshold for every column instead of the calibrated ones."""
    overrides: dict[str, FeatureDriftConfig] = Field(default_factory=dict)
    """Per column (a feature name, `__prediction__` or `__label__`): `method` and `threshold` as
    above, null or absent meaning "as for all columns". A fixed threshold here wins over
    `features.threshold`. Names the profile does not have are ignored.
    """


class ConceptDriftConfig(Strict):
    detector: str = "ADWIN"
    """River detector of concept drift: any class name of `river.drift` (`ADWIN`, `KSWIN`,
    `PageHinkley`, `NoDrift`, ...) or `river.drift.binary` (`DDM`, `EDDM`, `FHDDM`, `HDDMA`,
    `HDDMW`), ignoring case and underscores (`HDDM_A` works). The binary ones take 0/1 errors and
    are rejected for `regression`. `NoDrift` turns concept drift off.
    """
    params: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the detector's constructor, e.g. `{delta: 0.001}` for `ADWIN`; `config
    check` instantiates the detector to check them.
    """

    @model_validator(mode="after")
    def _known_detector(self) -> ConceptDriftConfig:
        make_detector(self.detector, self.params)
        return self


class DriftConfig(Strict):
    window: int = Field(default=2000, ge=50)
    """Sliding window of the drift checks, in prediction events of one model version (joined
    examples for label drift); also the error window of concept drift.
    """
    every: int = Field(default=500, gt=0)
    """Evaluate after every `every`-th event, once the window is full. At most `window`."""
    false_alarm_rate: float = Field(default=0.001, gt=0, lt=1)
    """Target chance that one evaluation of an undrifted stream raises an alarm, shared by the
    columns tested; sets the calibrated thresholds.
    """
    resolve_ratio: float = Field(default=0.8, gt=0, le=1)
    """An active alarm resolves once its score falls below `resolve_ratio` x threshold."""
    features: FeaturesDriftConfig = Field(default_factory=FeaturesDriftConfig)
    """The statistics and thresholds of the feature, prediction and label columns."""
    concept: ConceptDriftConfig = Field(default_factory=ConceptDriftConfig)
    """The river detector of concept drift."""

    @model_validator(mode="after")
    def _every_within_window(self) -> DriftConfig:
        if self.every > self.window:
            raise ValueError("'every' must not be larger than 'window'")
        return self


_HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "macro_f1", "r2"}


class PerformanceTrigger(Strict):
    metric: str = "accuracy"
    """A higher-is-better metric of the model's task: `binary`: `accuracy`, `precision`, `recall`,
    `f1`, `roc_auc`; `multiclass`: `accuracy`, `macro_f1`; `regression`: `r2`.
    """
    value: float
    """The floor."""
    min_examples: int = Field(default=500, gt=0)
    """Joined examples the version needs before the trigger applies, and new joined examples needed
    after a request before the next one.
    """

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
    """Alarm kinds that count (at least one)."""
    min_features: int = Field(default=1, gt=0)
    """Active alarms needed, counted over all listed kinds (each feature, `__prediction__`,
    `__label__` and `__error__` counts once per kind).
    """


class RetrainWhen(Strict):
    performance_below: PerformanceTrigger | None = None
    """Request a retrain when the rolling `metric` of the version being served falls below `value`,
    once the version has at least `min_examples` joined examples.
    """
    estimated_performance_below: EstimatedPerformanceTrigger | None = None
    """Request a retrain when the estimated `metric` (see [Performance
    estimation](../estimation.md)) of the version being served falls below `value`, once its
    estimation window holds `min_predictions` predictions: before any label exists. Needs the
    model's `estimation` section.
    """
    drift: DriftTrigger | None = None
    """Request a retrain while at least `min_features` drift alarms of the listed kinds are active
    on the version being served.
    """
    schedule: str | None = None
    """Five-field crontab (`minute hour day month weekday`) in UTC, e.g. `"0 3 * * mon"`, parsed by
    APScheduler 3: weekday **numbers** count from 0 = Monday (not cron's 0 = Sunday), so prefer
    names (`mon`-`sun`). Run by the retrain worker, not the monitor; validated when the config is
    loaded.
    """

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            CronTrigger.from_crontab(value, timezone="UTC")
        return value


class RetrainPolicyConfig(Strict):
    when: RetrainWhen = Field(default_factory=RetrainWhen)
    """The triggers, checked in this order: `performance_below`, `estimated_performance_below`,
    `drift`; `schedule` is run by the worker.
    """
    cooldown: Duration = 1800.0
    """Least event time between two requests of the model."""


class ModelConfig(Strict):
    name: str = Field(min_length=1)
    """Matches `model` in the events."""
    task: Task
    """Decides the performance metrics."""
    positive_label: int | str | bool | None = None
    """The positive class. Required for `binary`, not allowed otherwise."""
    features: dict[str, FeatureType] = Field(default_factory=dict)
    """Declared feature schema. When not empty, drift is checked only for the profile's features
    listed here; `profile build --config` takes the feature types from it; other features of an
    event (except `pii` ones) are dropped before it is held or published, and retraining uses
    only these (and `pii`) features. Value types are not checked against it.
    """
    label_ttl: Duration = 3600.0
    """Longest event-time delay from prediction to label; see [Join
    semantics](../operations.md#event-time-join-semantics).
    """
    future_tolerance: Duration | None = 3600.0
    """How far an event's `timestamp` may be ahead of the Kafka timestamp of its message (producer
    clock skew); further ahead is dead-lettered as `timestamp_out_of_range`, so that a timestamp
    in the far future cannot move the join's event time ahead and expire everything waiting.
    Null: no check (e.g. to replay a synthetic stream whose event time runs ahead of the clock).
    With `message.timestamp.type=LogAppendTime` the reference is the broker's append time.
    """
    window: int = Field(default=1000, gt=0)
    """Size of the `rolling` metrics window, in joined examples: the most recent by label timestamp
    (ties: input partition, label offset).
    """
    max_pending: int = Field(default=100_000, gt=0)
    """Most predictions + labels waiting for their partner, split across input partitions; overflow
    is evicted (see [Join semantics](../operations.md#event-time-join-semantics)).
    """
    max_pending_bytes: int = Field(default=DEFAULT_MAX_PENDING_BYTES, gt=0)
    """Most memory, in bytes, of the predictions + labels waiting for their partner, split across
    input partitions like `max_pending` and enforced the same way: over it, the oldest items of
    the side holding more bytes are evicted. Each item's size is estimated once as it arrives,
    from its ids, features and scores (CPython object sizes, rounded up: see
    `monitor/bounds.py`).
    """
    max_features: int = Field(default=1000, gt=0)
    """Most features a prediction may carry; more is dead-lettered as `too_many_features`. Must be
    at least the number of declared `features`.
    """
    max_versions: int = Field(default=20, gt=0)
    """Most versions of the model holding performance and drift state at once; the least recently
    seen is evicted (see [Bounded memory](../operations.md#bounded-memory)).
    """
    max_classes: int = Field(default=100, gt=1)
    """`multiclass` only: most classes each version's performance metrics keep apart, the first
    seen; the metrics count any other class as one (see [Bounded
    memory](../operations.md#bounded-memory)).
    """
    reference: Path | None = None
    """Reference profile (JSON) of the model, from [`driftwarden profile
    build`](../drift-detection.md#reference-profiles); null: no drift checks for this model. Read
    when the monitor starts, not by `config check`: a missing or invalid file stops start-up with
    exit status 2 and an error naming `models.N.reference`. A relative path is resolved from the
    working directory.
    """
    drift: DriftConfig = Field(default_factory=DriftConfig)
    """Drift detection settings (used only for versions with a profile)."""
    estimation: EstimationConfig | None = None
    """Performance estimation before the labels arrive (CBPE, `binary` and `multiclass` models
    whose predictions carry `scores`); see [Performance estimation](../estimation.md). `{}`
    turns it on with the defaults; null: off.
    """
    training: TrainingConfig | None = None
    """How to train, gate and promote new versions; see [`models[].training`](#modelstraining).
    Null: the retraining side ignores the model (its requests are dropped by the worker, `retrain
    run` refuses it).
    """
    retrain: RetrainPolicyConfig | None = None
    """When to ask for a retrain; see [`models[].retrain`](#modelsretrain). Null: the monitor never
    requests one.
    """
    pii: list[str] = Field(default_factory=list)
    """Features holding personal data (e.g. `[email, user_id]`): dropped or hashed before anything
    is written; see [`privacy`](../configuration.md#privacy).
    """
    pii_mode: PiiMode = "drop"
    """`drop`: PII features are removed; `hash`: their values are replaced by keyed pseudonyms
    (needs `privacy.hash_key`).
    """

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
        if trigger and trigger.metric not in METRICS_BY_TASK[self.task]:
            raise ValueError(
                f"retrain.when.performance_below.metric {trigger.metric!r} is not a "
                f"{self.task.value} metric: use one of {list(METRICS_BY_TASK[self.task])}"
            )
        return self

    @model_validator(mode="after")
    def _estimation_fits_the_task(self) -> ModelConfig:
        if self.estimation is not None and self.task is Task.REGRESSION:
            raise ValueError(
                "estimation applies to 'binary' and 'multiclass' models, not 'regression': "
                "remove the estimation section"
            )
        trigger = self.retrain and self.retrain.when.estimated_performance_below
        if trigger and self.estimation is None:
            raise ValueError(
                "retrain.when.estimated_performance_below needs the model's estimation section: "
                "add 'estimation: {}'"
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
