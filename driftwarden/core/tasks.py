"""What a model predicts and what its features are: the vocabulary shared by the monitor and
the retraining side (canonical class names, task and feature types)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["METRICS_BY_TASK", "FeatureType", "Task", "class_key"]


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


# The performance metrics reported for each task (``driftwarden_model_<metric>``).
METRICS_BY_TASK: dict[Task, tuple[str, ...]] = {
    Task.BINARY: ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc"),
    Task.MULTICLASS: ("accuracy", "macro_f1"),
    Task.REGRESSION: ("mae", "rmse", "r2"),
}


class FeatureType(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


def class_key(value: object) -> str:
    """Canonical class name: a label and a prediction serialized differently still agree.

    >>> [class_key(v) for v in (1, 1.0, True, "1", "pro", 2.5)]
    ['1', '1', '1', '1', 'pro', '2.5']
    """
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
