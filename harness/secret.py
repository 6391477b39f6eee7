"""The shared secret: held so that printing it by accident prints a mask, and redacted from any text.

The harness unwraps the secret only when it builds a request header; everything it writes goes
through :func:`redact` (the plugin applies it to reports, captured output and logs).
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterable

__all__ = ["MASK", "MIN_JUDGED_LENGTH", "Secret", "redact"]

MASK = "[Filtered]"

#: A response can contain a shorter secret by chance ("ok", "1234"), so leaks are judged only above this.
MIN_JUDGED_LENGTH = 8


class Secret:
    """A secret value whose ``str`` and ``repr`` are a mask; ``reveal()`` is the only way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({MASK})" if self._value else "Secret('')"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would carry the value into caches and worker processes.
        raise TypeError("a Secret cannot be pickled")

    def forms(self) -> tuple[str, ...]:
        """Every spelling under which the value could appear in text: verbatim, URL-encoded, base64."""
        if not self._value:
            return ()
        raw = self._value.encode("utf-8", "surrogateescape")
        spellings = {
            self._value,
            urllib.parse.quote(self._value, safe=""),
            urllib.parse.quote_plus(self._value),
            base64.b64encode(raw).decode("ascii"),
            base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
            base64.b64encode(raw).decode("ascii").rstrip("="),
        }
        # Longest first, so that a form containing another is replaced whole.
        return tuple(sorted(spellings, key=len, reverse=True))


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """``text`` with every form of every non-empty secret replaced by the mask."""
    for secret in secrets:
        for form in secret.forms():
            text = text.replace(form, MASK)
    return text
