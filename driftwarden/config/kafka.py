"""The ``kafka`` section: brokers, group, transactions and kafka-python client options.

Secrets in ``kafka.client`` are held as :class:`~pydantic.SecretStr` and revealed only in the
keyword arguments handed to kafka-python.
"""

from __future__ import annotations

import functools
import hashlib
import re
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from driftwarden.core.config import Strict, resolve_secret

__all__ = ["KafkaConfig"]

_SECRET_KEY = re.compile(r"password|secret|token|credential", re.IGNORECASE)
_RESERVED_CLIENT_KEYS = frozenset(
    {
        "bootstrap_servers",
        "group_id",
        "enable_auto_commit",
        "auto_offset_reset",
        "isolation_level",
        "transactional_id",
        "enable_idempotence",
        "key_deserializer",
        "value_deserializer",
        "key_serializer",
        "value_serializer",
        "max_poll_records",
        "session_timeout_ms",
        "heartbeat_interval_ms",
        "allow_auto_create_topics",
    }
)


_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER")
_CLIENT_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_crlfile")


@functools.cache
def _client_defaults() -> dict[str, frozenset[str]]:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    return {
        "consumer": frozenset(KafkaConsumer.DEFAULT_CONFIG),
        "producer": frozenset(KafkaProducer.DEFAULT_CONFIG),
        "admin": frozenset(KafkaAdminClient.DEFAULT_CONFIG),
    }


class KafkaConfig(Strict):
    bootstrap_servers: list[str] = Field(default_factory=lambda: ["127.0.0.1:9092"])
    """Brokers. A list, or one comma-separated string."""
    group_id: str = "driftwarden-monitor"
    """Consumer group; its committed offsets mark how far outputs were delivered."""
    client: dict[str, Any] = Field(default_factory=dict)
    """Extra kafka-python options (`security_protocol`, `sasl_*`, `ssl_*`,
    `max_partition_fetch_bytes`, ...). Each client (admin client, consumer, producer) gets the
    options it knows; a key that none of them knows is rejected, and so are the keys driftwarden
    sets itself (`group_id`, `isolation_level`, ...; use this section's own keys).
    """
    transactional_id: str | None = None
    """Null: `<group_id>-<hostname>-<hash>`. Producer transactional id; must be unique per instance
    and stable across its restarts. The default's `<hash>` is 8 hex digits of SHA-256 of the
    absolute `state.dir`, so instances on one host with their own state directories differ. An
    instance fenced by another with its id logs one line naming the id and exits 1.
    """
    transactions: bool = True
    """Publish outputs and commit input offsets in one Kafka transaction per checkpoint. With
    `false`: flush outputs, then commit offsets (outputs become at-least-once).
    """
    max_poll_records: int = Field(default=5000, gt=0)
    """Most records per poll (one micro-batch)."""
    session_timeout_ms: int = Field(default=10000, gt=0)
    """Consumer group session timeout."""
    heartbeat_interval_ms: int = Field(default=3000, gt=0)
    """Consumer group heartbeat interval."""

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split_servers(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value

    @field_validator("client")
    @classmethod
    def _known_client_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key in _RESERVED_CLIENT_KEYS:
                raise ValueError(f"{key!r} is set by driftwarden; use the kafka section's own keys")
            if not any(key in options for options in _client_defaults().values()):
                raise ValueError(f"{key!r} is not a kafka-python client option")
        return value

    @field_validator("client")
    @classmethod
    def _security_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        """What kafka-python would only find out when it connects."""
        protocol = value.get("security_protocol", "PLAINTEXT")
        if protocol not in _SECURITY_PROTOCOLS:
            raise ValueError(f"security_protocol must be one of {list(_SECURITY_PROTOCOLS)}")
        mechanism = value.get("sasl_mechanism")
        if protocol.startswith("SASL_"):
            if mechanism not in _SASL_MECHANISMS:
                raise ValueError(
                    f"security_protocol {protocol} needs sasl_mechanism, one of "
                    f"{list(_SASL_MECHANISMS)}"
                )
            missing = [
                key
                for key in ("sasl_plain_username", "sasl_plain_password")
                if mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512") and not value.get(key)
            ]
            if missing:
                raise ValueError(f"sasl_mechanism {mechanism} needs {' and '.join(missing)}")
        for key in _CLIENT_FILES:
            if isinstance(value.get(key), str):
                try:
                    Path(value[key]).read_bytes()
                except OSError as exc:
                    raise ValueError(f"{key}: cannot read {value[key]!r}: {exc.strerror}") from None
        return value

    @field_validator("client", mode="before")
    @classmethod
    def _resolve_secrets(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        resolved: dict[str, Any] = {}
        for key, item in value.items():
            item = resolve_secret(item)
            secret = isinstance(key, str) and _SECRET_KEY.search(key)
            if secret and item is not None and not isinstance(item, str):
                # Not echoed, and not turned into a string: YAML reads 0123 as the number 83.
                raise ValueError(f"{key!r} is a secret and must be a string: quote it in YAML")
            resolved[key] = SecretStr(item) if secret and isinstance(item, str) else item
        return resolved

    def client_options(self, client: Literal["consumer", "producer", "admin"]) -> dict[str, Any]:
        """kafka-python keyword arguments for one kind of client, with secrets revealed."""
        known = _client_defaults()[client]
        return {
            "bootstrap_servers": self.bootstrap_servers,
            **{
                key: value.get_secret_value() if isinstance(value, SecretStr) else value
                for key, value in self.client.items()
                if key in known
            },
        }

    def transactional_prefix(self, state_dir: Path) -> str:
        """``transactional_id``, else ``<group_id>-<hostname>-<8 hex digits>``: the digits hash
        the state directory's absolute path, so two instances on one host (each with its own
        state directory) differ, and an instance keeps its id across restarts.

        >>> config = KafkaConfig(group_id="g", transactional_id="g-1")
        >>> config.transactional_prefix(Path("/var/lib/driftwarden"))
        'g-1'
        >>> a, b = (KafkaConfig(group_id="g").transactional_prefix(Path(d)) for d in ("/a", "/b"))
        >>> a != b and a.startswith(f"g-{socket.gethostname()}-")
        True
        """
        if self.transactional_id:
            return self.transactional_id
        digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]
        return f"{self.group_id}-{socket.gethostname()}-{digest}"
