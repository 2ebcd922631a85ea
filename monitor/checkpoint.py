"""Atomic, verified checkpoints of :class:`~driftwarden.monitor.state.MonitorState` in the state
directory.

A checkpoint is written to a temporary file, fsynced, renamed over the previous one and the
directory fsynced, so a crash leaves either the old or the new checkpoint, never a torn one. The
payload is the state's explicit encoding (:mod:`driftwarden.monitor.codec`: compressed JSON, no
code)
preceded by its SHA-256; a file that fails the check or does not decode is refused rather than
half-loaded, and the monitor does not start until it is moved away.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from driftwarden.core.files import write_atomically
from driftwarden.monitor.codec import StateDecodeError, decoding, dump_document, load_document
from driftwarden.monitor.errors import MonitorError
from driftwarden.monitor.state import DriftFactory, MonitorState

__all__ = ["MAX_CHECKPOINT_BYTES", "CheckpointCorrupt", "CheckpointStore"]

_MAGIC = b"driftwarden-checkpoint 2\n"
_PICKLED = b"driftwarden-checkpoint 1\n"  # written by versions that pickled the state
_KIND = "monitor-state"
_FILENAME = "monitor.ckpt"
MAX_CHECKPOINT_BYTES = 2 << 30  # the decoded document; far above any state the bounds allow


class CheckpointCorrupt(MonitorError, ValueError):
    """The checkpoint file exists but is not one this version wrote intact."""


class CheckpointStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / _FILENAME

    def save(self, state: MonitorState) -> int:
        """Write ``state`` atomically; return the checkpoint size in bytes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = dump_document(_KIND, {"state": state.to_state()})
        digest = hashlib.sha256(payload).hexdigest().encode()
        write_atomically(self.path, _MAGIC + digest + b"\n" + payload)
        return len(payload)

    def load(self, drift: DriftFactory | None = None) -> MonitorState | None:
        """The last checkpoint, or ``None`` when there is none yet; ``drift`` rebuilds each
        version's drift checks (see :meth:`MonitorState.from_state`)."""
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        move_away = (
            f"move it away to start from the partition snapshots on the changelog and the "
            f"offsets committed in Kafka (e.g. mv {self.path} {self.path}.old)"
        )
        if blob.startswith(_PICKLED):
            raise CheckpointCorrupt(
                f"{self.path} was written by an older driftwarden in the pickle format, which is "
                f"no longer read; {move_away}"
            )
        header, _, rest = blob.partition(b"\n")
        digest, _, payload = rest.partition(b"\n")
        if header + b"\n" != _MAGIC or hashlib.sha256(payload).hexdigest().encode() != digest:
            raise CheckpointCorrupt(
                f"{self.path} is not an intact driftwarden checkpoint; {move_away}"
            )
        try:
            with decoding():
                doc = load_document(payload, _KIND, MAX_CHECKPOINT_BYTES)
                return MonitorState.from_state(doc.get("state"), drift)
        except StateDecodeError as exc:
            raise CheckpointCorrupt(f"{self.path} cannot be decoded ({exc}); {move_away}") from exc
