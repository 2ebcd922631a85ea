"""deploy/kubernetes: strict schema validation, and the manifests agree with each other.

``kubernetes-validate --strict`` checks the built-in kinds against Kubernetes' OpenAPI schemas,
rejecting unknown fields. It ships no schemas for custom resources: for the Prometheus Operator's
ServiceMonitor and PrometheusRule it only warns "Couldn't find schema" and exits 0, so a misspelt
field there would pass unnoticed. The tests therefore assert that exactly the built-in resources
passed and exactly those two custom resources went unvalidated, and check the custom resources'
structure themselves: the ServiceMonitor against the Services it must select and their ports,
the PrometheusRule's groups against deploy/prometheus/rules.yml (identical) and each rule's keys.

Beyond schemas: the ConfigMap's config passes ``driftwarden config check`` (and needs the Secret's
variable), and the workloads agree with it, with the Dockerfile's user and with each other.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from driftwarden.config import MonitorConfig, parse_config

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "kubernetes"
RULES_FILE = ROOT / "deploy" / "prometheus" / "rules.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DOCKERFILE = ROOT / "Dockerfile"
CONFIG_PATH = "/etc/driftwarden/driftwarden.yaml"
SECRET_ENV = "KAFKA_SASL_PASSWORD"
SECRET_NAME = "driftwarden-kafka"
# Oldest Kubernetes the manifests are validated against (README of deploy/kubernetes), and the
# newest kubernetes-validate knows (None: its default).
KUBERNETES_VERSIONS = ("1.30", None)
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}
EXPECTED = {
    ("ConfigMap", "driftwarden-config"),
    ("Service", "driftwarden-monitor"),
    ("StatefulSet", "driftwarden-monitor"),
    ("PodDisruptionBudget", "driftwarden-monitor"),
    ("Service", "driftwarden-worker"),
    ("PersistentVolumeClaim", "driftwarden-worker-state"),
    ("Deployment", "driftwarden-worker"),
    ("PersistentVolumeClaim", "driftwarden-registry"),
    ("CronJob", "driftwarden-retrain-churn"),
    ("ServiceMonitor", "driftwarden"),
    ("PrometheusRule", "driftwarden"),
}
RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}

Resource = dict[str, Any]


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} not found: pip install -e '.[dev]'", pytrace=False)
    return found


def manifest_files() -> list[Path]:
    return sorted(K8S_DIR.glob("*.yaml"))


@pytest.fixture(scope="module")
def resources() -> dict[tuple[str, str], Resource]:
    found: dict[tuple[str, str], Resource] = {}
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text()):
            if document is None:
                continue
            key = (document["kind"], document["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = document
    return found


def config_text(resources: dict[tuple[str, str], Resource]) -> str:
    text: str = resources["ConfigMap", "driftwarden-config"]["data"][
        PurePosixPath(CONFIG_PATH).name
    ]
    return text


@pytest.fixture
def config(
    resources: dict[tuple[str, str], Resource], monkeypatch: pytest.MonkeyPatch
) -> MonitorConfig:
    monkeypatch.setenv(SECRET_ENV, "not-a-secret")
    return parse_config(yaml.safe_load(config_text(resources)), source="ConfigMap")


def pod_spec(resource: Resource) -> Resource:
    spec = resource["spec"]
    if resource["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: Resource = spec["template"]
    return template


def workloads(resources: dict[tuple[str, str], Resource]) -> Iterator[Resource]:
    kinds = {"StatefulSet", "Deployment", "CronJob"}
    yield from (r for (kind, _), r in resources.items() if kind in kinds)


def mounts(container: Resource) -> dict[str, str]:
    """Mount path -> volume name."""
    return {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}


def volumes(resource: Resource) -> dict[str, Resource]:
    return {v["name"]: v for v in pod_spec(resource)["spec"].get("volumes", [])}


def only_container(resource: Resource) -> Resource:
    (container,) = pod_spec(resource)["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def validate(paths: list[Path], version: str | None) -> subprocess.CompletedProcess[str]:
    command = [tool("kubernetes-validate"), "--strict"]
    if version is not None:
        command += ["--kubernetes-version", version]
    return subprocess.run(
        [*command, *map(str, paths)], capture_output=True, text=True, check=False, timeout=300
    )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_builtin_kinds_pass_strict_validation_and_only_the_crds_are_unvalidated(
    resources: dict[tuple[str, str], Resource], version: str | None
) -> None:
    result = validate(manifest_files(), version)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "ERROR" not in output, output
    passed = set(re.findall(r"^INFO .* passed for resource (\S+) against", output, re.M))
    builtin = {(k, n) for k, n in resources if k not in CUSTOM_KINDS}
    assert passed == {f"{kind.lower()}/{name}" for kind, name in builtin}, output
    unvalidated = set(re.findall(r"^WARN .* Couldn't find schema for kind (\w+) ", output, re.M))
    assert unvalidated == CUSTOM_KINDS, output


def test_strict_validation_rejects_an_unknown_field(
    resources: dict[tuple[str, str], Resource], tmp_path: Path
) -> None:
    broken = resources["Deployment", "driftwarden-worker"]
    broken = yaml.safe_load(yaml.safe_dump(broken))  # a copy
    only_container(broken)["securityContext"]["runAsNonroot"] = True
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = validate([path], None)
    assert result.returncode != 0 and "runAsNonroot" in result.stdout + result.stderr


def test_resources_are_the_expected_ones(resources: dict[tuple[str, str], Resource]) -> None:
    assert set(resources) == EXPECTED
    # Credentials are never in the repository: the Secret is created by hand (README).
    assert not any(kind == "Secret" for kind, _ in resources)
    for resource in resources.values():
        assert resource["metadata"]["labels"]["app.kubernetes.io/part-of"] == "driftwarden"


def test_config_passes_config_check_with_the_secret_variable(
    resources: dict[tuple[str, str], Resource], tmp_path: Path
) -> None:
    path = tmp_path / "driftwarden.yaml"
    path.write_text(config_text(resources))
    driftwarden = tool("driftwarden")
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    check = [driftwarden, "config", "check", str(path)]
    with_secret = subprocess.run(
        check, env={**env, SECRET_ENV: "x"}, capture_output=True, text=True, check=False
    )
    assert with_secret.returncode == 0, with_secret.stdout + with_secret.stderr
    without = subprocess.run(check, env=env, capture_output=True, text=True, check=False)
    assert without.returncode == 2 and SECRET_ENV in without.stderr, without.stderr


def test_every_pod_gets_config_secret_and_a_non_root_user(
    resources: dict[tuple[str, str], Resource],
) -> None:
    (user,) = re.findall(r"^USER (\d+):(\d+)$", DOCKERFILE.read_text(), re.M)
    images = set()
    for resource in workloads(resources):
        name = resource["metadata"]["name"]
        spec = pod_spec(resource)["spec"]
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert (str(security["runAsUser"]), str(security["runAsGroup"])) == user, name
        container = only_container(resource)
        images.add(container["image"])
        args = container["args"]
        assert args[args.index("--config") + 1] == CONFIG_PATH, name
        env = {e["name"]: e for e in container["env"]}
        assert env[SECRET_ENV]["valueFrom"]["secretKeyRef"]["name"] == SECRET_NAME, name
        volume = volumes(resource)[mounts(container)[str(PurePosixPath(CONFIG_PATH).parent)]]
        assert volume["configMap"]["name"] == "driftwarden-config", name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        scratch = volumes(resource)[mounts(container)["/tmp"]]  # noqa: S108 - a mount path
        assert "emptyDir" in scratch, name
    assert len(images) == 1, images


def test_monitor_is_a_stateful_set_with_a_claim_per_pod(
    resources: dict[tuple[str, str], Resource], config: MonitorConfig
) -> None:
    monitor = resources["StatefulSet", "driftwarden-monitor"]
    # Pods share a consumer group and hand partition state over (README.md, "Scaling out");
    # each has its own state claim and a stable hostname (its default transactional id).
    assert monitor["spec"]["replicas"] >= 1
    service = resources["Service", monitor["spec"]["serviceName"]]
    assert service["spec"]["clusterIP"] == "None"
    container = only_container(monitor)
    assert container["args"][0] == "monitor"
    (claim,) = monitor["spec"]["volumeClaimTemplates"]
    assert mounts(container)[str(PurePosixPath(config.state.dir))] == claim["metadata"]["name"]
    registry = volumes(monitor)[mounts(container)[str(PurePosixPath(config.registry.path))]]
    assert registry["persistentVolumeClaim"]["claimName"] == "driftwarden-registry"
    assert_http(container, config.http.port)
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    budget = resources["PodDisruptionBudget", "driftwarden-monitor"]
    assert budget["spec"]["selector"]["matchLabels"] == monitor["spec"]["selector"]["matchLabels"]


def assert_http(container: Resource, port: int) -> None:
    (container_port,) = container["ports"]
    assert container_port == {"name": "metrics", "containerPort": port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DRIFTWARDEN_HEALTH_PORT"] == str(port)


def test_worker_is_a_single_recreated_instance(
    resources: dict[tuple[str, str], Resource], config: MonitorConfig
) -> None:
    worker = resources["Deployment", "driftwarden-worker"]
    assert worker["spec"]["replicas"] == 1
    assert worker["spec"]["strategy"] == {"type": "Recreate"}
    container = only_container(worker)
    assert container["args"][:2] == ["retrain", "worker"]
    assert_http(container, config.worker.http.port)
    state = volumes(worker)[mounts(container)[str(PurePosixPath(config.state.dir))]]
    registry = volumes(worker)[mounts(container)[str(PurePosixPath(config.registry.path))]]
    claims = {
        "driftwarden-worker-state": "ReadWriteOnce",
        "driftwarden-registry": "ReadWriteMany",  # the monitor and the CronJob use it too
    }
    for volume, (claim, mode) in zip((state, registry), claims.items(), strict=True):
        assert volume["persistentVolumeClaim"]["claimName"] == claim
        assert resources["PersistentVolumeClaim", claim]["spec"]["accessModes"] == [mode]


def test_services_select_their_own_pods(resources: dict[tuple[str, str], Resource]) -> None:
    owners = {
        "driftwarden-monitor": resources["StatefulSet", "driftwarden-monitor"],
        "driftwarden-worker": resources["Deployment", "driftwarden-worker"],
    }
    for name, owner in owners.items():
        selector = resources["Service", name]["spec"]["selector"]
        for workload in workloads(resources):
            labels = pod_spec(workload)["metadata"]["labels"]
            assert selects(selector, labels) is (workload is owner), (name, workload["kind"])
        ports = {p["name"] for p in only_container(owner)["ports"]}
        assert {p["targetPort"] for p in resources["Service", name]["spec"]["ports"]} <= ports


def test_cronjob_runs_retrain_for_a_model_with_training(
    resources: dict[tuple[str, str], Resource], config: MonitorConfig
) -> None:
    cronjob = resources["CronJob", "driftwarden-retrain-churn"]
    container = only_container(cronjob)
    assert container["args"] == ["retrain", "run", "--config", CONFIG_PATH, "--model", "churn"]
    model = config.model("churn")
    assert model is not None and model.training is not None, "retrain run needs 'training'"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert pod_spec(cronjob)["spec"]["restartPolicy"] == "Never"
    registry = volumes(cronjob)[mounts(container)[str(PurePosixPath(config.registry.path))]]
    assert registry["persistentVolumeClaim"]["claimName"] == "driftwarden-registry"


def rule_jobs() -> set[str]:
    return set(re.findall(r'job="([^"]+)"', RULES_FILE.read_text()))


def test_service_monitor_scrapes_both_services_as_the_rules_jobs(
    resources: dict[tuple[str, str], Resource],
) -> None:
    monitor = resources["ServiceMonitor", "driftwarden"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    spec = monitor["spec"]
    assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
    assert set(spec["selector"]) == {"matchLabels"}
    selected = {
        name
        for (kind, name), service in resources.items()
        if kind == "Service"
        and selects(spec["selector"]["matchLabels"], service["metadata"]["labels"])
    }
    assert selected == {"driftwarden-monitor", "driftwarden-worker"}
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}, endpoint
        assert endpoint["path"] == "/metrics"
        for name in selected:
            assert endpoint["port"] in {
                p["name"] for p in resources["Service", name]["spec"]["ports"]
            }
    # Without jobLabel the job is the Service name: the jobs the rules and prometheus.yml use.
    assert "jobLabel" not in spec
    assert rule_jobs() == selected
    prometheus = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert {job["job_name"] for job in prometheus["scrape_configs"]} >= selected


def test_prometheus_rule_groups_equal_rules_yml(
    resources: dict[tuple[str, str], Resource],
) -> None:
    rule = resources["PrometheusRule", "driftwarden"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule["spec"]) == {"groups"}
    groups = rule["spec"]["groups"]
    expected = yaml.safe_load(RULES_FILE.read_text())["groups"]
    assert groups == expected, (
        "prometheusrule.yaml differs from deploy/prometheus/rules.yml: "
        "run python deploy/kubernetes/render_prometheusrule.py"
    )
    for group in groups:
        assert set(group) <= {"name", "interval", "rules"} and group["rules"], group.get("name")
        for entry in group["rules"]:
            assert set(entry) <= RULE_KEYS, entry
            assert ("alert" in entry) != ("record" in entry) and entry["expr"], entry
