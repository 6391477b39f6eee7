"""Reading Markdown as GitHub reads it, for the reports' tests: table cells and fenced blocks."""

from __future__ import annotations

import re

__all__ = ["cells", "fenced"]


def cells(row: str) -> list[str]:
    """A GFM table row split as GitHub splits it: a backslash escapes the character after it."""
    found, current, chars = [], "", iter(row.strip().strip("|"))
    for ch in chars:
        if ch == "\\":
            current += ch + next(chars, "")
        elif ch == "|":
            found.append(current)
            current = ""
        else:
            current += ch
    return [*found, current]


def fenced(text: str) -> tuple[list[str], list[str]]:
    """CommonMark fences: (contents of each fenced block, lines outside any fence)."""
    blocks: list[str] = []
    outside: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        if fence is None:
            opening = re.match(r" {0,3}(`{3,})[^`]*$", line)
            if opening:
                fence, body = opening.group(1), []
            else:
                outside.append(line)
        elif re.fullmatch(rf" {{0,3}}{fence}`*[ \t]*", line):
            blocks.append("\n".join(body))
            fence = None
        else:
            body.append(line)
    assert fence is None, "a fence was left open"
    return blocks, outside
