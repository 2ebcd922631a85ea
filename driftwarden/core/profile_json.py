"""The JSON document of a reference profile (schema 1): parsing, validation, files.

:meth:`ReferenceProfile.to_dict <driftwarden.core.profile.ReferenceProfile.to_dict>` writes the
document;
this module reads it back and checks every key, so a bad file fails with a
:class:`~driftwarden.core.profile.ProfileError` that names the file and the key path. The methods
``ReferenceProfile.from_dict``, ``save`` and ``load`` delegate here.

>>> from driftwarden.core.profile import build_profile
>>> document = build_profile("churn", {"tenure": [1.0, 2.0]}).to_dict()
>>> profile_from_dict(document, source="churn.json").features["tenure"].edges
(2.0,)
>>> document["features"]["tenure"]["frequencies"] = [1.0]
>>> try:
...     profile_from_dict(document, source="churn.json")
... except ProfileError as exc:
...     print(exc)
churn.json: features.tenure.frequencies: has 1 entries, expected 2 (one more than edges)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, NoReturn

from driftwarden.core.calibration import Calibration
from driftwarden.core.errors import ProfileError
from driftwarden.core.files import write_atomically
from driftwarden.core.profile import (
    SCHEMA_VERSION,
    CategoricalProfile,
    FeatureProfile,
    NumericProfile,
    ReferenceProfile,
)
from driftwarden.core.tasks import FeatureType

__all__ = ["load_profile", "profile_from_dict", "save_profile"]

_SUM_TOLERANCE = 1e-6
_FEATURE_TYPES = " or ".join(repr(member.value) for member in FeatureType)


def profile_from_dict(data: object, *, source: str = "profile") -> ReferenceProfile:
    """Parse and validate a document; :class:`ProfileError` names ``source`` and key path."""
    if not isinstance(data, Mapping):
        raise ProfileError(f"{source}: the top level must be a JSON object")
    root = _Node(data, "", source)
    schema = root.integer("schema")
    if schema != SCHEMA_VERSION:
        root.fail("schema", f"unsupported schema {schema}; this version reads {SCHEMA_VERSION}")
    features = root.child("features")
    return ReferenceProfile(
        schema=schema,
        model=root.text("model"),
        version=root.optional_text("version"),
        created_at=root.timestamp("created_at"),
        rows=root.integer("rows", minimum=1),
        features={name: _feature_from(features.child(name)) for name in features.data},
        prediction=_optional_feature(root, "prediction"),
        label=_optional_feature(root, "label"),
        performance=_performance_from(root),
        source=None if (node := root.optional_child("source")) is None else dict(node.data),
        calibration=_calibration_from(root),
    )


def _calibration_from(root: _Node) -> Calibration | None:
    """The optional ``calibration`` (absent or null: none), validated as hostile input."""
    doc = root.data.get("calibration")
    if doc is None:
        return None
    try:
        return Calibration.from_doc(doc)
    except ProfileError as exc:
        raise ProfileError(f"{root.source}: {exc}") from None


def save_profile(profile: ReferenceProfile, path: Path) -> Path:
    """Write the JSON document atomically (temporary file, fsync, rename); return ``path``."""
    text = json.dumps(profile.to_dict(), indent=2, allow_nan=False) + "\n"
    try:
        write_atomically(path, text.encode("utf-8"))
    except OSError as exc:
        raise ProfileError(f"cannot write profile {str(path)!r}: {exc.strerror}") from exc
    return path


def load_profile(path: Path) -> ReferenceProfile:
    """Read and validate a profile written by :func:`save_profile`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read profile {str(path)!r}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path}: invalid JSON: {exc}") from exc
    return profile_from_dict(data, source=str(path))


@dataclass(frozen=True)
class _Node:
    """One object of a profile document being parsed; failures name the source and key path."""

    data: Mapping[str, Any]
    path: str
    source: str

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ProfileError(f"{self.source}: {self.at(key)}: {problem}")

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def value(self, key: str) -> Any:
        if key not in self.data:
            self.fail(key, "missing")
        return self.data[key]

    def child(self, key: str) -> _Node:
        value = self.value(key)
        if not isinstance(value, Mapping):
            self.fail(key, f"must be an object, got {value!r}")
        return _Node(value, self.at(key), self.source)

    def optional_child(self, key: str) -> _Node | None:
        return None if self.value(key) is None else self.child(key)

    def text(self, key: str) -> str:
        value = self.value(key)
        if not isinstance(value, str) or not value:
            self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def optional_text(self, key: str) -> str | None:
        return None if self.value(key) is None else self.text(key)

    def timestamp(self, key: str) -> str:
        value = self.text(key)
        try:
            datetime.fromisoformat(value)
        except ValueError:
            self.fail(key, f"must be an ISO-8601 timestamp, got {value!r}")
        return value

    def integer(self, key: str, minimum: int = 0) -> int:
        value = self.value(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.fail(key, f"must be an integer >= {minimum}, got {value!r}")
        return value

    def number(self, key: str) -> float:
        return self.finite(key, self.value(key))

    def finite(self, key: str, value: object) -> float:
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            self.fail(key, f"must be a finite number, got {value!r}")
        return float(value)

    def rate(self, key: str) -> float:
        value = self.number(key)
        if not 0 <= value <= 1:
            self.fail(key, f"must be between 0 and 1, got {value!r}")
        return value

    def numbers(self, key: str) -> tuple[float, ...]:
        values = self.value(key)
        if not isinstance(values, list):
            self.fail(key, f"must be a list of numbers, got {values!r}")
        return tuple(self.finite(key, v) for v in values)

    def texts(self, key: str) -> tuple[str, ...]:
        values = self.value(key)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            self.fail(key, f"must be a list of strings, got {values!r}")
        if len(set(values)) != len(values):
            self.fail(key, "must not repeat a category")
        return tuple(values)

    def frequencies(self, expected: int, per: str) -> tuple[float, ...]:
        values = self.numbers("frequencies")
        if len(values) != expected:
            self.fail("frequencies", f"has {len(values)} entries, expected {expected} ({per})")
        if any(v < 0 for v in values) or abs(sum(values) - 1) > _SUM_TOLERANCE:
            self.fail("frequencies", f"must be non-negative and sum to 1, sum to {sum(values)}")
        return values


def _feature_from(node: _Node) -> FeatureProfile:
    kind = node.text("type")
    count, missing_rate = node.integer("count", minimum=1), node.rate("missing_rate")
    if kind == FeatureType.CATEGORICAL:
        categories = node.texts("categories")
        return CategoricalProfile(
            count=count,
            missing_rate=missing_rate,
            categories=categories,
            frequencies=node.frequencies(len(categories) + 1, "one per category plus other"),
        )
    if kind != FeatureType.NUMERIC:
        node.fail("type", f"must be {_FEATURE_TYPES}, got {kind!r}")
    edges = node.numbers("edges")
    if any(high <= low for low, high in pairwise(edges)):
        node.fail("edges", "must be strictly increasing")
    return NumericProfile(
        count=count,
        missing_rate=missing_rate,
        mean=node.number("mean"),
        std=node.number("std"),
        min=node.number("min"),
        max=node.number("max"),
        edges=edges,
        frequencies=node.frequencies(len(edges) + 1, "one more than edges"),
    )


def _optional_feature(root: _Node, key: str) -> FeatureProfile | None:
    node = root.optional_child(key)
    return None if node is None else _feature_from(node)


def _performance_from(root: _Node) -> dict[str, float] | None:
    node = root.optional_child("performance")
    return None if node is None else {name: node.number(name) for name in node.data}
