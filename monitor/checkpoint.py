"""Atomic, verified checkpoints of :class:`~monitor.state.MonitorState` in the state directory.

A checkpoint is written to a temporary file, fsynced, renamed over the previous one and the
directory fsynced, so a crash leaves either the old or the new checkpoint, never a torn one. The
payload is a pickle preceded by its SHA-256; a file that fails the check is refused rather than
half-loaded. Only files this process wrote into its own state directory are ever unpickled.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

from monitor.errors import MonitorError
from monitor.state import MonitorState
from retrain.files import write_atomically

__all__ = ["CheckpointCorrupt", "CheckpointStore"]

_MAGIC = b"driftwarden-checkpoint 1\n"
_FILENAME = "monitor.ckpt"


class CheckpointCorrupt(MonitorError, ValueError):
    """The checkpoint file exists but is not one this version wrote intact."""


class CheckpointStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / _FILENAME

    def save(self, state: MonitorState) -> int:
        """Write ``state`` atomically; return the checkpoint size in bytes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        digest = hashlib.sha256(payload).hexdigest().encode()
        write_atomically(self.path, _MAGIC + digest + b"\n" + payload)
        return len(payload)

    def load(self) -> MonitorState | None:
        """The last checkpoint, or ``None`` when there is none yet."""
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        header, _, rest = blob.partition(b"\n")
        digest, _, payload = rest.partition(b"\n")
        if header + b"\n" != _MAGIC or hashlib.sha256(payload).hexdigest().encode() != digest:
            raise CheckpointCorrupt(
                f"{self.path} is not an intact driftwarden checkpoint; move it away to start "
                "from the offsets committed in Kafka"
            )
        state = pickle.loads(payload)  # noqa: S301 - our own file, verified by its digest
        if not isinstance(state, MonitorState):
            raise CheckpointCorrupt(f"{self.path} holds {type(state).__name__}, not monitor state")
        return state
