"""Start-up checks of the Kafka topics: inputs exist and are co-partitioned, outputs exist."""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from driftwarden.config import MonitorConfig
from driftwarden.monitor.errors import StartupError

__all__ = ["prepare_topics"]

log = logging.getLogger(__name__)


def prepare_topics(config: MonitorConfig, admin: KafkaAdminClient) -> int:
    """Check the input topics, create missing output and changelog topics; return the input
    partition count."""
    topics = config.topics
    counts = _partition_counts(admin, [topics.predictions, topics.labels])
    missing = [name for name in (topics.predictions, topics.labels) if name not in counts]
    if missing:
        raise StartupError(
            f"input topic(s) {', '.join(repr(m) for m in missing)} do not exist; create them "
            "(same partition count for both) or fix 'topics' in the config"
        )
    if counts[topics.predictions] != counts[topics.labels]:
        raise StartupError(
            f"topics {topics.predictions!r} ({counts[topics.predictions]} partitions) and "
            f"{topics.labels!r} ({counts[topics.labels]} partitions) must be co-partitioned: "
            "give them the same partition count and key both by prediction id"
        )
    partitions = counts[topics.predictions]
    outputs = [topics.examples, topics.dead_letter, topics.events, topics.retrain_requests]
    changelog = config.changelog_topic
    existing = _partition_counts(admin, [*outputs, changelog])
    if changelog in existing and existing[changelog] != partitions:
        raise StartupError(
            f"changelog topic {changelog!r} has {existing[changelog]} partitions but the inputs "
            f"have {partitions}; partition state is stored per input partition, so recreate it "
            "with the same count (or set 'topics.changelog' to a new topic)"
        )
    to_create = [
        NewTopic(name, partitions, -1) for name in dict.fromkeys(outputs) if name not in existing
    ]
    if changelog not in existing:
        # Compacted: a reader needs only the last snapshot of each partition (and chunk).
        to_create.append(
            NewTopic(changelog, partitions, -1, topic_configs={"cleanup.policy": "compact"})
        )
    if to_create:
        log.info("creating output topics %s", ", ".join(t.name for t in to_create))
        try:
            admin.create_topics(to_create, raise_errors=False)
        except TopicAlreadyExistsError:
            log.debug("output topics were created concurrently")
        except KafkaError as exc:
            raise StartupError(f"cannot create output topics: {exc}") from exc
    return partitions


def _partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    try:
        described: list[dict[str, Any]] = admin.describe_topics(names)
    except KafkaError as exc:
        raise StartupError(f"cannot describe topics {names}: {exc}") from exc
    return {
        item["name"]: len(item["partitions"])
        for item in described
        if item.get("error_code", 0) == 0 and item.get("partitions")
    }
