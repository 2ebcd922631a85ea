"""``driftwarden models register``: import a model fitted elsewhere, with its training table.

The artifact is a skops file (never a pickle), given as a file or read from MLflow
(:mod:`driftwarden.retrain.mlflow_import`); its types are checked against the model's exact trust
list (:mod:`driftwarden.retrain.artifact_types`) before anything is loaded. It must score raw
feature dicts (a pipeline built with :func:`driftwarden.retrain.features.make_pipeline`) or a data
frame of the feature columns (a pipeline starting with a ``ColumnTransformer`` fitted on one, as
MLflow users log them: it scores feature dicts through
:func:`~driftwarden.retrain.serving_pipeline.scoring_feature_dicts`). Its reference profile and
reference metrics come from the training table, and it goes through the same risk-tier
governance as a retrained version.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from driftwarden.core.profile import build_profile
from driftwarden.retrain.artifact_types import read_artifact
from driftwarden.retrain.calibration import scored_calibration
from driftwarden.retrain.dataset import read_base_table
from driftwarden.retrain.errors import RegistryError
from driftwarden.retrain.governance import Decision, Governance
from driftwarden.retrain.model_card import render_model_card
from driftwarden.retrain.serving_pipeline import scoring_feature_dicts
from driftwarden.retrain.settings import ModelTraining
from driftwarden.retrain.trainer import evaluate
from driftwarden.retrain.versions import VersionInfo

__all__ = ["import_blob", "import_model"]

PREDICTION, LABEL = "__prediction__", "__label__"


def import_model(
    governance: Governance, model: ModelTraining, artifact: Path, data: Path, by: str
) -> tuple[VersionInfo, Decision]:
    """Import the skops file ``artifact`` as a new version of ``model`` (:func:`import_blob`)."""
    try:
        blob = read_artifact(artifact)
    except OSError as exc:
        raise RegistryError(f"cannot read {artifact}: {exc.strerror}") from exc
    return import_blob(governance, model, blob, str(artifact), data, by)


def import_blob(
    governance: Governance, model: ModelTraining, blob: bytes, source: str, data: Path, by: str
) -> tuple[VersionInfo, Decision]:
    """Register the skops file ``blob`` (read from ``source``, recorded as ``imported_from``)
    with its profile and metrics from the table ``data``; the risk tier decides its stage."""
    estimator = governance.registry.deserialize(model.name, blob, source)
    scorer = scoring_feature_dicts(estimator)
    examples, digest = read_base_table(data, model.training.data.label_column, model.pii)
    rows = [dict(e.features) for e in examples]
    try:
        predictions = list(scorer.predict(rows))
    except Exception as exc:  # noqa: BLE001 - any failure means it cannot score feature dicts
        raise RegistryError(
            f"{source} cannot score raw feature dicts ({exc}); save a pipeline that starts "
            "with driftwarden.retrain.features.FeatureVectorizer"
            " (driftwarden.retrain.features.make_pipeline), or with a ColumnTransformer over a "
            "data frame of the feature columns"
        ) from exc
    columns: dict[str, list[Any]] = {n: [r.get(n) for r in rows] for n in sorted({*rows[0]})}
    columns[PREDICTION] = predictions
    columns[LABEL] = [e.label for e in examples]
    profile = build_profile(
        model.name,
        columns,
        dict(model.features) or None,
        label=LABEL,
        prediction=PREDICTION,
        task=model.task,
    )
    calibration = scored_calibration(model.name, model.task, estimator, rows, columns[LABEL])
    profile = replace(profile, calibration=calibration)
    production = governance.registry.production(model.name)
    metadata: dict[str, Any] = {
        "parent_version": production.version if production else None,
        "trigger": "import",
        "request_id": None,
        "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "imported_from": source,
        "task": model.task,
        "data": {"base": {"path": str(data), "sha256": digest, "rows": len(examples)}},
        "metrics": {
            "challenger": evaluate(scorer, tuple(examples), model.task, model.positive_label),
            "champion": None,
        },
        "gates": {"checks": []},
        "risk_tier": model.training.risk_tier.value,
    }
    info = governance.registry.register(
        model.name,
        estimator,
        metadata,
        profile.to_dict(),
        lambda version: render_model_card(
            model.name, version, metadata, model.training.risk_tier, []
        ),
        by=by,
        reason=f"imported from {source}",
    )
    decision = governance.decide(
        model.name, info.version, model.training.risk_tier, True, by, imported_from=source
    )
    return info, decision
