"""The checkpoint/commit protocol: outputs, input offsets and partition snapshots to Kafka, then
the state file.

Offsets only move together with a checkpoint: outputs and input offsets are committed to Kafka
(in one transaction, or flushed and confirmed before the offsets without transactions, see
:class:`~driftwarden.monitor.sink.OutputSink`), then the state, which holds the same offsets, is
written atomically. A crash between the two leaves Kafka ahead of the state file; the
partitions then replay to Kafka's offsets with their outputs suppressed (see
:mod:`driftwarden.monitor.handover`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from kafka.errors import CommitFailedError, FencedInstanceIdError
from kafka.structs import TopicPartition

from driftwarden.monitor.checkpoint import CheckpointStore
from driftwarden.monitor.partitions import OwnedPartitions
from driftwarden.monitor.sink import OutputSink

__all__ = ["Checkpoint"]

log = logging.getLogger(__name__)


class Checkpoint:
    """Checkpoints of one consumer session: its owned ``partitions``, its ``sink`` and the
    ``store`` of the state file; ``committed`` is called after each checkpoint (the service
    notes the time and exports its metrics)."""

    def __init__(
        self,
        partitions: OwnedPartitions,
        sink: OutputSink,
        store: CheckpointStore,
        committed: Callable[[], None],
    ) -> None:
        self._partitions = partitions
        self._sink = sink
        self._store = store
        self._committed = committed

    def commit(self, also: Iterable[TopicPartition] = (), final: bool = False) -> None:
        """Checkpoint what was processed so far. ``also``: partitions being revoked, still this
        instance's to commit; they, and with ``final`` every partition, get a snapshot now so the
        next owner replays nothing.

        The steps, in this order:

        1. the input offsets of the assigned partitions (and ``also``), never behind what a run
           before a crash already delivered;
        2. the partition snapshots that are due (see :meth:`OwnedPartitions.due_snapshots`);
        3. one commit to Kafka: the snapshots sent to the changelog, then with transactions the
           offsets sent to the transaction and the transaction (with every output since the last
           checkpoint) committed; without, outputs and snapshots flushed and confirmed, then the
           offsets committed. Refused by the group coordinator: the partitions are lost (the
           loop rolls back) and nothing more is done;
        4. the snapshots noted as sent (the next of each is due from now);
        5. the state file written;
        6. the replay ended if it caught up with what was delivered before;
        7. ``committed`` called.
        """
        partitions = self._partitions
        with partitions.lock:
            processor = partitions.processor
            state, delivered = processor.state, processor.delivered
            also = list(also)
            assigned = partitions.assigned() | set(also)
            offsets = {
                tp: max(offset, delivered.get(tp, 0))
                for tp, offset in state.offsets.items()
                if tp in assigned
            }
            now = time.monotonic()
            forced = None if final else {tp.partition for tp in also}
            snapshots = partitions.due_snapshots(assigned, forced, now)
            try:
                self._sink.commit(offsets, [(p, r) for p, _, records in snapshots for r in records])
            except (CommitFailedError, FencedInstanceIdError) as exc:
                # The group moved on without this member: what it holds is no longer its own.
                log.warning("checkpoint refused by the group coordinator: %s", exc)
                partitions.mark_lost()
                return
            partitions.snapshots_sent(snapshots, now)
            self._store.save(state)
            processor.finish_replay()
            self._committed()

    def commit_revoked(self, revoked: list[TopicPartition]) -> None:
        """Checkpoint before ``revoked`` move to another instance, with their snapshots."""
        self.commit(also=revoked)

    def roll_back(self) -> None:
        """After this member was evicted from the group (or fenced on commit): abort the open
        transaction, go back to the last checkpoint and position every partition again."""
        with self._partitions.lock:
            self._sink.abort()
            self._partitions.roll_back()
        log.warning("evicted from the group: rolled back to the last checkpoint")
