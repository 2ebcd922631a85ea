"""What a registered model version is, whichever registry holds it: its stages, the read-only
view of its metadata, the metadata keys the registry alone writes, and the rules for names.

>>> Stage("awaiting_approval") is Stage.AWAITING_APPROVAL
True
>>> is_version_name("12"), is_version_name("v1")
(True, False)
>>> is_model_name("churn-v2"), is_model_name("../etc")
(True, False)
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

__all__ = [
    "RESERVED_METADATA",
    "Stage",
    "VersionInfo",
    "check_model_name",
    "is_model_name",
    "is_version_name",
    "library_versions",
]

RESERVED_METADATA = frozenset(
    {
        "model",
        "version",
        "created_at",
        "artifact_sha256",
        "artifact_hmac",
        "stage",
        "stage_history",
        "mlflow_run_id",
    }
)
_LIBRARIES = ("scikit-learn", "numpy", "scipy", "skops")


class Stage(StrEnum):
    CANDIDATE = "candidate"
    AWAITING_APPROVAL = "awaiting_approval"
    PRODUCTION = "production"
    ARCHIVED = "archived"
    REJECTED = "rejected"


@dataclass(frozen=True, kw_only=True)
class VersionInfo:
    """A read-only view of one registered version (a snapshot of its metadata).

    ``path`` is the version's directory in the filesystem backend, ``None`` in MLflow.
    """

    model: str
    version: str
    stage: Stage
    created_at: str
    metadata: dict[str, Any]
    path: Path | None = None

    @property
    def stage_history(self) -> list[dict[str, Any]]:
        """Entries ``{"stage", "timestamp", "by", "reason"}``, oldest first."""
        return list(self.metadata["stage_history"])


def library_versions() -> dict[str, str]:
    """The versions of Python and of the libraries a saved model depends on."""
    versions = {name: importlib_metadata.version(name) for name in _LIBRARIES}
    return {"python": platform.python_version(), **versions}


def is_version_name(name: str) -> bool:
    """Versions are ``"1"``, ``"2"``, ..."""
    return name.isascii() and name.isdigit()


def is_model_name(model: str) -> bool:
    """Letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit."""
    return bool(model) and model[0].isalnum() and all(c.isalnum() or c in "._-" for c in model)


def check_model_name(model: str) -> None:
    """Refuse a model name that is not a safe directory name."""
    if not is_model_name(model):
        raise ValueError(
            f"model name {model!r} is not usable as a directory name: use letters, digits, "
            "'.', '_' and '-', starting with a letter or digit"
        )
