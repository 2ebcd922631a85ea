from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn import metrics
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from driftwarden.config.training import TrainingConfig
from driftwarden.retrain.dataset import Example, Target, TrainingSet
from driftwarden.retrain.errors import TrainingError
from driftwarden.retrain.features import Features, FeatureVectorizer, make_pipeline
from driftwarden.retrain.trainer import evaluate, resolve_estimator, train

SKLEARN = ("sklearn.",)
HERE = ("tests.retrain.",)


def scaled_forest(n_estimators: int = 10) -> Pipeline:
    """A factory for the tests: resolved as ``tests.retrain.test_trainer:scaled_forest``."""
    return Pipeline([("scale", StandardScaler()), ("forest", RandomForestClassifier(n_estimators))])


def not_an_estimator() -> str:
    return "model"


def churn_set(n: int = 400, seed: int = 0) -> TrainingSet:
    """Noisy churn data: ``tenure`` (sometimes missing), ``plan`` (sometimes missing), ``seats``."""
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(n):
        tenure, plan = float(rng.gamma(2.0, 10.0)), str(rng.choice(["free", "pro", "team"]))
        logit = 1.5 - 0.1 * tenure + (1.0 if plan == "free" else -0.5) + rng.normal(0, 1)
        features: dict[str, Any] = {"tenure": tenure, "plan": plan, "seats": int(rng.integers(5))}
        if i % 7 == 0:
            del features["plan"]
        if i % 11 == 0:
            features["tenure"] = None
        examples.append(
            Example(
                features=features,
                label=int(logit > 0),
                prediction_timestamp=float(i),
                model_version="1",
                prediction_id=f"p-{i:04}",
            )
        )
    return TrainingSet(examples=tuple(examples), lineage={})


def forest_config(seed: int) -> TrainingConfig:
    return TrainingConfig(
        estimator="sklearn.ensemble.RandomForestClassifier",
        params={"n_estimators": 20, "max_features": 1},
        seed=seed,
    )


def test_a_class_path_is_instantiated_with_its_params() -> None:
    estimator = resolve_estimator("sklearn.linear_model.Ridge", {"alpha": 3.0}, SKLEARN)
    assert isinstance(estimator, Ridge)
    assert estimator.alpha == 3.0


def test_a_factory_path_is_called_with_its_params() -> None:
    path = "tests.retrain.test_trainer:scaled_forest"
    pipeline = resolve_estimator(path, {"n_estimators": 3}, HERE)
    assert isinstance(pipeline, Pipeline)
    assert pipeline.named_steps["forest"].n_estimators == 3


@pytest.mark.parametrize(
    "path", ["os:system", "os.system", "subprocess:run", "subprocess.Popen", "sklearnx.Thing"]
)
def test_paths_outside_the_allowed_prefixes_are_refused_before_importing(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported: list[str] = []
    monkeypatch.setattr(importlib, "import_module", lambda name, *_: imported.append(name))
    with pytest.raises(TrainingError, match="outside the allowed module prefixes"):
        resolve_estimator(path, {}, SKLEARN)
    assert imported == []


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (
            "tests.retrain.test_trainer:make_pipeline",
            {},
            "'driftwarden.retrain.features', outside the",
        ),
        ("sklearn.linear_model.NoSuchModel", {}, "has no class 'NoSuchModel'"),
        ("sklearn.linear_model.ridge_regression", {}, "has no class 'ridge_regression'"),
        ("sklearn.no_such_module.Model", {}, "cannot import 'sklearn.no_such_module'"),
        ("sklearn.linear_model.Ridge", {"colour": "red"}, "rejected params"),
        ("sklearn.linear_model:Ridge()", {}, "is not an import path"),
        ("tests.retrain.test_trainer:not_an_estimator", {}, "has no fit and predict"),
    ],
)
def test_unusable_estimators_are_refused(path: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        resolve_estimator(path, params, (*SKLEARN, *HERE))


def test_the_seed_makes_training_reproducible() -> None:
    training_set = churn_set()
    first, again = train(forest_config(7), training_set), train(forest_config(7), training_set)
    other = train(forest_config(8), training_set)
    rows = [example.features for example in first.holdout]
    assert first.seed == 7
    assert first.pipeline.named_steps["model"].random_state == 7
    np.testing.assert_array_equal(
        first.pipeline.predict_proba(rows), again.pipeline.predict_proba(rows)
    )
    assert not np.array_equal(
        first.pipeline.predict_proba(rows), other.pipeline.predict_proba(rows)
    )


def test_the_seed_reaches_the_steps_of_a_factory_pipeline() -> None:
    config = TrainingConfig(
        estimator="tests.retrain.test_trainer:scaled_forest",
        allowed_estimator_prefixes=HERE,
        seed=11,
    )
    model = train(config, churn_set(100))
    assert model.pipeline.named_steps["model"].named_steps["forest"].random_state == 11


def test_added_prefixes_extend_the_default_instead_of_replacing_it() -> None:
    config = TrainingConfig(
        estimator="sklearn.linear_model.LogisticRegression", allowed_estimator_prefixes=HERE
    )
    assert config.allowed_estimator_prefixes == ("sklearn.", *HERE)
    with pytest.raises(ValueError, match="outside the allowed module prefixes"):
        TrainingConfig(estimator="os.path:join", allowed_estimator_prefixes=HERE)


def test_training_uses_only_the_older_part() -> None:
    training_set = churn_set(100)
    model = train(forest_config(0), training_set)
    assert model.train_size == 80
    assert model.holdout == training_set.examples[80:]


def test_the_pipeline_scores_raw_dicts_with_missing_and_unseen_values() -> None:
    pipeline = train(forest_config(0), churn_set()).pipeline
    names = list(pipeline.named_steps["features"].get_feature_names_out())
    assert names == [
        "plan=free",
        "plan=pro",
        "plan=team",
        "seats",
        "tenure",
        "plan__missing",
        "tenure__missing",
    ]
    rows = [
        {"tenure": 3.0, "plan": "pro", "seats": 2},
        {"tenure": 3.0, "plan": "enterprise"},  # unseen category, seats absent
        {"plan": None, "referrer": "ads"},  # missing values, unseen feature
        {},
    ]
    assert set(pipeline.predict(rows)) <= {0, 1}
    assert pipeline.predict_proba(rows).shape == (4, 2)


def test_booleans_are_zero_or_one_and_strings_are_one_hot() -> None:
    vectorizer = FeatureVectorizer().fit([{"on": True, "tier": "a"}, {"on": False, "tier": "b"}])
    assert vectorizer.transform([{"on": True, "tier": "b"}]).tolist() == [[1.0, 0.0, 1.0]]
    with pytest.raises(TypeError, match="feature 'on' has unsupported type list"):
        vectorizer.transform([{"on": [1]}])  # type: ignore[dict-item]


def test_a_skops_round_trip_predicts_identically() -> None:
    pipeline = train(forest_config(3), churn_set()).pipeline
    blob = sio.dumps(pipeline)
    untrusted = sio.get_untrusted_types(data=blob)
    assert untrusted == [
        "driftwarden.retrain.features.FeatureVectorizer",
        "sklearn.tree._tree.Tree",
    ]
    loaded = sio.loads(blob, trusted=untrusted)
    rows = [example.features for example in churn_set(50, seed=9).examples]
    np.testing.assert_array_equal(loaded.predict_proba(rows), pipeline.predict_proba(rows))


def test_mixed_label_types_train_as_one_class_each() -> None:
    examples = churn_set(60).examples
    mixed = tuple(
        Example(
            features=e.features,
            label=(e.label, str(e.label), bool(e.label))[i % 3],
            prediction_timestamp=e.prediction_timestamp,
            model_version="1",
            prediction_id=e.prediction_id,
        )
        for i, e in enumerate(examples)
    )
    model = train(forest_config(0), TrainingSet(examples=mixed, lineage={}))
    assert list(model.pipeline.classes_) == ["0", "1"]


def test_a_label_a_regressor_cannot_use_is_a_training_error() -> None:
    examples = tuple(
        Example(
            features={"x": 1.0},
            label="high",
            prediction_timestamp=float(i),
            model_version="1",
            prediction_id=str(i),
        )
        for i in range(10)
    )
    config = TrainingConfig(estimator="sklearn.linear_model.LinearRegression")
    with pytest.raises(TrainingError, match="training sklearn.linear_model.LinearRegression"):
        train(config, TrainingSet(examples=examples, lineage={}))


def holdout_of(rows: Sequence[Features], labels: Sequence[Target]) -> list[Example]:
    return [
        Example(
            features=row,
            label=label,
            prediction_timestamp=float(i),
            model_version="1",
            prediction_id=f"h-{i}",
        )
        for i, (row, label) in enumerate(zip(rows, labels, strict=True))
    ]


def test_binary_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = (x + rng.normal(scale=1.0, size=200) > 0).astype(int)
    rows = [{"x": float(v)} for v in x]
    pipeline = make_pipeline(LogisticRegression()).fit(rows[:100], y[:100])
    labels = [bool(v) for v in y[100:]]  # True/False labels against a model of 0/1 classes
    values = evaluate(pipeline, holdout_of(rows[100:], labels), "binary", positive_label=1)
    predicted, proba = pipeline.predict(rows[100:]), pipeline.predict_proba(rows[100:])[:, 1]
    assert values == pytest.approx(
        {
            "accuracy": metrics.accuracy_score(y[100:], predicted),
            "f1": metrics.f1_score(y[100:], predicted),
            "log_loss": metrics.log_loss(y[100:], proba),
            "roc_auc": metrics.roc_auc_score(y[100:], proba),
        },
        rel=1e-12,
    )
    assert 0.6 < values["accuracy"] < 0.9


def test_the_positive_label_decides_f1_and_the_scores() -> None:
    rows = [{"x": float(v)} for v in range(8)]
    labels = ["yes", "yes", "no", "yes", "no", "no", "no", "yes"]
    pipeline = make_pipeline(LogisticRegression()).fit(rows, labels)
    holdout = holdout_of(rows, labels)
    as_yes = evaluate(pipeline, holdout, "binary", positive_label="yes")
    as_no = evaluate(pipeline, holdout, "binary", positive_label="no")
    predicted = pipeline.predict(rows)
    assert as_yes["f1"] == pytest.approx(metrics.f1_score(labels, predicted, pos_label="yes"))
    assert as_no["f1"] == pytest.approx(metrics.f1_score(labels, predicted, pos_label="no"))
    assert as_yes["roc_auc"] == pytest.approx(as_no["roc_auc"])


def test_multiclass_metrics_equal_sklearn_with_a_class_the_model_never_saw() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(150, 2))
    y = np.where(x[:, 0] > 0.5, "a", np.where(x[:, 1] > 0, "b", "c"))
    rows = [{"u": float(u), "v": float(v)} for u, v in x]
    pipeline = make_pipeline(LogisticRegression()).fit(rows[:100], y[:100])
    labels = [*y[100:-1], "d"]  # "d" never seen in training: probability 0
    values = evaluate(pipeline, holdout_of(rows[100:], labels), "multiclass", None)
    predicted = pipeline.predict(rows[100:])
    proba = np.hstack([pipeline.predict_proba(rows[100:]), np.zeros((50, 1))])
    assert values == pytest.approx(
        {
            "accuracy": metrics.accuracy_score(labels, predicted),
            "f1": metrics.f1_score(labels, predicted, average="macro"),
            "log_loss": metrics.log_loss(labels, proba, labels=["a", "b", "c", "d"]),
        },
        rel=1e-12,
    )


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=120)
    y = 2.0 * x + rng.normal(scale=0.5, size=120)
    rows = [{"x": float(v)} for v in x]
    pipeline = make_pipeline(LinearRegression()).fit(rows[:80], y[:80])
    values = evaluate(pipeline, holdout_of(rows[80:], list(y[80:])), "regression", None)
    predicted = pipeline.predict(rows[80:])
    assert values == pytest.approx(
        {
            "mae": metrics.mean_absolute_error(y[80:], predicted),
            "rmse": metrics.root_mean_squared_error(y[80:], predicted),
            "r2": metrics.r2_score(y[80:], predicted),
        },
        rel=1e-12,
    )


def test_a_single_class_holdout_has_no_roc_auc() -> None:
    rows = [{"x": float(v)} for v in range(6)]
    pipeline = make_pipeline(LogisticRegression()).fit(rows, [0, 0, 0, 1, 1, 1])
    values = evaluate(pipeline, holdout_of(rows[:3], [0, 0, 0]), "binary", positive_label=1)
    assert np.isnan(values["roc_auc"])
    assert values["accuracy"] == pytest.approx(
        metrics.accuracy_score([0, 0, 0], pipeline.predict(rows[:3]))
    )


@pytest.mark.parametrize(
    ("task", "positive", "message"),
    [("binary", None, "needs a positive_label"), ("ranking", None, "unknown task 'ranking'")],
)
def test_evaluate_refuses_an_incomplete_task(
    task: str, positive: Target | None, message: str
) -> None:
    pipeline = make_pipeline(LogisticRegression()).fit([{"x": 0.0}, {"x": 1.0}], [0, 1])
    with pytest.raises(TrainingError, match=message):
        evaluate(pipeline, holdout_of([{"x": 0.0}], [0]), task, positive)
