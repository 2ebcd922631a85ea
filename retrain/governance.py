"""Governance of model versions: risk tiers, approvals, promotions and rollbacks, all audited.

Every stage change goes through the registry (which records it in the version's stage history),
then into the audit log with its actor and reason, and re-renders the version's model card.

====================  ==========================================================
risk tier             after the gates pass
====================  ==========================================================
``low``               production
``medium``            production, and a notification is due
``high``              awaiting approval (a notification is due), then
                      :meth:`Governance.approve` or :meth:`Governance.reject`
====================  ==========================================================

A version whose gates failed is rejected whatever its tier.

>>> import tempfile
>>> from pathlib import Path
>>> from sklearn.dummy import DummyClassifier
>>> from driftwarden.retrain.registry import ModelRegistry
>>> root = Path(tempfile.mkdtemp())
>>> registry = ModelRegistry(root / "registry", clock=lambda: 0.0)
>>> governance = Governance(registry, AuditLog(root / "audit.jsonl", clock=lambda: 0.0))
>>> estimator = DummyClassifier().fit([[0], [1]], [0, 1])
>>> _ = registry.register("churn", estimator, {}, None, card="")
>>> governance.decide("churn", "1", RiskTier.HIGH, gate_passed=True, by="worker")
Decision(stage=<Stage.AWAITING_APPROVAL: 'awaiting_approval'>, notify=True)
>>> governance.pending_approvals()
{'churn': 1}
>>> governance.approve("churn", "1", by="alice", reason="reviewed the holdout metrics").stage
<Stage.PRODUCTION: 'production'>
>>> [entry.action for entry in governance.audit.entries()]
['approval_requested', 'approved', 'promoted']
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from driftwarden.config.training import RiskTier
from driftwarden.retrain.audit import AuditAction, AuditLog
from driftwarden.retrain.errors import GovernanceError
from driftwarden.retrain.model_card import render_model_card
from driftwarden.retrain.registry_backend import RegistryBackend
from driftwarden.retrain.versions import Stage, VersionInfo

__all__ = ["Decision", "Governance"]


@dataclass(frozen=True)
class Decision:
    """Where :meth:`Governance.decide` put a version, and whether a human should be told."""

    stage: Stage
    notify: bool = False


class Governance:
    """The stage changes the rules allow, applied to ``registry`` and recorded in ``audit``."""

    def __init__(self, registry: RegistryBackend, audit: AuditLog) -> None:
        self.registry = registry
        self.audit = audit

    def decide(
        self,
        model: str,
        version: str,
        risk_tier: RiskTier,
        gate_passed: bool,
        by: str,
        request_id: str | None = None,
        mlflow_run_id: str | None = None,
        imported_from: str | None = None,
    ) -> Decision:
        """Apply the risk-tier policy to a freshly registered ``candidate``; the audit entry
        names the MLflow run that trained it (``mlflow_run_id``) or the file or MLflow model
        URI it was imported from (``imported_from``), if any."""
        _require("decide", by=by)
        tier = RiskTier(risk_tier)
        step = _Step(model, version, {Stage.CANDIDATE}, by)
        self._expect(step, "decide on")
        self.registry.update_metadata(model, version, {"risk_tier": tier.value})
        details = {"risk_tier": tier.value, "gate_passed": gate_passed, "request_id": request_id}
        if mlflow_run_id is not None:
            details["mlflow_run_id"] = mlflow_run_id
        if imported_from is not None:
            details["imported_from"] = imported_from
        if not gate_passed:
            self._change(step, Stage.REJECTED, AuditAction.REJECTED, "the gates failed", details)
            return Decision(Stage.REJECTED)
        if tier is RiskTier.HIGH:
            reason = "high risk tier: a human approval is required"
            action = AuditAction.APPROVAL_REQUESTED
            self._change(step, Stage.AWAITING_APPROVAL, action, reason, details)
            return Decision(Stage.AWAITING_APPROVAL, notify=True)
        reason = f"{tier.value} risk tier: the gates passed, promoted automatically"
        self._change(step, Stage.PRODUCTION, AuditAction.PROMOTED, reason, details)
        return Decision(Stage.PRODUCTION, notify=tier is RiskTier.MEDIUM)

    def approve(self, model: str, version: str, by: str, reason: str) -> VersionInfo:
        """Approve a version awaiting approval and promote it to production."""
        _require("approve", by=by, reason=reason)
        step = _Step(model, version, {Stage.AWAITING_APPROVAL}, by)
        self._expect(step, "approve")
        self.audit.append(AuditAction.APPROVED, model, version, by, {"reason": reason})
        return self._change(step, Stage.PRODUCTION, AuditAction.PROMOTED, f"approved: {reason}")

    def reject(self, model: str, version: str, by: str, reason: str) -> VersionInfo:
        """Reject a version awaiting approval (or a candidate no one decided on yet)."""
        _require("reject", by=by, reason=reason)
        step = _Step(model, version, {Stage.AWAITING_APPROVAL, Stage.CANDIDATE}, by)
        self._expect(step, "reject")
        return self._change(step, Stage.REJECTED, AuditAction.REJECTED, reason)

    def promote(self, model: str, version: str, by: str, reason: str) -> VersionInfo:
        """Promote a candidate or an archived version by hand (not one awaiting approval)."""
        _require("promote", by=by, reason=reason)
        step = _Step(model, version, {Stage.CANDIDATE, Stage.ARCHIVED}, by)
        self._expect(step, "promote")
        details = {"manual": True}
        return self._change(step, Stage.PRODUCTION, AuditAction.PROMOTED, reason, details)

    def rollback(
        self, model: str, by: str, reason: str, to_version: str | None = None
    ) -> VersionInfo:
        """Put back ``to_version``, or the version the current production one replaced.

        The target must be archived and have been in production before; the current
        production version is archived. Rolling back twice returns to where it started.
        """
        _require("roll back", by=by, reason=reason)
        current = self.registry.production(model)
        if current is None:
            raise GovernanceError(f"model {model!r} has no production version to roll back")
        target = to_version or _replaced_version(current)
        step = _Step(model, target, {Stage.ARCHIVED}, by)
        info = self._expect(step, "roll back to")
        if Stage.PRODUCTION.value not in {entry["stage"] for entry in info.stage_history}:
            raise GovernanceError(
                f"cannot roll back {model!r} to version {target}: it was never in production; "
                "use promote to put it there for the first time"
            )
        details = {"from_version": current.version}
        return self._change(step, Stage.PRODUCTION, AuditAction.ROLLED_BACK, reason, details)

    def pending_approvals(self) -> dict[str, int]:
        """Number of versions awaiting approval, per registered model (zeros included)."""
        return {
            model: sum(v.stage is Stage.AWAITING_APPROVAL for v in self.registry.versions(model))
            for model in self.registry.models()
        }

    def _change(
        self,
        step: _Step,
        stage: Stage,
        action: AuditAction,
        reason: str,
        details: Mapping[str, Any] | None = None,
    ) -> VersionInfo:
        info = self.registry.set_stage(
            step.model, step.version, stage, step.by, reason, from_stages=step.allowed
        )
        record = {**(details or {}), "stage": stage.value, "reason": reason}
        if info.metadata.get("mlflow_run_id"):  # the MLflow run the version came from
            record["mlflow_run_id"] = info.metadata["mlflow_run_id"]
        replaced = info.stage_history[-1].get("replaces")
        if replaced is not None:
            record["archived_version"] = replaced
            self._refresh_card(step.model, replaced)
        self.audit.append(action, step.model, step.version, step.by, record)
        self._refresh_card(step.model, step.version)
        return info

    def _expect(self, step: _Step, verb: str) -> VersionInfo:
        info = self.registry.get(step.model, step.version)
        if info.stage not in step.allowed:
            names = " or ".join(sorted(stage.value for stage in step.allowed))
            raise GovernanceError(
                f"cannot {verb} {step.model!r} version {step.version}: it is {info.stage.value}, "
                f"and only a version that is {names} can be"
            )
        return info

    def _refresh_card(self, model: str, version: str) -> None:
        info = self.registry.get(model, version)
        tier = info.metadata.get("risk_tier")
        card = render_model_card(
            model, version, info.metadata, RiskTier(tier) if tier else None, info.stage_history
        )
        self.registry.write_card(model, version, card)


@dataclass(frozen=True)
class _Step:
    """One stage change: which version, from which stages it is allowed, and who makes it."""

    model: str
    version: str
    allowed: Collection[Stage]
    by: str


def _replaced_version(current: VersionInfo) -> str:
    promotions = [e for e in current.stage_history if e["stage"] == Stage.PRODUCTION.value]
    replaced = promotions[-1].get("replaces") if promotions else None
    if replaced is None:
        raise GovernanceError(
            f"{current.model!r} version {current.version} replaced no earlier production "
            "version; name the version to roll back to with to_version"
        )
    return str(replaced)


def _require(verb: str, **fields: str) -> None:
    for name, value in fields.items():
        if not value or not value.strip():
            raise GovernanceError(f"{verb} needs a non-empty {name!r}: say who acts and why")
