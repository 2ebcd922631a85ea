"""MLflow model registry backend: each version is an MLflow model version of registered model
``<model>``, its stage a tag and an alias.

A version is logged with MLflow's sklearn flavour in skops format, with the model's exact trust
list (:mod:`driftwarden.retrain.artifact_types`) as ``skops_trusted_types``, a signature and an
input example, into the MLflow run it came from (``run_id``) or into a run the registry opens in
experiment ``<experiment_prefix><model>``. That run holds the reference profile and the model card
(:mod:`driftwarden.core.mlflow_names`); the metadata is the version's ``driftwarden.*`` tags
(:mod:`driftwarden.retrain.mlflow_documents`). The stage is the tag ``driftwarden.stage``; the
production version carries the alias ``production``, a version awaiting approval the alias
``challenger``, so a model server loads ``models:/<model>@production``.

Loading downloads the skops file (refused beyond
:data:`~driftwarden.retrain.artifact_types.MAX_ARTIFACT_BYTES`), checks the SHA-256 recorded at
registration (and the HMAC, with a registry key) and deserializes it with the exact trust list
only: never pickle.

An interrupted registration leaves a model version without the stage tag (written last), which
every listing ignores; :meth:`MlflowRegistry.cleanup` deletes those of driftwarden's runs an hour
after their creation.

Concurrency: MLflow has no compare-and-swap. :meth:`MlflowRegistry.set_stage` reads the version's
stage tag right before it writes and refuses a change made meanwhile, and an ``flock`` on
``<path>/.mlflow-locks/<model>.lock`` serializes the processes of one machine. Two machines
changing the same model's stages within the same fraction of a second (between that read and the
writes) can still both succeed, the later write winning; run one worker, and the ``models``
commands, against one ``path`` to rule that out.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import skops.io as sio

from driftwarden.core.mlflow_names import (
    CHALLENGER_ALIAS,
    MODEL_CARD_ARTIFACT,
    PRODUCTION_ALIAS,
    PROFILE_ARTIFACT,
    STAGE_TAG,
)
from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.retrain.artifact_types import (
    TrustedTypes,
    load_trusted,
    refuse_untrusted,
    skeleton_only,
)
from driftwarden.retrain.audit import utc_timestamp
from driftwarden.retrain.errors import ModelNotFound, RegistryError
from driftwarden.retrain.mlflow_artifacts import (
    download_profile,
    download_skops,
    ensure_registered_model,
    log_model,
    open_run,
    search_versions,
    unfinished_versions,
)
from driftwarden.retrain.mlflow_connection import connect, mlflow_errors
from driftwarden.retrain.mlflow_documents import (
    read_metadata,
    version_tags,
)
from driftwarden.retrain.registry import initial_metadata, verify_artifact
from driftwarden.retrain.serving_pipeline import scoring_feature_dicts, serving_types
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.retrain.versions import (
    RESERVED_METADATA,
    Stage,
    VersionInfo,
    check_model_name,
    is_model_name,
    is_version_name,
)

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

__all__ = ["MlflowRegistry"]

# A version without its stage tag this long after its creation is an interrupted registration:
# a registration takes seconds, so one in progress on another machine is never removed.
UNFINISHED_AFTER_S = 3600.0


class MlflowRegistry:
    """Models in the MLflow registry of ``settings``; ``root`` is the local directory of the
    audit log and the locks. ``clock``, ``trusted_types`` and ``key`` as for the filesystem
    backend (:class:`~driftwarden.retrain.registry.ModelRegistry`)."""

    def __init__(
        self,
        settings: MlflowSettings,
        root: Path,
        *,
        clock: Callable[[], float] = time.time,
        trusted_types: Callable[[str], frozenset[str]] = skeleton_only,
        key: bytes | None = None,
    ) -> None:
        self.root = root
        self.settings = settings
        self._uri = settings.registry_uri or settings.tracking_uri
        self._client = connect(settings)
        self._clock = clock
        self._trusted_types = trusted_types
        self._key = key

    @classmethod
    def from_settings(cls, settings: RetrainSettings) -> MlflowRegistry:
        """The registry of the config: its MLflow server, trust lists, key and local path."""
        if settings.mlflow is None:
            raise ValueError("the config's registry is not backend 'mlflow'")
        return cls(
            settings.mlflow,
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
        """Log the estimator into run ``run_id`` (or a new run), register it as a new model
        version of ``model`` and tag it ``candidate``; the profile and card go to the run."""
        check_model_name(model)
        if clashes := RESERVED_METADATA & set(metadata):
            raise ValueError(f"metadata keys {sorted(clashes)} are set by the registry")
        what = f"estimator {type(artifact_estimator).__name__}"
        refuse_untrusted(sio.dumps(artifact_estimator), self._trusted_types(model), model, what)
        with self._locked(model), mlflow_errors(self._uri, f"register a version of {model!r}"):
            run = run_id or open_run(self._client, self.settings, model)
            try:
                version = self._register(
                    model, artifact_estimator, metadata, profile, card, run, by, reason
                )
            except BaseException:
                if run_id is None:
                    self._client.set_terminated(run, status="FAILED")
                raise
            if run_id is None:
                self._client.set_terminated(run)
        return self.get(model, version)

    def _register(
        self,
        model: str,
        estimator: object,
        metadata: Mapping[str, Any],
        profile: Mapping[str, Any] | None,
        card: str | Callable[[str], str],
        run: str,
        by: str,
        reason: str,
    ) -> str:
        """Log, register and tag a version in run ``run``; its version number."""
        model_id, uri = log_model(self.settings, estimator, run, self._trusted_types(model))
        digest = hashlib.sha256(download_skops(self._client, uri, model_id)).hexdigest()
        ensure_registered_model(self._client, model)
        created = self._client.create_model_version(model, uri, run_id=run, model_id=model_id)
        version = str(created.version)
        if profile is not None:
            self._client.log_dict(run, dict(profile), PROFILE_ARTIFACT)
        self._client.log_text(run, card(version) if callable(card) else card, MODEL_CARD_ARTIFACT)
        now = utc_timestamp(self._clock())
        record = initial_metadata(model, version, metadata, digest, by, reason, now, self._key)
        record["mlflow_run_id"] = run
        self._write_tags(model, version, version_tags(record))
        return version

    def load_artifact(self, model: str, version: str) -> Any:
        """The estimator, deserialized only once its SHA-256 (and HMAC) match the metadata."""
        info = self.get(model, version)
        with mlflow_errors(self._uri, f"download {model!r} version {version}"):
            mv = self._client.get_model_version(model, version)
            source = str(mv.source)
            model_id = mv.model_id or source.removeprefix("models:/")
            if not model_id.startswith("m-"):
                raise RegistryError(
                    f"MLflow model {model!r} version {version} comes from {source}, not from a "
                    "model logged by driftwarden; refusing to load it"
                )
            blob = download_skops(self._client, source, model_id)
        source = f"models:/{model}/{version}"
        verify_artifact(blob, info, self._key, source)
        trusted = self._trusted_types(model) | serving_types()
        return scoring_feature_dicts(load_trusted(blob, trusted, model, source))

    def deserialize(self, model: str, blob: bytes, source: str) -> Any:
        """A skops file of ``model``, once its types are all in the model's trust list."""
        return load_trusted(blob, self._trusted_types(model), model, source)

    def models(self) -> list[str]:
        """Names of the registered models with at least one driftwarden version, sorted."""
        with mlflow_errors(self._uri, "list models"):
            found = {mv.name for mv in search_versions(self._client, "") if STAGE_TAG in mv.tags}
        return sorted(name for name in found if is_model_name(name))

    def versions(self, model: str) -> list[VersionInfo]:
        """Every driftwarden version of ``model``, oldest first (empty for an unknown model)."""
        if not is_model_name(model):
            return []
        with mlflow_errors(self._uri, f"list the versions of {model!r}"):
            found = [
                mv
                for mv in search_versions(self._client, f"name='{model}'")
                if STAGE_TAG in mv.tags
            ]
        return [self._info(mv) for mv in sorted(found, key=lambda mv: int(mv.version))]

    def get(self, model: str, version: str) -> VersionInfo:
        """One version; :class:`ModelNotFound` if MLflow has no such model or version."""
        if not is_model_name(model) or not is_version_name(version):
            raise ModelNotFound(f"no model {model!r} version {version!r} in MLflow at {self._uri}")
        with mlflow_errors(self._uri, f"read {model!r} version {version}"):
            mv = self._client.get_model_version(model, version)
        return self._info(mv)

    def production(self, model: str) -> VersionInfo | None:
        """The version carrying the alias ``production``, if any."""
        if not is_model_name(model):
            return None
        try:
            with mlflow_errors(self._uri, f"find the production version of {model!r}"):
                aliases = self._client.get_registered_model(model).aliases
                if PRODUCTION_ALIAS not in aliases:
                    return None
                mv = self._client.get_model_version(model, str(aliases[PRODUCTION_ALIAS]))
        except ModelNotFound:
            return None
        return self._info(mv)

    def profile(self, model: str, version: str) -> dict[str, Any] | None:
        """The reference profile in the version's run, if any."""
        run = self._run_of(self.get(model, version))
        with mlflow_errors(self._uri, f"read the profile of {model!r} version {version}"):
            return download_profile(self._client, run)

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
        """Move a version to ``stage`` (tag, aliases, stage history), as the filesystem backend
        does; the stage is re-read right before writing and a change made meanwhile refused."""
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
                self._append_stage(
                    current,
                    Stage.ARCHIVED,
                    by,
                    reason,
                    aliases=False,
                    extra={"superseded_by": version},
                )
                extra["replaces"] = current.version
            return self._append_stage(info, target, by, reason, extra=extra)

    def update_metadata(self, model: str, version: str, updates: Mapping[str, Any]) -> VersionInfo:
        """Add or replace caller-owned metadata keys (not those in :data:`RESERVED_METADATA`)."""
        if clashes := RESERVED_METADATA & set(updates):
            raise ValueError(f"metadata keys {sorted(clashes)} are set by the registry")
        with self._locked(model):
            info = self.get(model, version)
            self._write_tags(model, version, version_tags({**info.metadata, **updates}))
        return self.get(model, version)

    def write_card(self, model: str, version: str, card: str) -> None:
        """Replace the model card in the version's run."""
        run = self._run_of(self.get(model, version))
        with mlflow_errors(self._uri, f"write the model card of {model!r} version {version}"):
            self._client.log_text(run, card, MODEL_CARD_ARTIFACT)

    def cleanup(self) -> list[str]:
        """Delete the model versions interrupted registrations left (no stage tag, a run
        driftwarden opened for that model, created over :data:`UNFINISHED_AFTER_S` ago); their
        URIs. Versions other tools registered are left alone."""
        with mlflow_errors(self._uri, "remove unfinished registrations"):
            left = unfinished_versions(self._client, self._clock() - UNFINISHED_AFTER_S)
            for mv in left:
                self._client.delete_model_version(mv.name, mv.version)
        return [f"models:/{mv.name}/{mv.version}" for mv in left]

    def _info(self, mv: ModelVersion) -> VersionInfo:
        metadata = read_metadata(mv.tags, mv.name, str(mv.version))
        return VersionInfo(
            model=mv.name,
            version=str(mv.version),
            stage=Stage(metadata["stage"]),
            created_at=str(metadata.get("created_at", "")),
            metadata=metadata,
        )

    def _append_stage(
        self,
        info: VersionInfo,
        stage: Stage,
        by: str,
        reason: str,
        *,
        aliases: bool = True,
        extra: Mapping[str, str] | None = None,
    ) -> VersionInfo:
        """Record ``stage``, once the stage tag still says what ``info`` read (``aliases``:
        False when the version's alias moves on to another version anyway)."""
        now = utc_timestamp(self._clock())
        entry = {
            "stage": stage.value,
            "timestamp": now,
            "by": by,
            "reason": reason,
            **(extra or {}),
        }
        history = [*info.stage_history, entry]
        record = {**info.metadata, "stage": stage.value, "stage_history": history}
        model, version = info.model, info.version
        with mlflow_errors(self._uri, f"move {model!r} version {version} to {stage.value}"):
            fresh = self._client.get_model_version(model, version)
            if fresh.tags.get(STAGE_TAG) != info.stage.value:
                raise RegistryError(
                    f"{model!r} version {version} is {fresh.tags.get(STAGE_TAG)} now, not "
                    f"{info.stage.value}: another process changed it meanwhile; look again"
                )
            self._write_tags(model, version, version_tags(record))
            if aliases:
                self._move_aliases(info, stage, fresh.aliases)
        return self.get(model, version)

    def _move_aliases(self, info: VersionInfo, stage: Stage, held: Collection[str]) -> None:
        """``production`` / ``challenger`` onto the version entering that stage, off the version
        leaving it."""
        for alias, holder in (
            (PRODUCTION_ALIAS, Stage.PRODUCTION),
            (CHALLENGER_ALIAS, Stage.AWAITING_APPROVAL),
        ):
            if stage is holder:
                self._client.set_registered_model_alias(info.model, alias, info.version)
            elif alias in held:
                self._client.delete_registered_model_alias(info.model, alias)

    def _write_tags(self, model: str, version: str, tags: Mapping[str, str]) -> None:
        for name, value in tags.items():  # the stage tag last: see version_tags
            self._client.set_model_version_tag(model, version, name, value)

    def _run_of(self, info: VersionInfo) -> str:
        run = info.metadata.get("mlflow_run_id")
        if not isinstance(run, str) or not run:
            raise RegistryError(f"{info.model!r} version {info.version} records no MLflow run")
        return run

    @contextmanager
    def _locked(self, model: str) -> Iterator[None]:
        check_model_name(model)
        locks = self.root / ".mlflow-locks"
        locks.mkdir(parents=True, exist_ok=True)
        with (locks / f"{model}.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield
