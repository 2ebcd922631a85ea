"""Markdown building blocks shared by the reference pages."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["code", "generated_notice", "one_line", "table"]


def generated_notice(source: str) -> str:
    """The comment that opens every generated page: what it is made from, how to remake it.

    >>> generated_notice("the argument parsers").splitlines()[0]
    '<!-- Generated from the argument parsers by `python -m scripts.reference`: do not edit. -->'
    """
    return f"<!-- Generated from {source} by `python -m scripts.reference`: do not edit. -->\n"


def one_line(text: str) -> str:
    """A docstring or help text as one table cell: reflowed, pipes escaped.

    >>> one_line("Most records\\n    per poll (a | b).")
    'Most records per poll (a \\\\| b).'
    """
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|")


def code(text: str) -> str:
    """``text`` as inline code.

    >>> code("driftwarden_pending")
    '`driftwarden_pending`'
    """
    return f"`{text}`"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table.

    >>> print(table(["Key", "Type"], [["`port`", "int"]]))
    | Key | Type |
    |---|---|
    | `port` | int |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
