"""What a retrain run records in its experiment tracker: flat params, metrics and tags.

Pure functions of the run's lineage record (the version metadata :mod:`driftwarden.retrain.run`
builds), shaped to MLflow's limits: keys hold only letters, digits, ``_ . - : space`` (anything
else, say a segment value read from the data, becomes ``_``) and at most 250 characters; values
are text, JSON for anything that is not a string, cut to 6,000 characters (params) or 8,000
(tags). Tags are prefixed ``driftwarden.`` (:data:`~driftwarden.core.mlflow_names.TAG_PREFIX`).

>>> flatten({"gate": {"metric": "accuracy", "guards": {}}, "seed": 0}, "training.")
{'training.gate.metric': 'accuracy', 'training.gate.guards': {}, 'training.seed': 0}
>>> clean_key("gate.segment:plan=pro/../x")
'gate.segment:plan_pro_.._x'
>>> gate = {"name": "primary:accuracy", "passed": False, "values": {"gain": -0.1}}
>>> run_metrics({"challenger": {"accuracy": 0.9}, "champion": None}, {"checks": [gate]})
... # doctest: +NORMALIZE_WHITESPACE
{'challenger.accuracy': 0.9, 'gate.primary:accuracy.passed': 0.0,
 'gate.primary:accuracy.gain': -0.1}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import metadata as importlib_metadata
from typing import Any

from driftwarden.core.mlflow_names import TAG_PREFIX

__all__ = [
    "OUTCOME_REASON_TAG",
    "OUTCOME_TAG",
    "clean_key",
    "config_params",
    "flatten",
    "lineage_tags",
    "library_tags",
    "outcome_tags",
    "prefixed",
    "run_metrics",
    "text",
]

MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
OUTCOME_TAG = f"{TAG_PREFIX}outcome"
OUTCOME_REASON_TAG = f"{TAG_PREFIX}outcome_reason"
TRACKED_LIBRARIES = ("scikit-learn", "river", "skops", "driftwarden")
_TRUNCATED = "...(truncated)"
_BAD_KEY_CHARACTERS = re.compile(r"[^A-Za-z0-9_.\- :]")


def clean_key(key: str) -> str:
    """``key`` with the characters MLflow refuses (slashes too: no path tricks) as ``_``."""
    return _BAD_KEY_CHARACTERS.sub("_", key)[:MAX_KEY]


def text(value: object, limit: int) -> str:
    """A param or tag value: strings as they are, anything else as JSON, cut to ``limit``.

    >>> text("abc", 10), text(None, 10), text([1, 2], 10), text("x" * 20, 16)
    ('abc', 'null', '[1, 2]', 'xx...(truncated)')
    """
    shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if len(shown) <= limit:
        return shown
    return shown[: limit - len(_TRUNCATED)] + _TRUNCATED


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; other values (lists, empty mappings) as they are."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_params(training: Mapping[str, Any]) -> dict[str, str]:
    """The params of a run: ``estimator``, its params as ``params.<name>``, ``seed`` and the
    rest of the model's ``training`` section (JSON form) as ``training.<path>``.

    >>> config_params({"estimator": "m.E", "params": {"C": 1.0}, "seed": 7, "data": {"n": 9}})
    {'estimator': 'm.E', 'seed': '7', 'params.C': '1.0', 'training.data.n': '9'}
    """
    rest = {k: v for k, v in training.items() if k not in {"estimator", "params", "seed"}}
    values = {
        "estimator": training.get("estimator"),
        "seed": training.get("seed"),
        **flatten(training.get("params") or {}, "params."),
        **flatten(rest, "training."),
    }
    return {clean_key(k): text(v, MAX_PARAM_VALUE) for k, v in values.items()}


def run_metrics(metrics: Mapping[str, Any], gates: Mapping[str, Any]) -> dict[str, float]:
    """Holdout metrics (``challenger.<metric>``, ``champion.<metric>``) and each gate's values
    (``gate.<check>.<value>``, ``gate.<check>.passed`` as 1 or 0); non-numbers are left out."""
    flat: dict[str, Any] = {}
    for side in ("challenger", "champion"):
        flat.update(flatten(metrics.get(side) or {}, f"{side}."))
    for check in gates.get("checks", ()):
        name = f"gate.{check['name']}."
        flat[f"{name}passed"] = bool(check.get("passed"))
        flat.update(flatten(check.get("values") or {}, name))
    return {
        clean_key(key): float(value)
        for key, value in flat.items()
        if isinstance(value, int | float)
    }


def lineage_tags(lineage: Mapping[str, Any], training_sha256: str) -> dict[str, str]:
    """Where the training data came from: the examples topic and its offset ranges (one tag per
    partition, ``start-end`` with ``end`` exclusive), the base table's path and SHA-256, the
    training set's SHA-256.

    >>> lineage_tags({"examples_topic": "ex", "partitions": [
    ...     {"partition": 0, "start": 5, "end": 9}], "base": None}, "ab12")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'driftwarden.data.examples_topic': 'ex', 'driftwarden.data.offsets.0': '5-9',
     'driftwarden.data.sha256': 'ab12'}
    """
    tags: dict[str, Any] = {"data.examples_topic": lineage.get("examples_topic")}
    for offsets in lineage.get("partitions", ()):
        tags[f"data.offsets.{offsets['partition']}"] = f"{offsets['start']}-{offsets['end']}"
    if base := lineage.get("base"):
        tags["data.base.path"] = base.get("path")
        tags["data.base.sha256"] = base.get("sha256")
    tags["data.sha256"] = training_sha256
    return prefixed(tags)


def library_tags() -> dict[str, str]:
    """The versions of the libraries a run depends on, ``driftwarden.library.<name>``."""
    versions: dict[str, Any] = {}
    for name in TRACKED_LIBRARIES:
        try:
            versions[f"library.{name}"] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[f"library.{name}"] = "not installed"
    return prefixed(versions)


def outcome_tags(outcome: str, reason: str | None) -> dict[str, str]:
    """How the run ended (``promoted``, ``rejected``, ``awaiting_approval``, ``failed``) and why.

    >>> outcome_tags("rejected", "the gates failed")
    {'driftwarden.outcome': 'rejected', 'driftwarden.outcome_reason': 'the gates failed'}
    """
    return {OUTCOME_TAG: outcome, OUTCOME_REASON_TAG: text(reason or "", MAX_TAG_VALUE)}


def prefixed(tags: Mapping[str, Any]) -> dict[str, str]:
    """``tags`` as ``driftwarden.<key>`` tags; ``None`` values are left out.

    >>> prefixed({"trigger": "drift", "parent_version": None})
    {'driftwarden.trigger': 'drift'}
    """
    return {
        clean_key(f"{TAG_PREFIX}{key}"): text(value, MAX_TAG_VALUE)
        for key, value in tags.items()
        if value is not None
    }
