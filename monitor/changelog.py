"""Per-partition state snapshots on a Kafka changelog topic, so join state moves with its partition.

At every checkpoint the monitor writes, inside the same Kafka transaction as its outputs and input
offsets, one snapshot per input partition number it owns: the partition's join buffers and stream
counters together with the offsets of both input partitions they reflect. The changelog has as
many partitions as the inputs and snapshot ``p`` goes to partition ``p``. When a partition moves to
another instance, the new owner reads the last valid snapshot of that partition and resumes
from its offsets. Keys repeat per partition (and chunk), so a compacted topic
(``cleanup.policy=compact``) keeps only what a reader needs.

A snapshot is the explicit encoding of its state (:mod:`driftwarden.monitor.codec`: compressed
JSON, never
code), split into chunks that fit the producer's ``max_request_size``. Its header carries the
SHA-256 of the payload, or with ``state.changelog_key`` an HMAC-SHA256 under that key, so that
only holders of the key can write a snapshot a reader accepts. A reader checks every snapshot as
soon as its last chunk arrives: one that is malformed, too large, fails its checksum or HMAC, or
does not decode is rejected (:attr:`SnapshotAssembler.rejected`) and the previous valid snapshot
of its partition stands.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from kafka.structs import TopicPartition
from prometheus_client.core import Metric

from driftwarden.contracts.records import record_size
from driftwarden.core.metric_spec import counter_family
from driftwarden.monitor.codec import (
    Doc,
    StateDecodeError,
    StateTooLarge,
    decoding,
    dump_document,
    load_document,
    need,
    need_dict,
    need_int,
    need_list,
    need_str,
)
from driftwarden.monitor.metrics import CHANGELOG_RECORDS_REJECTED
from driftwarden.monitor.record_limits import DEFAULT_MAX_REQUEST_SIZE
from driftwarden.monitor.state import PartitionState

__all__ = [
    "CHUNK_BYTES",
    "MAX_SNAPSHOT_BYTES",
    "snapshot_limit",
    "REJECT_REASONS",
    "ChangelogRejections",
    "PartitionSnapshot",
    "Rejection",
    "SnapshotAssembler",
    "SnapshotRecord",
    "chunk_bytes",
    "encode_snapshot",
]

_KIND = "partition-snapshot"
_BATCH_OVERHEAD = 512  # record batch header (61 bytes) and record varints, with room to spare
_MAX_CHUNKS = 100_000
MAX_SNAPSHOT_BYTES = 1 << 30  # compressed or inflated, a larger snapshot is rejected
_HMAC_CONTEXT = b"driftwarden changelog snapshot\n"
# Why a reader rejects a record (the ``reason`` label of the rejection counter).
REJECT_REASONS = ("malformed", "too_large", "checksum", "unauthenticated", "undecodable")


@dataclass(frozen=True)
class PartitionSnapshot:
    """The state of input partition number ``partition`` after ``offsets`` (next offsets)."""

    partition: int
    offsets: dict[TopicPartition, int]
    state: PartitionState
    writer: str  # the transactional id of the instance that wrote it

    # -- state encoding (see driftwarden.monitor.codec)
    # --------------------------------------------------

    def to_state(self) -> Doc:
        return {
            "partition": self.partition,
            "offsets": [[t, p, o] for (t, p), o in self.offsets.items()],
            "writer": self.writer,
            "state": self.state.to_state(),
        }

    @classmethod
    def from_state(cls, doc: object) -> PartitionSnapshot:
        doc = need_dict(doc, "snapshot")
        offsets = {}
        for row in need_list(need(doc, "offsets"), "offsets"):
            topic, partition, offset = need_list(row, "offsets", 3)
            tp = TopicPartition(need_str(topic, "topic"), need_int(partition, "partition", 0))
            offsets[tp] = need_int(offset, "offset", 0)
        return cls(
            need_int(need(doc, "partition"), "partition", 0),
            offsets,
            PartitionState.from_state(need(doc, "state")),
            need_str(need(doc, "writer"), "writer"),
        )


@dataclass(frozen=True)
class SnapshotRecord:
    """One changelog message: a chunk of an encoded snapshot."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Rejection:
    """A changelog record (or completed snapshot) a reader skipped, and why."""

    partition: int
    reason: str  # one of REJECT_REASONS
    detail: str


def snapshot_limit(pending_bytes: int) -> int:
    """The most bytes a snapshot of a partition whose joins may hold ``pending_bytes`` (the
    partition's shares of ``max_pending_bytes``, summed over models) may take, compressed or
    inflated: twice that, for the encoding, plus 64 MiB for remembered ids and counters.

    >>> snapshot_limit(64 * 2**20) // 2**20
    192
    """
    return min(2 * pending_bytes + 64 * 2**20, MAX_SNAPSHOT_BYTES)


def chunk_bytes(max_request_size: int = DEFAULT_MAX_REQUEST_SIZE) -> int:
    """Payload bytes per changelog record for a producer whose ``max_request_size`` is given:
    what is left after the batch header, the key and the snapshot headers."""
    headers = [("snapshot-id", b"x" * 300), ("chunk", b"99999"), ("chunks", b"99999")]
    headers.append(("hmac-sha256", b"0" * 64))
    return max(max_request_size - _BATCH_OVERHEAD - record_size(b"9" * 24, b"", headers), 1024)


CHUNK_BYTES = chunk_bytes()


def encode_snapshot(
    snapshot: PartitionSnapshot,
    snapshot_id: str,
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE,
    key: bytes | None = None,
) -> list[SnapshotRecord]:
    """The changelog messages of ``snapshot``, chunked to fit the producer's request size;
    authenticated with ``key`` (HMAC-SHA256) when one is given."""
    payload = dump_document(_KIND, snapshot.to_state())
    size = chunk_bytes(max_request_size)
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    seal = ("hmac-sha256", _mac(key, payload)) if key else ("sha256", _sha256(payload))
    return [
        SnapshotRecord(
            key=f"{snapshot.partition}/{index}".encode(),
            value=chunk,
            headers=[
                ("snapshot-id", snapshot_id.encode()[:300]),
                ("chunk", str(index).encode()),
                ("chunks", str(len(chunks)).encode()),
                seal,
            ],
        )
        for index, chunk in enumerate(chunks)
    ]


class SnapshotAssembler:
    """Feeds on changelog records in offset order; keeps the last valid snapshot per partition.

    >>> from driftwarden.monitor.state import PartitionState
    >>> offsets = {TopicPartition("predictions", 3): 10}
    >>> snap = PartitionSnapshot(3, offsets, PartitionState(), "monitor-a")
    >>> assembler = SnapshotAssembler()
    >>> for record in encode_snapshot(snap, "monitor-a:1"):
    ...     assembler.add(record.key, record.value, record.headers)
    >>> assembler.add(b"3/0", b"garbage", [])
    >>> assembler.latest()[3].offsets == offsets, [r.reason for r in assembler.rejected]
    (True, ['malformed'])
    """

    def __init__(self, key: bytes | None = None, max_bytes: int = MAX_SNAPSHOT_BYTES) -> None:
        self._key = key
        self._max_bytes = max_bytes
        # partition -> the snapshot being assembled and its chunks (None: rejected while arriving)
        self._parts: dict[int, tuple[str, dict[int, bytes] | None]] = {}
        self._latest: dict[int, PartitionSnapshot] = {}
        self.rejected: list[Rejection] = []

    def add(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes | None]],
        partition: int | None = None,
    ) -> None:
        """Take one record (of changelog ``partition``, if known); a snapshot whose last chunk
        this is is checked and decoded now."""
        meta = {name: item for name, item in headers if item is not None}
        try:
            number = int((key or b"").split(b"/", 1)[0])
            snapshot_id = meta["snapshot-id"].decode()
            index, count = int(meta["chunk"]), int(meta["chunks"])
            if partition is not None and number != partition:
                raise ValueError(f"key of partition {number}")
            if not 0 <= index < count <= _MAX_CHUNKS:
                raise ValueError(f"chunk {index} of {count}")
        except (KeyError, ValueError) as exc:
            where = partition if partition is not None else -1
            self._reject(where, "malformed", f"record with key {key!r} is not a snapshot: {exc}")
            return
        current_id, parts = self._parts.get(number, ("", {}))
        if current_id != snapshot_id:
            parts = {}
            self._parts[number] = (snapshot_id, parts)
        elif parts is None:
            return  # the rest of a snapshot rejected already
        parts[index] = value or b""
        if sum(len(part) for part in parts.values()) > self._max_bytes:
            self._parts[number] = (snapshot_id, None)
            self._reject(number, "too_large", f"snapshot {snapshot_id!r} exceeds {self._max_bytes}")
        elif len(parts) == count:
            del self._parts[number]
            self._complete(number, b"".join(parts[i] for i in range(count)), meta)

    def latest(self) -> dict[int, PartitionSnapshot]:
        """The last valid snapshot of every partition seen."""
        return dict(self._latest)

    def _complete(self, partition: int, payload: bytes, meta: Mapping[str, bytes]) -> None:
        if self._key is not None:
            sealed = meta.get("hmac-sha256")
            if sealed is None or not hmac.compare_digest(sealed, _mac(self._key, payload)):
                self._reject(partition, "unauthenticated", "its HMAC does not match the key")
                return
        elif "sha256" not in meta:
            self._reject(partition, "unauthenticated", "authenticated by a key this reader lacks")
            return
        elif not hmac.compare_digest(meta["sha256"], _sha256(payload)):
            self._reject(partition, "checksum", "its payload fails the SHA-256 check")
            return
        try:
            with decoding():
                snapshot = PartitionSnapshot.from_state(
                    load_document(payload, _KIND, self._max_bytes)
                )
        except StateDecodeError as exc:
            reason = "too_large" if isinstance(exc, StateTooLarge) else "undecodable"
            self._reject(partition, reason, str(exc))
            return
        if snapshot.partition != partition:
            self._reject(partition, "undecodable", f"holds partition {snapshot.partition}")
            return
        self._latest[partition] = snapshot

    def _reject(self, partition: int, reason: str, detail: str) -> None:
        self.rejected.append(Rejection(partition, reason, detail))


class ChangelogRejections:
    """Collector of ``driftwarden_changelog_records_rejected_total{reason}``.

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> rejections = ChangelogRejections()
    >>> registry.register(rejections)
    >>> rejections.inc("checksum")
    >>> registry.get_sample_value(
    ...     "driftwarden_changelog_records_rejected_total", {"reason": "checksum"})
    1.0
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter(dict.fromkeys(REJECT_REASONS, 0))
        self._lock = threading.Lock()

    def inc(self, reason: str) -> None:
        with self._lock:
            self._counts[reason] += 1

    def collect(self) -> Iterator[Metric]:
        family = counter_family(CHANGELOG_RECORDS_REJECTED)
        with self._lock:
            for reason, count in sorted(self._counts.items()):
                family.add_metric([reason], float(count))
        yield family


def _sha256(payload: bytes) -> bytes:
    return hashlib.sha256(payload).hexdigest().encode()


def _mac(key: bytes, payload: bytes) -> bytes:
    mac = hmac.new(key, _HMAC_CONTEXT, hashlib.sha256)
    mac.update(payload)
    return mac.hexdigest().encode()


def snapshot_offsets(
    offsets: Mapping[TopicPartition, int], topics: tuple[str, str], partition: int
) -> dict[TopicPartition, int]:
    """The offsets of both input partitions numbered ``partition`` held in ``offsets``."""
    inputs = [TopicPartition(t, partition) for t in topics]
    return {tp: offsets[tp] for tp in inputs if tp in offsets}
