"""Masking the secret: every spelling, any case, any long run of it; and never anything else. Judging a leak."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.config.secret import ENCODINGS, MASK, VERBATIM, Encoding, Secret, redact

SECRET = Secret("Zq8-random-Secret-Value-0123456789")
HUMAN = Secret("my-webhook-secret-2024")

MASKED = [
    # (why, secret, text, what must be gone)
    ("verbatim", SECRET, f"got {SECRET.reveal()} here", SECRET.reveal()),
    ("lower-cased", SECRET, f"got {SECRET.reveal().lower()}", SECRET.reveal().lower()),
    ("upper-cased", SECRET, f"got {SECRET.reveal().upper()}", SECRET.reveal().upper()),
    ("first half", SECRET, f"got {SECRET.reveal()[:18]}...", SECRET.reveal()[:18]),
    ("last two thirds", SECRET, f"{SECRET.reveal()[-23:]}", SECRET.reveal()[-23:]),
    ("first two thirds, lower-cased", SECRET, f"bad: {SECRET.reveal()[:23].lower()}", SECRET.reveal()[:23].lower()),
    ("a human secret echoed", HUMAN, f"Missing X-Webhook-Secret, got {HUMAN.reveal()[:15]}", HUMAN.reveal()[:15]),
    ("url-encoded", Secret("a b/c+d secret value"), "a%20b%2Fc%2Bd%20secret%20value", "a%20b%2Fc%2Bd"),
    ("base64", SECRET, "WnE4LXJhbmRvbS1TZWNyZXQtVmFsdWUtMDEyMzQ1Njc4OQ==", "WnE4LXJhbmRvbS1TZWNyZXQt"),
]


@pytest.mark.parametrize(("secret", "text", "gone"), [c[1:] for c in MASKED], ids=[c[0] for c in MASKED])
def test_spelling_is_masked(secret: Secret, text: str, gone: str) -> None:
    masked = redact(text, [secret])
    assert gone not in masked
    assert MASK in masked


KEPT = [
    # (why, secret, text that must come through unchanged)
    ("the header's name beside a secret made of the same words", HUMAN, "Missing X-Webhook-Secret header"),
    ("the header's name in lower case", HUMAN, "missing x-webhook-secret header"),
    ("a short run of the secret", SECRET, "random-Secre"),
    ("no secret configured", Secret(""), "anything at all"),
]


@pytest.mark.parametrize(("secret", "text"), [c[1:] for c in KEPT], ids=[c[0] for c in KEPT])
def test_other_text_is_kept(secret: Secret, text: str) -> None:
    assert redact(text, [secret]) == text


def test_secret_never_shows_in_repr_or_str() -> None:
    assert SECRET.reveal() not in repr(SECRET) + str(SECRET) + f"{SECRET}" + repr([SECRET])


def test_secret_cannot_be_pickled() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(SECRET)


# --- the spellings: every encoding in harness.config.secret.ENCODINGS, each as receivers produce it -----------

#: Characters that HTML, JSON and URLs escape, spread out so that no reflection leaves three quarters of the
#: secret as it is; "~~~?" puts "+" and "/" in its base64, at each byte offset, so base64url differs.
SPELLED = Secret('Ab3+Cd4/Ef5="Gh6&Ij7<é Kl8>Mn9~~~?Op0')
#: Beyond the Basic Multilingual Plane: JSON escapes it as a surrogate pair.
ASTRAL = Secret("emoji-secret-\U0001f600-0123456789")
SPELLED_SECRETS = {"random": SECRET, "human": HUMAN, "reserved": SPELLED, "astral": ASTRAL}

REFLECTIONS = [
    pytest.param(encoding, reflect, secret, id=f"{encoding.name}-{name}-{which}")
    for encoding in ENCODINGS
    for name, reflect in encoding.reflections
    for which, secret in SPELLED_SECRETS.items()
]


def carrying(reflected: str) -> str:
    return f"receiver said: {reflected} (end)"


def inner(reflected: str) -> str:
    """What must be gone once masked: all of it but the ends, where a base64'd neighbour shares characters."""
    return reflected[4:-4]


def test_every_encoding_is_reflected_some_way() -> None:
    assert len({e.name for e in ENCODINGS}) == len(ENCODINGS)
    assert all(e.reflections for e in ENCODINGS)


@pytest.mark.parametrize(("encoding", "reflect", "secret"), REFLECTIONS)
def test_spelling_is_masked_whole(encoding: Encoding, reflect: Callable[[str], str], secret: Secret) -> None:
    text = carrying(reflect(secret.reveal()))
    masked = redact(text, [secret])
    assert inner(reflect(secret.reveal())) not in masked
    assert masked.startswith("receiver said: ")
    assert masked.endswith(" (end)")
    assert MASK in masked
    assert not secret.leaked_in(masked)


@pytest.mark.parametrize(("encoding", "reflect", "secret"), REFLECTIONS)
def test_spelling_is_a_leak(encoding: Encoding, reflect: Callable[[str], str], secret: Secret) -> None:
    assert secret.leaked_in(carrying(reflect(secret.reveal())))


@pytest.mark.parametrize(
    ("encoding", "reflect"), [pytest.param(e, r, id=f"{e.name}-{n}") for e in ENCODINGS for n, r in e.reflections]
)
def test_leak_names_its_spelling(encoding: Encoding, reflect: Callable[[str], str]) -> None:
    assert SPELLED.spelling_in(carrying(reflect(SPELLED.reveal()))) is encoding


def test_forms_list_a_spelling_of_every_encoding() -> None:
    forms = SPELLED.forms()
    assert forms == tuple(sorted(forms, key=len, reverse=True))
    for encoding in ENCODINGS:
        assert any(reflect(SPELLED.reveal()) in forms for _, reflect in encoding.reflections), encoding.name


def php_json_encode(value: str) -> str:
    return json.dumps(value)[1:-1].replace("/", "\\/")


def go_json(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1].translate({ord(c): f"\\u{ord(c):04x}" for c in "<>&"})


#: More of what serializers write, beyond the reflections of the table: each encoding leaves some room.
SERIALIZED = {
    "php-json_encode": (php_json_encode, "json-escaped"),
    "go-html-safe-json": (go_json, "json-escaped"),
    "zero-padded-references": (lambda v: "".join(f"&#x{ord(c):04x};" for c in v), "html-entities"),
    "references-without-semicolons": (lambda v: "".join(f"&#{ord(c)}" for c in v), "html-entities"),
    "upper-case-x-references": (lambda v: "".join(f"&#X{ord(c):x};" for c in v), "html-entities"),
    "mixed-case-percent": (
        lambda v: "".join(f"%{b:02X}" if i % 2 else f"%{b:02x}" for i, b in enumerate(v.encode())),
        "url-encoded",
    ),
}


@pytest.mark.parametrize(("serialize", "name"), SERIALIZED.values(), ids=list(SERIALIZED))
def test_serialized_spelling_is_a_leak_and_masked(serialize: Callable[[str], str], name: str) -> None:
    reflected = serialize(SPELLED.reveal())
    found = SPELLED.spelling_in(carrying(reflected))
    assert found is not None
    assert found.name == name
    assert inner(reflected) not in redact(carrying(reflected), [SPELLED])


LATIN1 = Secret("conformance-café-0123456789abcdef")
LATIN1_BYTES = LATIN1.reveal().encode("latin-1")


@pytest.mark.parametrize(
    "reflected",
    [
        LATIN1_BYTES.hex(),
        base64.b64encode(LATIN1_BYTES).decode(),
        base64.b64encode(b"x" + LATIN1_BYTES).decode(),
        urllib.parse.quote_from_bytes(LATIN1_BYTES, safe=""),
        "".join(f"%{b:02x}" for b in LATIN1_BYTES),
    ],
    ids=["hex", "base64", "base64-after-one-byte", "url-encoded", "url-encoded-every-byte"],
)
def test_a_spelling_of_the_latin1_bytes_sent_is_found(reflected: str) -> None:
    # requests sends a header as Latin-1: a receiver encodes those bytes, not the UTF-8 of the value.
    assert LATIN1.spelling_in(carrying(reflected)) is not VERBATIM
    assert LATIN1.leaked_in(carrying(reflected))
    assert inner(reflected) not in redact(carrying(reflected), [LATIN1])


NOT_LEAKS = [
    # (why, secret, text that is no spelling of it: kept by the masking, no leak for LEAK-1)
    (
        "base64 with its case changed decodes to something else",
        SECRET,
        base64.b64encode(SECRET.reveal().encode()).decode().swapcase(),
    ),
    ("another value's hex", SECRET, b"Zq8-random-Secret-Value-0123456788".hex()),
    ("another value's escapes", SECRET, "".join(f"\\u{ord(c):04x}" for c in "Zq8-random-Secret-Value-0123456788")),
    ("another value's character references", SECRET, "".join(f"&#{ord(c)};" for c in "zq8-random-secret-value-1")),
    ("half the secret reversed", SECRET, SECRET.reveal()[::-1][:17]),
    ("a short secret's reversed, hex and base64 spellings", Secret("abc"), "cba 616263 YWJj YmM"),
    ("ordinary hex and base64", HUMAN, "sha 9f86d081884c7d65 token dGhpcyBpcyBub3QgaXQ="),
]


@pytest.mark.parametrize(("secret", "text"), [c[1:] for c in NOT_LEAKS], ids=[c[0] for c in NOT_LEAKS])
def test_other_spellings_are_kept(secret: Secret, text: str) -> None:
    assert redact(text, [secret]) == text
    assert not secret.leaked_in(text)


def test_readme_lists_every_encoding() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text("utf-8")
    missing = [e.name for e in ENCODINGS if f"- `{e.name}`: {e.covers}" not in readme]
    assert not missing, f"README.md does not list these spellings as ENCODINGS has them: {missing}"


# --- maybe_in: the cheap test a fleet runs for every other target's secret --------------------------------


@pytest.mark.parametrize(("encoding", "reflect", "secret"), REFLECTIONS)
def test_maybe_in_finds_every_reflection(encoding: Encoding, reflect: Callable[[str], str], secret: Secret) -> None:
    assert secret.maybe_in(carrying(reflect(secret.reveal())).lower())


@pytest.mark.parametrize("serialize", [s for s, _ in SERIALIZED.values()], ids=list(SERIALIZED))
def test_maybe_in_finds_every_serialized_spelling(serialize: Callable[[str], str]) -> None:
    assert SPELLED.maybe_in(carrying(serialize(SPELLED.reveal())).lower())


@pytest.mark.parametrize(("secret", "text"), [c[1:3] for c in MASKED], ids=[c[0] for c in MASKED])
def test_maybe_in_finds_whatever_is_masked(secret: Secret, text: str) -> None:
    assert secret.maybe_in(text.lower())


def test_maybe_in_holds_wherever_redact_changes_a_text() -> None:
    # Every window of each reflection, cut anywhere: wherever redact finds something, maybe_in must too.
    for secret in (SECRET, HUMAN):
        for encoding in ENCODINGS:
            for _, reflect in encoding.reflections:
                reflected = reflect(secret.reveal())
                for start in range(0, len(reflected), 3):
                    for end in range(start + 1, len(reflected) + 1, 5):
                        text = f"x {reflected[start:end]} y"
                        if redact(text, [secret]) != text:
                            assert secret.maybe_in(text.lower()), (encoding.name, start, end)


@pytest.mark.parametrize(
    "text", ["OK", '{"ok": true}', "Method Not Allowed", "random-Secre", "Missing X-Webhook-Secret header"]
)
def test_maybe_in_passes_over_answers_without_the_secret(text: str) -> None:
    # What keeps a fleet fast: the common answers need no pattern at all.
    assert not SECRET.maybe_in(text.lower())
    assert not HUMAN.maybe_in(text.lower()) or text.startswith("Missing")
