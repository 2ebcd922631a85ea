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
    examples: int = Field(default=20_000, gt=0)  # last N joined examples from the examples topic
    base: str | None = None  # optional base table (CSV or Parquet) added to the examples
    label_column: str = "label"  # the base table's label column


class SegmentGate(Strict):
    by: str  # a feature name
    max_drop: float = Field(default=0.05, ge=0)


class FairnessGate(Strict):
    sensitive: str  # a feature name
    metric: Literal["equal_opportunity_difference", "demographic_parity_difference"] = (
        "equal_opportunity_difference"
    )
    max: float = Field(default=0.1, ge=0)


class GateConfig(Strict):
    metric: str = "accuracy"
    min_improvement: float = 0.0
    guards: dict[str, float] = Field(default_factory=dict)  # metric -> largest allowed worsening
    segments: SegmentGate | None = None
    fairness: FairnessGate | None = None


class TrainingConfig(Strict):
    estimator: str = "sklearn.ensemble.HistGradientBoostingClassifier"
    params: dict[str, Any] = Field(default_factory=dict)
    data: TrainingData = Field(default_factory=TrainingData)
    holdout: float = Field(default=0.2, gt=0, lt=1)
    seed: int = 0
    gate: GateConfig = Field(default_factory=GateConfig)
    risk_tier: RiskTier = RiskTier.LOW
    allowed_estimator_prefixes: tuple[str, ...] = DEFAULT_ESTIMATOR_PREFIXES
    # Exact type names (``package.module.Class``) a registered model file of this model may hold
    # beyond those of the configured estimator's pipeline (see driftwarden.retrain.artifact_types).
    trusted_types: tuple[str, ...] = ()
    # Most feature columns of a pipeline (rows x columns x 8 bytes: 20,000 x 5,000 is 800 MB).
    max_columns: int = Field(default=5000, gt=0)

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
