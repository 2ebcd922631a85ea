"""Markdown model card of a registered version, rendered from its registry metadata.

The card reads these metadata keys, each optional: ``purpose``, ``estimator``, ``params``,
``seed``, ``parent_version``, ``trigger``, ``request_id``, ``created_at``, ``artifact_sha256``,
``data`` (lineage, a mapping), ``metrics`` (``{"challenger": {...}, "champion": {...}}``, holdout
metrics of the new model and of the production model it was compared with) and ``gates``
(gate name -> ``{"passed": bool, ...}`` or a bare bool, or a list of ``{"name", "passed", ...}``
such as the checks of a :class:`~driftwarden.retrain.gates.GateReport`).

>>> card = render_model_card(
...     "churn",
...     "2",
...     {
...         "metrics": {"challenger": {"accuracy": 0.91}, "champion": {"accuracy": 0.88}},
...         "gates": {"accuracy": {"passed": True, "min_improvement": 0.0}},
...     },
...     RiskTier.HIGH,
...     [{"stage": "approved", "timestamp": "2024-05-01T09:00:00.000Z", "by": "alice",
...       "reason": "reviewed"}],
... )
>>> print(card.split("## Metrics vs champion")[1].split("## Gate")[0].strip())
| Metric | Challenger | Champion | Change |
|---|---|---|---|
| accuracy | 0.9100 | 0.8800 | +0.0300 |
>>> "| accuracy | passed | min_improvement=0.0 |" in card
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from driftwarden.config.training import RiskTier

__all__ = ["render_model_card"]

_NONE = "—"
_GATE_KEYS = frozenset({"name", "passed"})
_TIER_POLICY = {
    RiskTier.LOW: "promoted automatically when the gates pass",
    RiskTier.MEDIUM: "promoted automatically when the gates pass, with a notification",
    RiskTier.HIGH: "promoted only after a human approval",
}


def render_model_card(
    model: str,
    version: str,
    metadata: Mapping[str, Any],
    risk_tier: RiskTier | None,
    approvals: Sequence[Mapping[str, Any]],
) -> str:
    """The card as Markdown; ``approvals`` are stage-history entries (stage, timestamp, by,
    reason)."""
    sections = [
        f"# Model card: {model} version {version}",
        _model_section(metadata),
        _data_section(metadata.get("data")),
        _metrics_section(metadata.get("metrics")),
        _gates_section(metadata.get("gates")),
        _risk_section(risk_tier),
        _approvals_section(approvals),
    ]
    return "\n\n".join(sections) + "\n"


def _model_section(metadata: Mapping[str, Any]) -> str:
    rows = [
        ("Purpose", metadata.get("purpose")),
        ("Estimator", metadata.get("estimator")),
        ("Parameters", json.dumps(metadata["params"]) if "params" in metadata else None),
        ("Seed", metadata.get("seed")),
        ("Parent version", metadata.get("parent_version")),
        ("Trigger", metadata.get("trigger")),
        ("Request id", metadata.get("request_id")),
        ("Created", metadata.get("created_at")),
        ("Artifact SHA-256", metadata.get("artifact_sha256")),
    ]
    return "## Model\n\n" + _table(("Field", "Value"), rows)


def _data_section(lineage: object) -> str:
    if not isinstance(lineage, Mapping) or not lineage:
        return f"## Data\n\n{_NONE} no lineage recorded"
    return "## Data\n\n" + _table(("Source", "Value"), list(lineage.items()))


def _metrics_section(metrics: object) -> str:
    heading = "## Metrics vs champion\n\n"
    if not isinstance(metrics, Mapping) or not metrics.get("challenger"):
        return f"{heading}{_NONE} no holdout metrics recorded"
    challenger: Mapping[str, Any] = metrics["challenger"]
    champion: Mapping[str, Any] = metrics.get("champion") or {}
    rows = [
        (name, _number(value), _number(champion.get(name)), _change(value, champion.get(name)))
        for name, value in challenger.items()
    ]
    return heading + _table(("Metric", "Challenger", "Champion", "Change"), rows)


def _gates_section(gates: object) -> str:
    if isinstance(gates, Mapping) and "checks" in gates:  # a GateReport.to_dict()
        gates = gates["checks"]
    if isinstance(gates, Sequence) and not isinstance(gates, str):
        gates = {check.get("name", _NONE): check for check in gates if isinstance(check, Mapping)}
    if not isinstance(gates, Mapping) or not gates:
        return f"## Gate results\n\n{_NONE} no gate results recorded"
    rows = [(name, *_gate_outcome(result)) for name, result in gates.items()]
    return "## Gate results\n\n" + _table(("Gate", "Result", "Details"), rows)


def _gate_outcome(result: object) -> tuple[str, str]:
    if isinstance(result, Mapping):
        details = ", ".join(f"{k}={v}" for k, v in result.items() if k not in _GATE_KEYS)
        return _verdict(result.get("passed")), details or _NONE
    return _verdict(result), _NONE


def _risk_section(risk_tier: RiskTier | None) -> str:
    if risk_tier is None:
        return f"## Risk tier\n\n{_NONE} not decided yet"
    return f"## Risk tier\n\n**{risk_tier.value}**: {_TIER_POLICY[risk_tier]}."


def _approvals_section(approvals: Sequence[Mapping[str, Any]]) -> str:
    if not approvals:
        return f"## Approvals and stage history\n\n{_NONE} none yet"
    rows = [
        (entry.get("timestamp"), entry.get("stage"), entry.get("by"), entry.get("reason"))
        for entry in approvals
    ]
    return "## Approvals and stage history\n\n" + _table(("When", "Stage", "By", "Reason"), rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = [_row(header), "|" + "---|" * len(header)]
    lines.extend(_row(row) for row in rows)
    return "\n".join(lines)


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(value: object) -> str:
    text = _NONE if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _verdict(passed: object) -> str:
    if isinstance(passed, bool):
        return "passed" if passed else "failed"
    return "unknown"


def _number(value: object) -> str | None:
    return f"{value:.4f}" if isinstance(value, int | float) else None


def _change(new: object, old: object) -> str | None:
    if isinstance(new, int | float) and isinstance(old, int | float):
        return f"{new - old:+.4f}"
    return None
