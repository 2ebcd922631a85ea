"""deploy/compose: the compose file, its example config and the files it mounts agree.

No Docker engine runs here, so nothing is started: the compose file is checked against the
Compose specification (check-jsonschema's bundled copy, no network), and against the config
(``driftwarden config check``), the Dockerfile and the Prometheus and Grafana files it mounts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from driftwarden.config import MonitorConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
CONFIG_FILE = COMPOSE_DIR / "driftwarden.yaml"
CONFIG_MOUNT = "/etc/driftwarden/driftwarden.yaml"
SERVICES = {"kafka", "kafka-init", "monitor", "worker", "prometheus", "alertmanager", "grafana"}
# Mounted by the compose file, written by the engineers of deploy/prometheus, deploy/alertmanager
# and deploy/grafana. They must exist for `docker compose up` to work.
OTHER_DEPLOY_FILES = (
    "deploy/prometheus/prometheus.yml",
    "deploy/prometheus/rules.yml",
    "deploy/alertmanager/alertmanager.yml",
    "deploy/grafana/provisioning/datasources",
    "deploy/grafana/provisioning/dashboards",
    "deploy/grafana/dashboards/driftwarden.json",
)
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"

Service = dict[str, Any]


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} not found: pip install -e '.[dev]'", pytrace=False)
    return found


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Service]:
    found: dict[str, Service] = compose["services"]
    return found


@pytest.fixture(scope="module")
def config() -> MonitorConfig:
    return load_config(CONFIG_FILE)


def bind_mounts(service: Service) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume["type"] == "bind":
                mounts[volume["target"]] = (COMPOSE_DIR / volume["source"]).resolve()
            continue
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = (COMPOSE_DIR / source).resolve()
    return mounts


def named_volumes(service: Service) -> dict[str, str]:
    """Container path -> volume name of the service's named volumes (short syntax)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if not source.startswith((".", "/")):
            mounts[target] = source
    return mounts


def published_ports(service: Service) -> dict[int, int]:
    """Container port -> host port."""
    ports = {}
    for port in service.get("ports", []):
        host, container = str(port).rsplit(":", 1)
        ports[int(container)] = int(host.rsplit(":", 1)[-1])
    return ports


def test_compose_file_follows_the_compose_specification(services: dict[str, Service]) -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(services) == SERVICES
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, (name, dependency)
            if isinstance(condition, dict) and condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], (name, dependency)


def test_example_config_passes_config_check() -> None:
    result = subprocess.run(
        [tool("driftwarden"), "config", "check", str(CONFIG_FILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_bind_mounts_are_files_of_the_repository(services: dict[str, Service]) -> None:
    expected = {(ROOT / path).resolve() for path in OTHER_DEPLOY_FILES}
    for name, service in services.items():
        for target, host in bind_mounts(service).items():
            assert host.is_relative_to(ROOT), f"{name}: {host} is outside the repository"
            written = any(path.is_relative_to(host) for path in expected)
            assert host.exists() or written, f"{name}: {host} (for {target}) is missing"
    mounted = {host for service in services.values() for host in bind_mounts(service).values()}
    for path in expected:
        assert any(path.is_relative_to(host) for host in mounted), f"{path} is not mounted"


@pytest.mark.parametrize("path", OTHER_DEPLOY_FILES)
def test_files_written_for_the_other_deploy_parts_exist(path: str) -> None:
    target = ROOT / path
    assert target.exists(), f"{path} is mounted by deploy/compose/docker-compose.yml"
    if target.is_dir():
        assert any(target.iterdir()), f"{path} is empty"


def test_services_run_the_image_with_the_config(
    services: dict[str, Service], config: MonitorConfig
) -> None:
    commands = {
        "monitor": ["monitor", "--config", CONFIG_MOUNT],
        "worker": ["retrain", "worker", "--config", CONFIG_MOUNT],
    }
    for name, command in commands.items():
        service = services[name]
        build = service["build"]
        assert (COMPOSE_DIR / build["context"]).resolve() == ROOT
        assert (ROOT / build["dockerfile"]).is_file()
        assert service["command"] == command
        assert bind_mounts(service)[CONFIG_MOUNT] == CONFIG_FILE
        volumes = named_volumes(service)
        assert volumes[str(PurePosixPath(config.state.dir))] == "state"
        assert volumes[str(PurePosixPath(config.registry.path))] == "registry"
    assert services["monitor"]["image"] == services["worker"]["image"]


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Service]) -> None:
    used = {v for service in services.values() for v in named_volumes(service).values()}
    assert used == set(compose["volumes"])
    assert {"state", "registry"} <= used


def test_http_ports_agree_with_the_config(
    services: dict[str, Service], config: MonitorConfig
) -> None:
    for name, port in (("monitor", config.http.port), ("worker", config.worker.http.port)):
        service = services[name]
        assert published_ports(service) == {port: port}, name
        # The image's HEALTHCHECK asks /healthz on this port.
        assert int(service["environment"]["DRIFTWARDEN_HEALTH_PORT"]) == port, name
    assert (config.http.port, config.worker.http.port) == (9108, 9109)
    assert config.http.host == config.worker.http.host == "0.0.0.0"


def test_prometheus_scrapes_the_services_on_their_ports(
    services: dict[str, Service], config: MonitorConfig
) -> None:
    assert PROMETHEUS_CONFIG.exists(), "written with deploy/prometheus"
    prometheus = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {
        target
        for job in prometheus["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert f"monitor:{config.http.port}" in targets
    assert f"worker:{config.worker.http.port}" in targets
    listening = {"monitor": config.http.port, "worker": config.worker.http.port}
    for target in targets:
        host, _, port = target.rpartition(":")
        if host in listening:
            assert int(port) == listening[host], target
    mounted = set(bind_mounts(services["prometheus"]))
    for rule_file in prometheus.get("rule_files", []):
        assert str(PurePosixPath("/etc/prometheus") / rule_file) in mounted, rule_file
    alertmanagers = {
        target
        for manager in prometheus["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    }
    assert alertmanagers == {
        f"alertmanager:{port}" for port in published_ports(services["alertmanager"])
    }


def provisioning_files(kind: str) -> list[dict[str, Any]]:
    folder = GRAFANA_PROVISIONING / kind
    files = sorted(folder.glob("*.y*ml")) if folder.is_dir() else []
    assert files, f"no provisioning file in {folder}"
    return [yaml.safe_load(path.read_text()) for path in files]


def test_grafana_provisioning_points_at_the_mounts(services: dict[str, Service]) -> None:
    datasources = [d for doc in provisioning_files("datasources") for d in doc["datasources"]]
    prometheus_port = next(iter(published_ports(services["prometheus"])))
    assert any(
        d["type"] == "prometheus" and d["url"].rstrip("/") == f"http://prometheus:{prometheus_port}"
        for d in datasources
    ), datasources
    dashboards_mount = next(
        target
        for target, host in bind_mounts(services["grafana"]).items()
        if host == (ROOT / "deploy" / "grafana" / "dashboards").resolve()
    )
    providers = [p for doc in provisioning_files("dashboards") for p in doc["providers"]]
    paths = [PurePosixPath(p["options"]["path"]) for p in providers]
    assert any(PurePosixPath(dashboards_mount).is_relative_to(path) for path in paths), paths
    environment = services["grafana"]["environment"]
    home = PurePosixPath(environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home == PurePosixPath(dashboards_mount) / "driftwarden.json"


def test_kafka_serves_the_config_and_its_topics(
    services: dict[str, Service], config: MonitorConfig
) -> None:
    assert config.kafka.bootstrap_servers == ["kafka:9092"]
    kafka = services["kafka"]["environment"]
    advertised = kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "PLAINTEXT://kafka:9092" in advertised
    assert "broker" in kafka["KAFKA_PROCESS_ROLES"] and "controller" in kafka["KAFKA_PROCESS_ROLES"]
    assert str(kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"
    if config.kafka.transactions:
        assert kafka["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == 1
        assert kafka["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == 1
    init = services["kafka-init"]
    # The monitor creates its changelog itself (compacted); kafka-init creates the rest.
    names = {name for name in config.topics.model_dump().values() if name is not None}
    assert set(init["environment"]["TOPICS"].split()) == names
    assert init["environment"]["BOOTSTRAP"] == "kafka:9092"
    for name in ("monitor", "worker"):
        condition = services[name]["depends_on"]["kafka-init"]["condition"]
        assert condition == "service_completed_successfully", name
