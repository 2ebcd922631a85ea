"""The MLflow UI shows driftwarden's retrain runs: the runs table of an experiment, rendered by
headless Chromium, has a row per run with its params, metrics and outcome, and its screenshot is
a real picture of it."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
from mlflow import MlflowClient
from PIL import Image

from driftwarden.testing.browser import ChromiumNotFound, render_dom, screenshot
from driftwarden.testing.mlflow_server import MlflowServer
from driftwarden.testing.mlflow_ui import OUTCOME_TAG, SAMPLE_RUNS, log_sample_runs, runs_view_url
from tests.deploy import require_binary

pytestmark = pytest.mark.mlflow

WIDTH, HEIGHT = 1600, 900
# The grid renders only the columns in sight: wide enough for all of them beside the side panels.
DOM_WIDTH = 2400


class GridCells(HTMLParser):
    """The text of every cell of the runs grid, by (run id, column key)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self._row = ""
        self._depth = 0  # open <div>s
        self._cell: tuple[str, str, int] | None = None  # row, column, depth of the cell's <div>
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "div":
            return
        self._depth += 1
        attributes = dict(attrs)
        if attributes.get("role") == "row":
            self._row = attributes.get("row-id") or ""
        elif attributes.get("role") == "gridcell" and self._row and self._cell is None:
            self._cell = (self._row, attributes.get("col-id") or "", self._depth)
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag != "div":
            return
        if self._cell is not None and self._cell[2] == self._depth:
            self.cells[self._cell[:2]] = "".join(self._text).strip()
            self._cell = None
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)


@pytest.fixture(scope="module")
def runs_page(mlflow_server: MlflowServer) -> tuple[str, dict[str, str]]:
    """The URL of the runs table of a new experiment with the sample runs; run name -> run id."""
    require_binary("chromium", "chromium")
    client = MlflowClient(mlflow_server.uri)
    experiment_id = log_sample_runs(client, f"driftwarden/loan-{uuid.uuid4().hex[:8]}")
    run_ids = {run.info.run_name: run.info.run_id for run in client.search_runs([experiment_id])}
    return runs_view_url(client, mlflow_server.uri, experiment_id), run_ids


def test_runs_table_shows_each_runs_params_metrics_and_outcome(
    runs_page: tuple[str, dict[str, str]],
) -> None:
    url, run_ids = runs_page
    parser = GridCells()
    parser.feed(render_dom(url, width=DOM_WIDTH, height=HEIGHT))
    cells = parser.cells

    assert set(run_ids) == {run.name for run in SAMPLE_RUNS}
    for run in SAMPLE_RUNS:
        row = run_ids[run.name]
        assert cells[row, "attributes.`Run Name`"].endswith(run.name)  # after its colour chip
        assert cells[row, "params.`estimator`"] == run.estimator
        assert cells[row, "params.`trigger`"] == run.trigger
        assert cells[row, "metrics.`challenger_accuracy`"] == f"{run.challenger_accuracy:g}"
        assert cells[row, "metrics.`champion_accuracy`"] == f"{run.champion_accuracy:g}"
        assert cells[row, f"tags.`{OUTCOME_TAG}`"] == run.outcome


def test_screenshot_is_a_picture_of_the_runs_table(
    runs_page: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, _ = runs_page
    path = screenshot(url, tmp_path / "runs.png", width=WIDTH, height=HEIGHT)

    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (WIDTH, HEIGHT)
        colours = image.convert("RGB").getcolors(maxcolors=WIDTH * HEIGHT)
    # Text, icons and the runs' colour chips; a blank or error page has a handful of colours,
    # most of them one background.
    assert colours is not None
    assert len(colours) > 500, f"{len(colours)} colours"
    assert max(count for count, _ in colours) < 0.8 * WIDTH * HEIGHT


def test_screenshot_only_renders_loopback_pages(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("only loopback pages")):
        screenshot("http://example.com/", tmp_path / "page.png")


def test_a_missing_chromium_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ChromiumNotFound, match="install Debian's chromium package"):
        render_dom("http://127.0.0.1:1/")
