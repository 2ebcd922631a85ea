"""The README is a landing page: the two set-up commands with their timings, and links that
lead to the documentation (whose commands and configs tests/test_docs.py runs)."""

from __future__ import annotations

import re
from pathlib import Path

from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAX_LINES = 250


def test_quick_start_has_exactly_the_two_set_up_commands() -> None:
    section = README.split("## Quick start", 1)[1]
    first_block = re.search(r"```\w*\n(.*?)```", section, flags=re.S)
    assert first_block is not None
    assert first_block.group(1).split("\n")[:-1] == ["make demo", "make test"]


def test_quick_start_gives_the_time_of_both_commands() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    for command in ("make demo", "make test"):
        assert re.search(rf"^\| `{command}` \| \d+ s\b", section, flags=re.M), command


def test_readme_is_a_landing_page() -> None:
    assert len(README.splitlines()) <= MAX_LINES


def _local_links() -> list[str]:
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    return [link for link in links if not re.match(r"[a-z]+://", link)]


def test_links_lead_to_existing_pages_and_headings() -> None:
    links = _local_links()
    assert any(link.startswith("docs/reference/") for link in links)
    for link in links:
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.is_file(), link
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(encoding="utf-8"), flags=re.M)
            assert anchor in {slugify(h.replace("`", ""), "-") for h in headings}, link


def test_every_docs_guide_is_linked() -> None:
    linked = {link.partition("#")[0] for link in _local_links()}
    guides = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert guides - {"docs/index.md"} <= linked
