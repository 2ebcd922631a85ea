"""Talking to the MLflow server of the registry: bounded waits, and errors that say what to check.

MLflow's REST client retries a failed request 7 times with exponential backoff and waits up to
120 s for an answer by default: a server that is down would hold a ``models`` command for
minutes. :func:`connect` lowers this, for the process, to :data:`HTTP_ENV` (unless the variables
are set already, so an operator can raise them), and :func:`mlflow_errors` turns what MLflow or
the network raise into a :class:`~driftwarden.retrain.errors.RegistryError` naming the server.

>>> with mlflow_errors("http://127.0.0.1:1", "list models"):
...     raise ConnectionError("refused")
Traceback (most recent call last):
...
driftwarden.retrain.errors.RegistryError: cannot list models in MLflow at http://127.0.0.1:1 ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from driftwarden.core.mlflow_settings import MlflowSettings, mlflow_client
from driftwarden.retrain.errors import ModelNotFound, RegistryError, RetrainError

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["HTTP_ENV", "connect", "is_missing", "mlflow_errors", "registry_uri"]

# MLflow's request settings: a down server fails in seconds, a slow one after 30 s per request
HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # stdout is the commands' output
}
_MISSING = "RESOURCE_DOES_NOT_EXIST"


def connect(settings: MlflowSettings) -> MlflowClient:
    """A client of the configured server, with :data:`HTTP_ENV` in place (no request yet)."""
    for name, value in HTTP_ENV.items():
        os.environ.setdefault(name, value)
    with mlflow_errors(settings.tracking_uri, "connect to"):
        # the registry URI explicitly: MLflow's default is the process-wide one, which another
        # registry of this process may have set
        return mlflow_client(replace(settings, registry_uri=registry_uri(settings)))


def registry_uri(settings: MlflowSettings) -> str:
    """The model registry's URI: ``registry_uri``, else the tracking server."""
    return settings.registry_uri or settings.tracking_uri


def is_missing(exc: BaseException) -> bool:
    """Whether MLflow answered that the thing asked for does not exist."""
    return getattr(exc, "error_code", None) == _MISSING


@contextmanager
def mlflow_errors(uri: str, what: str) -> Iterator[None]:
    """Re-raise MLflow's and the network's errors as :class:`RegistryError` (``what`` says what
    was being done); a missing resource becomes :class:`ModelNotFound`."""
    try:
        yield
    except RetrainError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow raises requests', urllib3's and its own
        if is_missing(exc):
            raise ModelNotFound(f"{what}: {_first_line(exc)} (MLflow at {uri})") from exc
        raise RegistryError(
            f"cannot {what} in MLflow at {uri}: {_first_line(exc)}. Check that the server runs "
            "and is reachable from here (registry.tracking_uri), and that the credentials "
            "(registry.username/password or token) allow it"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
