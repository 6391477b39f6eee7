"""Turning a failed check into text a receiver's author can act on, without leaking the secret.

Everything that comes from the target is treated as hostile when shown: control characters and
ANSI escapes are neutralised (they could forge lines in a CI log), length is capped, and every
form of the secret, and of the wrong values derived from it, is masked.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.catalogue import Requirement
from harness.checks import CheckFailed
from harness.secret import Secret, redact
from harness.transport import Exchange

__all__ = ["excerpt", "render_failure"]

EXCERPT_CHARS = 300


def excerpt(data: bytes, secrets: Iterable[Secret], limit: int = EXCERPT_CHARS) -> str:
    """A one-line, quoted, capped, escaped and redacted rendering of bytes from the target."""
    text = redact(data.decode("utf-8", "replace"), secrets)
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text[:limit])
    more = f" ... ({len(text) - limit} more characters)" if len(text) > limit else ""
    return f"'{shown}'{more}"


def _response_lines(exchange: Exchange, secrets: list[Secret]) -> list[str]:
    response = exchange.response
    if response is None:
        return []
    kind = response.header("Content-Type") or "no Content-Type"
    size = f"{len(response.body)} bytes{' read, truncated' if response.truncated else ''}"
    body = excerpt(response.body, secrets) if response.body else "(empty)"
    return [f"Response: {body} ({size}, {excerpt(kind.encode('latin-1', 'replace'), secrets, 80)})"]


def render_failure(requirement: Requirement, failure: CheckFailed, secrets: Iterable[Secret]) -> str:
    """The failure template: requirement, what was sent, Expected, Actual, the response, a hint."""
    masked = list(secrets)
    lines = [requirement.title]
    exchange = failure.exchange
    if exchange is not None:
        request = exchange.request
        lines.append(f"Sent:     {request.method} {redact(request.url, masked)}: {request.description}")
    lines.append(f"Expected: {failure.expected}")
    lines.append(f"Actual:   {redact(failure.actual, masked)}")
    if exchange is not None:
        lines += _response_lines(exchange, masked)
        lines.append(f"Time:     {exchange.elapsed * 1000:.0f} ms")
    if failure.hint:
        lines.append(f"Hint:     {failure.hint}")
    lines.append(f"Fix:      {requirement.fix}")
    return "\n".join(_neutralise(line, masked) for line in lines)


def _neutralise(line: str, secrets: list[Secret]) -> str:
    line = redact(line, secrets)
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in line)
