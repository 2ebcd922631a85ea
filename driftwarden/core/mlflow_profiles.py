"""The reference profile of a model version, read from MLflow: the monitor's registry lookup.

A version of the registered model ``<model>`` comes from a run; that run holds the version's
reference profile at :data:`~driftwarden.core.mlflow_names.PROFILE_ARTIFACT`. The artifact is
JSON, read within a size bound and validated by :mod:`driftwarden.core.profile_json` (never
unpickled: anyone who can log to the run writes it). Every MLflow request has a short timeout and
no retries, so an MLflow server that is down costs the caller seconds, not minutes; the caller
(:class:`~driftwarden.monitor.profiles.ProfileSource`) decides when to ask again.

- a version that is not registered, a version without a source run, a run without the artifact:
  ``None`` (the version has no registered profile);
- an artifact over ``max_bytes``, not JSON or not a valid profile:
  :class:`~driftwarden.core.errors.ProfileError` naming its URI;
- MLflow unreachable or failing: :class:`~driftwarden.core.errors.RegistryUnavailable` naming the
  tracking URI.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftwarden.core.errors import ProfileError, RegistryUnavailable
from driftwarden.core.mlflow_names import PROFILE_ARTIFACT, profile_uri
from driftwarden.core.mlflow_settings import MlflowSettings, mlflow_client
from driftwarden.core.profile_json import profile_from_dict

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["DEFAULT_TIMEOUT_S", "MAX_PROFILE_BYTES", "MlflowProfileLookup"]

DEFAULT_TIMEOUT_S = 2
# A profile is a few KiB per feature; 4 MiB holds thousands of features.
MAX_PROFILE_BYTES = 4 * 1024 * 1024
# MLflow's answer for a version (or model) that does not exist, or a version that is not a number.
_NOT_REGISTERED = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})


class MlflowProfileLookup:
    """:class:`~driftwarden.core.registry.ProfileLookup` of the MLflow model registry.

    No network until the first :meth:`profile`. ``timeout_s`` bounds each MLflow request (whole
    seconds, as MLflow takes them); a lookup makes at most three.
    """

    def __init__(
        self,
        settings: MlflowSettings,
        *,
        timeout_s: int = DEFAULT_TIMEOUT_S,
        max_bytes: int = MAX_PROFILE_BYTES,
    ) -> None:
        if timeout_s < 1 or max_bytes < 1:
            raise ValueError(
                f"need timeout_s >= 1 and max_bytes >= 1, got {timeout_s}, {max_bytes}"
            )
        self.settings = settings
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._client: MlflowClient | None = None

    def __str__(self) -> str:
        return f"the MLflow registry at {self.settings.registry_uri or self.settings.tracking_uri}"

    def profile(self, model: str, version: str) -> dict[str, Any] | None:
        """The profile document registered with ``model`` version ``version``, if any."""
        from mlflow.exceptions import MlflowException

        try:
            with _http_limits(self._timeout_s):
                return self._profile(model, version)
        except MlflowException as exc:
            if exc.error_code in _NOT_REGISTERED:
                return None
            raise self._unavailable(model, version, exc) from exc
        except (ProfileError, RegistryUnavailable):
            raise
        except Exception as exc:  # requests, urllib3, OSError: MLflow passes them on as they come
            raise self._unavailable(model, version, exc) from exc

    def _profile(self, model: str, version: str) -> dict[str, Any] | None:
        client = self._connect()
        run_id = client.get_model_version(model, version).run_id
        if not run_id:
            return None  # registered from a path, without a run: no profile
        uri = profile_uri(run_id)
        folder = PROFILE_ARTIFACT.rpartition("/")[0]
        listed = {info.path: info for info in client.list_artifacts(run_id, folder)}
        info = listed.get(PROFILE_ARTIFACT)
        if info is None or info.is_dir:
            return None
        if info.file_size is not None and info.file_size > self._max_bytes:
            raise self._too_large(uri, f"{info.file_size} bytes")
        with tempfile.TemporaryDirectory(prefix="driftwarden-profile-") as tmp:
            local = Path(client.download_artifacts(run_id, PROFILE_ARTIFACT, tmp))
            with local.open("rb") as file:
                data = file.read(self._max_bytes + 1)
        if len(data) > self._max_bytes:
            raise self._too_large(uri, "more bytes than MLflow listed")
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProfileError(f"{uri} of {model} version {version}: invalid JSON: {exc}") from exc
        profile_from_dict(document, source=f"{uri} of {model} version {version}")
        return dict(document)

    def _connect(self) -> MlflowClient:
        if self._client is None:
            self._client = mlflow_client(self.settings)
        return self._client

    def _too_large(self, uri: str, size: str) -> ProfileError:
        return ProfileError(
            f"{uri}: {size}, over the limit of {self._max_bytes} bytes for a reference profile; "
            "refused unread"
        )

    def _unavailable(self, model: str, version: str, exc: Exception) -> RegistryUnavailable:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return RegistryUnavailable(
            f"{self}: cannot read {model} version {version}: {type(exc).__name__}: {reason}"
        )


@contextmanager
def _http_limits(timeout_s: int) -> Iterator[None]:
    """MLflow's request timeout and retries (environment variables are the only way it takes
    them), set for the duration of one lookup: the monitor is the only MLflow user of its
    process, the lookups run one at a time."""
    limits = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    saved = {name: os.environ.get(name) for name in limits}
    os.environ.update(limits)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
