"""Per-model training settings (``models[].training`` in the shared YAML config)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_ESTIMATOR_PREFIXES",
    "FairnessGate",
    "GateConfig",
    "RiskTier",
    "SegmentGate",
    "TrainingConfig",
    "TrainingData",
]

DEFAULT_ESTIMATOR_PREFIXES = ("sklearn.",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskTier(StrEnum):
    LOW = "low"  # auto-promote
    MEDIUM = "medium"  # auto-promote and notify
    HIGH = "high"  # wait for a human approval


class TrainingData(_Strict):
    examples: int = Field(default=20_000, gt=0)  # last N joined examples from the examples topic
    base: str | None = None  # optional base table (CSV or Parquet) added to the examples
    label_column: str = "label"  # the base table's label column


class SegmentGate(_Strict):
    by: str  # a feature name
    max_drop: float = Field(default=0.05, ge=0)


class FairnessGate(_Strict):
    sensitive: str  # a feature name
    metric: Literal["equal_opportunity_difference", "demographic_parity_difference"] = (
        "equal_opportunity_difference"
    )
    max: float = Field(default=0.1, ge=0)


class GateConfig(_Strict):
    metric: str = "accuracy"
    min_improvement: float = 0.0
    guards: dict[str, float] = Field(default_factory=dict)  # metric -> largest allowed worsening
    segments: SegmentGate | None = None
    fairness: FairnessGate | None = None


class TrainingConfig(_Strict):
    estimator: str = "sklearn.ensemble.HistGradientBoostingClassifier"
    params: dict[str, Any] = Field(default_factory=dict)
    data: TrainingData = Field(default_factory=TrainingData)
    holdout: float = Field(default=0.2, gt=0, lt=1)
    seed: int = 0
    gate: GateConfig = Field(default_factory=GateConfig)
    risk_tier: RiskTier = RiskTier.LOW
    allowed_estimator_prefixes: tuple[str, ...] = DEFAULT_ESTIMATOR_PREFIXES

    @field_validator("estimator")
    @classmethod
    def _import_path(cls, value: str) -> str:
        module = value.split(":", 1)[0]
        if not module or any(not part.isidentifier() for part in module.split(".")):
            raise ValueError(
                f"{value!r} is not an import path: use 'package.module.Class' or "
                "'package.module:factory'"
            )
        return value

    @model_validator(mode="after")
    def _allowed_estimator(self) -> TrainingConfig:
        if not self.estimator.startswith(tuple(self.allowed_estimator_prefixes)):
            raise ValueError(
                f"estimator {self.estimator!r} is outside the allowed module prefixes "
                f"{list(self.allowed_estimator_prefixes)}; add its package to "
                "'allowed_estimator_prefixes' to allow it"
            )
        return self
