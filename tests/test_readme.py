"""The README's command blocks and configs cannot rot: they are run here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from driftwarden.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.S | re.M)


def _commands() -> list[list[str]]:
    """The subcommand words of every ``driftwarden ...`` line in the README's code blocks."""
    found = set()
    for _, body in BLOCKS:
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


def _expand(words: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for word in words:
        out = [prefix + [choice] for prefix in out for choice in word.split("|")]
    return out


def test_quick_start_has_exactly_the_two_set_up_commands() -> None:
    section = README.split("## Quick start", 1)[1]
    first_block = re.search(r"```\w*\n(.*?)```", section, flags=re.S)
    assert first_block is not None
    assert first_block.group(1).split("\n")[:-1] == ["make demo", "make test"]


@pytest.mark.parametrize("words", _commands(), ids=" ".join)
def test_every_documented_command_has_help(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main([*words, "--help"])
    assert excinfo.value.code == 0
    assert "usage: driftwarden" in capsys.readouterr().out


def test_readme_documents_the_main_commands() -> None:
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


def _complete_configs() -> list[str]:
    configs = []
    for language, body in BLOCKS:
        if language != "yaml":
            continue
        data = yaml.safe_load(body)
        models = data.get("models") if isinstance(data, dict) else None
        if models and all(isinstance(m, dict) and "task" in m for m in models):
            configs.append(body)
    return configs


@pytest.mark.parametrize("body", _complete_configs())
def test_readme_configs_pass_config_check(
    body: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(body)
    assert main(["config", "check", str(path)]) == 0, capsys.readouterr().err


def test_there_is_a_complete_config_in_the_readme() -> None:
    assert _complete_configs()


def test_example_config_passes_config_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(ROOT / "examples" / "monitor.yaml")]) == 0, (
        capsys.readouterr().err
    )
