"""One retraining run: data -> train -> champion vs challenger -> gates -> register -> govern.

Every phase is audited; a failure anywhere leaves no registered version (the registry writes a
version atomically) and ends the run as ``failed``. The same code serves the worker, the
foreground ``driftwarden retrain run`` and bootstrapping the first version from a base table.

With MLflow configured, every run (promoted, rejected, awaiting approval or failed) is also an
MLflow run (:mod:`driftwarden.retrain.mlflow_tracking`, what it records:
:mod:`driftwarden.retrain.run_record`): its id goes into the run's audit entries and the
registered version's metadata (``mlflow_run_id``). Tracking never stops a run (the policy is in
:mod:`driftwarden.retrain.tracking`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from driftwarden.contracts.requests import RetrainRequest
from driftwarden.contracts.retraining import (
    FOLLOW_UPS,
    follow_up,
    promotion_event,
    retrain_completed,
)
from driftwarden.core.mlflow_names import (
    GATE_REPORT_ARTIFACT,
    MODEL_CARD_ARTIFACT,
    PROFILE_ARTIFACT,
)
from driftwarden.core.profile import build_profile
from driftwarden.retrain.audit import AuditEntry, AuditLog
from driftwarden.retrain.calibration import scored_calibration
from driftwarden.retrain.dataset import (
    Example,
    TrainingSet,
    build_training_set,
    canonical_sha256,
    read_base_table,
)
from driftwarden.retrain.examples_source import OffsetRange, read_examples
from driftwarden.retrain.gates import GateReport, evaluate_gates
from driftwarden.retrain.governance import Governance
from driftwarden.retrain.mlflow_tracking import tracker_for
from driftwarden.retrain.model_card import render_model_card
from driftwarden.retrain.registry_backend import open_registry
from driftwarden.retrain.run_record import (
    config_params,
    library_tags,
    lineage_tags,
    prefixed,
    run_metrics,
)
from driftwarden.retrain.settings import ModelTraining, RetrainSettings
from driftwarden.retrain.tracking import GuardedTracker
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
    mlflow_run_id: str | None = None  # the run's MLflow run, if MLflow is configured
    tracking_failed: bool = False  # MLflow tracking failed; the run went on untracked


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
        tracker = tracker_for(self.settings.mlflow)
        tracker.start(
            request.model,
            f"retrain {request.reason} {request.request_id[:8]}",
            {
                **prefixed(
                    {
                        "model": request.model,
                        "trigger": request.reason,
                        "request_id": request.request_id,
                    }
                ),
                **library_tags(),
            },
        )
        run_id = _run_id(tracker)
        audit.append(
            "run_started",
            request.model,
            request.version,
            ACTOR,
            {
                "request_id": request.request_id,
                "reason": request.reason,
                "evidence": request.evidence,
                **run_id,
            },
        )
        try:
            outcome = self._run(request, self.settings.model(request.model), tracker)
        except Exception as exc:  # noqa: BLE001 - any failure ends the run as failed
            log.exception("retrain of %s failed", request.model)
            audit.append(
                "run_failed",
                request.model,
                None,
                ACTOR,
                {"request_id": request.request_id, "error": str(exc), **run_id},
            )
            outcome = RunOutcome(request.model, request.request_id, "failed", error=str(exc))
            tracker.end("failed", str(exc))
        outcome = replace(
            outcome,
            duration=self._clock() - started,
            mlflow_run_id=tracker.run_id,
            tracking_failed=tracker.failed,
        )
        self._announce(outcome)
        return outcome

    def _run(
        self, request: RetrainRequest, model: ModelTraining, tracker: GuardedTracker
    ) -> RunOutcome:
        tracker.log_params(config_params(model.training.model_dump(mode="json")))
        champion_info = self.registry.production(model.name)
        parent = champion_info.version if champion_info else None
        tracker.set_tags(
            prefixed({"risk_tier": model.training.risk_tier.value, "parent_version": parent})
        )
        training_set = load_training_set(self.settings, model)
        digest = canonical_sha256(training_set)
        tracker.set_tags(lineage_tags(training_set.lineage, digest))
        trained = train(model.training, training_set, model.declared_features)
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
        gates = report.to_dict()
        self.governance.audit.append(
            "gate_evaluated",
            model.name,
            None,
            ACTOR,
            {"request_id": request.request_id, **gates, **_run_id(tracker)},
        )
        metrics = {"challenger": challenger_metrics, "champion": champion_metrics}
        tracker.log_metrics(run_metrics(metrics, gates))
        tracker.log_artifact(GATE_REPORT_ARTIFACT, json.dumps(gates, indent=2, sort_keys=True))
        metadata = _metadata(request, model, training_set, trained, metrics, gates, parent, digest)
        profile = _profile(model, trained, training_set)
        tracker.log_artifact(PROFILE_ARTIFACT, json.dumps(profile, sort_keys=True))
        info = self.registry.register(
            model.name,
            trained.pipeline,
            metadata,
            profile,
            lambda version: render_model_card(
                model.name, version, metadata, model.training.risk_tier, []
            ),
            by=ACTOR,
            reason=f"retrain ({request.reason})",
            run_id=tracker.run_id,
        )
        decision = self.governance.decide(
            model.name,
            info.version,
            model.training.risk_tier,
            report.passed,
            ACTOR,
            request.request_id,
            mlflow_run_id=tracker.run_id,
        )
        stage = decision.stage.value
        outcome = RunOutcome(
            model.name,
            request.request_id,
            "promoted" if stage == "production" else stage,
            info.version,
            parent,
            metrics=metrics,
        )
        self._track_decision(tracker, outcome, report)
        return outcome

    def _track_decision(
        self, tracker: GuardedTracker, outcome: RunOutcome, report: GateReport
    ) -> None:
        """The version's model card and stage reason (with the failed gates) end the run."""
        if outcome.version is None:
            return
        info = self.registry.get(outcome.model, outcome.version)
        tier = self.settings.model(outcome.model).training.risk_tier
        card = render_model_card(info.model, info.version, info.metadata, tier, info.stage_history)
        tracker.log_artifact(MODEL_CARD_ARTIFACT, card)
        tracker.set_tags(prefixed({"version": info.version}))
        reason = str(info.stage_history[-1].get("reason", ""))
        if report.failed:
            reason += ": " + "; ".join(f"{c.name}: {c.detail}" for c in report.failed)
        tracker.end(outcome.outcome, reason)

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
    digest: str,
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
            "sha256": digest,
        },
        "metrics": metrics,
        "gates": gates,
        "risk_tier": model.training.risk_tier.value,
    }


def _run_id(tracker: GuardedTracker) -> dict[str, str]:
    """The audit entry field naming the run's MLflow run, if one was started."""
    return {"mlflow_run_id": tracker.run_id} if tracker.run_id else {}


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
    holdout = trained.holdout
    calibration = scored_calibration(
        model.name,
        model.task,
        trained.pipeline,
        [dict(e.features) for e in holdout],
        [e.label for e in holdout],
    )
    return replace(profile, calibration=calibration).to_dict()
