"""The docs' picture of the MLflow UI: an experiment's runs table with driftwarden's columns.

    python -m scripts.mlflow_screenshot
    python -m scripts.mlflow_screenshot --tracking-uri http://127.0.0.1:5000 \\
        --experiment driftwarden/loan --output /tmp/runs.png

Without ``--tracking-uri`` it starts a local MLflow server and logs the sample retrain runs of
:mod:`driftwarden.testing.mlflow_ui` to ``driftwarden/loan`` first; that is how
``docs/img/mlflow-experiment.png`` is made. A given server must be on loopback (headless Chromium
renders nothing else), and the experiment gets the shared view ``driftwarden`` (an experiment
tag) that shows the columns. The picture is cropped at the UI's side panel (the assistant).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from driftwarden.testing.browser import screenshot

DEFAULT_OUTPUT = Path("docs/img/mlflow-experiment.png")
DEFAULT_EXPERIMENT = "driftwarden/loan"
WIDTH, HEIGHT = 2300, 520
_MARGIN_PX = 40  # rows ignored at the top and bottom when looking for the panel's gap


def side_panel_edge(image: Image.Image) -> int:
    """The x of the gap before the right-hand side panel: the first column of the right half
    that is one colour (not white) from top to bottom; the image's width if there is none."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    for x in range(width // 2, width):
        colours = {rgb.getpixel((x, y)) for y in range(_MARGIN_PX, height - _MARGIN_PX)}
        if len(colours) == 1 and colours != {(255, 255, 255)}:
            return x
    return width


def capture(tracking_uri: str, experiment: str, output: Path) -> Path:
    """Writes the PNG of ``experiment``'s runs table on ``tracking_uri`` to ``output``."""
    from mlflow import MlflowClient

    from driftwarden.testing.mlflow_ui import runs_view_url

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise SystemExit(f"mlflow_screenshot: no experiment {experiment!r} on {tracking_uri}")
    url = runs_view_url(client, tracking_uri, found.experiment_id)
    screenshot(url, output, width=WIDTH, height=HEIGHT)
    with Image.open(output) as image:
        cropped = image.crop((0, 0, side_panel_edge(image), image.height))
    cropped.save(output, optimize=True)
    return output


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.mlflow_screenshot", description=__doc__
    )
    parser.add_argument("--tracking-uri", help="a loopback MLflow server (default: start one)")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.tracking_uri is not None:
        path = capture(args.tracking_uri, args.experiment, args.output)
    else:
        from mlflow import MlflowClient

        from driftwarden.testing.mlflow_server import MlflowServer
        from driftwarden.testing.mlflow_ui import log_sample_runs

        with MlflowServer() as server:
            log_sample_runs(MlflowClient(server.uri), args.experiment)
            path = capture(server.uri, args.experiment, args.output)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
