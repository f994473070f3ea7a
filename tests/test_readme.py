"""The READMEs render as CommonMark meant: every fence closes where it should, every heading is a heading.

A line like ```` ``` Or write your ```` is not a closing fence (a closing fence
takes no text after it), so everything after it renders as one code block, on
GitHub and on the package index page alike. These tests parse the files with
markdown-it-py (the CommonMark reference behaviour) rather than with regexes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parent.parent
READMES = [
    ROOT / "README.md",
    ROOT / "examples" / "lambda-racket" / "README.md",
    ROOT / "examples" / "custom-codec" / "README.md",
    ROOT / "examples" / "scale-out" / "README.md",
]
FENCE_LIKE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def tokens(path: Path) -> list[Token]:
    return MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8"))


def fence_problems(text: str) -> list[str]:
    """Fences that swallow a fence-like line, or that run to the end of the document unclosed."""
    problems = []
    lines = text.splitlines()
    for token in MarkdownIt("commonmark").parse(text):
        if token.type != "fence" or token.map is None:
            continue
        start, end = token.map
        for number, line in enumerate(token.content.splitlines(), start + 2):
            if FENCE_LIKE.match(line) and line.lstrip()[:1] == token.markup[0]:
                problems.append(f"line {number}: {line.strip()[:40]!r} looks like a fence but is code")
        closing = lines[end - 1].strip() if end - 1 < len(lines) else ""
        if end - start < 2 or not (closing.startswith(token.markup) and closing.strip("`~") == ""):
            problems.append(f"line {start + 1}: the fence opened here is never closed")
    return problems


def test_the_checker_catches_the_broken_fence_of_issue_12() -> None:
    broken = "# A\n\n```toml\nx = 1\n``` Or write your\nown handler.\n\n## B\n\ntext\n"
    assert fence_problems(broken)
    fixed = "# A\n\n```toml\nx = 1\n```\n\nOr write your own handler.\n\n## B\n\ntext\n"
    assert fence_problems(fixed) == []
    assert fence_problems("```\nnever closed\n") != []


@pytest.mark.parametrize("path", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fence_closes(path: Path) -> None:
    assert fence_problems(path.read_text(encoding="utf-8")) == []


def test_the_readme_sections_are_headings() -> None:
    """Each section a newcomer looks for renders as a heading, not as text inside a code block."""
    found = tokens(ROOT / "README.md")
    headings = {found[i + 1].content for i, t in enumerate(found) if t.type == "heading_open"}
    for title in (
        "Install",
        "Quick start",
        'Defaults, and how to say "no timeout"',
        "Choosing a codec in config",
        "Writing a child",
        "The command line",
        "Writing a codec plugin",
        "Deploying to AWS Lambda",
        "Scaling out",
        "Guarantees",
        "Benchmarks",
        "Layout",
    ):
        assert title in headings, f"{title!r} is not a heading: {sorted(headings)}"


@pytest.mark.parametrize("path", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files_that_exist(path: Path) -> None:
    for token in tokens(path):
        for child in token.children or []:
            href = str(child.attrGet("href") or "")
            if child.type != "link_open" or re.match(r"^[a-z]+:|^#", href):
                continue
            target = (path.parent / href.split("#", maxsplit=1)[0]).resolve()
            assert target.exists(), f"{path.name}: link {href!r} points at nothing"


def test_readme_documents_the_newcomer_facts() -> None:
    """What issue 12 found missing: the distribution name, extras, python -m, AsyncBridgePool, no-timeout spellings."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in (
        "pip install stdiobridge-py",
        "stdiobridge-py[conform]",
        "stdiobridge-py[ray]",
        "python -m stdiobridge",
        "AsyncBridgePool",
        "timeout = false",
        "STDIOBRIDGE_TIMEOUT=none",
        "--timeout inf",
        "this file's folder",
        "current working directory",
        'kind = "bytes"',
    ):
        assert needle in text, needle
