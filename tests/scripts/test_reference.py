"""scripts.reference: the pages it renders from small models, parsers and metric catalogues, and
how it writes and checks them."""

from __future__ import annotations

import argparse
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import Field

from driftwarden.config import MonitorConfig
from driftwarden.core.config import Duration, Strict
from scripts.reference import PAGES, render_pages, stale_pages, write_pages
from scripts.reference import __main__ as command
from scripts.reference.cli import render_cli
from scripts.reference.configuration import UndocumentedField, render_configuration, sections
from scripts.reference.metrics import load_catalogues, render_metrics


@dataclass(frozen=True)
class MetricSpec:
    """Shaped like driftwarden.core.metric_spec.MetricSpec, which the page is rendered from."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ()


class Tls(Strict):
    cert_file: Path
    """PEM certificate."""


class Listener(Strict):
    port: int = Field(default=9108, ge=0, le=65535)
    """Listen port; `0` picks a free one."""
    timeout: Duration = 3600.0
    """How long to wait."""
    grace: Duration | None = 90.0
    """Optional grace period."""
    limit: float | None = Field(default=None, gt=0)
    """Optional limit."""
    tls: Tls | None = None
    """Serve HTTPS."""
    tags: list[str] = Field(default_factory=lambda: ["a"])
    """Tags | labels."""


class Undocumented(Strict):
    port: int = 1


def _section(page: str, heading: str) -> str:
    return page.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_configuration_rows_have_type_default_and_docstring() -> None:
    page = render_configuration(Listener)
    top = _section(page, "Top level")
    assert "| `port` | int >= 0, <= 65535 | `9108` | Listen port; `0` picks a free one. |" in top
    assert "| `timeout` | duration | `1h` | How long to wait. |" in top
    assert "| `grace` | duration or null | `90s` | Optional grace period. |" in top
    assert "| `limit` | number > 0 or null | null | Optional limit. |" in top
    assert '| `tags` | list of string | `["a"]` | Tags \\| labels. |' in top
    assert "| `tls` | mapping or null | null | Serve HTTPS. Keys: [`tls`](#tls). |" in top
    assert "| `cert_file` | path | required | PEM certificate. |" in _section(page, "`tls`")


def test_a_field_without_docstring_is_an_error() -> None:
    with pytest.raises(UndocumentedField, match="Undocumented.port has no description"):
        render_configuration(Undocumented)


def test_configuration_reference_has_every_key_of_the_config() -> None:
    page = render_configuration(MonitorConfig)
    paths = [path for path, _ in sections(MonitorConfig)]
    assert {"kafka", "models[]", "models[].training.gate", "notifiers[]", "worker.http"} <= set(
        paths
    )
    for path, model in sections(MonitorConfig):
        section = _section(page, f"`{path}`" if path else "Top level")
        for name, field in model.model_fields.items():
            assert f"| `{field.alias or name}` |" in section, (path, name)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run it")
    run.add_argument("--config", required=True, help="YAML config file")
    run.add_argument("--rate", type=int, default=400, help="events a second (default %(default)s)")
    run.add_argument("model")
    return parser


def test_cli_reference_has_every_command_with_usage_and_arguments() -> None:
    page = render_cli(_parser())
    run = _section(page, "`tool run`")
    assert run.startswith("\nrun it\n\n```\ntool run [-h] --config CONFIG [--rate RATE] model\n```")
    assert "| `--config CONFIG` | yes |  | YAML config file |" in run
    assert "| `--rate RATE` |  | `400` | events a second (default 400) |" in run
    assert "| `model` | yes |  |  |" in run
    assert "## `tool`\n" in page


def test_metrics_reference_lists_each_catalogue_sorted_with_exported_names() -> None:
    page = render_metrics(
        {
            "Monitor": [
                MetricSpec("driftwarden_pending", "gauge", "Items waiting.", ("model", "kind")),
                MetricSpec("driftwarden_labels", "counter", "Label events applied.", ("model",)),
            ],
            "Retrain worker": [
                MetricSpec("driftwarden_retrain_duration_seconds", "histogram", "Wall time."),
            ],
        }
    )
    monitor = _section(page, "Monitor").strip().splitlines()
    assert monitor == [
        "| Metric | Type | Labels | Meaning |",
        "|---|---|---|---|",
        "| `driftwarden_labels_total` | counter | `model` | Label events applied. |",
        "| `driftwarden_pending` | gauge | `model`, `kind` | Items waiting. |",
    ]
    worker = _section(page, "Retrain worker")
    assert "| `driftwarden_retrain_duration_seconds` | histogram |  | Wall time. |" in worker


def test_catalogues_are_loaded_only_when_all_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "catalogue_for_test.py").write_text(
        textwrap.dedent(
            """
            from types import SimpleNamespace
            METRICS = (SimpleNamespace(name="m", kind="gauge", help="h", labels=()),)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = load_catalogues({"Here": "catalogue_for_test"})
    assert found is not None and [m.name for m in found["Here"]] == ["m"]
    assert load_catalogues({"Here": "catalogue_for_test", "Gone": "no_such_module_x"}) is None
    assert load_catalogues({"No METRICS": "driftwarden.core.config"}) is None


def test_written_pages_are_current_and_an_edit_makes_one_stale(tmp_path: Path) -> None:
    written = write_pages(tmp_path)
    assert {path.name for path in written} == set(render_pages()) <= set(PAGES)
    assert stale_pages(tmp_path) == []
    cli = tmp_path / "cli.md"
    cli.write_text(cli.read_text() + "hand edit\n")
    (tmp_path / "configuration.md").unlink()
    assert stale_pages(tmp_path) == [tmp_path / "configuration.md", cli]


def test_the_command_writes_the_pages_and_check_names_the_stale_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(command, "REFERENCE_DIR", tmp_path)
    assert command.main(["--check"]) == 1
    assert f"stale: {tmp_path / 'configuration.md'}" in capsys.readouterr().err
    assert command.main([]) == 0
    assert (tmp_path / "cli.md").is_file()
    assert command.main(["--check"]) == 0
    assert capsys.readouterr().err == ""
