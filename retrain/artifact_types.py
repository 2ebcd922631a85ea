"""Which types a model file may name: exact type names, never module prefixes.

A skops file names the type of every object in it, and loading it calls or instantiates those
types. skops itself trusts a curated list of exact types (scikit-learn estimators, NumPy dtypes
and ufuncs, plain containers); a model file of a configured model may name, beyond those, only

- the type of the fixed pipeline skeleton, :class:`driftwarden.retrain.features.FeatureVectorizer`;
- the types of the pipeline that the model's configured estimator gives: it is trained here on a
  small synthetic data set, saved with skops and asked for the types skops does not trust itself
  (once per process and training configuration; never read from the file being checked);
- the exact names in the model's ``training.trusted_types``.

A name from a module in :data:`~driftwarden.config.training.FORBIDDEN_TYPE_MODULES`
(``builtins``, ``os``, ``subprocess``, ...) is never trusted, whatever its source. A file whose
archive would inflate beyond :data:`MAX_ARTIFACT_BYTES` is refused before anything in it is read.

>>> from driftwarden.config.training import TrainingConfig
>>> from driftwarden.retrain.settings import ModelTraining
>>> spec = ModelTraining(
...     name="churn", task="binary", positive_label=1, features={},
...     training=TrainingConfig(estimator="sklearn.ensemble.RandomForestClassifier"),
... )
>>> sorted(TrustedTypes({"churn": spec})("churn"))
['driftwarden.retrain.features.FeatureVectorizer', 'sklearn.tree._tree.Tree']
>>> sorted(TrustedTypes({})("fraud"))
['driftwarden.retrain.features.FeatureVectorizer']
"""

from __future__ import annotations

import functools
import io
import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio

from driftwarden.config.training import TrainingConfig, type_name_problem
from driftwarden.core.tasks import Task
from driftwarden.retrain.dataset import Example, Target, TrainingSet
from driftwarden.retrain.errors import UntrustedArtifact
from driftwarden.retrain.settings import ModelTraining
from driftwarden.retrain.trainer import train

__all__ = [
    "MAX_ARTIFACT_BYTES",
    "SKELETON_TYPES",
    "TrustedTypes",
    "check_artifact_size",
    "load_trusted",
    "read_artifact",
    "refuse_untrusted",
    "skeleton_only",
]

log = logging.getLogger(__name__)

SKELETON_TYPES = frozenset({"driftwarden.retrain.features.FeatureVectorizer"})
SYNTHETIC_ROWS = 200
# A model file, and what its archive inflates to: far above any pipeline the trainer builds.
MAX_ARTIFACT_BYTES = 1 << 30


def read_artifact(path: Path, max_bytes: int = MAX_ARTIFACT_BYTES) -> bytes:
    """The bytes of the model file ``path``, refused (not read) beyond ``max_bytes``."""
    with path.open("rb") as file:
        blob = file.read(max_bytes + 1)
    if len(blob) > max_bytes:
        raise UntrustedArtifact(
            f"{path} is larger than the {max_bytes} bytes a model file may take; refusing it"
        )
    return blob


def check_artifact_size(blob: bytes, source: str, max_bytes: int = MAX_ARTIFACT_BYTES) -> None:
    """Refuse ``blob`` if it, or the sum of its archive members' sizes, exceeds ``max_bytes``
    (a zip bomb); members cannot inflate past their recorded sizes when read.

    >>> buffer = io.BytesIO()
    >>> with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
    ...     archive.writestr("schema.json", b"0" * 10_000)
    >>> check_artifact_size(buffer.getvalue(), "bomb.skops", max_bytes=5_000)
    Traceback (most recent call last):
    ...
    driftwarden.retrain.errors.UntrustedArtifact: bomb.skops inflates to 10000 bytes, ...
    """
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UntrustedArtifact(f"{source} is not a skops file ({exc}); refusing it") from exc
    if max(len(blob), inflated) > max_bytes:
        raise UntrustedArtifact(
            f"{source} inflates to {inflated} bytes, more than the {max_bytes} a model file may "
            "take; refusing it, nothing was loaded"
        )


class TrustedTypes:
    """For a model name, the exact type names its files may hold beyond skops' own defaults."""

    def __init__(self, models: Mapping[str, ModelTraining]) -> None:
        self._models = dict(models)

    def __call__(self, model: str) -> frozenset[str]:
        spec = self._models.get(model)
        if spec is None:
            return SKELETON_TYPES
        derived = _estimator_types(spec.training.model_dump_json(), spec.task)
        return SKELETON_TYPES | derived | frozenset(spec.training.trusted_types)


def skeleton_only(model: str) -> frozenset[str]:
    """The trust list of a registry opened without the config: the pipeline skeleton only."""
    return SKELETON_TYPES


def refuse_untrusted(blob: bytes, trusted: frozenset[str], model: str, source: str) -> list[str]:
    """The types in ``blob`` that skops does not trust itself, once each is in ``trusted``.

    Raises :class:`~driftwarden.retrain.errors.UntrustedArtifact` naming the others (nothing is
    loaded).
    """
    check_artifact_size(blob, source)
    try:
        untrusted = sio.get_untrusted_types(data=blob)
    except Exception as exc:  # noqa: BLE001 - a schema skops cannot walk is no skops file
        raise UntrustedArtifact(f"{source} is not a skops file ({exc}); refusing it") from exc
    refused = sorted(set(untrusted) - trusted)
    if refused:
        raise UntrustedArtifact(
            f"{source} names types outside the trust list of model {model!r}: {refused}; "
            "refusing it, nothing was loaded. A model file may name skops' default types, the "
            "types of the configured estimator's pipeline and the exact names in "
            "models[].training.trusted_types: add a type there only if you trust its code"
        )
    return untrusted


def load_trusted(blob: bytes, trusted: frozenset[str], model: str, source: str) -> Any:
    """``blob`` deserialized by skops, once :func:`refuse_untrusted` accepts it."""
    return sio.loads(blob, trusted=refuse_untrusted(blob, trusted, model, source))


@functools.cache
def _estimator_types(training_json: str, task: str) -> frozenset[str]:
    """The types skops does not trust itself in the pipeline ``training`` builds for ``task``."""
    training = TrainingConfig.model_validate_json(training_json)
    try:
        pipeline = train(training, _synthetic_set(Task(task))).pipeline
        found = frozenset(sio.get_untrusted_types(data=sio.dumps(pipeline)))
    except Exception as exc:  # noqa: BLE001 - any failure: trust only the skeleton and config
        log.warning(
            "cannot derive the model-file types of estimator %s (training it on synthetic data "
            "failed: %s); its files may hold only the listed trusted_types",
            training.estimator,
            exc,
        )
        return frozenset()
    forbidden = {name for name in found if type_name_problem(name)}
    if forbidden:
        log.warning(
            "estimator %s gives a pipeline with types %s, which a model file may never name; "
            "they are not trusted",
            training.estimator,
            sorted(forbidden),
        )
    return found - forbidden


def _synthetic_set(task: Task) -> TrainingSet:
    """Seeded rows with a numeric, a categorical and a sometimes-missing feature."""
    rng = np.random.default_rng(0)
    examples = []
    for i in range(SYNTHETIC_ROWS):
        x = float(rng.normal())
        label: Target = {
            Task.BINARY: int(x > 0),
            Task.MULTICLASS: i % 3,
            Task.REGRESSION: 2.0 * x + float(rng.normal()),
        }[task]
        features = {"x": x, "plan": ("free", "pro", "team")[i % 3]}
        examples.append(
            Example(
                features={**features, "seats": float(i % 7)} if i % 2 else features,
                label=label,
                prediction_timestamp=float(i),
                model_version="synthetic",
                prediction_id=f"synthetic-{i}",
            )
        )
    return TrainingSet(examples=tuple(examples), lineage={})
