"""The Dockerfile without building it: hadolint, and the contract the deployments rely on.

``tests/deploy/test_image.py`` builds the image and runs it; this module checks, in a second,
what a build does not: lint, the numeric non-root user (Kubernetes' ``runAsNonRoot``), the
volumes, ports, entrypoint and health port the compose file and the manifests assume, the
``.dockerignore`` and the image name they reference.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from driftwarden.config import WorkerConfig
from driftwarden.core.http_config import HttpConfig
from scripts.image import image_tag

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

COMPOSE = ROOT / "deploy" / "compose" / "docker-compose.yml"
KUBERNETES = ROOT / "deploy" / "kubernetes"
VOLUMES = {"/var/lib/driftwarden/state", "/var/lib/driftwarden/registry"}
HEALTH_PORT_ENV = "DRIFTWARDEN_HEALTH_PORT"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    stage: str
    keyword: str
    arguments: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order, each tagged with its stage name (or its ``FROM`` image)."""
    instructions: list[Instruction] = []
    stage = ""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, arguments = " ".join(pending).partition(" ")
        pending = []
        if keyword.upper() == "FROM":
            words = arguments.split()
            stage = words[2] if len(words) == 3 and words[1].upper() == "AS" else words[0]
        instructions.append(Instruction(stage, keyword.upper(), arguments.strip(), start))
    assert not pending, "Dockerfile ends inside a continuation line"
    return instructions


def stage_of(instructions: list[Instruction], stage: str, keyword: str) -> list[Instruction]:
    return [i for i in instructions if i.stage == stage and i.keyword == keyword]


def expand(value: str, env: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` from ``env``, as Docker substitutes them in ENV values."""
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), value)


def parse_env(arguments: str) -> list[tuple[str, str]]:
    pairs = []
    for word in shlex.split(arguments):
        name, sep, value = word.partition("=")
        assert sep, f"ENV {arguments!r}: use the NAME=value form"
        pairs.append((name, value))
    return pairs


def exec_form(arguments: str) -> list[str]:
    argv = json.loads(arguments)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), arguments
    return argv


def health_command(arguments: str) -> list[str]:
    match = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(\[.*\])", arguments, flags=re.S)
    assert match, f"HEALTHCHECK must use the exec form: {arguments}"
    return exec_form(match.group(2))


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} not found: pip install -e '.[dev]'", pytrace=False)
    return found


def test_hadolint_passes_at_warning_threshold() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_contract(dockerfile: list[Instruction]) -> None:
    global_args = dict(
        parse_env(i.arguments)[0] for i in dockerfile if i.keyword == "ARG" and not i.stage
    )
    froms = [
        (i.stage, expand(i.arguments.split()[0], global_args))
        for i in dockerfile
        if i.keyword == "FROM"
    ]
    assert froms == [("builder", "python:3.11-slim"), ("runtime", "python:3.11-slim")]
    assert dockerfile[-1].stage == "runtime", "the runtime stage must be the last (the image)"

    (user,) = stage_of(dockerfile, "runtime", "USER")
    uid, _, gid = user.arguments.partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
    assert uid.isdigit() and int(uid) > 0 and (not gid or gid.isdigit()), user
    volumes = {v for i in stage_of(dockerfile, "runtime", "VOLUME") for v in exec_form(i.arguments)}
    assert volumes == VOLUMES
    exposed = {
        int(p) for i in stage_of(dockerfile, "runtime", "EXPOSE") for p in i.arguments.split()
    }
    assert exposed == {HttpConfig().port, WorkerConfig().http.port} == {9108, 9109}
    (entrypoint,) = stage_of(dockerfile, "runtime", "ENTRYPOINT")
    assert exec_form(entrypoint.arguments) == ["driftwarden"]
    env = dict(p for i in stage_of(dockerfile, "runtime", "ENV") for p in parse_env(i.arguments))
    assert env[HEALTH_PORT_ENV] == str(HttpConfig().port), "health port defaults to the monitor's"
    (healthcheck,) = stage_of(dockerfile, "runtime", "HEALTHCHECK")
    assert HEALTH_PORT_ENV in " ".join(health_command(healthcheck.arguments))

    # The runtime stage holds the builder's virtualenv, nothing else of it.
    assert [i.arguments for i in stage_of(dockerfile, "runtime", "COPY")] == [
        "--from=builder /opt/driftwarden /opt/driftwarden"
    ]
    # .dockerignore ignores everything but what the builder copies.
    lines = DOCKERIGNORE.read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for i in stage_of(dockerfile, "builder", "COPY")
        for source in shlex.split(i.arguments)[:-1]
    }
    assert "*" in lines and copied == allowed


def test_the_deployments_reference_the_image_as_it_is_built() -> None:
    """``make image`` (scripts.image) tags ``driftwarden:<version>``: compose and Kubernetes
    run that."""
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {services[name]["image"] for name in ("monitor", "worker")} == {image_tag()}
    manifests = sorted(KUBERNETES.glob("*.yaml"))
    images = {
        container["image"]
        for manifest in manifests
        for document in yaml.safe_load_all(manifest.read_text())
        for container in containers(document)
    }
    assert images == {image_tag()}


def containers(node: object) -> list[dict[str, object]]:
    """Every entry of a ``containers`` list in a manifest, at any depth."""
    if isinstance(node, list):
        return [c for item in node for c in containers(item)]
    if not isinstance(node, dict):
        return []
    found = [c for c in node.get("containers", []) if isinstance(c, dict)]
    return found + [
        c for key, value in node.items() if key != "containers" for c in containers(value)
    ]
