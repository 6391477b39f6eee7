"""Turning a failed check into text a receiver's author can act on, without leaking the secret.

Everything that comes from the target is treated as hostile when shown: control characters and
ANSI escapes are neutralised (they could forge lines in a CI log), length is capped, and every
form of the secret, and of the wrong values derived from it, is masked.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

import requests

from harness.config.secret import Secret, redact
from harness.judging.catalogue import Requirement
from harness.judging.checks import CheckFailed
from harness.wire.transport import Exchange, Request
from harness.wire.untrusted import printable

__all__ = ["LEAK_FILE", "excerpt", "render_failure", "reproduction", "safe_text"]

EXCERPT_CHARS = 300
#: Response headers worth showing with a failure: they explain redirects, method and auth problems.
HEADERS_THAT_MATTER = ("Location", "Allow", "WWW-Authenticate", "Retry-After", "Server")


#: Characters beyond the cap that are still redacted before cutting: more than the longest spelling of the
#: longest secret (140 characters, each as a named HTML reference of up to 18, `&DiacriticalGrave;`), so no
#: cut-off piece of a secret is ever shown.
_REDACTED_MARGIN = 4096


def safe_text(data: bytes, secrets: Iterable[Secret], limit: int = EXCERPT_CHARS) -> str:
    """Bytes from the target as one line of text: decoded, redacted, escaped, capped at ``limit`` characters."""
    text = data.decode("utf-8", "replace")
    if len(text) <= limit + _REDACTED_MARGIN:
        masked = redact(text, secrets)
        shown = masked[:limit]
    else:
        # Redacting a 1 MiB body costs a second; only its head is shown. The chunk's tail, where a secret may
        # be cut in two and so escape masking, is dropped with the margin.
        masked = redact(text[: limit + _REDACTED_MARGIN], secrets)
        shown = masked[: min(limit, len(masked) - _REDACTED_MARGIN // 2)]
    more = len(text) - len(shown) if len(text) > limit else 0
    return _escape(shown) + (f" ... ({more} more characters)" if more > 0 else "")


def excerpt(data: bytes, secrets: Iterable[Secret], limit: int = EXCERPT_CHARS) -> str:
    """:func:`safe_text` in quotes, so that leading and trailing spaces show."""
    text = safe_text(data, secrets, limit)
    body, marker, more = text.partition(" ... (")
    return f"'{body}'" + (f"{marker}{more}" if marker else "")


def _response_lines(exchange: Exchange, secrets: list[Secret]) -> list[str]:
    response = exchange.response
    if response is None:
        return []
    kind = response.header("Content-Type") or "no Content-Type"
    size = f"{len(response.body)} bytes{' read, truncated' if response.truncated else ''}"
    body = excerpt(response.body, secrets) if response.body else "(empty)"
    lines = [f"Response: {body} ({size}, {excerpt(kind.encode('latin-1', 'replace'), secrets, 80)})"]
    shown = [(name, response.header(name)) for name in HEADERS_THAT_MATTER]
    if any(value for _, value in shown):
        headers = "; ".join(
            f"{name}: {excerpt(value.encode('latin-1', 'replace'), secrets, 120)}" for name, value in shown if value
        )
        lines.append(f"Headers:  {headers}")
    return lines


#: Where the reproduction of a leak puts the answer: running it must not print the secret either.
LEAK_FILE = "leaked-response.txt"


def render_failure(
    requirement: Requirement,
    failure: CheckFailed,
    secrets: Iterable[Secret],
    timeout: float = 5.0,
    save_to: str | None = None,
    at_once: int = 1,
) -> str:
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
    text = "\n".join(_neutralise(line, masked) for line in lines)
    if exchange is not None:
        # Not neutralised (it is shell, built from the harness's own request), but masked: a URL can hold a password.
        note = f" (the answer holds the secret, so it goes to {save_to})" if save_to else ""
        command = reproduction(exchange.request, timeout, save_to, at_once, follows(exchange))
        text += f"\nReproduce with{note}:\n  " + redact(command, masked)
    return text


def follows(exchange: Exchange) -> bool:
    """Did the harness follow redirects to reach its answer (all within the origin), so curl must too?"""
    return bool(exchange.redirects) and exchange.redirect_elsewhere is None


def reproduction(
    request: Request, timeout: float = 5.0, save_to: str | None = None, at_once: int = 1, follow: bool = False
) -> str:
    """A bash command that sends the same request, the secret read from ``$WEBHOOK_SECRET``, never printed.

    -g keeps curl from globbing [] and {} in the URL, --http1.1 speaks what the Cloud speaks, and the
    harness's own timeouts make a timeout reproduce as one (curl exits 28). With ``save_to`` the answer
    goes to that file and only its status is printed: for an answer that holds the secret. ``follow`` adds
    -L, only where the harness followed same-origin redirects: curl then turns a 301/302/303 POST into a GET
    and re-sends a 307/308, as requests does.
    """
    command = [f"curl -sS -i -g --http1.1 --connect-timeout {timeout:g} --max-time {2 * timeout:g}"]
    if follow:
        command.append("-L --max-redirs 30")
    if save_to is not None:
        command.append(f"-o {shlex.quote(save_to)} -w '%{{http_code}}\\n'")
    if request.method != "POST" or not request.body:
        command.append(f"-X {request.method}")
    command.append(shlex.quote(_wire_url(request.url)))
    # An empty Content-Type removes the form type curl would otherwise add to --data-binary.
    headers = [shlex.quote(f"Content-Type: {request.content_type}" if request.content_type else "Content-Type:")]
    uses_secret = False
    if request.secret is not None:
        if not request.secret:
            headers.append(shlex.quote("X-Webhook-Secret;"))  # curl's spelling of a header with an empty value
        elif request.secret_shell:
            headers.append(f'"X-Webhook-Secret: {request.secret_shell}"')
            uses_secret = "WEBHOOK_SECRET" in request.secret_shell
        else:
            headers.append(shlex.quote("X-Webhook-Secret: <a value this harness will not print>"))
    headers += [shlex.quote(f"{name}: {value}") for name, value in request.extra_headers]
    command += [f"-H {header}" for header in headers]
    if request.body:
        command.append(f"--data-binary {_shell_body(request.body)}")
    text = " \\\n    ".join(command)
    if at_once > 1:  # a failure that shows only under concurrency: the same request, that many at once
        text = f"for i in $(seq {at_once}); do\n    {text} &\n  done; wait"
    # Unset, the variable would silently send an empty header, and reproduce another failure.
    guard = ': "${WEBHOOK_SECRET:?set WEBHOOK_SECRET to the secret of the webhook}" && '
    return guard + text if uses_secret else text


def _wire_url(url: str) -> str:
    """The URL as requests puts it on the wire: percent-encoded where it must be."""
    prepared = requests.models.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except (ValueError, UnicodeError, requests.exceptions.RequestException):
        return url
    return str(prepared.url)


#: A body longer than this, made mostly of one repeated byte (an oversize probe), is rebuilt by the shell.
_LONG_BODY = 4096
_MIN_RUN = 1024


def _shell_body(body: bytes) -> str:
    """The argument of --data-binary: ``body`` as one bash word, or, for a long run of one byte, a command
    that writes it, so that the reproduction of a 1 MiB probe is one line rather than a megabyte."""
    if len(body) <= _LONG_BODY:
        return _shell_bytes(body)
    # The run around the middle byte (where padding sits): a regex backreference over a megabyte costs 100 MB.
    byte = body[len(body) // 2 : len(body) // 2 + 1]
    start = len(body[: len(body) // 2].rstrip(byte))
    end = len(body) - len(body[len(body) // 2 :].lstrip(byte))
    if end - start < _MIN_RUN:
        return _shell_bytes(body)
    head, tail = body[:start], body[end:]
    parts = [f"printf %s {_shell_bytes(head)}"] if head else []
    parts.append(f"head -c {end - start} /dev/zero | tr '\\0' {_shell_bytes(byte)}")
    if tail:
        parts.append(f"printf %s {_shell_bytes(tail)}")
    return "@<(" + "; ".join(parts) + ")"


def _shell_bytes(data: bytes) -> str:
    """``data`` as one bash word: single-quoted when printable ASCII, else ANSI-C quoted."""
    if all(32 <= b < 127 for b in data):
        return shlex.quote(data.decode("ascii"))
    escaped = "".join(chr(b) if 32 <= b < 127 and b not in b"\\'" else f"\\x{b:02x}" for b in data)
    return f"$'{escaped}'"


def _neutralise(line: str, secrets: list[Secret]) -> str:
    return _escape(redact(line, secrets))


_escape = printable
