"""The shared secret: held so that printing it by accident prints a mask, and redacted from any text.

The harness unwraps the secret only when it builds a request header; everything it writes goes
through :func:`redact` (the plugin applies it to reports, captured output and logs), which masks it in
every spelling a receiver can plausibly reflect (:data:`ENCODINGS`): the same ones LEAK-1 judges.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import html.entities
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator

__all__ = ["ENCODINGS", "MASK", "MIN_JUDGED_LENGTH", "MIN_RUN", "VERBATIM", "Encoding", "Secret", "present", "redact"]

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
        """Whether ``text`` holds the value in any case or spelling, or three quarters of it: a leak, for LEAK-1."""
        return self.spelling_in(text) is not None

    def spelling_in(self, text: str) -> Encoding | None:
        """How ``text`` holds the value, for LEAK-1: :data:`VERBATIM` (in any case, or three quarters of it),
        another of :data:`ENCODINGS`, or None."""
        value = self._value
        if not value:
            return None
        if self.runs(text, self.run_length(LEAK_SHARE, MIN_LEAK_RUN)):
            return VERBATIM
        # One scan for the common answer, "none": the encoding is named only when something was found.
        if not _pattern(value).search(text):
            return None
        return next((encoding for encoding, found in _patterns(value) if found.search(text)), None)

    def runs(self, text: str, length: int | None = None) -> list[tuple[int, int]]:
        """Spans of ``text`` that are the whole value in any case, or a run of it of ``length`` (default: half)."""
        value = self._value
        if not value:
            return []
        spans = [m.span() for m in _value_pattern(value).finditer(text)]
        length = length or self.run_length()
        found = _next_window(text, 0, value, length) if len(value) >= length else None
        if found is None:  # most texts: spared the rest
            return spans
        names = [m.span() for m in _HEADER_NAME.finditer(text)]
        folded_value, folded_text = value.casefold(), text.casefold()
        while found is not None:
            start, end = found.span()
            while end < len(text) and folded_text[start : end + 1] in folded_value:  # as far as the run goes
                end += 1
            if not any(a <= start and end <= b for a, b in names):
                spans.append((start, end))
            found = _next_window(text, end, value, length)
        return spans

    def maybe_in(self, lowered: str) -> bool:
        """False when :func:`redact` would surely leave the text unchanged; ``lowered`` is the text, lower-cased.

        A few substring tests instead of the value's pattern, whose compiling costs more than a scan: for many
        secrets over one text (a fleet's, each target's answers searched for every other target's secret)."""
        value = self._value
        if not value:
            return False
        if not value.isascii() or any(mark in lowered for e in ENCODINGS for mark in e.marks):
            return True  # case folding beyond ASCII, or an escape that may spell part of the value: look closely
        length = self.run_length()
        blocks = _blocks(value, length) if len(value) >= length else []
        return any(piece.lower() in lowered for piece in (*_forms(value), *blocks))

    def forms(self) -> tuple[str, ...]:
        """The whole spellings of the value in every one of :data:`ENCODINGS`, longest first (the escaping
        encodings fully escaped; the masking also finds them with only some characters escaped)."""
        return _forms(self._value)


# --- the spellings ------------------------------------------------------------------------------------------

Spell = Callable[[str], Iterable[str]]
Escapes = Callable[[str], Iterable[str]]
Reflect = Callable[[str], str]


@dataclasses.dataclass(frozen=True)
class Encoding:
    """A spelling of the secret a receiver can plausibly reflect: LEAK-1 judges it, :func:`redact` masks it."""

    #: A short id: test ids, and the README's list.
    name: str
    #: What is covered, as the README lists it.
    covers: str
    #: How a LEAK-1 failure names what it found.
    described: str
    #: The value's whole spellings.
    spell: Spell
    #: Whether they are matched in any case: hex and the value are, base64 is not (with its case changed it
    #: is no longer the secret's).
    any_case: bool = True
    #: For an encoding that escapes some characters and leaves others as they are (each serializer chooses
    #: which): the regular expressions of the escapes one character can take. Matched character by character,
    #: so any mix of escaped and plain characters is found; ``spell`` then gives the fully escaped spellings.
    escapes: Escapes | None = None
    #: The characters every escape of ``escapes`` starts with: a text without any of them holds no escaped
    #: spelling, only the plain one (:meth:`Secret.maybe_in`).
    marks: str = ""
    #: What receivers do to produce it, by name: the tests echo each one back.
    reflections: tuple[tuple[str, Reflect], ...] = ()


def _bytes(value: str) -> tuple[bytes, ...]:
    """The bytes a receiver can hold for the value: its UTF-8, and the Latin-1 that requests sends a header as."""
    utf8 = value.encode("utf-8", "surrogateescape")
    try:
        latin1 = value.encode("latin-1")
    except UnicodeEncodeError:
        return (utf8,)
    return (utf8,) if latin1 == utf8 else (utf8, latin1)


def _utf8(value: str) -> bytes:
    return _bytes(value)[0]


def _b64(text: str, urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(_utf8(text)).decode("ascii")


def _base64_spellings(value: str, urlsafe: bool) -> Iterator[str]:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    for raw in _bytes(value):
        whole = encode(raw).decode("ascii")
        yield from (whole, whole.rstrip("="))
        # Inside a longer base64'd text, the value starts 0, 1 or 2 bytes into a group of three: what does not
        # depend on its neighbours is the characters whose six bits all come from the value.
        for offset in range(3):
            shifted = encode(bytes(offset) + raw).decode("ascii")
            yield shifted[-(-8 * offset // 6) : 8 * (offset + len(raw)) // 6]


def _utf16_units(char: str) -> list[int]:
    raw = char.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def _any_case(text: str) -> str:
    """A regular expression for ``text`` in any case: a class per cased character. re's IGNORECASE would do it
    but turns off the search for a pattern's first characters, and makes every scan several times slower."""
    return "".join(_any_case_char(c) for c in text)


def _any_case_char(char: str) -> str:
    lower, upper = char.lower(), char.upper()
    if lower == upper or len(lower) != 1 or len(upper) != 1:
        return re.escape(char)
    return f"[{re.escape(lower)}{re.escape(upper)}]"


def _percent(raw: bytes) -> str:
    return "".join(f"%{byte:02X}" for byte in raw)


def _percent_escapes(char: str) -> Iterator[str]:
    yield from (_any_case(_percent(raw)) for raw in _bytes(char))
    if char == " ":
        yield r"\+"


_JSON_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/"}


def _json_escaped(value: str) -> str:
    """Every character as JSON ``\\u`` escapes, as a serializer writes them (the stdlib's own, beyond ASCII)."""
    return "".join(f"\\u{ord(c):04x}" if c.isascii() else json.dumps(c)[1:-1] for c in value)


def _json_escapes(char: str) -> Iterator[str]:
    yield r"\\u".join(["", *(_any_case(f"{unit:04x}") for unit in _utf16_units(char))])
    if char in _JSON_SHORT:
        yield re.escape(_JSON_SHORT[char])


def _named_references() -> dict[str, list[str]]:
    """The named character references of each character that has some ("&sol;" for "/"), ";" or not."""
    named: dict[str, list[str]] = {}
    for name, char in html.entities.html5.items():
        named.setdefault(char, []).append("&" + name)
    return named


_NAMED = _named_references()


def _html_escapes(char: str) -> Iterator[str]:
    # Up to three leading zeros ("&#x0073;"), and the ";" that browsers let go: bounded, so that every
    # spelling of a 140-character secret stays short enough to be masked before an excerpt is cut.
    yield f"&#0{{0,3}}{ord(char)};?"
    yield f"&#[xX]0{{0,3}}{_any_case(f'{ord(char):x}')};?"
    yield from map(re.escape, _NAMED.get(char, []))


def _html5_named(value: str) -> str:
    """Each character as a named reference where HTML5 has one (``&sol;`` rather than ``&SOL``)."""
    return "".join(min(_NAMED[c], key=_plainest) if c in _NAMED else c for c in value)


def _plainest(name: str) -> tuple[bool, bool]:
    return not name.endswith(";"), name != name.lower()


def _html4_named(value: str) -> str:
    """Each character as a named reference where HTML 4 has one (``&eacute;``), as a decimal one otherwise."""
    named = html.entities.codepoint2name
    return "".join(f"&{named[ord(c)]};" if ord(c) in named else f"&#{ord(c)};" for c in value)


VERBATIM = Encoding(
    "verbatim",
    f"the value itself, in any case; a run of half of it ({MIN_RUN} characters at least) is masked, one of three "
    f"quarters ({MIN_LEAK_RUN} at least) is a leak",
    "the secret, or three quarters of it",
    lambda value: (value,),
    reflections=(("as sent", str), ("upper-cased", str.upper)),
)
#: Every spelling the masking removes and LEAK-1 judges, the value itself first.
ENCODINGS = (
    VERBATIM,
    Encoding(
        "hex",
        "its UTF-8 or Latin-1 bytes in hexadecimal, lower or upper case",
        "the secret hex-encoded",
        lambda value: (raw.hex() for raw in _bytes(value)),
        reflections=(("lower-case", lambda v: _utf8(v).hex()), ("upper-case", lambda v: _utf8(v).hex().upper())),
    ),
    Encoding(
        "reversed",
        "the value reversed, in any case",
        "the secret reversed",
        lambda value: (value[::-1],),
        reflections=(("reversed", lambda v: v[::-1]),),
    ),
    Encoding(
        "base64",
        "base64 of its UTF-8 or Latin-1 bytes, padded or not, alone or inside a longer base64'd text "
        "(at any of the three byte offsets)",
        "the secret in base64",
        lambda value: _base64_spellings(value, urlsafe=False),
        any_case=False,
        reflections=(
            ("whole", _b64),
            ("after one byte", lambda v: _b64("x" + v)),
            ("after two bytes", lambda v: _b64("xy" + v + "z")),
        ),
    ),
    Encoding(
        "base64url",
        "the same in the URL-safe alphabet (`-` and `_`)",
        "the secret in URL-safe base64",
        lambda value: _base64_spellings(value, urlsafe=True),
        any_case=False,
        reflections=(
            ("whole, unpadded", lambda v: _b64(v, urlsafe=True).rstrip("=")),
            ("after one byte", lambda v: _b64("x" + v, urlsafe=True)),
            ("after two bytes", lambda v: _b64("xy" + v + "z", urlsafe=True)),
        ),
    ),
    Encoding(
        "url-encoded",
        "percent-encoded, any or all of its bytes (UTF-8 or Latin-1, either case of hex), a space as `+` or not",
        "the secret URL-encoded",
        lambda value: (
            urllib.parse.quote(value, safe=""),
            urllib.parse.quote_plus(value),
            _percent(_utf8(value)),
        ),
        escapes=_percent_escapes,
        marks="%+",
        reflections=(
            ("reserved characters", lambda v: urllib.parse.quote(v, safe="")),
            ("form-encoded", urllib.parse.quote_plus),
            ("every byte", lambda v: _percent(_utf8(v))),
            ("every byte, lower-case hex", lambda v: _percent(_utf8(v)).lower()),
        ),
    ),
    Encoding(
        "json-escaped",
        "in a JSON string with any or all of its characters escaped as `\\u0073` (either case of hex, "
        'surrogate pairs beyond U+FFFF) or `\\/`, `\\"`, `\\\\`',
        "the secret as JSON escapes",
        lambda value: (_json_escaped(value),),
        escapes=_json_escapes,
        marks="\\",
        reflections=(
            ("every character", _json_escaped),
            ("every character, upper-case hex", lambda v: _json_escaped(v).upper().replace("\\U", "\\u")),
            ("non-ASCII only", lambda v: json.dumps(v)[1:-1]),
            ("every other character", lambda v: "".join(_json_escaped(c) if i % 2 else c for i, c in enumerate(v))),
        ),
    ),
    Encoding(
        "html-entities",
        "in HTML with any or all of its characters as character references: decimal (`&#115;`), "
        "hexadecimal (`&#x73;`, either case) or named where one exists (`&sol;`)",
        "the secret as HTML character references",
        lambda value: ("".join(f"&#{ord(c)};" for c in value), "".join(f"&#x{ord(c):x};" for c in value)),
        escapes=_html_escapes,
        marks="&",
        reflections=(
            ("decimal", lambda v: "".join(f"&#{ord(c)};" for c in v)),
            ("hexadecimal", lambda v: "".join(f"&#x{ord(c):X};" for c in v)),
            ("as html.escape writes it", html.escape),
            ("HTML 4 names, decimal otherwise", _html4_named),
            ("HTML5 names where they exist", _html5_named),
        ),
    ),
)


# Derived from the value alone, and needed for every log record and report while a run masks its secrets:
# computed once per value, not per call.
def _spellings(encoding: Encoding, value: str) -> list[str]:
    """The whole spellings an encoding matches. Short ones other than the value are dropped: like a short
    secret, they could be in any text by chance (three base64 characters of a 3-character secret)."""
    return [s for s in dict.fromkeys(encoding.spell(value)) if s == value or len(s) >= MIN_JUDGED_LENGTH]


def _whole(encoding: Encoding, value: str) -> list[tuple[int, str]]:
    """An encoding's whole spellings of the value as regular expressions, each with its length."""
    spell = _any_case if encoding.any_case else re.escape
    return [(len(s), spell(s)) for s in _spellings(encoding, value)]


def _escaped(encodings: list[Encoding], value: str) -> str:
    """The regular expression of the value with each character plain (in any case) or escaped by one of
    ``encodings``: for the masking, any mix of them (one scan, not one per encoding)."""
    return "".join(f"(?:{'|'.join([_any_case_char(c), *_escapes(encodings, c)])})" for c in value)


def _escapes(encodings: list[Encoding], char: str) -> Iterator[str]:
    for encoding in encodings:
        assert encoding.escapes is not None
        yield from encoding.escapes(char)


def _source(encodings: Iterable[Encoding], value: str) -> str:
    """One regular expression for the spellings of the value in ``encodings``: the whole ones longest first,
    so that one containing another is replaced whole, then the escaping encodings'."""
    whole = sorted((w for e in encodings if e.escapes is None for w in _whole(e, value)), reverse=True)
    escaping = [e for e in encodings if e.escapes is not None]
    return "|".join([*(source for _, source in whole), *([_escaped(escaping, value)] if escaping else [])])


@functools.lru_cache(maxsize=64)
def _forms(value: str) -> tuple[str, ...]:
    if not value:
        return ()
    spellings = {s for encoding in ENCODINGS for s in _spellings(encoding, value)}
    return tuple(sorted(spellings, key=len, reverse=True))


@functools.lru_cache(maxsize=64)
def _pattern(value: str) -> re.Pattern[str]:
    """Every spelling of the value in one pattern: one scan of each text, not one per encoding."""
    return re.compile(_source(ENCODINGS, value))


@functools.lru_cache(maxsize=64)
def _patterns(value: str) -> tuple[tuple[Encoding, re.Pattern[str]], ...]:
    """A pattern per encoding but :data:`VERBATIM`, to name what LEAK-1 found."""
    return tuple((e, re.compile(_source([e], value))) for e in ENCODINGS if e is not VERBATIM)


@functools.lru_cache(maxsize=64)
def _value_pattern(value: str) -> re.Pattern[str]:
    return re.compile(_any_case(value))


def _next_window(text: str, position: int, value: str, length: int) -> re.Match[str] | None:
    """The first run of ``length`` characters of the value in ``text`` from ``position``, in any case.

    Any such run holds one of the value's blocks of about half that length, end to end: a scan for those few
    blocks is several times faster than one for every run, and most texts hold none."""
    blocks, windows = _run_patterns(value, length)
    while (block := blocks.search(text, position)) is not None:
        # A run holding this block starts at most ``length`` before it; an earlier one would hold an earlier block.
        found = windows.search(text, max(position, block.start() - length), block.end() + length)
        if found is not None:
            return found
        position = block.start() + 1
    return None


def _blocks(value: str, length: int) -> list[str]:
    """The value's blocks of ``(length + 1) // 2`` characters end to end: any run of ``length`` holds one."""
    size = (length + 1) // 2
    return [value[i : i + size] for i in range(0, len(value) - size + 1, size)]


@functools.lru_cache(maxsize=256)
def _run_patterns(value: str, length: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The value's blocks of ``(length + 1) // 2`` characters end to end, and every run of ``length``."""
    blocks = _blocks(value, length)
    windows = [value[i : i + length] for i in range(len(value) - length + 1)]
    return re.compile("|".join(map(_any_case, blocks))), re.compile("|".join(map(_any_case, windows)))


def present(text: str, secrets: Iterable[Secret]) -> list[Secret]:
    """Those of ``secrets`` (each once) that :func:`redact` would mask in ``text``: for many secrets over one text,
    most ruled out by :meth:`Secret.maybe_in` without compiling their patterns."""
    lowered = text.lower()
    return [s for s in dict.fromkeys(secrets) if s and s.maybe_in(lowered) and redact(text, [s]) != text]


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """``text`` with every form of every non-empty secret, and every long run of one, replaced by the mask."""
    for secret in secrets:
        if secret:
            text = _pattern(secret.reveal()).sub(MASK, text)
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
