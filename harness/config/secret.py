"""The shared secret: held so that printing it by accident prints a mask, and redacted from any text.

The harness unwraps the secret only when it builds a request header; everything it writes goes
through :func:`redact` (the plugin applies it to reports, captured output and logs).
"""

from __future__ import annotations

import base64
import functools
import math
import re
import urllib.parse
from collections.abc import Iterable

__all__ = ["MASK", "MIN_JUDGED_LENGTH", "MIN_RUN", "Secret", "redact"]

MASK = "[Filtered]"

#: A response can contain a shorter secret by chance ("ok", "1234"), so leaks are judged only above this.
MIN_JUDGED_LENGTH = 8
#: A run of the secret this long, or half the secret if longer, in any case, is masked. Runs inside the
#: header's own name are not: a human-chosen secret ("my-webhook-secret-2024") shares words with
#: "X-Webhook-Secret", which all our texts mention.
MIN_RUN = 12
#: Judging a leak needs more: three quarters of the secret, 16 characters at least, since a human-chosen
#: secret also shares words with a receiver's own error text ("invalid webhook-secret header").
LEAK_SHARE, MIN_LEAK_RUN = 0.75, 16
_HEADER_NAME = re.compile(re.escape("X-Webhook-Secret"), re.IGNORECASE)


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

    def run_length(self, share: float = 0.5, least: int = MIN_RUN) -> int:
        """How long a run of the value must be to count as the secret: ``share`` of it, ``least`` at least."""
        return max(least, math.ceil(len(self._value) * share))

    def leaked_in(self, text: str) -> bool:
        """Whether ``text`` holds the value in any case, or three quarters of it: a leak, for LEAK-1."""
        return bool(self.runs(text, self.run_length(LEAK_SHARE, MIN_LEAK_RUN)))

    def runs(self, text: str, length: int | None = None) -> list[tuple[int, int]]:
        """Spans of ``text`` that are the whole value in any case, or a run of it of ``length`` (default: half)."""
        value = self._value
        if not value:
            return []
        spans = [m.span() for m in _form_patterns(value)[-1].finditer(text)]
        length = length or self.run_length()
        windows = _windows(value, length)
        if windows is not None:
            names = [m.span() for m in _HEADER_NAME.finditer(text)]
            folded_value, folded_text = value.casefold(), text.casefold()
            position = 0
            while (found := windows.search(text, position)) is not None:
                start, end = found.span()
                while end < len(text) and folded_text[start : end + 1] in folded_value:  # as far as the run goes
                    end += 1
                if not any(a <= start and end <= b for a, b in names):
                    spans.append((start, end))
                position = end
        return spans

    def forms(self) -> tuple[str, ...]:
        """Every spelling under which the value could appear in text: verbatim, URL-encoded, base64."""
        return _forms(self._value)


# Derived from the value alone, and needed for every log record and report while a run masks its secrets:
# computed once per value, not per call.
@functools.lru_cache(maxsize=64)
def _forms(value: str) -> tuple[str, ...]:
    if not value:
        return ()
    raw = value.encode("utf-8", "surrogateescape")
    spellings = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        base64.b64encode(raw).decode("ascii"),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
        base64.b64encode(raw).decode("ascii").rstrip("="),
    }
    # Longest first, so that a form containing another is replaced whole.
    return tuple(sorted(spellings, key=len, reverse=True))


@functools.lru_cache(maxsize=64)
def _form_patterns(value: str) -> tuple[re.Pattern[str], ...]:
    """A case-insensitive pattern per form, in :func:`_forms` order, then one for the value itself."""
    return tuple(re.compile(re.escape(form), re.IGNORECASE) for form in (*_forms(value), value))


@functools.lru_cache(maxsize=256)
def _windows(value: str, length: int) -> re.Pattern[str] | None:
    """Any run of ``length`` characters of the value, in any case; None when the value is shorter."""
    if len(value) < length:
        return None
    return re.compile("|".join(re.escape(value[i : i + length]) for i in range(len(value) - length + 1)), re.IGNORECASE)


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """``text`` with every form of every non-empty secret, and every long run of one, replaced by the mask."""
    for secret in secrets:
        for pattern in _form_patterns(secret.reveal())[:-1]:
            text = pattern.sub(MASK, text)
        text = _mask_spans(text, secret.runs(text))
    return text


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in sorted(spans):
        if end <= position:
            continue
        pieces += [text[position : max(start, position)], MASK]
        position = end
    return "".join(pieces) + text[position:]
