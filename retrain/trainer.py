"""Train a challenger on a training set and measure a model on a holdout.

The estimator comes from the config as an import path, resolved only inside the allowed module
prefixes; it is seeded, put behind a :class:`~driftwarden.retrain.features.FeatureVectorizer` and
fitted on
the older part of the training set. The newer part is the holdout on which champion and
challenger are both evaluated.

>>> from driftwarden.config.training import TrainingConfig, estimator_path_problem
>>> from driftwarden.retrain.dataset import Example, TrainingSet
>>> examples = tuple(
...     Example(features={"x": float(i % 10)}, label=int(i % 10 >= 5), prediction_timestamp=i,
...             model_version="1", prediction_id=f"p-{i:03}")
...     for i in range(100)
... )
>>> config = TrainingConfig(estimator="sklearn.linear_model.LogisticRegression")
>>> model = train(config, TrainingSet(examples=examples, lineage={}))
>>> model.train_size, len(model.holdout), model.columns, model.dropped_columns
(80, 20, 1, 0)
>>> evaluate(model.pipeline, model.holdout, "binary", positive_label=1)["accuracy"]
1.0
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sklearn import metrics
from sklearn.base import is_regressor

from driftwarden.config.training import TrainingConfig, estimator_path_problem
from driftwarden.core.tasks import Task, class_key
from driftwarden.retrain.dataset import Example, Target, TrainingSet, time_split
from driftwarden.retrain.errors import TrainingError
from driftwarden.retrain.features import Features, make_pipeline

__all__ = ["Predictor", "TrainedModel", "evaluate", "resolve_estimator", "train"]

log = logging.getLogger(__name__)


class Predictor(Protocol):
    """What :func:`evaluate` needs of a model: ``predict`` on feature dicts.

    ``predict_proba`` and ``classes_`` (as on a scikit-learn pipeline), when present, add the
    probability metrics.
    """

    def predict(self, X: Sequence[Features]) -> Any: ...


@dataclass(frozen=True, kw_only=True)
class TrainedModel:
    """A fitted pipeline (it scores raw feature dicts), the data it was not trained on, and its
    column count with the columns left out to stay within ``max_columns``."""

    pipeline: Any
    train_size: int
    holdout: tuple[Example, ...]
    seed: int
    columns: int
    dropped_columns: int


def resolve_estimator(path: str, params: Mapping[str, Any], allowed_prefixes: Sequence[str]) -> Any:
    """An estimator from ``"package.module.Class"`` or ``"package.module:factory"``.

    A class is instantiated with ``params``, a factory is called with them and must return an
    estimator (or a pipeline). Nothing is imported unless ``path`` passes
    :func:`~driftwarden.config.training.estimator_path_problem` (an allowed prefix, nothing private,
    factories
    only from prefixes the user added), and the class or factory found must be defined under an
    allowed prefix too; a class must have ``fit`` and ``predict`` before it is instantiated.

    >>> resolve_estimator("sklearn.linear_model.Ridge", {"alpha": 2.0}, ("sklearn.",))
    Ridge(alpha=2.0)
    >>> resolve_estimator("os:system", {}, ("sklearn.",))
    Traceback (most recent call last):
    ...
    driftwarden.retrain.errors.TrainingError: estimator 'os:system' is outside the allowed ...
    """
    prefixes = tuple(allowed_prefixes)
    module_name, is_factory, name = _split_path(path)
    problem = estimator_path_problem(path, prefixes)
    if problem:
        raise TrainingError(problem)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainingError(f"estimator {path!r}: cannot import {module_name!r}: {exc}") from exc
    target = getattr(module, name, None)
    if not (callable(target) if is_factory else isinstance(target, type)):
        kind = "factory function" if is_factory else "class"
        raise TrainingError(f"estimator {path!r}: {module_name} has no {kind} {name!r}")
    if not str(getattr(target, "__module__", "")).startswith(prefixes):
        raise TrainingError(
            f"estimator {path!r} is defined in {target.__module__!r}, outside the allowed "
            f"module prefixes {list(prefixes)}"
        )
    if not is_factory and not _has_fit_and_predict(target):
        raise TrainingError(f"estimator {path!r} is a class without fit and predict")
    return _instantiate(path, target, params)


def train(
    config: TrainingConfig, training_set: TrainingSet, features: Collection[str] = ()
) -> TrainedModel:
    """Fit ``config.estimator`` on the training part of
    :func:`~driftwarden.retrain.dataset.time_split`.

    The pipeline uses only the declared ``features`` (all when empty) and at most
    ``config.max_columns`` columns (see :class:`~driftwarden.retrain.features.FeatureVectorizer`);
    columns
    left out are logged and counted in ``dropped_columns``.

    Every ``random_state`` parameter of the estimator (nested ones of a pipeline too) is set to
    ``config.seed``, so the same config and data give the same model. Classification labels of a
    single Python type are used as they are; mixed types (``1`` and ``"1"``) are unified to
    their :func:`~driftwarden.core.tasks.class_key` names.
    """
    estimator = resolve_estimator(
        config.estimator, config.params, config.allowed_estimator_prefixes
    )
    _seed(estimator, config.seed)
    pipeline = make_pipeline(estimator, features, config.max_columns)
    train_part, holdout = time_split(training_set, config.holdout)
    labels = [example.label for example in train_part]
    try:
        targets = np.asarray(labels, dtype=float) if is_regressor(pipeline) else _targets(labels)
        pipeline.fit([example.features for example in train_part], targets)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"training {config.estimator} failed: {exc}") from exc
    vectorizer = pipeline.named_steps["features"]
    if vectorizer.dropped_columns_:
        log.warning(
            "training %s: %d feature columns left out to stay within training.max_columns (%d)",
            config.estimator,
            vectorizer.dropped_columns_,
            config.max_columns,
        )
    return TrainedModel(
        pipeline=pipeline,
        train_size=len(train_part),
        holdout=holdout,
        seed=config.seed,
        columns=len(vectorizer.index_),
        dropped_columns=vectorizer.dropped_columns_,
    )


def evaluate(
    pipeline: Predictor, holdout: Sequence[Example], task: str, positive_label: Target | None
) -> dict[str, float]:
    """Metrics of ``pipeline`` on ``holdout``, computed with :mod:`sklearn.metrics`.

    - binary: ``accuracy``, ``f1`` (of ``positive_label``), and with ``predict_proba`` also
      ``log_loss`` and ``roc_auc`` (NaN when the holdout holds a single class);
    - multiclass: ``accuracy``, ``f1`` (macro), and ``log_loss`` with ``predict_proba``;
    - regression: ``mae``, ``rmse``, ``r2`` (NaN below two examples).

    Labels and predictions are compared by :func:`~driftwarden.core.tasks.class_key`.
    """
    if not holdout:
        raise TrainingError("cannot evaluate on an empty holdout")
    kind = _task(task, positive_label)
    rows = [example.features for example in holdout]
    labels = [example.label for example in holdout]
    predictions = list(pipeline.predict(rows))
    if kind is Task.REGRESSION:
        return _regression_metrics(labels, predictions)
    y_true = [class_key(label) for label in labels]
    y_pred = [class_key(prediction) for prediction in predictions]
    proba = _probabilities(pipeline, rows, y_true)
    if kind is Task.BINARY:
        return _binary_metrics(y_true, y_pred, proba, class_key(positive_label))
    return _multiclass_metrics(y_true, y_pred, proba)


def _split_path(path: str) -> tuple[str, bool, str]:
    module_name, is_factory, name = path.partition(":")
    if not is_factory:
        module_name, _, name = path.rpartition(".")
    if not all(part.isidentifier() for part in (*module_name.split("."), name)):
        raise TrainingError(
            f"estimator {path!r} is not an import path: use 'package.module.Class' or "
            "'package.module:factory'"
        )
    return module_name, bool(is_factory), name


def _has_fit_and_predict(estimator: Any) -> bool:
    """Checked on a class before it is instantiated, so no other class's ``__init__`` runs."""
    return all(callable(getattr(estimator, method, None)) for method in ("fit", "predict"))


def _instantiate(path: str, target: Any, params: Mapping[str, Any]) -> Any:
    try:
        estimator = target(**params)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"estimator {path!r} rejected params {dict(params)}: {exc}") from exc
    if not _has_fit_and_predict(estimator):
        raise TrainingError(
            f"estimator {path!r} gave a {type(estimator).__name__}, which has no fit and predict"
        )
    return estimator


def _seed(estimator: Any, seed: int) -> None:
    names = [
        name
        for name in estimator.get_params(deep=True)
        if name == "random_state" or name.endswith("__random_state")
    ]
    estimator.set_params(**dict.fromkeys(names, seed))


def _targets(labels: list[Target]) -> list[Target]:
    """Classification targets: labels of one Python type as they are, else class names."""
    if len({type(label) for label in labels}) <= 1:
        return labels
    return [class_key(label) for label in labels]


def _task(task: str, positive_label: Target | None) -> Task:
    try:
        kind = Task(task)
    except ValueError:
        raise TrainingError(
            f"unknown task {task!r}; use one of {[t.value for t in Task]}"
        ) from None
    if kind is Task.BINARY and positive_label is None:
        raise TrainingError("task 'binary' needs a positive_label")
    return kind


def _probabilities(
    pipeline: Predictor, rows: Sequence[Features], y_true: list[str]
) -> tuple[list[str], npt.NDArray[np.float64]] | None:
    """Class names (sorted, with the holdout's unknown classes at probability 0) and matrix."""
    predict_proba = getattr(pipeline, "predict_proba", None)
    if predict_proba is None:
        return None
    known = [class_key(c) for c in pipeline.classes_]  # type: ignore[attr-defined]
    unknown = sorted(set(y_true) - set(known))
    matrix = np.hstack([predict_proba(rows), np.zeros((len(rows), len(unknown)))])
    names = known + unknown
    order = np.argsort(names, kind="stable")
    return [names[i] for i in order], matrix[:, order]


def _binary_metrics(
    y_true: list[str],
    y_pred: list[str],
    proba: tuple[list[str], npt.NDArray[np.float64]] | None,
    positive: str,
) -> dict[str, float]:
    is_positive = np.array([y == positive for y in y_true])
    values = {
        "accuracy": metrics.accuracy_score(y_true, y_pred),
        "f1": metrics.f1_score(is_positive, [p == positive for p in y_pred], zero_division=0.0),
    }
    if proba is not None:
        names, matrix = proba
        score = matrix[:, names.index(positive)] if positive in names else np.zeros(len(y_true))
        values["log_loss"] = metrics.log_loss(is_positive, score, labels=[False, True])
        two_classes = 0 < is_positive.sum() < len(is_positive)
        values["roc_auc"] = metrics.roc_auc_score(is_positive, score) if two_classes else np.nan
    return {name: float(value) for name, value in values.items()}


def _multiclass_metrics(
    y_true: list[str],
    y_pred: list[str],
    proba: tuple[list[str], npt.NDArray[np.float64]] | None,
) -> dict[str, float]:
    values = {
        "accuracy": metrics.accuracy_score(y_true, y_pred),
        "f1": metrics.f1_score(y_true, y_pred, average="macro", zero_division=0.0),
    }
    if proba is not None:
        names, matrix = proba
        values["log_loss"] = metrics.log_loss(y_true, matrix, labels=names)
    return {name: float(value) for name, value in values.items()}


def _regression_metrics(labels: list[Target], predictions: list[Any]) -> dict[str, float]:
    y_true = np.asarray(labels, dtype=float)
    y_pred = np.asarray(predictions, dtype=float)
    return {
        "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
        "rmse": float(metrics.root_mean_squared_error(y_true, y_pred)),
        "r2": float(metrics.r2_score(y_true, y_pred)) if len(y_true) >= 2 else float("nan"),
    }
