"""Headless Chromium on loopback pages: the DOM after a single-page app has rendered, or a PNG.

It runs Debian's ``chromium`` (``apt-get install chromium``; ``scripts/install-system-deps``
installs it) once per call with ``--dump-dom`` or ``--screenshot``. ``--virtual-time-budget``
lets the page's scripts, timers and requests run for up to ``settle_ms`` of virtual time (the
clock waits while a request is pending), so a page that fetches its data renders it first. Only
``127.0.0.1``, ``localhost`` and ``[::1]`` are reachable: every other host name fails to
resolve, so a page cannot fetch anything from the internet. A call that takes longer than
``timeout_s`` is killed.

    html = render_dom(f"{server.uri}/#/experiments/1/runs")
    screenshot(f"{server.uri}/#/experiments/1/runs", Path("runs.png"), width=1600, height=900)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["BrowserError", "ChromiumNotFound", "find_chromium", "render_dom", "screenshot"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Every name and address fails to resolve but the loopback ones.
_RESOLVER_RULES = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost, EXCLUDE [::1]"
_QUIET = (  # no first-run UI, no background traffic, nothing written outside the profile
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
)


class BrowserError(RuntimeError):
    """Chromium failed to render a page."""


class ChromiumNotFound(BrowserError, FileNotFoundError):
    """No ``chromium`` on PATH."""

    def __init__(self) -> None:
        super().__init__(
            "chromium is not on PATH: install Debian's chromium package "
            "(apt-get install --no-install-recommends chromium; scripts/install-system-deps does)"
        )


def find_chromium() -> str:
    """The path of ``chromium`` on PATH; :class:`ChromiumNotFound` if there is none."""
    path = shutil.which("chromium")
    if path is None:
        raise ChromiumNotFound()
    return path


def render_dom(
    url: str,
    *,
    width: int = 1600,
    height: int = 900,
    settle_ms: int = 15_000,
    timeout_s: float = 60.0,
) -> str:
    """The serialized DOM of ``url`` once its scripts have run (``--dump-dom``)."""
    return _run(url, ["--dump-dom"], width, height, settle_ms, timeout_s)


def screenshot(
    url: str,
    path: Path,
    *,
    width: int = 1600,
    height: int = 900,
    settle_ms: int = 15_000,
    timeout_s: float = 60.0,
) -> Path:
    """Writes a ``width`` x ``height`` PNG of ``url`` once its scripts have run to ``path``."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    _run(url, [f"--screenshot={path}"], width, height, settle_ms, timeout_s)
    if not path.is_file() or path.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot of {url} to {path}")
    return path


def _run(
    url: str, action: list[str], width: int, height: int, settle_ms: int, timeout_s: float
) -> str:
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"only loopback pages are rendered, not {url!r}")
    command = [
        find_chromium(),
        *_QUIET,
        # Chromium's sandbox needs user namespaces that containers running as root lack.
        *(["--no-sandbox"] if os.geteuid() == 0 else []),
        f"--host-resolver-rules={_RESOLVER_RULES}",
        f"--window-size={width},{height}",
        f"--virtual-time-budget={settle_ms}",
    ]
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        with subprocess.Popen(  # noqa: S603 - chromium from PATH, our own arguments
            [*command, f"--user-data-dir={profile}", *action, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its renderer and helper processes are killed with it
        ) as process:
            try:
                stdout, stderr = process.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired as exc:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise BrowserError(f"chromium did not render {url} within {timeout_s:g} s") from exc
    if process.returncode != 0:
        tail = stderr.decode(errors="replace")[-2000:]
        raise BrowserError(f"chromium exited with {process.returncode} on {url}: {tail}")
    return stdout.decode(errors="replace")
