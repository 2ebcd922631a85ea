"""One retraining run: data -> train -> champion vs challenger -> gates -> register -> govern.

Every phase is audited; a failure anywhere leaves no registered version (the registry writes a
version atomically) and ends the run as ``failed``. The same code serves the worker, the
foreground ``driftwarden retrain run`` and bootstrapping the first version from a base table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from driftwarden.contracts.requests import RetrainRequest
from driftwarden.contracts.retraining import (
    FOLLOW_UPS,
    follow_up,
    promotion_event,
    retrain_completed,
)
from driftwarden.core.profile import build_profile
from driftwarden.retrain.audit import AuditEntry, AuditLog
from driftwarden.retrain.dataset import (
    Example,
    TrainingSet,
    build_training_set,
    canonical_sha256,
    read_base_table,
)
from driftwarden.retrain.examples_source import OffsetRange, read_examples
from driftwarden.retrain.gates import evaluate_gates
from driftwarden.retrain.governance import Governance
from driftwarden.retrain.model_card import render_model_card
from driftwarden.retrain.registry_backend import open_registry
from driftwarden.retrain.settings import ModelTraining, RetrainSettings
from driftwarden.retrain.trainer import TrainedModel, evaluate, train

__all__ = ["RunOutcome", "RetrainJob", "audit_log", "load_training_set"]

log = logging.getLogger(__name__)

ACTOR = "driftwarden"
MIN_EXAMPLES = 50
PREDICTION, LABEL = "__prediction__", "__label__"
Publish = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RunOutcome:
    model: str
    request_id: str
    outcome: str  # promoted | rejected | awaiting_approval | failed
    version: str | None = None
    previous_version: str | None = None
    duration: float = 0.0
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def audit_log(
    settings: RetrainSettings, on_append: Callable[[AuditEntry], None] | None = None
) -> AuditLog:
    return AuditLog(settings.registry / "audit.jsonl", on_append=on_append)


class RetrainJob:
    def __init__(
        self,
        settings: RetrainSettings,
        publish: Publish,
        clock: Callable[[], float] = time.time,
        on_audit: Callable[[AuditEntry], None] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = open_registry(settings)
        self.governance = Governance(self.registry, audit_log(settings, on_audit))
        self._publish = publish
        self._clock = clock

    def run(self, request: RetrainRequest) -> RunOutcome:
        started = self._clock()
        audit = self.governance.audit
        audit.append(
            "run_started",
            request.model,
            request.version,
            ACTOR,
            {
                "request_id": request.request_id,
                "reason": request.reason,
                "evidence": request.evidence,
            },
        )
        try:
            outcome = self._run(request, self.settings.model(request.model))
        except Exception as exc:  # noqa: BLE001 - any failure ends the run as failed
            log.exception("retrain of %s failed", request.model)
            audit.append(
                "run_failed",
                request.model,
                None,
                ACTOR,
                {"request_id": request.request_id, "error": str(exc)},
            )
            outcome = RunOutcome(request.model, request.request_id, "failed", error=str(exc))
        outcome = RunOutcome(**{**outcome.__dict__, "duration": self._clock() - started})
        self._announce(outcome)
        return outcome

    def _run(self, request: RetrainRequest, model: ModelTraining) -> RunOutcome:
        training_set = load_training_set(self.settings, model)
        trained = train(model.training, training_set, model.declared_features)
        champion_info = self.registry.production(model.name)
        champion = (
            self.registry.load_artifact(model.name, champion_info.version)
            if champion_info
            else None
        )
        challenger_metrics = evaluate(
            trained.pipeline, trained.holdout, model.task, model.positive_label
        )
        champion_metrics = (
            evaluate(champion, trained.holdout, model.task, model.positive_label)
            if champion is not None
            else None
        )
        report = evaluate_gates(
            model.training.gate,
            champion_metrics=champion_metrics,
            challenger_metrics=challenger_metrics,
            holdout=trained.holdout,
            champion=champion,
            challenger=trained.pipeline,
            task=model.task,
            positive_label=model.positive_label,
        )
        self.governance.audit.append(
            "gate_evaluated",
            model.name,
            None,
            ACTOR,
            {"request_id": request.request_id, **report.to_dict()},
        )
        metrics = {"challenger": challenger_metrics, "champion": champion_metrics}
        metadata = _metadata(
            request,
            model,
            training_set,
            trained,
            metrics,
            report.to_dict(),
            champion_info.version if champion_info else None,
        )
        info = self.registry.register(
            model.name,
            trained.pipeline,
            metadata,
            _profile(model, trained, training_set),
            lambda version: render_model_card(
                model.name, version, metadata, model.training.risk_tier, []
            ),
            by=ACTOR,
            reason=f"retrain ({request.reason})",
        )
        decision = self.governance.decide(
            model.name,
            info.version,
            model.training.risk_tier,
            report.passed,
            ACTOR,
            request.request_id,
        )
        stage = decision.stage.value
        return RunOutcome(
            model.name,
            request.request_id,
            "promoted" if stage == "production" else stage,
            info.version,
            champion_info.version if champion_info else None,
            metrics=metrics,
        )

    def _announce(self, outcome: RunOutcome) -> None:
        run = (outcome.model, outcome.version, outcome.request_id, self._clock())
        self._publish(
            retrain_completed(
                *run, outcome.outcome, outcome.duration, outcome.error, outcome.metrics
            )
        )
        if outcome.outcome == "promoted" and outcome.version is not None:
            self._publish(
                promotion_event(
                    outcome.model,
                    outcome.version,
                    outcome.previous_version,
                    ACTOR,
                    outcome.request_id,
                    self._clock(),
                )
            )
        elif outcome.outcome in FOLLOW_UPS:
            self._publish(follow_up(*run, outcome.outcome))


def load_training_set(
    settings: RetrainSettings, model: ModelTraining, ranges: list[dict[str, int]] | None = None
) -> TrainingSet:
    """Base table plus the newest examples from the topic (or exactly ``ranges`` of it); the
    lineage records the ranges and the records skipped as malformed (``skipped_examples``)."""
    data = model.training.data
    base: list[Example] = []
    lineage: dict[str, Any] = {
        "examples_topic": settings.examples_topic,
        "limit": data.examples,
        "base": None,
    }
    if data.base:
        base, digest = read_base_table(data.base, data.label_column, model.pii)
        lineage["base"] = {"path": data.base, "sha256": digest, "rows": len(base)}
    wanted = [OffsetRange(**r) for r in ranges] if ranges is not None else None
    read = read_examples(
        settings.consumer_options,
        settings.examples_topic,
        model.name,
        data.examples,
        wanted,
        pii=model.pii,
    )
    lineage["partitions"] = [r.to_dict() for r in read.ranges]
    lineage["skipped_examples"] = read.skipped
    training_set = build_training_set(base, read.examples, lineage)
    if len(training_set.examples) < MIN_EXAMPLES:
        raise ValueError(
            f"only {len(training_set.examples)} examples for {model.name!r}; "
            f"a run needs at least {MIN_EXAMPLES} (base table or joined examples)"
        )
    return training_set


def _metadata(
    request: RetrainRequest,
    model: ModelTraining,
    training_set: TrainingSet,
    trained: TrainedModel,
    metrics: dict[str, Any],
    gates: dict[str, Any],
    parent: str | None,
) -> dict[str, Any]:
    return {
        "parent_version": parent,
        "trigger": request.reason,
        "request_id": request.request_id,
        "estimator": model.training.estimator,
        "params": dict(model.training.params),
        "seed": trained.seed,
        "training": model.training.model_dump(mode="json"),
        "task": model.task,
        "data": {
            **training_set.lineage,
            "rows": len(training_set.examples),
            "train_rows": trained.train_size,
            "holdout_rows": len(trained.holdout),
            "columns": trained.columns,
            "columns_dropped": trained.dropped_columns,
            "sha256": canonical_sha256(training_set),
        },
        "metrics": metrics,
        "gates": gates,
        "risk_tier": model.training.risk_tier.value,
    }


def _profile(
    model: ModelTraining, trained: TrainedModel, training_set: TrainingSet
) -> dict[str, Any]:
    """The reference profile the monitor's drift checks use for this version."""
    examples = training_set.examples[: trained.train_size]
    rows = [dict(e.features) for e in examples]
    names = sorted({name for row in rows for name in row})
    columns: dict[str, list[object]] = {n: [row.get(n) for row in rows] for n in names}
    columns[PREDICTION] = list(trained.pipeline.predict(rows))
    columns[LABEL] = [e.label for e in examples]
    feature_types = dict(model.features) or None
    profile = build_profile(
        model.name, columns, feature_types, label=LABEL, prediction=PREDICTION, task=model.task
    )
    return profile.to_dict()
