"""Build driftwarden's container image, with Docker when its engine answers and podman otherwise.

``python -m scripts.image build`` (``make image``) builds the repository's ``Dockerfile`` as it is
and tags it ``driftwarden:<version>``, the name the compose file and the Kubernetes manifests use.

- **Docker**: only when ``docker info`` answers (a ``docker`` binary without an engine does not
  count); the ``Dockerfile``'s default base, ``python:3.11-slim``, comes from Docker Hub.
- **podman** (Debian's ``podman``, ``runc`` and ``mmdebstrap``; ``scripts/install-system-deps``
  installs them): no registry is needed. The base image is bootstrapped from Debian's archive
  with ``mmdebstrap`` (Python 3.11, venv, pip, CA certificates), from the mirrors of this
  machine's own apt sources, and cached as a tarball keyed by those sources and the package list
  (:func:`cache_dir`); it is imported into podman's storage when missing. The build uses Docker's
  image format, or the ``HEALTHCHECK`` would be dropped, the host network, and the host's CA
  bundle mounted read-only so that pip trusts what the host trusts (it is not copied into the
  image). podman runs with a ``containers.conf`` of its own (:data:`CONTAINERS_CONF`): runc, and
  ulimits the machine can grant.

The tests (``tests/deploy/test_image.py``) build and run the image through :class:`Engine` with
podman storage of their own.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from driftwarden import __version__

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "driftwarden"
BASE_IMAGE = "localhost/driftwarden-base"
# The Dockerfile's base needs Python 3.11 with venv and pip, and CA certificates for pip.
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates")
# The base's suite: the Python the Dockerfile is written for (3.11) is Debian bookworm's.
BASE_SUITE = "bookworm"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# podman's defaults (1048576 open files and processes) are more than these machines may grant
# (runc fails with "setrlimit ... Operation not permitted"); crun refuses their cgroup layout.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
"""
# Without the merged-usr hook mmdebstrap pulls in usrmerge and Perl (~200 MB); no documentation.
MMDEBSTRAP_OPTIONS = (
    "--variant=minbase",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
)
# `podman import` gives an image without environment.
IMPORT_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)


class ImageError(RuntimeError):
    """A step of the build failed; the message says which and what to do."""


def image_tag(version: str = __version__) -> str:
    """The tag this build gives the image.

    >>> image_tag("0.1.0")
    'driftwarden:0.1.0'
    """
    return f"{IMAGE}:{version}"


def parse_deb822(text: str) -> list[str]:
    """One-line ``deb URI SUITE COMPONENTS...`` entries of a deb822 ``.sources`` file.

    >>> parse_deb822('''Types: deb deb-src
    ... # a comment
    ... URIs: http://deb.debian.org/debian
    ... Suites: bookworm bookworm-updates
    ... Components: main
    ...
    ... Types: deb
    ... URIs: http://mirror.example/debian
    ... Suites: trixie
    ... Components: main contrib
    ... Enabled: no
    ... ''')
    ['deb http://deb.debian.org/debian bookworm main',
     'deb http://deb.debian.org/debian bookworm-updates main']
    """
    entries = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        components = fields.get("components", "")
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                entries.append(f"deb {uri} {suite} {components}".strip())
    return entries


def parse_one_line(text: str) -> list[str]:
    """``deb`` lines of a one-line ``.list`` file, options (``[signed-by=...]``) left out.

    >>> parse_one_line('''deb [arch=amd64 signed-by=/k.gpg] http://deb.example/debian bookworm main
    ... # deb http://old.example/debian bookworm main
    ... deb-src http://deb.debian.org/debian bookworm main''')
    ['deb http://deb.example/debian bookworm main']
    """
    entries = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        if words[1].startswith("["):
            end = next(i for i, word in enumerate(words) if word.endswith("]"))
            words = words[:1] + words[end + 1 :]
        entries.append(" ".join(words))
    return entries


def suite_sources(entries: Iterable[str], suite: str) -> list[str]:
    """The entries of ``suite`` and its updates and security suites, in order, without repeats.

    >>> suite_sources(['deb http://a/debian bookworm main', 'deb https://b/apt cloud-sdk main',
    ...                'deb http://a/debian-security bookworm-security main',
    ...                'deb http://a/debian bookworm main'], 'bookworm')
    ['deb http://a/debian bookworm main', 'deb http://a/debian-security bookworm-security main']
    """
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    chosen: list[str] = []
    for entry in entries:
        words = entry.split()
        if len(words) >= 3 and words[2] in wanted and entry not in chosen:
            chosen.append(entry)
    return chosen


def machine_sources(places: Sequence[Path] = APT_SOURCES, suite: str = BASE_SUITE) -> list[str]:
    """The Debian mirrors of this machine's own apt sources for ``suite``."""
    files: list[Path] = []
    for place in places:
        if place.is_dir():
            files += sorted(p for p in place.iterdir() if p.suffix in {".list", ".sources"})
        elif place.is_file():
            files.append(place)
    entries: list[str] = []
    for path in files:
        text = path.read_text()
        entries += parse_deb822(text) if path.suffix == ".sources" else parse_one_line(text)
    chosen = suite_sources(entries, suite)
    if not any(entry.split()[2] == suite for entry in chosen):
        raise ImageError(
            f"no apt source for Debian {suite} in {', '.join(map(str, places))}: add one "
            f"(e.g. a deb822 file with Suites: {suite} {suite}-updates) to bootstrap the base image"
        )
    return chosen


def base_key(sources: Sequence[str], packages: Sequence[str] = BASE_PACKAGES) -> str:
    """What the cached base depends on, hashed: the same sources and packages, the same base.

    >>> one = base_key(['deb http://a/debian bookworm main'], ['python3'])
    >>> len(one), one == base_key(['deb http://b/debian bookworm main'], ['python3'])
    (16, False)
    """
    text = "\n".join([*sources, "--", *packages, "--", *MMDEBSTRAP_OPTIONS])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``$DRIFTWARDEN_IMAGE_CACHE``, else ``$XDG_CACHE_HOME/driftwarden/image`` (``~/.cache``).

    >>> cache_dir({"DRIFTWARDEN_IMAGE_CACHE": "/c"}), cache_dir({"XDG_CACHE_HOME": "/x"})
    (PosixPath('/c'), PosixPath('/x/driftwarden/image'))
    """
    if env.get("DRIFTWARDEN_IMAGE_CACHE"):
        return Path(env["DRIFTWARDEN_IMAGE_CACHE"])
    xdg = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "driftwarden" / "image"


def base_tarball(cache: Path, sources: Sequence[str]) -> Path:
    """The bootstrapped base's tarball in ``cache``, made with mmdebstrap when missing."""
    tarball = cache / f"base-{BASE_SUITE}-{base_key(sources)}.tar"
    if tarball.exists():
        return tarball
    if shutil.which("mmdebstrap") is None:
        raise ImageError("mmdebstrap not found: run scripts/install-system-deps")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        partial = Path(scratch) / tarball.name
        command = [
            "mmdebstrap",
            *MMDEBSTRAP_OPTIONS,
            f"--include={','.join(BASE_PACKAGES)}",
            BASE_SUITE,
            str(partial),
            *sources,
        ]
        run(command, "bootstrapping the base image with mmdebstrap")
        partial.replace(tarball)  # atomic: a cancelled run leaves no half tarball behind
    return tarball


@dataclass(frozen=True)
class Engine:
    """A container engine's command line and environment."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_podman(self) -> bool:
        return Path(self.argv[0]).name == "podman"

    def command(self, *args: str) -> list[str]:
        return [*self.argv, *args]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def run(self, *args: str, what: str, timeout: float = 1800) -> str:
        """Run an engine command; :class:`ImageError` with its output if it fails."""
        return run(self.command(*args), what, env=self.environment(), timeout=timeout)

    def has_image(self, name: str) -> bool:
        found = subprocess.run(  # noqa: S603 - the engine and our own arguments
            self.command("image", "inspect", name),
            env=self.environment(),
            capture_output=True,
            check=False,
        )
        return found.returncode == 0


def run(
    command: Sequence[str], what: str, env: Mapping[str, str] | None = None, timeout: float = 1800
) -> str:
    """Run ``command``; its stdout, or :class:`ImageError` naming ``what`` with its output."""
    result = subprocess.run(  # noqa: S603 - commands this module builds
        list(command),
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise ImageError(
            f"{what} failed (exit {result.returncode}): {' '.join(command)}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def docker_answers() -> bool:
    """Whether a Docker engine answers ``docker info`` (the binary alone is not enough)."""
    if shutil.which("docker") is None:
        return False
    try:
        info = subprocess.run(  # noqa: S603
            ["docker", "info"],  # noqa: S607 - whichever docker is on PATH, as a user's shell
            capture_output=True,
            check=False,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return False
    return info.returncode == 0


def podman(cache: Path, root: Path | None = None, runroot: Path | None = None) -> Engine:
    """podman with :data:`CONTAINERS_CONF` (written to ``cache``) and, if given, its own storage."""
    if shutil.which("podman") is None:
        raise ImageError("podman not found: run scripts/install-system-deps")
    cache.mkdir(parents=True, exist_ok=True)
    conf = cache / "containers.conf"
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        conf.write_text(CONTAINERS_CONF)
    argv = ["podman"]
    if root is not None and runroot is not None:
        argv += ["--root", str(root), "--runroot", str(runroot)]
    return Engine(tuple(argv), {"CONTAINERS_CONF": str(conf)})


def podman_base(engine: Engine, cache: Path) -> str:
    """The bootstrapped base in ``engine``'s storage, imported from the cached tarball if
    missing."""
    sources = machine_sources()
    name = f"{BASE_IMAGE}:{base_key(sources)}"
    if not engine.has_image(name):
        tarball = base_tarball(cache, sources)
        changes = [arg for change in IMPORT_CHANGES for arg in ("--change", change)]
        engine.run("import", *changes, str(tarball), name, what="importing the base image")
    return name


def build(
    engine: Engine,
    tag: str,
    cache: Path,
    extras: str = "",
    context: Path = ROOT,
) -> None:
    """Build the ``Dockerfile`` in ``context`` as ``tag``, with ``extras`` (e.g. ``demo``)."""
    args = ["build", "-t", tag, "-f", str(context / "Dockerfile")]
    if extras:
        args += ["--build-arg", f"DRIFTWARDEN_EXTRAS={extras}"]
    if engine.is_podman:
        args += ["--build-arg", f"PYTHON_IMAGE={podman_base(engine, cache)}"]
        # Docker's format keeps the HEALTHCHECK (the OCI format has no field for it).
        args += ["--pull=never", "--network", "host", "--format", "docker"]
        if HOST_CA_BUNDLE.exists():
            args += ["-v", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"]
    engine.run(*args, str(context), what=f"building {tag}")
    if engine.is_podman and "--root" in engine.argv:
        # The builder stage is left as an untagged image: drop it (in storage of our own only).
        engine.run("image", "prune", "--force", what="removing the builder stage")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.image", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="build the image from the repository's Dockerfile")
    make.add_argument("--engine", choices=("auto", "docker", "podman"), default="auto")
    make.add_argument("--tag", default=image_tag(), help="default: %(default)s")
    make.add_argument("--extras", default="", help="extras to install, e.g. demo")
    options = parser.parse_args(argv)
    cache = cache_dir()
    use_docker = options.engine == "docker" or (options.engine == "auto" and docker_answers())
    engine = Engine(("docker",)) if use_docker else podman(cache)
    try:
        build(engine, options.tag, cache, extras=options.extras)
    except ImageError as exc:
        print(f"image: {exc}", file=sys.stderr)
        return 1
    print(f"image: built {options.tag} with {engine.argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
