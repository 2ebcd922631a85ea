from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from driftwarden.config.training import RiskTier
from driftwarden.retrain.audit import AuditEntry, AuditLog
from driftwarden.retrain.errors import GovernanceError
from driftwarden.retrain.governance import Decision, Governance
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.versions import Stage
from tests.helpers import TickingClock


@pytest.fixture(scope="module")
def estimator() -> LogisticRegression:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(40, 2))
    return LogisticRegression(random_state=0).fit(features, (features[:, 0] > 0).astype(int))


@pytest.fixture
def governance(tmp_path: Path) -> Governance:
    clock = TickingClock()
    registry = ModelRegistry(tmp_path / "registry", clock=clock)
    return Governance(registry, AuditLog(tmp_path / "audit.jsonl", clock=clock))


@pytest.fixture
def register(governance: Governance, estimator: LogisticRegression) -> Any:
    def make(model: str = "churn") -> str:
        metadata = {
            "metrics": {"challenger": {"accuracy": 0.9}, "champion": {"accuracy": 0.85}},
            "gates": [{"name": "accuracy", "passed": True, "detail": "+0.05"}],
        }
        return governance.registry.register(model, estimator, metadata, None, "").version

    return make


def audit_trail(governance: Governance) -> list[tuple[str, str | None, str]]:
    return [(e.action, e.version, e.actor) for e in governance.audit.entries()]


def last_entry(governance: Governance) -> AuditEntry:
    return list(governance.audit.entries())[-1]


def in_production(governance: Governance, model: str = "churn") -> str | None:
    current = governance.registry.production(model)
    return current.version if current else None


@pytest.mark.parametrize(
    ("tier", "decision"),
    [
        (RiskTier.LOW, Decision(Stage.PRODUCTION, notify=False)),
        (RiskTier.MEDIUM, Decision(Stage.PRODUCTION, notify=True)),
        (RiskTier.HIGH, Decision(Stage.AWAITING_APPROVAL, notify=True)),
    ],
)
def test_a_passing_candidate_goes_where_its_risk_tier_says(
    governance: Governance, register: Any, tier: RiskTier, decision: Decision
) -> None:
    version = register()

    assert governance.decide("churn", version, tier, True, "worker", "req-9") == decision

    assert governance.registry.get("churn", version).stage is decision.stage
    entry = last_entry(governance)
    assert entry.actor == "worker"
    assert entry.details["risk_tier"] == tier.value
    assert entry.details["request_id"] == "req-9"
    assert governance.audit.verify() == 1


@pytest.mark.parametrize("tier", list(RiskTier))
def test_a_failed_gate_rejects_whatever_the_tier(
    governance: Governance, register: Any, tier: RiskTier
) -> None:
    version = register()

    decision = governance.decide("churn", version, tier, False, "worker")

    assert decision == Decision(Stage.REJECTED)
    assert audit_trail(governance) == [("rejected", version, "worker")]
    assert last_entry(governance).details["reason"] == "the gates failed"


def test_auto_promotion_archives_the_previous_production_version(
    governance: Governance, register: Any
) -> None:
    governance.decide("churn", register(), RiskTier.LOW, True, "worker")

    governance.decide("churn", register(), RiskTier.LOW, True, "worker")

    assert in_production(governance) == "2"
    assert governance.registry.get("churn", "1").stage is Stage.ARCHIVED
    assert last_entry(governance).details["archived_version"] == "1"


def test_only_a_candidate_is_decided_on(governance: Governance, register: Any) -> None:
    version = register()
    governance.decide("churn", version, RiskTier.HIGH, True, "worker")

    with pytest.raises(GovernanceError, match="cannot decide on 'churn' version 1: it is awaiting"):
        governance.decide("churn", version, RiskTier.LOW, True, "worker")


def test_approval_promotes_and_is_audited_with_actor_and_reason(
    governance: Governance, register: Any
) -> None:
    version = register()
    governance.decide("churn", version, RiskTier.HIGH, True, "worker")
    assert governance.pending_approvals() == {"churn": 1}

    info = governance.approve("churn", version, by="alice", reason="holdout looks right")

    assert info.stage is Stage.PRODUCTION
    assert governance.pending_approvals() == {"churn": 0}
    assert audit_trail(governance)[1:] == [("approved", "1", "alice"), ("promoted", "1", "alice")]
    assert last_entry(governance).details["reason"] == "approved: holdout looks right"
    card = (info.path / "model_card.md").read_text()
    assert "**high**" in card
    assert "| alice | approved: holdout looks right |" in card
    assert "| accuracy | 0.9000 | 0.8500 | +0.0500 |" in card


@pytest.mark.parametrize(("by", "reason"), [("", "fine"), ("alice", ""), ("alice", "   ")])
def test_approve_and_reject_need_an_actor_and_a_reason(
    governance: Governance, register: Any, by: str, reason: str
) -> None:
    version = register()
    governance.decide("churn", version, RiskTier.HIGH, True, "worker")

    with pytest.raises(GovernanceError, match="needs a non-empty"):
        governance.approve("churn", version, by=by, reason=reason)
    with pytest.raises(GovernanceError, match="needs a non-empty"):
        governance.reject("churn", version, by=by, reason=reason)
    assert len(audit_trail(governance)) == 1


def test_only_a_version_awaiting_approval_is_approved(
    governance: Governance, register: Any
) -> None:
    version = register()

    with pytest.raises(GovernanceError, match="it is candidate, and only a version that is "):
        governance.approve("churn", version, by="alice", reason="ok")
    assert audit_trail(governance) == []


def test_reject_from_awaiting_approval_or_candidate_only(
    governance: Governance, register: Any
) -> None:
    awaiting, candidate, live = register(), register(), register()
    governance.decide("churn", awaiting, RiskTier.HIGH, True, "worker")
    governance.decide("churn", live, RiskTier.LOW, True, "worker")

    governance.reject("churn", awaiting, by="bob", reason="segment drop")
    governance.reject("churn", candidate, by="bob", reason="trained on a bad day")

    assert governance.registry.get("churn", awaiting).stage is Stage.REJECTED
    assert governance.registry.get("churn", candidate).stage is Stage.REJECTED
    with pytest.raises(GovernanceError, match="it is production"):
        governance.reject("churn", live, by="bob", reason="too late")
    assert audit_trail(governance)[-2:] == [("rejected", "1", "bob"), ("rejected", "2", "bob")]


def test_manual_promotion_of_a_candidate_or_an_archived_version(
    governance: Governance, register: Any
) -> None:
    first, second, awaiting = register(), register(), register()
    governance.decide("churn", awaiting, RiskTier.HIGH, True, "worker")

    governance.promote("churn", first, by="carol", reason="hotfix")
    governance.promote("churn", second, by="carol", reason="next")
    governance.promote("churn", first, by="carol", reason="back to the first")

    assert in_production(governance) == first
    assert last_entry(governance).details == {
        "manual": True,
        "stage": "production",
        "reason": "back to the first",
        "archived_version": second,
    }
    with pytest.raises(GovernanceError, match="cannot promote 'churn' version 3: it is awaiting"):
        governance.promote("churn", awaiting, by="carol", reason="skip the review")


def test_rollback_returns_to_the_version_production_replaced(
    governance: Governance, register: Any
) -> None:
    for _ in range(3):
        governance.decide("churn", register(), RiskTier.LOW, True, "worker")

    back = governance.rollback("churn", by="dave", reason="latency regression")

    assert (back.version, in_production(governance)) == ("2", "2")
    assert governance.registry.get("churn", "3").stage is Stage.ARCHIVED
    assert audit_trail(governance)[-1] == ("rolled_back", "2", "dave")
    assert last_entry(governance).details["from_version"] == "3"
    governance.rollback("churn", by="dave", reason="undo")
    assert in_production(governance) == "3"
    governance.rollback("churn", by="dave", reason="to the first", to_version="1")
    assert in_production(governance) == "1"


def test_rollback_refusals(governance: Governance, register: Any) -> None:
    with pytest.raises(GovernanceError, match="no production version to roll back"):
        governance.rollback("churn", by="dave", reason="panic")
    first, candidate, shelved = register(), register(), register()
    governance.decide("churn", first, RiskTier.LOW, True, "worker")
    governance.registry.set_stage("churn", shelved, Stage.ARCHIVED, by="ops", reason="shelved")

    with pytest.raises(GovernanceError, match="replaced no earlier production version"):
        governance.rollback("churn", by="dave", reason="panic")
    with pytest.raises(GovernanceError, match="version 2: it is candidate"):
        governance.rollback("churn", by="dave", reason="panic", to_version=candidate)
    with pytest.raises(GovernanceError, match="version 3: it was never in production"):
        governance.rollback("churn", by="dave", reason="panic", to_version=shelved)
    with pytest.raises(GovernanceError, match="needs a non-empty 'reason'"):
        governance.rollback("churn", by="dave", reason="")
    assert in_production(governance) == first
    assert [action for action, _, _ in audit_trail(governance)] == ["promoted"]


def test_pending_approvals_counts_every_model(governance: Governance, register: Any) -> None:
    for model in ("churn", "churn", "fraud"):
        governance.decide(model, register(model), RiskTier.HIGH, True, "worker")
    governance.decide("ltv", register("ltv"), RiskTier.LOW, True, "worker")

    assert governance.pending_approvals() == {"churn": 2, "fraud": 1, "ltv": 0}


def test_the_audit_log_verifies_after_a_full_lifecycle(
    governance: Governance, register: Any
) -> None:
    governance.decide("churn", register(), RiskTier.LOW, True, "worker", "r1")
    governance.decide("churn", register(), RiskTier.MEDIUM, True, "worker", "r2")
    governance.decide("churn", register(), RiskTier.HIGH, True, "worker", "r3")
    governance.approve("churn", "3", by="alice", reason="reviewed")
    governance.decide("churn", register(), RiskTier.HIGH, True, "worker", "r4")
    governance.reject("churn", "4", by="bob", reason="fairness gap")
    governance.decide("churn", register(), RiskTier.LOW, False, "worker", "r5")
    governance.rollback("churn", by="carol", reason="incident 42")

    assert [action for action, _, _ in audit_trail(governance)] == [
        "promoted",
        "promoted",
        "approval_requested",
        "approved",
        "promoted",
        "approval_requested",
        "rejected",
        "rejected",
        "rolled_back",
    ]
    assert governance.audit.verify() == 9
    assert in_production(governance) == "2"
