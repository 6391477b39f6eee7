"""Building deliveries exactly as the Cloud does, and the wrong-secret variants, as data."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.events import KNOWN_EVENTS, VALIDATE
from harness.schemas import sample_data
from harness.secret import Secret
from harness.transport import Request

__all__ = [
    "SECRET_VARIANTS",
    "HeaderValue",
    "SecretVariant",
    "console_request",
    "delivery",
    "encode",
    "fresh",
    "probes",
    "right_secret",
    "usable_variants",
    "variant_values",
]


def encode(event: str, data: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> bytes:
    """The bytes the Cloud puts on the wire: ``requests``' ``json=`` encoding of ``{"event", "data"}``.

    Default separators (``", "`` and ``": "``), ASCII-escaped, ``event`` before ``data``,
    and no NaN (requests refuses it). ``extra`` adds top-level keys after them, as a future sender might.
    """
    return json.dumps({"event": event, "data": data, **(extra or {})}, allow_nan=False).encode("utf-8")


def fresh(event: str, offset: int = 0, **changes: Any) -> dict[str, Any]:
    """The event's sample, new to the receiver: ``modified`` is now (plus ``offset`` microseconds), as no
    run sent before, so a receiver that deduplicates does not take it for an old delivery."""
    modified = dt.datetime.now() + dt.timedelta(microseconds=offset)
    return {**sample_data(event), "modified": modified.strftime("%Y-%m-%d %H:%M:%S.%f"), **changes}


@dataclass(frozen=True)
class HeaderValue:
    """What goes in ``X-Webhook-Secret``: the value, its description, and how a shell rebuilds it.

    ``secret`` None omits the header. ``shell`` is a bash expression (used inside double quotes)
    that computes the value from ``$WEBHOOK_SECRET``, so a reproduction never prints the secret.
    """

    secret: Secret | None
    note: str
    shell: str | None


def right_secret(secret: Secret) -> HeaderValue:
    """The configured secret, or the empty header the Cloud sends when none is configured."""
    if not secret:
        return HeaderValue(secret, "the empty secret header the Cloud sends when none is configured", "")
    return HeaderValue(secret, "the right secret", "$WEBHOOK_SECRET")


def delivery(
    url: str,
    event: str,
    header: HeaderValue,
    *,
    data: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    as_the_cloud: bool = False,
) -> Request:
    """A delivery of ``event`` with its sample payload (or ``data``), carrying ``header`` verbatim."""
    payload = dict(data) if data is not None else ({} if event == VALIDATE else sample_data(event))
    return Request(
        url=url,
        body=encode(event, payload, extra),
        description=f"{event!r} with {header.note}",
        secret=header.secret,
        secret_shell=header.shell,
        as_the_cloud=as_the_cloud,
    )


@dataclass(frozen=True)
class SecretVariant:
    """A wrong value for ``X-Webhook-Secret``, derived from the right one. ``make`` returns None to omit the header."""

    name: str
    description: str
    make: Callable[[str], str | None]
    #: The same value as a bash expression over $WEBHOOK_SECRET (None: no header).
    shell: str | None
    #: Why the variant cannot be built from a given (non-empty) secret, or None when it can.
    unusable_for: Callable[[str], str | None] = lambda secret: None

    def unusable(self, secret: Secret) -> str | None:
        """Why this wrong value cannot be derived from ``secret``; None when it can."""
        if not secret:
            return (
                "no secret is configured: set WEBHOOK_SECRET (or --webhook-secret-file) to the webhook's secret "
                "to check that wrong ones get 401"
            )
        return self.unusable_for(secret.reveal())

    def header(self, secret: Secret) -> HeaderValue:
        """The wrong value for ``secret``; only for a secret it is usable with."""
        reason = self.unusable(secret)
        if reason is not None:
            raise ValueError(reason)
        made = self.make(secret.reveal())
        return HeaderValue(None if made is None else Secret(made), self.description, self.shell)


def usable_variants(secret: Secret) -> list[SecretVariant]:
    """The wrong-secret variants that can be derived from ``secret`` (none without a secret)."""
    return [v for v in SECRET_VARIANTS if v.unusable(secret) is None]


_ASCII_SWAP = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


def _swap_ascii_case(secret: str) -> str:
    # ASCII letters only, like tr(1) in the reproduction: both must build the same value.
    return secret.translate(_ASCII_SWAP)


def _same_length_wrong(secret: str) -> str:
    # Only the last character differs, so a receiver comparing a prefix, or lengths, is caught too.
    last = secret[-1]
    return secret[:-1] + ("b" if last == "a" else "a")


SECRET_VARIANTS: tuple[SecretVariant, ...] = (
    SecretVariant("missing", "no X-Webhook-Secret header", lambda s: None, None),
    SecretVariant("empty", "an empty X-Webhook-Secret header", lambda s: "", ""),
    SecretVariant(
        "wrong-same-length",
        "a wrong secret of the same length (last character changed)",
        _same_length_wrong,
        '${WEBHOOK_SECRET%?}$([ "${WEBHOOK_SECRET: -1}" = a ] && echo b || echo a)',
    ),
    SecretVariant(
        "prefix",
        "the secret without its last character",
        lambda s: s[:-1],
        "${WEBHOOK_SECRET%?}",
        unusable_for=lambda s: "a one-character secret has no non-empty prefix" if len(s) < 2 else None,
    ),
    SecretVariant("appended", "the secret with a character appended", lambda s: s + "x", "${WEBHOOK_SECRET}x"),
    SecretVariant(
        "case-changed",
        "the secret with the case of its letters swapped",
        _swap_ascii_case,
        '$(printf %s "$WEBHOOK_SECRET" | tr a-zA-Z A-Za-z)',
        unusable_for=lambda s: (
            "the secret has no ASCII letters, so its case cannot change" if _swap_ascii_case(s) == s else None
        ),
    ),
    SecretVariant("embedded", "the secret inside a longer value", lambda s: f"x{s}x", "x${WEBHOOK_SECRET}x"),
)


def variant_values(secret: Secret) -> list[Secret]:
    """Every wrong value derived from ``secret``: text that must be masked like the secret itself."""
    values = [v.header(secret).secret for v in usable_variants(secret)]
    return [value for value in values if value is not None and len(value) >= 4]


def probes(url: str, secret: Secret) -> list[Request]:
    """Requests that exercise a receiver's error paths as well as its happy ones.

    Whole-session properties (no leaked secret, no redirect) are judged over these, so that they
    hold on every path and not only on the ones other checks happened to take.
    """
    right = right_secret(secret)
    requests = [delivery(url, event, right) for event in KNOWN_EVENTS]
    requests += [delivery(url, VALIDATE, v.header(secret)) for v in usable_variants(secret)]
    bodies = [
        (b'{"event": "Site Status Update", "data": ', "truncated JSON"),
        (b"[]", "a top-level JSON array"),
        (encode("Conformance Probe", {}), "an event the Cloud does not send"),
    ]
    requests += [
        Request(url, body, f"{what}, with {right.note}", secret=right.secret, secret_shell=right.shell)
        for body, what in bodies
    ]
    return requests


def console_request(url: str) -> Request:
    """A GET of /console on the target's origin, where Werkzeug's debugger serves its Python console."""
    parts = urllib.parse.urlsplit(url)
    console = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/console", "", ""))
    return Request(
        console,
        b"",
        "a GET of /console, where Flask's debug mode serves a Python console",
        method="GET",
        content_type=None,
    )
