"""The generated reference pages of the documentation site (``docs/reference/``).

``python -m scripts.reference`` writes them from the code: the configuration from the pydantic
models' field docstrings, the command line from the argument parsers, the metrics from the
metric catalogues. ``--check`` writes nothing and exits 1 naming every page that is stale.
"""

from __future__ import annotations

from scripts.reference.pages import PAGES, render_pages, stale_pages, write_pages

__all__ = ["PAGES", "render_pages", "stale_pages", "write_pages"]
