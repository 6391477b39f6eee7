"""Judging exchanges: one small function per property, named after what it asserts.

A check returns None when the property holds and raises :class:`CheckFailed` when it does not.
:class:`NotApplicable` means the property cannot be judged here (a precondition failed); the
plugin turns it into a skip with its reason. Neither knows about pytest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness import doctor
from harness.secret import MIN_JUDGED_LENGTH, Secret
from harness.transport import Exchange

__all__ = [
    "CheckFailed",
    "NotApplicable",
    "answered_2xx",
    "answered_401",
    "answered_ok_body",
    "never_redirected",
    "secret_never_echoed",
]

OK_BODY = b"OK"


class NotApplicable(Exception):  # noqa: N818 - it is an outcome, not an error
    """The check cannot be judged; the message says why and what to do."""


@dataclass
class CheckFailed(AssertionError):  # noqa: N818 - named for the outcome, like pytest.fail's Failed
    """A requirement does not hold: what was expected, what happened, on which exchange."""

    expected: str
    actual: str
    exchange: Exchange | None = None
    hint: str | None = None

    def __str__(self) -> str:
        return f"expected {self.expected}; got {self.actual}"


def status_text(exchange: Exchange) -> str:
    """The outcome of an exchange in a few words: ``403 Forbidden`` or ``no response: read-timeout (...)``."""
    if exchange.response is None:
        assert exchange.error is not None
        return f"no response: {exchange.error.kind} ({exchange.error.detail})"
    response = exchange.response
    text = f"{response.status} {response.reason}".strip()
    location = response.header("Location")
    if 300 <= response.status < 400 and location:
        text += f" to {location[:200]!r}"
    return text


def _rejection_hint(exchange: Exchange) -> str | None:
    response = exchange.response
    if response is None or 300 <= response.status < 400:
        return doctor.hint(exchange)
    if 200 <= response.status < 300:
        return "The receiver accepted a wrong secret: compare the whole header value with the secret, in constant time."
    if response.status == 403:
        return "Answer 401 Unauthorized for a missing or wrong secret, not 403."
    if response.status >= 500:
        return (
            "The receiver failed on a wrong secret instead of rejecting it: compare the header's bytes with "
            "hmac.compare_digest (comparing str raises on non-ASCII) and answer 401."
        )
    return "Answer 401 Unauthorized for a missing or wrong secret."


def answered_2xx(exchange: Exchange) -> None:
    """The exchange got a response with a 2xx status, within the timeout."""
    __tracebackhide__ = True
    if exchange.response is not None and 200 <= exchange.response.status < 300:
        return
    raise CheckFailed("a 2xx status", status_text(exchange), exchange, doctor.hint(exchange))


def answered_401(exchange: Exchange) -> None:
    """The exchange got exactly 401 Unauthorized."""
    __tracebackhide__ = True
    if exchange.response is not None and exchange.response.status == 401:
        return
    raise CheckFailed("401 Unauthorized", status_text(exchange), exchange, _rejection_hint(exchange))


def answered_ok_body(exchange: Exchange) -> None:
    """A 2xx response has the body ``OK`` (surrounding whitespace aside), as the Cloud's documentation shows."""
    __tracebackhide__ = True
    response = exchange.response
    if response is None or not 200 <= response.status < 300:
        raise NotApplicable(f"the request did not get a 2xx ({status_text(exchange)}), so its body is not judged")
    if response.body.strip() == OK_BODY:
        return
    hint = "The Cloud accepts any 2xx, but its documentation answers 'OK'; receivers following it interoperate best."
    if response.status == 204:
        hint = "A 204 cannot carry a body: answer 200 with the body OK (the Cloud accepts either)."
    raise CheckFailed("the body OK", f"{response.status} with a body of {len(response.body)} bytes", exchange, hint)


def never_redirected(exchanges: Iterable[Exchange]) -> None:
    """No exchange got a 3xx."""
    __tracebackhide__ = True
    for exchange in exchanges:
        if exchange.response is not None and 300 <= exchange.response.status < 400:
            raise CheckFailed("no redirect", status_text(exchange), exchange, doctor.hint(exchange))


def secret_never_echoed(exchanges: Iterable[Exchange], secret: Secret) -> None:
    """No response, status line, header or body, contains the secret (in any case) or three quarters of it."""
    __tracebackhide__ = True
    if not secret:
        raise NotApplicable("no secret is configured, so there is none to leak")
    if len(secret) < MIN_JUDGED_LENGTH:
        raise NotApplicable(
            f"the secret is shorter than {MIN_JUDGED_LENGTH} characters and could appear in a response by "
            "chance; use a long random secret (the dashboard generates 30 characters)"
        )
    for exchange in exchanges:
        response = exchange.response
        if response is None:
            continue
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers)
        # Both decodings: a non-ASCII secret can come back as UTF-8 or as the Latin-1 bytes it was sent as.
        texts = [
            ("body", response.body.decode("utf-8", "replace")),
            ("body", response.body.decode("latin-1")),
            ("headers", headers),
            ("reason", response.reason),
        ]
        for where, text in texts:
            if secret.leaked_in(text):
                raise CheckFailed(
                    "no response containing the secret",
                    f"the secret, or three quarters of it, in the response {where} ({status_text(exchange)})",
                    exchange,
                    "Never echo the secret, nor the received header, in a response: the Cloud shows response "
                    "bodies in its dashboard.",
                )
