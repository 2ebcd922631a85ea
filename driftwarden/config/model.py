"""``models[]``: one monitored model, its drift detection, training and retrain policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

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
        if trigger and trigger.metric not in METRICS_BY_TASK[self.task]:
            raise ValueError(
                f"retrain.when.performance_below.metric {trigger.metric!r} is not a "
                f"{self.task.value} metric: use one of {list(METRICS_BY_TASK[self.task])}"
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
