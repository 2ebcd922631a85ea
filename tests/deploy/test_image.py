"""The container image, built from the repository's Dockerfile as it is and run with podman.

The image is built once per session (``scripts.image``: a base bootstrapped from Debian's archive
with mmdebstrap, cached, then the Dockerfile in Docker's format) in podman storage of the
session's own, which is reset at the end. Containers run as the image's user (uid 10001) on the
host network, so they reach the session's Tansu broker on loopback; the directories mounted as
volumes are handed to that user first, as a deployment must. podman runs no healthchecks on its
own here (no systemd): ``podman healthcheck run`` runs the image's HEALTHCHECK once.

Without podman, runc or mmdebstrap (``scripts/install-system-deps`` installs them), or run by a
user other than root, the module is skipped locally and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from driftwarden import __version__
from driftwarden.contracts.requests import RetrainRequest
from driftwarden.monitor.checkpoint import CheckpointStore
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.testing import TansuBroker, create_topics, free_port, generate_stream, produce
from scripts.image import Engine, build, cache_dir, podman
from tests.conftest import TopicNames
from tests.helpers import wait_until
from tests.monitor.harness import monitor_config, scrape, total, wait_consumed

pytestmark = pytest.mark.kafka

# The image's size as podman reports it (`podman image inspect --format {{.Size}}`, in bytes):
# ~697 MB before the virtualenv was trimmed (issue 15), ~560 MB after.
SIZE_LIMIT_BYTES = 600_000_000
UID = 10001
CONFIG_DIR = "/etc/driftwarden"
STATE_DIR = "/var/lib/driftwarden/state"
REGISTRY_DIR = "/var/lib/driftwarden/registry"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """podman with storage of its own, reset (containers, images, mounts) at the end."""
    missing = [name for name in ("podman", "runc", "mmdebstrap") if shutil.which(name) is None]
    message = f"{', '.join(missing)} not found: run scripts/install-system-deps"
    if not missing and os.geteuid() != 0:
        missing, message = ["root"], "the image tests run podman as root (volumes go to uid 10001)"
    if missing:
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    storage = tmp_path_factory.mktemp("podman")
    running = podman(cache_dir(), storage / "root", storage / "runroot")
    try:
        yield running
    finally:
        running.run("system", "reset", "--force", what="resetting the test's podman storage")
        shutil.rmtree(storage, ignore_errors=True)


@pytest.fixture(scope="session")
def image(engine: Engine) -> str:
    """The image, built from the repository's Dockerfile (the base from the cache if there)."""
    tag = "localhost/driftwarden:test"
    started = time.monotonic()
    build(engine, tag, cache_dir())
    print(f"image built in {time.monotonic() - started:.1f} s")
    return tag


@pytest.fixture(scope="session")
def demo_image(engine: Engine, image: str) -> str:
    """The image with the demo extra (``--build-arg DRIFTWARDEN_EXTRAS=demo``)."""
    tag = "localhost/driftwarden:test-demo"
    build(engine, tag, cache_dir(), extras="demo")
    return tag


def run(engine: Engine, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        engine.command(*args),
        env=engine.environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def owned_by_image_user(path: Path) -> Path:
    """A host directory the container's user may write, as a bind-mounted volume must be."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, UID, UID)
    return path


@contextmanager
def container(engine: Engine, name: str, args: Sequence[str]) -> Iterator[str]:
    """A detached container on the host network; its log is shown if the block fails."""
    started = run(engine, "run", "--detach", "--name", name, "--network", "host", *args)
    assert started.returncode == 0, started.stderr
    try:
        yield name
    except BaseException:
        print(run(engine, "logs", name).stderr[-5000:])
        raise
    finally:
        run(engine, "rm", "--force", "--time", "0", "--volumes", name)


def running(engine: Engine, name: str) -> bool:
    state = run(engine, "inspect", "--format", "{{.State.Running}}", name)
    assert state.returncode == 0, state.stderr
    return state.stdout.strip() == "true"


def stop(engine: Engine, name: str) -> int:
    """``podman stop`` (SIGTERM, then SIGKILL after 30 s); the container's exit code."""
    stopped = run(engine, "stop", "--time", "30", name, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    code = run(engine, "inspect", "--format", "{{.State.ExitCode}}", name)
    return int(code.stdout.strip())


def healthcheck(engine: Engine, name: str) -> subprocess.CompletedProcess[str]:
    return run(engine, "healthcheck", "run", name)


def test_the_image_is_lean_and_keeps_its_healthcheck(engine: Engine, image: str) -> None:
    size = int(run(engine, "image", "inspect", "--format", "{{.Size}}", image).stdout)
    print(run(engine, "history", image).stdout)
    assert size < SIZE_LIMIT_BYTES, f"{image} is {size / 1e6:.0f} MB, over the limit"
    # Docker's format: an OCI image would have dropped the HEALTHCHECK.
    check = run(engine, "image", "inspect", "--format", "{{json .HealthCheck}}", image)
    assert "DRIFTWARDEN_HEALTH_PORT" in check.stdout, check.stdout


def test_the_command_line_runs_as_the_non_root_user(engine: Engine, image: str) -> None:
    offline = ("run", "--rm", "--no-healthcheck", "--network", "none")
    helped = run(engine, *offline, image)  # the default command: --help
    assert helped.returncode == 0, helped.stderr
    assert "monitor" in helped.stdout and "retrain" in helped.stdout
    module = ("--entrypoint", "python", image, "-m", "driftwarden")
    version = run(engine, *offline, *module, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"driftwarden {__version__}"
    # One import package from the virtualenv, run as uid 10001; no installer left in it.
    probe = (
        "import driftwarden, importlib.util as u, os; "
        "print(os.getuid(), os.getgid(), driftwarden.__file__, "
        "[n for n in ('monitor', 'retrain', 'pip', 'setuptools') if u.find_spec(n)])"
    )
    found = run(engine, *offline, "--entrypoint", "python", image, "-c", probe)
    assert found.returncode == 0, found.stderr
    uid, gid, module, extra = found.stdout.split(maxsplit=3)
    assert (uid, gid) == (str(UID), str(UID))
    assert module.startswith("/opt/driftwarden/lib/python3.11/site-packages/driftwarden/")
    assert extra.strip() == "[]"


def image_config(prefix: str, bootstrap: str, port: int, **models: Any) -> dict[str, Any]:
    """A config with the container's state and registry volumes."""
    config = monitor_config(bootstrap, prefix, Path(STATE_DIR), port, **models)
    config["registry"] = REGISTRY_DIR
    return config


def config_dir(path: Path, config: dict[str, Any]) -> Path:
    path.mkdir()
    (path / "driftwarden.yaml").write_text(yaml.safe_dump(config))
    return path


def test_the_monitor_container_consumes_checks_health_and_checkpoints_on_sigterm(
    engine: Engine, image: str, broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    port = free_port()
    # Checkpoints only on the way out: the checkpoint found after `podman stop` is the final one.
    config = image_config(topic_names("image"), broker.bootstrap, port)
    config["state"]["checkpoint_every"] = "1h"
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=2)
    events = list(generate_stream(1500, seed=7, max_delay=120))
    sent = produce(broker.bootstrap, [(topics[e.topic], e.key, e.value) for e in events])
    predictions = sum(e.topic == "predictions" for e in events)
    state = owned_by_image_user(tmp_path / "state")
    volumes = [
        *("--volume", f"{config_dir(tmp_path / 'config', config)}:{CONFIG_DIR}:ro"),
        *("--volume", f"{state}:{STATE_DIR}"),
        *("--volume", f"{owned_by_image_user(tmp_path / 'registry')}:{REGISTRY_DIR}"),
    ]
    args = [*volumes, "--env", f"DRIFTWARDEN_HEALTH_PORT={port}", image]
    command = ["monitor", "--config", f"{CONFIG_DIR}/driftwarden.yaml"]
    with container(engine, "dw-monitor", [*args, *command]) as name:
        samples = wait_consumed(
            f"http://127.0.0.1:{port}/metrics", sent, 90, lambda: running(engine, name)
        )
        assert total(samples, "driftwarden_predictions_total") == predictions
        assert total(samples, "driftwarden_labels_total") == sent - predictions
        assert total(samples, "driftwarden_invalid_events_total") == 0
        health = healthcheck(engine, name)
        assert health.returncode == 0 and "unhealthy" not in health.stdout, health
        assert not (state / "monitor.ckpt").exists()
        assert stop(engine, name) == 0
    checkpoint = CheckpointStore(state).load()
    assert checkpoint is not None
    # The next offset of every input partition: everything produced was consumed and saved.
    assert sum(checkpoint.offsets.values()) == sent


def base_table(path: Path, rows: int = 600) -> Path:
    """Training data the worker reads from its config volume: churn when tenure is short."""
    lines = ["tenure,plan,churned"]
    for i in range(rows):
        tenure = i % 48
        lines.append(f"{tenure},{('basic', 'pro')[i % 2]},{int(tenure < 12)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_worker_container_registers_a_requested_version_into_the_registry_volume(
    engine: Engine, image: str, broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    worker_port = free_port()
    training = {
        "data": {"base": f"{CONFIG_DIR}/base.csv", "label_column": "churned", "examples": 100},
        "gate": {"metric": "accuracy"},
        "risk_tier": "low",
    }
    config = image_config(topic_names("worker"), broker.bootstrap, free_port(), training=training)
    config["worker"] = {
        "http": {"host": "127.0.0.1", "port": worker_port},
        "max_workers": 1,
        "group_id": f"{config['kafka']['group_id']}-worker",
    }
    topics = config["topics"]
    create_topics(broker.bootstrap, list(topics.values()), partitions=1)
    configs = config_dir(tmp_path / "config", config)
    base_table(configs / "base.csv")
    registry = owned_by_image_user(tmp_path / "registry")
    args = [
        *("--volume", f"{configs}:{CONFIG_DIR}:ro"),
        *("--volume", f"{owned_by_image_user(tmp_path / 'state')}:{STATE_DIR}"),
        *("--volume", f"{registry}:{REGISTRY_DIR}"),
        *("--env", f"DRIFTWARDEN_HEALTH_PORT={worker_port}"),
        image,
        *("retrain", "worker", "--config", f"{CONFIG_DIR}/driftwarden.yaml"),
    ]
    with container(engine, "dw-worker", args) as name:
        request = RetrainRequest.new("churn", None, "manual", timestamp=time.time())
        produce(broker.bootstrap, [(topics["retrain_requests"], b"churn", request.to_json())])

        def registered() -> Any:
            assert running(engine, name), "the worker container exited"
            return ModelRegistry(registry).production("churn")

        version = wait_until(registered, "version 1 in the registry volume", 120, 0.5)
        assert version.version == "1" and version.metadata["trigger"] == "manual"
        samples = scrape(f"http://127.0.0.1:{worker_port}/metrics")
        assert total(samples, "driftwarden_retrain_runs_total", outcome="promoted") == 1
        health = healthcheck(engine, name)
        assert health.returncode == 0 and "unhealthy" not in health.stdout, health
        assert stop(engine, name) == 0


def test_the_healthcheck_reports_unhealthy_when_the_endpoint_is_down(
    engine: Engine, image: str
) -> None:
    # A container of the image whose process serves nothing on DRIFTWARDEN_HEALTH_PORT.
    idle = ["--entrypoint", "python", image, "-c", "import time; time.sleep(600)"]
    with container(engine, "dw-unhealthy", idle) as name:
        health = healthcheck(engine, name)
        assert health.returncode == 1 and health.stdout.strip() == "unhealthy", health


def test_the_demo_runs_in_the_image_with_the_demo_extra(
    engine: Engine, demo_image: str, tmp_path: Path
) -> None:
    out = owned_by_image_user(tmp_path / "out")
    demo = ["demo", "--events", "12000", "--change-at", "2000", "--out", "/out/demo"]
    result = run(
        engine,
        *("run", "--rm", "--no-healthcheck", "--network", "none"),
        *("--volume", f"{out}:/out", demo_image, *demo, "--summary-json", "/out/summary.json"),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["loop_closed"] is True and summary["events"] == 12000
    assert (out / "demo" / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
