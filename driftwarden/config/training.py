"""``models[].training``: how a challenger is trained and gated, and which estimators and model
file types are allowed."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from driftwarden.core.config import Strict

__all__ = [
    "DEFAULT_ESTIMATOR_PREFIXES",
    "FORBIDDEN_TYPE_MODULES",
    "FairnessGate",
    "GateConfig",
    "RiskTier",
    "SegmentGate",
    "TrainingConfig",
    "TrainingData",
    "estimator_path_problem",
    "type_name_problem",
]

DEFAULT_ESTIMATOR_PREFIXES = ("sklearn.",)
# Modules whose names a model file may never use, even if listed in ``trusted_types``: loading a
# skops file calls or instantiates the types it names, and these run commands, touch files,
# open connections, import code or reach any attribute.
FORBIDDEN_TYPE_MODULES = frozenset(
    {
        "builtins", "__builtin__", "os", "posix", "nt", "sys", "subprocess", "importlib",
        "runpy", "code", "codeop", "ctypes", "shutil", "pathlib", "io", "_io", "tempfile",
        "socket", "ssl", "pickle", "_pickle", "marshal", "shelve", "dbm", "multiprocessing",
        "threading", "_thread", "asyncio", "signal", "pty", "webbrowser", "urllib", "http",
        "ftplib", "smtplib", "operator", "functools", "types", "inspect", "gc", "pdb", "bdb",
        "timeit", "trace", "cProfile", "profile", "site", "sysconfig", "pkgutil", "zipimport",
        "glob", "fileinput", "sqlite3", "logging", "platform", "joblib", "cloudpickle", "dill",
    }
)  # fmt: skip


class RiskTier(StrEnum):
    LOW = "low"  # auto-promote
    MEDIUM = "medium"  # auto-promote and notify
    HIGH = "high"  # wait for a human approval


class TrainingData(Strict):
    examples: int = Field(default=20_000, gt=0)
    """How many of the newest joined examples of the model to read from the examples topic."""
    base: str | None = None
    """Base table (CSV or Parquet) put before the examples, e.g. the original training data. Every
    column but `label_column` and `timestamp` is a feature; rows are ordered by a `timestamp`
    column (epoch seconds or a date-time) if there is one, else by file order. Every row needs a
    label. Relative to the working directory. The model's `pii` columns are dropped or hashed as
    the table is read (see [`privacy`](../configuration.md#privacy)).
    """
    label_column: str = "label"
    """The base table's label column."""


class SegmentGate(Strict):
    by: str
    """The feature whose values (missing values form one segment) make the segments."""
    max_drop: float = Field(default=0.05, ge=0)
    """How much worse than the champion's the challenger's `gate.metric` may be in any segment with
    at least 20 holdout examples.
    """


class FairnessGate(Strict):
    sensitive: str
    """The feature whose values make the groups."""
    metric: Literal["equal_opportunity_difference", "demographic_parity_difference"] = (
        "equal_opportunity_difference"
    )
    """`equal_opportunity_difference`: largest difference in true-positive rate between the groups;
    `demographic_parity_difference`: in positive-prediction rate.
    """
    max: float = Field(default=0.1, ge=0)
    """Largest difference the challenger may have."""


class GateConfig(Strict):
    metric: str = "accuracy"
    """Primary gate: the challenger must beat the champion on this holdout metric by at least
    `min_improvement`. Holdout metrics: `binary`: `accuracy`, `f1` (of `positive_label`),
    `log_loss`, `roc_auc`; `multiclass`: `accuracy`, `f1` (macro), `log_loss`; `regression`:
    `mae`, `rmse`, `r2` (`log_loss` and `roc_auc` only for estimators with `predict_proba`).
    Lower is better for `log_loss`, `mae` and `rmse`. Must fit the task when the config is
    loaded: `mae`, `rmse` or `r2` for a `regression` model (so set it, e.g. `rmse`), else
    `accuracy`, `f1`, `log_loss` or `roc_auc`; a metric the run does not measure (`roc_auc` of a
    `multiclass` model) fails the gate.
    """
    min_improvement: float = 0.0
    """Least improvement on `gate.metric`; `0.0` lets an equally good challenger pass."""
    guards: dict[str, float] = Field(default_factory=dict)
    """For each metric, the largest worsening allowed (e.g. `{log_loss: 0.01}`)."""
    segments: SegmentGate | None = None
    """For each value of the feature `by` (missing values form one segment) with at least 20 holdout
    examples, the challenger's `gate.metric` may be at most `max_drop` (default `0.05`) worse
    than the champion's.
    """
    fairness: FairnessGate | None = None
    """Over the groups of the feature `sensitive` with at least 20 examples (for
    `equal_opportunity_difference`, 20 positive ones), the challenger's largest difference in
    true-positive rate (`metric: equal_opportunity_difference`, the default) or
    positive-prediction rate (`demographic_parity_difference`) must be at most `max` (default
    `0.1`). Fewer than two such groups: skipped. `binary` models only: it fails for the other
    tasks.
    """


class TrainingConfig(Strict):
    estimator: str = "sklearn.ensemble.HistGradientBoostingClassifier"
    """Import path of the estimator: `package.module.Class` (instantiated with `params`) or
    `package.module:factory` (called with `params`; returns an estimator or a pipeline). It must
    start with one of `allowed_estimator_prefixes`, and the class or factory found must be
    defined under one of them. No part of the path may start with `_` (private modules and
    objects); a class must have `fit` and `predict` before it is instantiated; a factory, which
    runs with `params` before anything can check it, must come from a prefix you added, not from
    the default `sklearn.` (scikit-learn's public functions include ones that delete directories
    or write files: name scikit-learn estimators by their class). Nothing from the config is ever
    passed to `eval` or `exec`. For a `regression` model, set a regressor: an estimator whose
    name ends in `Classifier` is rejected there.
    """
    params: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the class or factory. Every `random_state` parameter (nested ones too)
    is set to `seed`.
    """
    data: TrainingData = Field(default_factory=TrainingData)
    """What to train on: the newest joined examples, after an optional base table."""
    holdout: float = Field(default=0.2, gt=0, lt=1)
    """Fraction of the training set, the most recent examples, held out to compare champion and
    challenger (rounded up; at least one example on each side).
    """
    seed: int = 0
    """Seed of the estimator (`random_state`)."""
    gate: GateConfig = Field(default_factory=GateConfig)
    """What a challenger must pass to be registered as better than the champion."""
    risk_tier: RiskTier = RiskTier.LOW
    """What happens to a version that passed its gates: `low` and `medium`: promoted to production
    automatically; `high`: waits for `models approve`. See
    [Governance](../retraining.md#governance).
    """
    allowed_estimator_prefixes: tuple[str, ...] = DEFAULT_ESTIMATOR_PREFIXES
    """Module prefixes `estimator` may come from; `sklearn.` is always allowed, the prefixes listed
    here are added to it. Loading a registered model is restricted separately, to an allow-list
    of types (see [Registry](../retraining.md#the-model-registry)).
    """
    trusted_types: tuple[str, ...] = ()
    """Exact type names (`package.module.Class`) a registered model file of this model may hold
    beyond skops' defaults and the types of the configured `estimator`'s pipeline, e.g.
    `sklearn.tree._tree.Tree` to import a random forest while `estimator` is a linear model. No
    prefixes; names from `builtins`, `os`, `subprocess` and similar modules, and names with a
    `__` part, are rejected when the config is loaded. A listed type is code that loading a file
    may run: list only types you trust (see [Registry](../retraining.md#the-model-registry)).
    """
    max_columns: int = Field(default=5000, gt=0)
    """Most feature columns (values, one-hot categories and missing indicators) of a trained
    pipeline; the matrix is rows x columns x 8 bytes (20,000 x 5,000: 800 MB). Over it, features
    are ranked by how many examples have them and their columns kept in that order; the rest are
    dropped, logged, and recorded in the version's metadata (`data.columns`,
    `data.columns_dropped`). With declared `features`, only those (and `pii` ones) make columns.
    """

    @field_validator("estimator")
    @classmethod
    def _import_path(cls, value: str) -> str:
        module = value.split(":", 1)[0]
        if not module or any(not part.isidentifier() for part in module.split(".")):
            raise ValueError(
                f"{value!r} is not an import path: use 'package.module.Class' or "
                "'package.module:factory'"
            )
        return value

    @field_validator("allowed_estimator_prefixes")
    @classmethod
    def _plus_default(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """The user's prefixes come in addition to the default ``sklearn.``."""
        return tuple(dict.fromkeys((*DEFAULT_ESTIMATOR_PREFIXES, *value)))

    @field_validator("trusted_types")
    @classmethod
    def _exact_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        problems = [problem for name in value if (problem := type_name_problem(name))]
        if problems:
            raise ValueError("; ".join(problems))
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _allowed_estimator(self) -> TrainingConfig:
        problem = estimator_path_problem(self.estimator, self.allowed_estimator_prefixes)
        if problem:
            raise ValueError(problem)
        return self


def estimator_path_problem(path: str, allowed_prefixes: Sequence[str]) -> str | None:
    """Why ``path`` may not be imported as an estimator, or None: it must start with an allowed
    prefix, name nothing private (no part starting with ``_``), and a factory
    (``module:function``), which runs with the config's ``params`` before anything can check
    what it is, must come from a prefix the user added, not from the default ``sklearn.``.

    >>> estimator_path_problem("sklearn.linear_model.Ridge", ("sklearn.",)) is None
    True
    >>> print(estimator_path_problem("sklearn._x.A", ("sklearn.",)))
    estimator 'sklearn._x.A' names something private ('_x'): use a public import path
    """
    prefixes = tuple(allowed_prefixes)
    if not path.startswith(prefixes):
        return (
            f"estimator {path!r} is outside the allowed module prefixes {list(prefixes)}; add "
            "its package to 'allowed_estimator_prefixes' to allow it"
        )
    private = next((p for p in path.replace(":", ".").split(".") if p.startswith("_")), None)
    if private is not None:
        return f"estimator {path!r} names something private ({private!r}): use a public import path"
    added = tuple(p for p in prefixes if p not in DEFAULT_ESTIMATOR_PREFIXES)
    if ":" in path and not path.startswith(added):
        return (
            f"estimator {path!r} is a factory under a default prefix: a factory runs with "
            "'params' before anything can check it, so it must come from a package you added to "
            "'allowed_estimator_prefixes'; for scikit-learn, name the estimator class"
        )
    return None


def type_name_problem(name: str) -> str | None:
    """Why ``name`` may not be trusted in a model file, or None: it must be one exact type
    (``package.module.Class``, no prefix or wildcard), name nothing special (no ``__`` part) and
    come from no module in :data:`FORBIDDEN_TYPE_MODULES`.

    >>> type_name_problem("sklearn.tree._tree.Tree") is None
    True
    >>> print(type_name_problem("builtins.exec"))
    type 'builtins.exec' is from module 'builtins', which a model file may never name
    >>> print(type_name_problem("mypackage."))
    type 'mypackage.' is not an exact type name: use 'package.module.Class', not a prefix
    """
    parts = name.split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        return f"type {name!r} is not an exact type name: use 'package.module.Class', not a prefix"
    if parts[0] in FORBIDDEN_TYPE_MODULES:
        return f"type {name!r} is from module {parts[0]!r}, which a model file may never name"
    special = next((part for part in parts if part.startswith("__")), None)
    if special is not None:
        return f"type {name!r} names something special ({special!r}): a model file may not"
    return None
