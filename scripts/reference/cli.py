"""docs/reference/cli.md from ``driftwarden.cli.main.build_parser()``: every command, its usage
and its arguments with their help.

argparse keeps a parser's arguments and its subcommands' help texts in private attributes
(``_actions``, ``_choices_actions``) and offers no public way to list them; this module reads
them, and only them.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from scripts.reference.markdown import code, generated_notice, one_line, table

__all__ = ["commands", "render_cli"]

USAGE_WIDTH = 100

_INTRO = """\
`python -m driftwarden ...` is the same command line as the `driftwarden` script. What the
commands do, their exit status and examples: [Commands](../commands.md).
"""


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.ArgumentParser, str]]:
    for action in parser._actions:  # noqa: SLF001 - no public accessor (module docstring)
        if isinstance(action.choices, dict):
            helps = {
                choice.dest: choice.help or ""
                for choice in action._choices_actions  # type: ignore[attr-defined]  # noqa: SLF001
            }
            for name, sub in action.choices.items():
                yield sub, helps.get(name, "")


def commands(
    parser: argparse.ArgumentParser, text: str = ""
) -> Iterator[tuple[argparse.ArgumentParser, str]]:
    """The parser and every (sub)command under it, depth first, with its help text."""
    yield parser, text
    for sub, sub_text in _subcommands(parser):
        yield from commands(sub, sub_text)


class _FixedWidthFormatter(argparse.RawDescriptionHelpFormatter):
    """Usage wrapped at ``USAGE_WIDTH`` whatever the terminal, so the page does not depend on it."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=USAGE_WIDTH)


def _usage(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = _FixedWidthFormatter
    return parser.format_usage().removeprefix("usage: ").rstrip()


def _argument_rows(parser: argparse.ArgumentParser) -> list[list[str]]:
    rows = []
    for action in parser._actions:  # noqa: SLF001 - no public accessor (module docstring)
        if action.help == argparse.SUPPRESS or isinstance(action.choices, dict):
            continue
        if action.dest == "help":
            continue
        names = ", ".join(action.option_strings) or str(action.metavar or action.dest)
        if action.option_strings and action.nargs != 0:
            names += " " + str(action.metavar or action.dest.upper())
        default = action.default
        shown = "" if default in (None, False, argparse.SUPPRESS) else code(str(default))
        help_text = (action.help or "") % {**vars(action), "prog": parser.prog}
        rows.append([code(names), "yes" if action.required else "", shown, one_line(help_text)])
    return rows


def render_cli(parser: argparse.ArgumentParser) -> str:
    """The whole page for ``parser`` (the ``driftwarden`` command line)."""
    parts = [generated_notice("the argument parsers"), "# Command line reference\n", _INTRO]
    for command, text in commands(parser):
        parts.append(f"## `{command.prog}`\n")
        if text:
            parts.append(one_line(text) + "\n")
        parts.append(f"```\n{_usage(command)}\n```\n")
        rows = _argument_rows(command)
        if rows:
            parts.append(table(["Argument", "Required", "Default", "Help"], rows) + "\n")
    return "\n".join(parts)
