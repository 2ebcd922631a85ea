"""Per-partition state snapshots on a Kafka changelog topic, so join state moves with its partition.

At every checkpoint the monitor writes, inside the same Kafka transaction as its outputs and input
offsets, one snapshot per input partition number it owns: the partition's join buffers and stream
counters together with the offsets of both input partitions they reflect. The changelog has as
many partitions as the inputs and snapshot ``p`` goes to partition ``p``. When a partition moves to
another instance, the new owner reads the last complete snapshot of that partition and resumes
from its offsets. Keys repeat per partition (and chunk), so a compacted topic
(``cleanup.policy=compact``) keeps only what a reader needs.

A snapshot larger than one Kafka message is split into chunks; a reader only accepts a snapshot
whose chunks are all present and whose SHA-256 matches. Payloads are pickles, but only the classes
that make up partition state may be loaded from them (:class:`_SnapshotUnpickler`): a record
written to the topic by anyone else cannot make the reader run code.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from monitor.errors import MonitorError
from monitor.state import PartitionState

__all__ = [
    "ChangelogCorrupt",
    "PartitionSnapshot",
    "SnapshotAssembler",
    "SnapshotRecord",
    "encode_snapshot",
]

CHUNK_BYTES = 900_000  # under Kafka's default 1 MB message limit, headers included

_ALLOWED_CLASSES = {
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "tuple"),
    ("builtins", "float"),
    ("builtins", "int"),
    ("builtins", "str"),
    ("builtins", "bool"),
    ("builtins", "getattr"),
    ("collections", "Counter"),
    ("collections", "OrderedDict"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
    ("monitor.changelog", "PartitionSnapshot"),
    ("monitor.state", "PartitionState"),
    ("monitor.state", "StreamCounters"),
    ("monitor.join", "LabelJoin"),
    ("monitor.join", "_Side"),
    ("monitor.join", "Waiting"),
    ("monitor.events", "Prediction"),
    ("monitor.events", "Label"),
}


class ChangelogCorrupt(MonitorError, ValueError):
    """A changelog record is not a snapshot this version can load."""


@dataclass(frozen=True)
class PartitionSnapshot:
    """The state of input partition number ``partition`` after ``offsets`` (next offsets)."""

    partition: int
    offsets: dict[tuple[str, int], int]
    state: PartitionState
    writer: str  # the transactional id of the instance that wrote it


@dataclass(frozen=True)
class SnapshotRecord:
    """One changelog message: a chunk of an encoded snapshot."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def encode_snapshot(snapshot: PartitionSnapshot, snapshot_id: str) -> list[SnapshotRecord]:
    """The changelog messages of ``snapshot``, chunked to fit Kafka's message size limit."""
    payload = zlib.compress(pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL), 1)
    digest = hashlib.sha256(payload).hexdigest().encode()
    chunks = [payload[i : i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)] or [b""]
    return [
        SnapshotRecord(
            key=f"{snapshot.partition}/{index}".encode(),
            value=chunk,
            headers=[
                ("snapshot-id", snapshot_id.encode()),
                ("chunk", str(index).encode()),
                ("chunks", str(len(chunks)).encode()),
                ("sha256", digest),
            ],
        )
        for index, chunk in enumerate(chunks)
    ]


class SnapshotAssembler:
    """Feeds on changelog records in offset order; keeps the last complete snapshot per partition.

    >>> from monitor.state import PartitionState
    >>> snap = PartitionSnapshot(3, {("predictions", 3): 10}, PartitionState(), "monitor-a")
    >>> assembler = SnapshotAssembler()
    >>> for record in encode_snapshot(snap, "monitor-a:1"):
    ...     assembler.add(record.key, record.value, record.headers)
    >>> assembler.latest()[3].offsets
    {('predictions', 3): 10}
    """

    def __init__(self) -> None:
        self._parts: dict[int, tuple[str, dict[int, bytes]]] = {}
        self._complete: dict[int, tuple[bytes, bytes]] = {}  # partition -> (payload, digest)

    def add(
        self, key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes | None]]
    ) -> None:
        meta = {name: item for name, item in headers if item is not None}
        try:
            partition = int((key or b"").split(b"/", 1)[0])
            snapshot_id = meta["snapshot-id"].decode()
            index, count = int(meta["chunk"]), int(meta["chunks"])
            digest = meta["sha256"]
        except (KeyError, ValueError) as exc:
            raise ChangelogCorrupt(f"changelog record with key {key!r} is not a snapshot") from exc
        current_id, parts = self._parts.get(partition, ("", {}))
        if current_id != snapshot_id:
            parts = {}
            self._parts[partition] = (snapshot_id, parts)
        parts[index] = value or b""
        if len(parts) == count and all(i in parts for i in range(count)):
            self._complete[partition] = (b"".join(parts[i] for i in range(count)), digest)

    def latest(self) -> dict[int, PartitionSnapshot]:
        """The last complete snapshot of every partition seen."""
        return {p: _decode(p, payload, digest) for p, (payload, digest) in self._complete.items()}


def _decode(partition: int, payload: bytes, digest: bytes) -> PartitionSnapshot:
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise ChangelogCorrupt(f"snapshot of partition {partition} fails its SHA-256 check")
    try:
        snapshot = _SnapshotUnpickler(io.BytesIO(zlib.decompress(payload))).load()
    except (zlib.error, pickle.UnpicklingError, EOFError) as exc:
        raise ChangelogCorrupt(f"snapshot of partition {partition} cannot be read: {exc}") from exc
    if not isinstance(snapshot, PartitionSnapshot) or snapshot.partition != partition:
        raise ChangelogCorrupt(f"changelog partition {partition} holds a foreign record")
    return snapshot


class _SnapshotUnpickler(pickle.Unpickler):
    """Loads only the classes partition state is made of."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_CLASSES:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a state snapshot")
        return super().find_class(module, name)


def snapshot_offsets(
    offsets: Mapping[tuple[str, int], int], topics: tuple[str, str], partition: int
) -> dict[tuple[str, int], int]:
    """The offsets of both input partitions numbered ``partition`` held in ``offsets``."""
    return {(t, partition): offsets[(t, partition)] for t in topics if (t, partition) in offsets}
