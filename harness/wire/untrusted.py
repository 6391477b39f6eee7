"""Text a receiver controls, made safe to show on a terminal, in a CI log or in a report.

A receiver chooses its status reason, its header names and values and its body. Shown raw, an ESC sequence
repaints the terminal, a CR or LF forges a line of its own, and a line that a CI runner reads as a command
(GitHub's ``::error::``, ``::add-mask::``; Azure's ``##vso[...]``) annotates, masks or sets variables in the
user's pipeline. Every front door shows such text only through :func:`printable`, after masking the secret.
"""

from __future__ import annotations

import re

__all__ = ["CI_COMMANDS", "printable"]

#: What CI runners read as a command. GitHub reads ``::`` at the start of a line (after spaces); Azure's
#: agent finds ``##vso[`` anywhere in a line, in any case, and ``##[`` formats a line. Every ``##`` is
#: broken, not only those: masking after escaping turns ``##<secret>vso[`` into ``##[Filtered]vso[``.
CI_COMMANDS = re.compile(r"^(\s*)::|##")


def _written_out(ch: str) -> str:
    return ascii(ch)[1:-1]  # "\x1b", "\r", "\u2028": Python's spelling, readable and inert


def printable(text: str, newlines: bool = False) -> str:
    """``text`` with control and other unprintable characters written out (``\\x1b``), and CI command
    prefixes broken (``\\x3a:error::``, every ``##`` as ``\\x23#``), so that it stays one inert line; with
    ``newlines``, line feeds are kept (for a body shown as a block) and every line is made inert."""
    keep = "\n" if newlines else ""
    shown = "".join(ch if ch.isprintable() or ch in keep else _written_out(ch) for ch in text)
    lines = shown.split("\n") if newlines else [shown]
    return "\n".join(CI_COMMANDS.sub(_break_command, line) for line in lines)


def _break_command(found: re.Match[str]) -> str:
    if found.group(0).startswith("#"):
        return r"\x23#"
    return found.group(1) + r"\x3a:"
