"""Masking the secret: every spelling, any case, any long run of it; and never anything else."""

from __future__ import annotations

import pytest

from harness.config.secret import MASK, Secret, redact

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
