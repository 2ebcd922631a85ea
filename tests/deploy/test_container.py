"""The Dockerfile: hadolint, its contract, and its install and run steps replayed without Docker.

No Docker engine runs here, so the image is never built. The Dockerfile is parsed and its steps
are replayed on this machine instead:

- **builder**: the stage's ``COPY`` sources are copied into a scratch build directory and its
  ``pip wheel --no-deps`` RUN line runs there;
- **runtime**: its ``pip install`` RUN line creates a fresh virtualenv and installs the wheel,
  with its dependencies resolved from PyPI;
- the ``ENTRYPOINT``, found on the stage's ``PATH``, runs ``monitor --config`` against the test
  broker; ``/healthz`` must answer 200 and the ``HEALTHCHECK`` command must pass (and fail when
  nothing listens on its port).

The replayed RUN lines are the Dockerfile's own text, run with ``sh -c`` like Docker's shell
form, with container paths mapped onto scratch directories (:data:`CONTAINER_PATHS`) and the
stage's ``ENV`` applied, except ``PIP_NO_CACHE_DIR``: the image keeps no pip cache in its layers,
while the replay reuses this machine's cache to stay fast. A fresh virtualenv of this interpreter
stands in for the base image's system Python (``python`` and ``pip`` on ``PATH``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from driftwarden.config import WorkerConfig
from driftwarden.core.http_config import HttpConfig
from driftwarden.testing import TansuBroker, create_topics, free_port
from tests.conftest import TopicNames
from tests.helpers import wait_until
from tests.monitor.harness import monitor_config, write_config

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# Container paths the replayed steps use -> names of the scratch directories standing in for them.
CONTAINER_PATHS = {"/src": "src", "/wheels": "wheels", "/opt/driftwarden": "venv"}
# Image-size settings of the Dockerfile that the replay leaves out (see the module docstring).
REPLAY_DROPS_ENV = {"PIP_NO_CACHE_DIR"}
VOLUMES = {"/var/lib/driftwarden/state", "/var/lib/driftwarden/registry"}
HEALTH_PORT_ENV = "DRIFTWARDEN_HEALTH_PORT"
STEP_TIMEOUT_S = 900


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

    text = DOCKERFILE.read_text()
    for path in CONTAINER_PATHS:
        assert path in text, f"{path} is no longer used: update CONTAINER_PATHS"
    # .dockerignore ignores everything but what the builder copies.
    lines = DOCKERIGNORE.read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for i in stage_of(dockerfile, "builder", "COPY")
        for source in shlex.split(i.arguments)[:-1]
    }
    assert "*" in lines and copied == allowed


@dataclass
class Replay:
    """The scratch directories that stand in for the container's paths."""

    root: Path

    def path(self, container_path: str) -> Path:
        for prefix, name in sorted(CONTAINER_PATHS.items(), key=lambda p: -len(p[0])):
            if container_path == prefix or container_path.startswith(prefix + "/"):
                return self.root / name / container_path[len(prefix) :].lstrip("/")
        raise AssertionError(f"{container_path} is not mapped: add it to CONTAINER_PATHS")

    def text(self, text: str) -> str:
        for prefix, name in sorted(CONTAINER_PATHS.items(), key=lambda p: -len(p[0])):
            text = text.replace(prefix, str(self.root / name))
        return text

    def stage_env(self, base: Mapping[str, str], env: list[Instruction]) -> dict[str, str]:
        result = dict(base)
        for instruction in env:
            for name, value in parse_env(instruction.arguments):
                if name not in REPLAY_DROPS_ENV:
                    result[name] = self.text(expand(value, result))
        return result

    def run(self, instruction: Instruction, cwd: Path, env: Mapping[str, str]) -> None:
        command = self.text(instruction.arguments)
        result = subprocess.run(
            ["sh", "-c", command],
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
            timeout=STEP_TIMEOUT_S,
        )
        assert result.returncode == 0, (
            f"Dockerfile line {instruction.line} failed: {command}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


def copy_sources(instruction: Instruction, workdir: Path) -> None:
    """A builder ``COPY src... dest`` from the repository, as Docker copies from the context."""
    *sources, dest = shlex.split(instruction.arguments)
    assert not any(s.startswith("--") for s in sources), instruction
    target = workdir / dest
    for source in sources:
        origin = ROOT / source
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(origin, target, dirs_exist_ok=True, ignore=ignore)
        elif dest.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / origin.name)
        else:
            shutil.copy2(origin, target)


@pytest.fixture(scope="module")
def installed(
    dockerfile: list[Instruction], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Replay, dict[str, str]]]:
    """Replay builder and runtime install steps; yield the replay and the runtime stage's env."""
    replay = Replay(tmp_path_factory.mktemp("image"))
    for name in CONTAINER_PATHS.values():
        (replay.root / name).mkdir()
    # The base image's system Python: `python` and `pip` on PATH.
    base_python = replay.root / "base-python"
    subprocess.run([sys.executable, "-m", "venv", str(base_python)], check=True, timeout=120)
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", *REPLAY_DROPS_ENV}
    base_env = {k: v for k, v in os.environ.items() if k not in drop}
    base_env["PATH"] = f"{base_python / 'bin'}{os.pathsep}{base_env.get('PATH', '')}"

    builder_env = replay.stage_env(base_env, stage_of(dockerfile, "builder", "ENV"))
    (workdir,) = stage_of(dockerfile, "builder", "WORKDIR")
    build_dir = replay.path(workdir.arguments)
    for copy in stage_of(dockerfile, "builder", "COPY"):
        copy_sources(copy, build_dir)
    (wheel_step,) = stage_of(dockerfile, "builder", "RUN")
    assert "pip wheel --no-deps" in wheel_step.arguments
    replay.run(wheel_step, build_dir, builder_env)
    assert len(list(replay.path("/wheels").glob("driftwarden-*.whl"))) == 1

    runtime_env = replay.stage_env(base_env, stage_of(dockerfile, "runtime", "ENV"))
    (copy_wheels,) = stage_of(dockerfile, "runtime", "COPY")
    assert copy_wheels.arguments == "--from=builder /wheels /wheels"  # same scratch directory
    user_step, install_step = stage_of(dockerfile, "runtime", "RUN")
    # The user and volume directories need root and touch only the image's filesystem.
    assert "useradd" in user_step.arguments and "pip" not in user_step.arguments
    assert "pip install" in install_step.arguments
    # No WORKDIR before the install step: Docker runs it in /, the replay in a scratch directory.
    cwd = replay.root / "runtime-cwd"
    cwd.mkdir()
    replay.run(install_step, cwd, runtime_env)
    yield replay, runtime_env


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> int:
    def answer() -> int | None:
        assert proc.poll() is None, f"monitor exited:\n{log.read_text()[-3000:]}"
        try:
            return http_get(url)[0]
        except (urllib.error.URLError, ConnectionError):
            return None

    return wait_until(answer, lambda: f"an answer from {url}:\n{log.read_text()[-3000:]}", timeout)


def test_replayed_image_runs_the_monitor_and_passes_its_healthcheck(
    dockerfile: list[Instruction],
    installed: tuple[Replay, dict[str, str]],
    broker: TansuBroker,
    topic_names: TopicNames,
    tmp_path: Path,
) -> None:
    replay, env = installed
    venv = replay.path("/opt/driftwarden")
    site = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import driftwarden; print(driftwarden.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(site).is_relative_to(venv), f"driftwarden imported from {site}, not the venv"
    # One import package: nothing else of ours at the top level of site-packages.
    (wheel,) = replay.path("/wheels").glob("driftwarden-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
        assert "driftwarden/monitor/processor.py" in archive.namelist()
    assert tops == {"driftwarden", wheel.name.split("-py")[0] + ".dist-info"}, tops
    for name in ("monitor", "retrain"):
        found = subprocess.run(
            [str(venv / "bin" / "python"), "-c", f"import {name}"], cwd=tmp_path, env=env
        )
        assert found.returncode != 0, f"a top-level {name!r} package is importable"

    (entrypoint,) = stage_of(dockerfile, "runtime", "ENTRYPOINT")
    program, *entry_args = exec_form(entrypoint.arguments)
    resolved = shutil.which(program, path=env["PATH"])
    assert resolved is not None and Path(resolved).is_relative_to(venv), resolved
    worker_help = subprocess.run(
        [resolved, *entry_args, "retrain", "worker", "--help"],
        env=env,
        capture_output=True,
        check=False,
    )
    assert worker_help.returncode == 0, worker_help.stderr

    port = free_port()
    config = monitor_config(broker.bootstrap, topic_names("image"), tmp_path / "state", port)
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=2)
    config_path = write_config(tmp_path / "driftwarden.yaml", config)
    log = tmp_path / "monitor.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [resolved, *entry_args, "monitor", "--config", str(config_path)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_healthy(proc, f"http://127.0.0.1:{port}/healthz", log, 60) == 200

        (healthcheck,) = stage_of(dockerfile, "runtime", "HEALTHCHECK")
        command = health_command(healthcheck.arguments)
        for health_port, passes in ((port, True), (free_port(), False)):
            result = subprocess.run(
                command,
                env={**env, HEALTH_PORT_ENV: str(health_port)},
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
            assert (result.returncode == 0) is passes, (health_port, result.stderr[-2000:])
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log.read_text()[-3000:]
