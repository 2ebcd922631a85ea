"""The calibration a registered version's reference profile records: the new model's scores on
data it was not trained on, against their labels (see :mod:`driftwarden.core.calibration`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from driftwarden.core.calibration import Calibration, calibration_from_columns
from driftwarden.core.errors import ProfileError
from driftwarden.core.tasks import Task, class_key

__all__ = ["scored_calibration"]

log = logging.getLogger(__name__)


def scored_calibration(
    model: str,
    task: Task | str,
    pipeline: Any,
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[Any],
) -> Calibration | None:
    """The isotonic calibration of ``pipeline``'s ``predict_proba`` on ``rows``; None (logged)
    for a regression, a pipeline without class probabilities or too little data."""
    if Task(task) is Task.REGRESSION or not rows:
        return None
    predict_proba = getattr(pipeline, "predict_proba", None)
    classes = getattr(pipeline, "classes_", None)
    if predict_proba is None or classes is None:
        log.warning(
            "model %s: the pipeline has no predict_proba/classes_: its profile records no "
            "calibration and performance estimation uses the raw scores",
            model,
        )
        return None
    try:
        probabilities = predict_proba(list(rows))
        scores = {class_key(c): probabilities[:, i] for i, c in enumerate(classes)}
        return calibration_from_columns(list(labels), scores)
    except (ProfileError, ValueError, IndexError) as exc:
        log.warning(
            "model %s: no calibration recorded in the profile (%s); performance estimation "
            "uses the raw scores",
            model,
            exc,
        )
        return None
