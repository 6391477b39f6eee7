"""Building deliveries exactly as the Cloud does, and the wrong-secret variants, as data."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.events import KNOWN_EVENTS, VALIDATE
from harness.schemas import sample_data
from harness.secret import Secret
from harness.transport import Request

__all__ = ["SECRET_VARIANTS", "SecretVariant", "delivery", "encode", "probes", "variant", "variant_values"]


def encode(event: str, data: Mapping[str, Any]) -> bytes:
    """The bytes the Cloud puts on the wire: ``requests``' ``json=`` encoding of ``{"event", "data"}``.

    Default separators (``", "`` and ``": "``), ASCII-escaped, ``event`` before ``data``,
    and no NaN (requests refuses it).
    """
    return json.dumps({"event": event, "data": data}, allow_nan=False).encode("utf-8")


def delivery(
    url: str,
    event: str,
    secret: Secret | None,
    *,
    data: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> Request:
    """A delivery of ``event`` with its sample payload (or ``data``), carrying ``secret`` verbatim.

    ``secret`` None omits the header; an empty Secret sends it empty, as the Cloud does when no
    secret is configured.
    """
    payload = dict(data) if data is not None else ({} if event == VALIDATE else sample_data(event))
    return Request(url=url, body=encode(event, payload), description=description or f"{event!r}", secret=secret)


@dataclass(frozen=True)
class SecretVariant:
    """A wrong value for ``X-Webhook-Secret``, derived from the right one. ``make`` returns None to omit the header."""

    name: str
    description: str
    make: Callable[[str], str | None]
    #: Why the variant cannot be built from a given secret, or None when it can.
    unusable: Callable[[str], str | None] = lambda secret: None


def _same_length_wrong(secret: str) -> str:
    # Only the last character differs, so a receiver comparing a prefix, or lengths, is caught too.
    last = secret[-1]
    return secret[:-1] + ("b" if last == "a" else "a")


SECRET_VARIANTS: tuple[SecretVariant, ...] = (
    SecretVariant("missing", "no X-Webhook-Secret header", lambda s: None),
    SecretVariant("empty", "an empty X-Webhook-Secret header", lambda s: ""),
    SecretVariant(
        "wrong-same-length", "a wrong secret of the same length (last character changed)", _same_length_wrong
    ),
    SecretVariant(
        "prefix",
        "the secret without its last character",
        lambda s: s[:-1],
        unusable=lambda s: "a one-character secret has no non-empty prefix" if len(s) < 2 else None,
    ),
    SecretVariant("appended", "the secret with a character appended", lambda s: s + "x"),
    SecretVariant(
        "case-changed",
        "the secret with the case of its letters swapped",
        lambda s: s.swapcase(),
        unusable=lambda s: "the secret has no letters, so its case cannot change" if s.swapcase() == s else None,
    ),
    SecretVariant("embedded", "the secret inside a longer value", lambda s: f"x{s}x"),
)


def variant(name: str) -> SecretVariant:
    return next(v for v in SECRET_VARIANTS if v.name == name)


def variant_values(secret: Secret) -> list[Secret]:
    """Every wrong value derived from ``secret``: text that must be masked like the secret itself."""
    values = []
    for v in SECRET_VARIANTS:
        if v.unusable(secret.reveal()) is None:
            made = v.make(secret.reveal())
            if made and len(made) >= 4:
                values.append(Secret(made))
    return values


def probes(url: str, secret: Secret) -> list[Request]:
    """Requests that exercise a receiver's error paths as well as its happy ones.

    Whole-session properties (no leaked secret, no redirect) are judged over these, so that they
    hold on every path and not only on the ones other checks happened to take.
    """
    requests = [delivery(url, event, secret, description=f"{event!r} with the right secret") for event in KNOWN_EVENTS]
    for v in SECRET_VARIANTS:
        if v.unusable(secret.reveal()) is None:
            made = v.make(secret.reveal())
            requests.append(
                delivery(
                    url,
                    VALIDATE,
                    None if made is None else Secret(made),
                    description=f"{VALIDATE!r} with {v.description}",
                )
            )
    requests += [
        Request(
            url,
            b'{"event": "Site Status Update", "data": ',
            "truncated JSON with the right secret",
            secret=secret,
        ),
        Request(url, b"[]", "a top-level JSON array with the right secret", secret=secret),
        Request(
            url,
            encode("Conformance Probe", {}),
            "an event the Cloud does not send, with the right secret",
            secret=secret,
        ),
    ]
    return requests
