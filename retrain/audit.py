"""Tamper-evident audit log of the retrain side: an append-only, hash-chained JSONL file.

Each line is one :class:`AuditEntry` as canonical JSON (sorted keys, no spaces). ``hash`` is the
SHA-256 of the entry's canonical JSON without the ``hash`` key, ``prev`` the SHA-256 of the
previous line's exact bytes (without its newline; 64 zeros for the first line) and ``seq`` the
line number, so editing, removing, inserting or reordering lines breaks :meth:`AuditLog.verify`.

Appends are serialized by an exclusive ``flock`` on the file (threads and processes alike), and
each append reads the chain's tail from the file itself, so a CLI approving a version while the
worker runs extends the same chain. Every append is fsynced before it returns, then handed to
``on_append`` (the services publish the new head outside the file:
:mod:`driftwarden.retrain.audit_head`).

>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "audit.jsonl"
>>> log = AuditLog(path, clock=lambda: 0.0)
>>> entry = log.append("approved", "churn", "2", "alice", {"reason": "reviewed"})
>>> entry.seq, entry.timestamp, entry.prev == GENESIS
(1, '1970-01-01T00:00:00.000Z', True)
>>> _ = log.append("promoted", "churn", "2", "alice", {})
>>> log.verify()
2
>>> _ = path.write_text(path.read_text().replace("alice", "mallory", 1))
>>> try:
...     log.verify()
... except AuditLogBroken as exc:
...     print(exc)
audit.jsonl line 1: its hash does not match its content: the entry was edited
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from driftwarden.core.timestamps import format_timestamp
from driftwarden.retrain.errors import AuditLogBroken

__all__ = ["GENESIS", "AuditAction", "AuditEntry", "AuditLog", "utc_timestamp"]

GENESIS = "0" * 64
_KEYS = frozenset(
    {"seq", "timestamp", "action", "model", "version", "actor", "details", "prev", "hash"}
)
_TAIL_BLOCK = 4096


class AuditAction(StrEnum):
    """The actions the retrain side records (any non-empty string is accepted)."""

    RETRAIN_REQUESTED = "retrain_requested"
    RUN_STARTED = "run_started"
    GATE_EVALUATED = "gate_evaluated"
    VERSION_REGISTERED = "version_registered"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    RUN_FAILED = "run_failed"


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One line of the audit log."""

    seq: int
    timestamp: str
    action: str
    model: str
    version: str | None
    actor: str
    details: dict[str, Any] = field(default_factory=dict)
    prev: str = GENESIS
    hash: str = ""

    def content_hash(self) -> str:
        """SHA-256 of this entry's canonical JSON without the ``hash`` key."""
        body = {key: value for key, value in asdict(self).items() if key != "hash"}
        return hashlib.sha256(_canonical(body)).hexdigest()

    def to_line(self) -> bytes:
        """The entry's canonical JSON, as written to the log (without the newline)."""
        return _canonical(asdict(self))


def utc_timestamp(seconds: float) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``: the audit log's and the registry's format.

    >>> utc_timestamp(1_700_000_000.25)
    '2023-11-14T22:13:20.250Z'
    """
    return format_timestamp(seconds, "milliseconds")


class AuditLog:
    """Append-only hash-chained JSONL file at ``path``; ``clock`` returns epoch seconds;
    ``on_append`` is called with each entry once it is written."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        on_append: Callable[[AuditEntry], None] | None = None,
    ) -> None:
        self.path = path
        self._clock = clock
        self._on_append = on_append
        self._lock = threading.Lock()
        if path.exists():
            with path.open("rb") as handle:
                _tail(handle, path.name)  # refuse to extend a log whose last line is broken

    def append(
        self,
        action: str,
        model: str,
        version: str | None,
        actor: str,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry, fsync it and return it; ``details`` must be JSON-serializable."""
        if not action or not actor:
            raise ValueError(
                f"an audit entry needs an action and an actor, got {action!r}/{actor!r}"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            entry = self._next(handle, action, model, version, actor, dict(details or {}))
            handle.write(entry.to_line() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        if self._on_append is not None:
            self._on_append(entry)
        return entry

    def entries(self) -> Iterator[AuditEntry]:
        """Every entry in file order, parsed but not verified (see :meth:`verify`)."""
        for number, line in self._lines():
            yield _parse(line, f"{self.path.name} line {number}")

    def verify(self) -> int:
        """Check every line's hash, ``seq`` and chain link; return the number of entries.

        Raises :class:`AuditLogBroken` naming the first bad line and what is wrong with it.
        """
        prev, count = GENESIS, 0
        for count, line in self._lines():
            where = f"{self.path.name} line {count}"
            _check_entry(_parse(line, where), count, prev, where)
            prev = hashlib.sha256(line).hexdigest()
        return count

    def _next(
        self,
        handle: IO[bytes],
        action: str,
        model: str,
        version: str | None,
        actor: str,
        details: dict[str, Any],
    ) -> AuditEntry:
        last = _tail(handle, self.path.name)
        draft = AuditEntry(
            seq=last.seq + 1 if last else 1,
            timestamp=utc_timestamp(self._clock()),
            action=str(action),
            model=model,
            version=version,
            actor=actor,
            details=details,
            prev=hashlib.sha256(last.to_line()).hexdigest() if last else GENESIS,
        )
        return AuditEntry(**{**asdict(draft), "hash": draft.content_hash()})

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n"):
                    raise AuditLogBroken(
                        f"{self.path.name} line {number}: incomplete (no newline): the line was "
                        "truncated or a write was interrupted"
                    )
                yield number, raw[:-1]


def _check_entry(entry: AuditEntry, number: int, prev: str, where: str) -> None:
    if entry.hash != entry.content_hash():
        raise AuditLogBroken(f"{where}: its hash does not match its content: the entry was edited")
    if entry.seq != number:
        raise AuditLogBroken(
            f"{where}: seq is {entry.seq}, expected {number}: a line was removed, inserted or moved"
        )
    if entry.prev != prev:
        raise AuditLogBroken(
            f"{where}: prev does not match the previous line's SHA-256: the previous line was "
            "edited, or a line was removed, inserted or moved"
        )


def _tail(handle: IO[bytes], name: str) -> AuditEntry | None:
    """The last entry of the file open as ``handle``, checked against its own hash."""
    end = handle.seek(0, os.SEEK_END)
    if end == 0:
        return None
    chunk, start = b"", end
    while start > 0 and chunk.count(b"\n") < 2:
        step = min(_TAIL_BLOCK, start)
        start -= step
        handle.seek(start)
        chunk = handle.read(step) + chunk
    where = f"{name} (last line)"
    if not chunk.endswith(b"\n"):
        raise AuditLogBroken(f"{where}: incomplete (no newline); repair the log before appending")
    entry = _parse(chunk[:-1].rsplit(b"\n", 1)[-1], where)
    if entry.hash != entry.content_hash():
        raise AuditLogBroken(f"{where}: its hash does not match its content; run verify()")
    return entry


def _parse(line: bytes, where: str) -> AuditEntry:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise AuditLogBroken(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or set(data) != _KEYS:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise AuditLogBroken(f"{where}: not an audit entry (keys {keys})")
    return AuditEntry(**data)


def _canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
