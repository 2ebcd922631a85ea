"""The documentation cannot rot: its commands and configs are run, and the generated reference
pages (docs/reference/) must be what the code generates today."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from driftwarden.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
BLOCKS = [
    (page.relative_to(DOCS).as_posix(), language, body)
    for page in PAGES
    for language, body in re.findall(
        r"^```(\w*)\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M
    )
]


def _expand(words: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for word in words:
        out = [prefix + [choice] for prefix in out for choice in word.split("|")]
    return out


def _commands() -> list[list[str]]:
    """The subcommand words of every ``driftwarden ...`` line in the docs' code blocks."""
    found = set()
    for _, _, body in BLOCKS:
        for line in body.splitlines():
            tokens = line.split()
            if not tokens or tokens[0] != "driftwarden":
                continue
            words = []
            for token in tokens[1:]:
                if not re.fullmatch(r"[a-z][a-z-]*(\|[a-z-]+)*", token):
                    break
                words.append(token)
            for alternative in _expand(words):
                found.add(tuple(alternative))
    return sorted(list(words) for words in found)


@pytest.mark.parametrize("words", _commands(), ids=" ".join)
def test_every_documented_command_has_help(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main([*words, "--help"])
    assert excinfo.value.code == 0
    assert "usage: driftwarden" in capsys.readouterr().out


def test_docs_show_the_main_commands() -> None:
    commands = {" ".join(words) for words in _commands()}
    assert {
        "monitor",
        "config check",
        "profile build",
        "demo",
        "retrain worker",
        "retrain run",
        "retrain reproduce",
        "models audit",
        "models approve",
    } <= commands


def _complete_configs() -> list[tuple[str, str]]:
    configs = []
    for page, language, body in BLOCKS:
        if language != "yaml":
            continue
        data = yaml.safe_load(body)
        models = data.get("models") if isinstance(data, dict) else None
        if models and all(isinstance(m, dict) and "task" in m for m in models):
            configs.append((page, body))
    return configs


@pytest.mark.parametrize(
    "body", [body for _, body in _complete_configs()], ids=[p for p, _ in _complete_configs()]
)
def test_docs_configs_pass_config_check(
    body: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(body)
    assert main(["config", "check", str(path)]) == 0, capsys.readouterr().err


def test_getting_started_has_a_complete_config() -> None:
    assert "getting-started.md" in {page for page, _ in _complete_configs()}


def test_example_config_passes_config_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(ROOT / "examples" / "monitor.yaml")]) == 0, (
        capsys.readouterr().err
    )


def test_every_page_is_in_the_site_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s+(\S+\.md)$", nav, flags=re.M))
    assert listed == {page.relative_to(DOCS).as_posix() for page in PAGES}


def test_runbooks_keep_an_anchor_per_alert() -> None:
    rules = (ROOT / "deploy" / "prometheus" / "rules.yml").read_text(encoding="utf-8")
    runbooks = (DOCS / "runbooks.md").read_text(encoding="utf-8")
    anchors = {heading.lower() for heading in re.findall(r"^## (\w+)$", runbooks, flags=re.M)}
    linked = set(re.findall(r"runbook_url: docs/runbooks\.md#(\w+)", rules))
    assert linked and linked <= anchors


def test_reference_pages_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.reference", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _layout_modules() -> set[str]:
    """The .py files named in docs/development.md's layout tree, as paths (two spaces of
    indentation per folder level)."""
    page = (DOCS / "development.md").read_text(encoding="utf-8")
    section = page[page.index("## Layout") :]
    tree = section[section.index("```\n") + 4 :]
    tree = tree[: tree.index("```")]
    folders: list[str] = []
    listed = set()
    for line in tree.splitlines():
        name = line.strip().split(" ", 1)[0]
        depth = (len(line) - len(line.lstrip())) // 2
        folders = folders[:depth]
        if name.endswith("/"):
            folders.append(name)
        elif name.endswith(".py"):
            listed.add("".join(folders) + name)
    return listed


def test_the_layout_names_every_module() -> None:
    actual = {"driftwarden/__init__.py"}
    for top in ("driftwarden", "monitor", "retrain"):
        for path in (ROOT / top).rglob("*.py"):  # rglob does not follow the symlinks
            if path.name != "__init__.py":
                actual.add(path.relative_to(ROOT).as_posix())
    listed = _layout_modules()
    assert listed - actual == set(), "listed in docs/development.md but not in the code"
    assert actual - listed == set(), "add these to the layout in docs/development.md"
