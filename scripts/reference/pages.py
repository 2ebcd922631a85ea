"""Which pages are generated, from what, and how they are written or checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scripts.reference.cli import render_cli
from scripts.reference.configuration import render_configuration
from scripts.reference.metrics import load_catalogues, render_metrics

__all__ = ["PAGES", "REFERENCE_DIR", "render_pages", "stale_pages", "write_pages"]

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "docs" / "reference"


def _configuration() -> str:
    from driftwarden.config import MonitorConfig

    return render_configuration(MonitorConfig)


def _cli() -> str:
    from driftwarden.cli.main import build_parser

    return render_cli(build_parser())


def _metrics() -> str | None:
    catalogues = load_catalogues()
    return None if catalogues is None else render_metrics(catalogues)


# File name -> renderer; a renderer returns None when its source is not in the code yet.
PAGES: dict[str, Callable[[], str | None]] = {
    "configuration.md": _configuration,
    "cli.md": _cli,
    "metrics.md": _metrics,
}


def render_pages() -> dict[str, str]:
    """The content of every page that can be generated, by file name."""
    rendered = {name: render() for name, render in PAGES.items()}
    return {name: text for name, text in rendered.items() if text is not None}


def write_pages(directory: Path = REFERENCE_DIR) -> list[Path]:
    """Write every page that can be generated; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_pages().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_pages(directory: Path = REFERENCE_DIR) -> list[Path]:
    """Pages whose checked-in content differs from what the code generates (or that are missing)."""
    stale = []
    for name, text in render_pages().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
    return stale
