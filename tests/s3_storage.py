"""A local S3 (``moto_server``) so that a Tansu broker keeps its data across restarts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import boto3

from driftwarden.testing import TansuBroker, free_port, port_accepts

_READY_TIMEOUT_S = 30.0
_CREDENTIALS = {"aws_access_key_id": "driftwarden", "aws_secret_access_key": "driftwarden"}


class MotoServer:
    """``moto_server`` as a plain subprocess on a free loopback port."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not port_accepts(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        return self

    def create_bucket(self, name: str) -> None:
        client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", **_CREDENTIALS
        )
        client.create_bucket(Bucket=name)

    def broker_env(self) -> dict[str, str]:
        """What Tansu's ``s3://`` storage engine needs to talk to this server."""
        return {
            "AWS_ACCESS_KEY_ID": _CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": _CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def s3_broker(binary: str, moto: MotoServer, bucket: str, log_dir: Path) -> TansuBroker:
    """A (not yet started) Tansu broker storing into ``bucket``, which is created first."""
    moto.create_bucket(bucket)
    return TansuBroker(
        binary=binary,
        log_dir=log_dir,
        storage_engine=f"s3://{bucket}/",
        env=moto.broker_env(),
    )
