"""The audit log's head, published outside the file, so that cutting the log's end is caught.

The hash chain of :mod:`driftwarden.retrain.audit` catches an edited, removed or reordered line,
but removing the *last* lines leaves a valid chain. So each append also publishes the new head on
the events topic (key ``driftwarden-audit``; the record is
:class:`driftwarden.contracts.retraining.AuditHead`)::

    {"schema": 1, "type": "audit_head", "seq": 7, "hash": "<the entry's hash>",
     "timestamp": "2026-11-26T03:00:00.000Z"}

and ``driftwarden models audit --verify`` reads the topic back and checks that the file still
holds the entry of the highest published ``seq``, with that ``hash``.

>>> from driftwarden.retrain.audit import AuditEntry
>>> entry = AuditEntry(seq=7, timestamp="2026-11-26T03:00:00.000Z", action="approved",
...                    model="churn", version="2", actor="alice", hash="ab" * 32)
>>> head_of(entry).to_event()["seq"], head_of(entry).hash == entry.hash
(7, True)
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer

from driftwarden.contracts.retraining import AUDIT_HEAD_KEY, AuditHead
from driftwarden.retrain.audit import AuditEntry, AuditLog
from driftwarden.retrain.errors import AuditLogBroken
from driftwarden.retrain.topic_scan import assign, scan

__all__ = ["HeadPublisher", "check_head", "head_of", "latest_head"]

log = logging.getLogger(__name__)


def head_of(entry: AuditEntry) -> AuditHead:
    """The head that names ``entry`` as the log's last."""
    return AuditHead(entry.seq, entry.hash, entry.timestamp)


class HeadPublisher:
    """Publishes the head of every appended entry (the ``on_append`` hook of an AuditLog).

    Each head gets a producer of its own, closed once the broker confirmed it: appends are
    rare (a run writes a handful), and nothing stays open between them. A head that cannot be
    published is logged, never raised: the entry is already written and fsynced, and the next
    append publishes a newer head.
    """

    def __init__(self, producer_options: dict[str, Any], topic: str, timeout: float = 10.0):
        self._options = producer_options
        self._topic = topic
        self._timeout = timeout

    def __call__(self, entry: AuditEntry) -> None:
        value = orjson.dumps(head_of(entry).to_event())
        try:
            producer = KafkaProducer(**self._options)
            try:
                producer.send(self._topic, key=AUDIT_HEAD_KEY, value=value).get(self._timeout)
            finally:
                producer.close(timeout=self._timeout)
        except Exception as exc:  # noqa: BLE001 - the entry is written; only the anchor is late
            log.warning(
                "audit entry %d written, but its head was not published on %s: %s; "
                "the next entry's head will be",
                entry.seq,
                self._topic,
                exc,
            )


def latest_head(
    consumer_options: dict[str, Any], topic: str, timeout: float = 30.0
) -> AuditHead | None:
    """The published head with the highest ``seq`` on ``topic``; None if there is none."""
    consumer = KafkaConsumer(**consumer_options, group_id=None, enable_auto_commit=False)
    try:
        try:
            bounds = assign(consumer, topic, None, timeout)
        except LookupError:
            return None
        latest: AuditHead | None = None
        for record in scan(consumer, bounds, timeout):
            if record.key != AUDIT_HEAD_KEY or record.value is None:
                continue
            try:
                head = AuditHead.from_event(orjson.loads(record.value))
            except orjson.JSONDecodeError:
                continue
            if head is not None and (latest is None or head.seq > latest.seq):
                latest = head
        return latest
    finally:
        consumer.close()


def check_head(audit: AuditLog, head: AuditHead) -> None:
    """Raise :class:`AuditLogBroken` unless the log holds ``head``'s entry (seq and hash).

    Call after :meth:`AuditLog.verify`: the chain vouches for every entry before the head.
    """
    name, last = audit.path.name, 0
    for entry in audit.entries():
        last = entry.seq
        if entry.seq == head.seq:
            if entry.hash != head.hash:
                raise AuditLogBroken(
                    f"{name} line {entry.seq}: its hash {entry.hash[:16]}... is not the "
                    f"{head.hash[:16]}... published as the log's head at {head.timestamp}: "
                    "the log was rewritten"
                )
            return
    raise AuditLogBroken(
        f"{name} ends at seq {last}, but the head seq {head.seq} (hash {head.hash[:16]}...) "
        f"was published at {head.timestamp}: entries {last + 1} to {head.seq} were removed"
    )
