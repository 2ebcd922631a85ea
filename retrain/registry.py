"""Filesystem model registry: versioned artifacts with metadata, lineage and stage history.

Layout: ``<root>/<model>/<version>/`` holds ``model.skops`` (the estimator, saved with skops, never
pickle), ``metadata.json``, ``profile.json`` (the reference profile, if any) and ``model_card.md``.
Versions are ``"1"``, ``"2"``, ...; a new one is written into a staging directory next to them
and renamed into place, so a crash never leaves a half-registered version. Staging leftovers are
ignored by the listings and removed by :meth:`ModelRegistry.cleanup`. Changes to one model are
serialized by an exclusive ``flock`` on ``<root>/<model>/.lock`` (threads and processes alike).

An artifact is only deserialized after its SHA-256 matches the one recorded at registration
(with a registry key, also once an HMAC of that digest, the model and the version verifies), and
only if every type in it that skops does not trust by default is in the model's exact trust list
(:mod:`driftwarden.retrain.artifact_types`). A registry opened without the config trusts the
pipeline
skeleton only.

>>> import tempfile
>>> from sklearn.dummy import DummyClassifier
>>> registry = ModelRegistry(Path(tempfile.mkdtemp()), clock=lambda: 0.0)
>>> estimator = DummyClassifier().fit([[0], [1]], [0, 1])
>>> info = registry.register("churn", estimator, {"seed": 0}, None, card="# churn")
>>> info.version, info.stage, info.created_at
('1', <Stage.CANDIDATE: 'candidate'>, '1970-01-01T00:00:00.000Z')
>>> registry.load_artifact("churn", "1").predict([[0]]).tolist()
[0]
>>> _ = registry.set_stage("churn", "1", Stage.PRODUCTION, by="alice", reason="first model")
>>> registry.production("churn").version
'1'
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import skops.io as sio

from driftwarden.core.files import fsync_directory, write_atomically, write_synced
from driftwarden.retrain.artifact_types import (
    TrustedTypes,
    load_trusted,
    read_artifact,
    refuse_untrusted,
    skeleton_only,
)
from driftwarden.retrain.audit import utc_timestamp
from driftwarden.retrain.errors import ArtifactTampered, ModelNotFound, RegistryError
from driftwarden.retrain.serving_pipeline import scoring_feature_dicts
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.retrain.versions import (
    RESERVED_METADATA,
    Stage,
    VersionInfo,
    check_model_name,
    is_model_name,
    is_version_name,
    library_versions,
)

__all__ = ["ModelRegistry", "initial_metadata", "verify_artifact"]

ARTIFACT, METADATA, PROFILE, CARD = "model.skops", "metadata.json", "profile.json", "model_card.md"
_STAGING_PREFIX = ".staging-"


class ModelRegistry:
    """Models under ``root``; ``clock`` returns epoch seconds.

    ``trusted_types`` gives, for a model name, the exact type names its files may hold beyond
    skops' defaults; ``key`` (the config's ``registry_key``) authenticates artifact digests.
    """

    def __init__(
        self,
        root: Path,
        *,
        clock: Callable[[], float] = time.time,
        trusted_types: Callable[[str], frozenset[str]] = skeleton_only,
        key: bytes | None = None,
    ) -> None:
        self.root = root
        self._clock = clock
        self._trusted_types = trusted_types
        self._key = key

    @classmethod
    def from_settings(cls, settings: RetrainSettings) -> ModelRegistry:
        """The registry of the config: its models' trust lists and its key."""
        return cls(
            settings.registry,
            trusted_types=TrustedTypes(settings.models),
            key=settings.registry_key,
        )

    def register(
        self,
        model: str,
        artifact_estimator: object,
        metadata: Mapping[str, Any],
        profile: Mapping[str, Any] | None,
        card: str | Callable[[str], str],
        *,
        by: str = "driftwarden",
        reason: str = "registered",
        run_id: str | None = None,
    ) -> VersionInfo:
        """Store a new ``candidate`` version (max + 1) and return it.

        ``metadata`` is the caller's lineage record (parent version, trigger, request id,
        estimator and params, seed, data, metrics, gate results); the registry adds the keys in
        :data:`RESERVED_METADATA` and ``library_versions`` unless given. ``card`` is the model
        card's Markdown, or a function of the allocated version that renders it. ``run_id``, the
        MLflow run the version came from, is recorded as ``mlflow_run_id``.
        """
        check_model_name(model)
        if clashes := RESERVED_METADATA & set(metadata):
            raise ValueError(f"metadata keys {sorted(clashes)} are set by the registry")
        if run_id is not None:
            metadata = {**metadata, "mlflow_run_id": run_id}
        blob = sio.dumps(artifact_estimator)
        what = f"estimator {type(artifact_estimator).__name__}"
        refuse_untrusted(blob, self._trusted_types(model), model, what)
        model_dir = self.root / model
        with self._locked(model):
            version = str(max((int(v) for v in self._version_names(model)), default=0) + 1)
            digest = hashlib.sha256(blob).hexdigest()
            now = utc_timestamp(self._clock())
            record = initial_metadata(model, version, metadata, digest, by, reason, now, self._key)
            if run_id is not None:
                record["mlflow_run_id"] = run_id
            text = card(version) if callable(card) else card
            staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=model_dir))
            try:
                _write_version(staging, blob, record, profile, text)
                os.rename(staging, model_dir / version)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            fsync_directory(model_dir)
        return self.get(model, version)

    def load_artifact(self, model: str, version: str) -> Any:
        """The estimator, deserialized only once its SHA-256 (and HMAC) match the metadata; one
        over a data frame (imported) behind the step that takes feature dicts."""
        info = self.get(model, version)
        path = self._directory(model, version) / ARTIFACT
        blob = read_artifact(path)
        verify_artifact(blob, info, self._key, str(path))
        return scoring_feature_dicts(self.deserialize(model, blob, str(path)))

    def deserialize(self, model: str, blob: bytes, source: str) -> Any:
        """A skops file of ``model`` (read from ``source``), once its types are all trusted.

        :class:`~driftwarden.retrain.errors.UntrustedArtifact` names the others; nothing is loaded
        then.
        """
        return load_trusted(blob, self._trusted_types(model), model, source)

    def models(self) -> list[str]:
        """Names of the models with at least one version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if self._version_names(p.name))

    def versions(self, model: str) -> list[VersionInfo]:
        """Every version of ``model``, oldest first (empty for an unknown model)."""
        names = sorted(self._version_names(model), key=int)
        return [self._read(model, name) for name in names]

    def get(self, model: str, version: str) -> VersionInfo:
        """One version; :class:`ModelNotFound` names what exists instead."""
        if version not in self._version_names(model):
            raise ModelNotFound(self._missing(model, version))
        return self._read(model, version)

    def production(self, model: str) -> VersionInfo | None:
        """The version of ``model`` in production, if any."""
        return next((v for v in self.versions(model) if v.stage is Stage.PRODUCTION), None)

    def profile(self, model: str, version: str) -> dict[str, Any] | None:
        """The reference profile document registered with the version, if any."""
        path = self._directory(model, version) / PROFILE
        if not path.exists():
            return None
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return document

    def set_stage(
        self,
        model: str,
        version: str,
        stage: Stage | str,
        by: str,
        reason: str,
        *,
        from_stages: Collection[Stage] | None = None,
    ) -> VersionInfo:
        """Move a version to ``stage``, recording who and why in its stage history.

        Promoting to production first archives the current production version; both entries
        name the other version (``superseded_by`` / ``replaces``). This is the mechanism only:
        :mod:`driftwarden.retrain.governance` decides which changes are allowed, and passes
        ``from_stages``
        so that a change made meanwhile by another process is refused, not overwritten.
        """
        target = Stage(stage)
        with self._locked(model):
            info = self.get(model, version)
            if from_stages is not None and info.stage not in from_stages:
                raise RegistryError(
                    f"{model!r} version {version} is {info.stage.value} now, not one of "
                    f"{sorted(s.value for s in from_stages)}: it changed meanwhile; look again"
                )
            extra: dict[str, str] = {}
            current = self.production(model)
            if target is Stage.PRODUCTION and current and current.version != version:
                self._append_stage(current, Stage.ARCHIVED, by, reason, superseded_by=version)
                extra["replaces"] = current.version
            return self._append_stage(info, target, by, reason, **extra)

    def update_metadata(self, model: str, version: str, updates: Mapping[str, Any]) -> VersionInfo:
        """Add or replace caller-owned metadata keys (not those in :data:`RESERVED_METADATA`)."""
        if clashes := RESERVED_METADATA & set(updates):
            raise ValueError(f"metadata keys {sorted(clashes)} are set by the registry")
        with self._locked(model):
            info = self.get(model, version)
            return self._rewrite(info, {**info.metadata, **updates})

    def write_card(self, model: str, version: str, card: str) -> None:
        """Replace a version's model card atomically."""
        with self._locked(model):
            write_atomically(self._directory(model, version) / CARD, card.encode("utf-8"))

    def cleanup(self) -> list[Path]:
        """Remove staging directories left by interrupted registrations; return them.

        Run it when no registration is in progress (e.g. when the worker starts).
        """
        leftovers = sorted(self.root.glob(f"*/{_STAGING_PREFIX}*"))
        for path in leftovers:
            shutil.rmtree(path)
        return leftovers

    def _append_stage(
        self, info: VersionInfo, stage: Stage, by: str, reason: str, **extra: str
    ) -> VersionInfo:
        now = utc_timestamp(self._clock())
        entry = {"stage": stage.value, "timestamp": now, "by": by, "reason": reason, **extra}
        history = [*info.stage_history, entry]
        return self._rewrite(
            info, {**info.metadata, "stage": stage.value, "stage_history": history}
        )

    def _rewrite(self, info: VersionInfo, metadata: dict[str, Any]) -> VersionInfo:
        write_atomically(self.root / info.model / info.version / METADATA, _json_bytes(metadata))
        return self._read(info.model, info.version)

    def _directory(self, model: str, version: str) -> Path:
        """The directory of an existing version (:class:`ModelNotFound` otherwise)."""
        if version not in self._version_names(model):
            raise ModelNotFound(self._missing(model, version))
        return self.root / model / version

    def _version_names(self, model: str) -> set[str]:
        model_dir = self.root / model
        if not is_model_name(model) or not model_dir.is_dir():
            return set()
        return {p.name for p in model_dir.iterdir() if is_version_name(p.name) and p.is_dir()}

    def _read(self, model: str, version: str) -> VersionInfo:
        path = self.root / model / version
        metadata = json.loads((path / METADATA).read_text(encoding="utf-8"))
        return VersionInfo(
            model=model,
            version=version,
            stage=Stage(metadata["stage"]),
            created_at=metadata["created_at"],
            metadata=metadata,
            path=path,
        )

    def _missing(self, model: str, version: str) -> str:
        names = sorted(self._version_names(model), key=int)
        if names:
            return f"model {model!r} has no version {version!r}; its versions are {names}"
        return f"no model {model!r} in {self.root}; registered models: {self.models()}"

    @contextmanager
    def _locked(self, model: str) -> Iterator[None]:
        check_model_name(model)
        model_dir = self.root / model
        model_dir.mkdir(parents=True, exist_ok=True)
        with (model_dir / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield


def _write_version(
    directory: Path,
    blob: bytes,
    metadata: Mapping[str, Any],
    profile: Mapping[str, Any] | None,
    card: str,
) -> None:
    write_synced(directory / ARTIFACT, blob)
    if profile is not None:
        write_synced(directory / PROFILE, _json_bytes(profile))
    write_synced(directory / CARD, card.encode("utf-8"))
    write_synced(directory / METADATA, _json_bytes(metadata))
    fsync_directory(directory)


def initial_metadata(
    model: str,
    version: str,
    metadata: Mapping[str, Any],
    digest: str,
    by: str,
    reason: str,
    now: str,
    key: bytes | None,
) -> dict[str, Any]:
    """A new ``candidate`` version's metadata: the caller's, and the keys the registry sets."""
    entry = {"stage": Stage.CANDIDATE.value, "timestamp": now, "by": by, "reason": reason}
    record = {
        "library_versions": library_versions(),
        **metadata,
        "model": model,
        "version": version,
        "created_at": now,
        "artifact_sha256": digest,
        "stage": Stage.CANDIDATE.value,
        "stage_history": [entry],
    }
    if key is not None:
        record["artifact_hmac"] = artifact_hmac(key, model, version, digest)
    return record


def verify_artifact(blob: bytes, info: VersionInfo, key: bytes | None, source: str) -> None:
    """Refuse ``blob`` (:class:`ArtifactTampered`) unless its SHA-256 is the one ``info``
    recorded at registration and, with a registry ``key``, that digest's HMAC verifies."""
    digest = hashlib.sha256(blob).hexdigest()
    if digest != info.metadata["artifact_sha256"]:
        raise ArtifactTampered(
            f"artifact {source}: SHA-256 {digest} does not match metadata; refusing to load "
            f"it (metadata records {info.metadata['artifact_sha256']}). Restore the file "
            "from a backup or register the model again"
        )
    if key is not None and not hmac.compare_digest(
        str(info.metadata.get("artifact_hmac", "")),
        artifact_hmac(key, info.model, info.version, digest),
    ):
        raise ArtifactTampered(
            f"artifact {source}: its digest is not authenticated by the registry key (metadata "
            "'artifact_hmac' missing or wrong), so it was not registered by a process holding "
            "'registry_key'; refusing to load it. Register the model again with the key set"
        )


def artifact_hmac(key: bytes, model: str, version: str, digest: str) -> str:
    """The HMAC that authenticates a version's artifact digest with the registry key."""
    message = f"driftwarden artifact\x00{model}\x00{version}\x00{digest}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")
