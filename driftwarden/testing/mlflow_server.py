"""A local MLflow tracking server (``mlflow server``) on a free loopback port.

Its backend store is SQLite and its artifacts a local directory, both under ``root`` (a temporary
directory by default), so nothing outside the machine is used. It needs the ``mlflow`` extra
(``pip install 'driftwarden[mlflow]'``). The tests start one per session; the demo starts one for
``--registry mlflow``.

    with MlflowServer() as server:
        ...  # registry: {backend: mlflow, tracking_uri: server.uri}
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from driftwarden.testing.ports import free_port

__all__ = ["MlflowServer", "MlflowServerError"]

_READY_TIMEOUT_S = 90.0
_STOP_TIMEOUT_S = 15.0


class MlflowServerError(RuntimeError):
    """The MLflow server could not be started."""


class MlflowServer:
    """``mlflow server`` on 127.0.0.1; :attr:`uri` is its tracking (and registry) URI.

    The server's output goes to ``<root>/server.log``; a start that fails or times out raises
    :class:`MlflowServerError` with the log's tail.
    """

    def __init__(self, root: Path | None = None, port: int | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mlflow-")
            root = Path(self._tmp.name)
        self.root = root
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def start(self) -> MlflowServer:
        if importlib.util.find_spec("mlflow") is None:
            raise MlflowServerError("MLflow is not installed: pip install 'driftwarden[mlflow]'")
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers are stopped with it, as one group
                env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"},
            )
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not self._healthy():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise MlflowServerError(
                    f"mlflow server on port {self.port} did not answer /health: {self._log_tail()}"
                )
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def close(self) -> None:
        """Stop the server and remove its temporary directory (if it made one)."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"
