"""``driftwarden retrain reproduce``: rebuild a version from its lineage and compare.

The training data is rebuilt from the recorded offset ranges and base table, its SHA-256 checked
against the metadata, the model retrained with the recorded configuration and seed, and its
predictions and holdout metrics compared with the registered artifact's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from driftwarden.config.training import TrainingConfig
from driftwarden.retrain.dataset import canonical_sha256
from driftwarden.retrain.registry_backend import open_registry
from driftwarden.retrain.run import load_training_set
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.retrain.trainer import evaluate, train

__all__ = ["ReproduceReport", "reproduce"]


@dataclass(frozen=True)
class ReproduceReport:
    model: str
    version: str
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def reproduce(settings: RetrainSettings, model: str, version: str) -> ReproduceReport:
    registry = open_registry(settings)
    info = registry.get(model, version)
    meta = info.metadata
    if "training" not in meta:
        return ReproduceReport(
            model,
            version,
            [
                f"{model} {version} was not trained by driftwarden (trigger "
                f"{meta.get('trigger')!r}): there is no recorded training to reproduce"
            ],
        )
    recorded = TrainingConfig.model_validate(meta["training"])
    data = meta["data"]
    spec = replace(settings.model(model), training=recorded, task=meta["task"])
    if data.get("base"):
        base = data["base"]
        spec = replace(
            spec,
            training=recorded.model_copy(
                update={"data": recorded.data.model_copy(update={"base": base["path"]})}
            ),
        )
    training_set = load_training_set(settings, spec, ranges=data["partitions"])
    differences = []
    digest = canonical_sha256(training_set)
    if digest != data["sha256"]:
        differences.append(f"training data SHA-256 {digest} != recorded {data['sha256']}")
        return ReproduceReport(model, version, differences)
    rebuilt = train(recorded, training_set, spec.declared_features)
    original = registry.load_artifact(model, version)
    rows = [dict(e.features) for e in rebuilt.holdout]
    mismatched = sum(
        a != b for a, b in zip(original.predict(rows), rebuilt.pipeline.predict(rows), strict=True)
    )
    if mismatched:
        differences.append(f"{mismatched} of {len(rows)} holdout predictions differ")
    again = evaluate(rebuilt.pipeline, rebuilt.holdout, spec.task, spec.positive_label)
    for name, value in meta["metrics"]["challenger"].items():
        if not _same(value, again.get(name)):
            differences.append(f"holdout {name}: recorded {value}, reproduced {again.get(name)}")
    return ReproduceReport(model, version, differences)


def _same(a: float | None, b: float | None) -> bool:
    """Equal up to rounding; NaN is stored as null in the metadata JSON."""
    a_missing = a is None or math.isnan(a)
    b_missing = b is None or math.isnan(b)
    if a_missing or b_missing:
        return a_missing and b_missing
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)  # type: ignore[arg-type]
