"""The ``registry`` section: where model versions live (a directory, or MLflow).

A plain path is the filesystem backend, as before; a mapping names the backend. Both keep a
local directory (``path``) for the hash-chained audit log (``audit.jsonl``) and, with MLflow, the
locks that serialize the processes of one machine.

>>> RegistryConfig.model_validate("/srv/registry").backend
'filesystem'
>>> config = RegistryConfig.model_validate(
...     {"backend": "mlflow", "tracking_uri": "http://mlflow:5000", "password": "pw"}
... )
>>> config.mlflow_settings().experiment("churn"), str(config.path)
('driftwarden/churn', 'registry')
>>> RegistryConfig.model_validate({"path": "r", "tracking_uri": "http://mlflow:5000"})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for RegistryConfig
...
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, SecretStr, field_validator, model_validator

from driftwarden.core.config import Strict, resolve_secret
from driftwarden.core.mlflow_settings import MlflowSettings

__all__ = ["RegistryConfig"]

_MLFLOW_ONLY = ("tracking_uri", "registry_uri", "username", "password", "token")

# A credential, also given as {env: NAME} or {file: PATH}.
Credential = Annotated[SecretStr | None, BeforeValidator(resolve_secret)]


class RegistryConfig(Strict):
    """``registry``: a path (the filesystem backend), or a mapping naming the backend."""

    backend: Literal["filesystem", "mlflow"] = "filesystem"
    """`filesystem`: versions are directories under `path`. `mlflow`: versions are MLflow model
    versions (see [Using MLflow](../mlflow.md)); `tracking_uri` is then required.
    """
    path: Path = Path("./registry")
    """Local directory: the versions (filesystem backend), the audit log `audit.jsonl` (both
    backends) and the MLflow backend's locks. Every process using the registry needs the same
    directory (a shared volume); relative to the working directory.
    """
    tracking_uri: str | None = None
    """MLflow backend: the tracking server, e.g. `http://mlflow:5000` (required with it)."""
    registry_uri: str | None = None
    """MLflow backend: the model registry, when it is not the tracking server."""
    experiment_prefix: str = "driftwarden/"
    """MLflow backend: the experiment of model `<m>`'s runs is `<experiment_prefix><m>`."""
    username: Credential = None
    """MLflow backend: basic-auth user (`{env: NAME}` or `{file: PATH}` allowed)."""
    password: Credential = None
    """MLflow backend: basic-auth password (`{env: NAME}` or `{file: PATH}`; masked by `config
    check`).
    """
    token: Credential = None
    """MLflow backend: bearer token, instead of `username`/`password` (`{env: NAME}` or `{file:
    PATH}`; masked by `config check`).
    """

    @model_validator(mode="before")
    @classmethod
    def _path_is_filesystem(cls, value: object) -> object:
        """A bare path is ``{backend: filesystem, path: ...}``: the config of old."""
        if isinstance(value, str | Path):
            return {"backend": "filesystem", "path": value}
        return value

    @field_validator("tracking_uri", "registry_uri")
    @classmethod
    def _http_uri(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError(
                f"{value!r} is not an http(s) URI of an MLflow server, e.g. http://mlflow:5000"
            )
        return value

    @model_validator(mode="after")
    def _keys_of_backend(self) -> RegistryConfig:
        if self.backend == "mlflow" and self.tracking_uri is None:
            raise ValueError("backend 'mlflow' needs 'tracking_uri', e.g. http://mlflow:5000")
        if self.backend == "filesystem":
            given = [name for name in _MLFLOW_ONLY if getattr(self, name) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} only apply to backend 'mlflow': add 'backend: mlflow' "
                    "or remove them"
                )
        if self.token is not None and (self.username or self.password):
            raise ValueError("give either 'token' or 'username'/'password', not both")
        return self

    def mlflow_settings(self) -> MlflowSettings | None:
        """The MLflow backend's settings, secrets revealed; ``None`` for the filesystem."""
        if self.backend != "mlflow" or self.tracking_uri is None:
            return None
        return MlflowSettings(
            self.tracking_uri,
            self.registry_uri,
            self.experiment_prefix,
            username=_reveal(self.username),
            password=_reveal(self.password),
            token=_reveal(self.token),
        )


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()
