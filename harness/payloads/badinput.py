"""The bad-input catalogue (receiver-security.md §3), as data: each case is one request and what answers it may get.

Every case carries the right secret unless it is about the secret, so that only the one thing under
test is wrong. Nothing destructive is sent: the bodies are the handshake, the one event a receiver
must treat as harmless, or malformed ones that no receiver can act on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from harness.config.secret import Secret
from harness.payloads.deliveries import HANDSHAKE, HeaderValue, encode, right_secret
from harness.payloads.events import VALIDATE
from harness.wire.transport import Request

__all__ = [
    "BODY_CASES",
    "CONTENT_TYPE_CASES",
    "METHOD_CASES",
    "ODD_SECRET_CASES",
    "OVERSIZE_BYTES",
    "BadInput",
    "OddSecret",
    "oversize_request",
]

#: Far beyond any payload the Cloud sends (a few KB), small enough to send to anyone's receiver.
OVERSIZE_BYTES = 1024 * 1024
#: Nesting deep enough to exhaust a recursive parser's stack (Python's limit is 1000 frames), in 4 KB.
NESTING = 2000


@dataclass(frozen=True)
class BadInput:
    """A request with one thing wrong. ``body`` None sends the handshake."""

    name: str
    description: str
    body: bytes | None = None
    method: str = "POST"
    content_type: str | None = "application/json"

    def request(self, url: str, secret: Secret) -> Request:
        right = right_secret(secret)
        return Request(
            url,
            HANDSHAKE if self.body is None else self.body,
            f"{self.description}, with {right.note}",
            method=self.method,
            content_type=self.content_type,
            secret=right.secret,
            secret_shell=right.shell,
        )


def _bytes(value: object) -> bytes:
    return json.dumps(value).encode()


# BAD-1: receiver-security.md §3 group D. Each must get a 4xx: it is not a delivery, and a 5xx is a crash.
BODY_CASES: tuple[BadInput, ...] = (
    BadInput("empty", "an empty body", b""),
    BadInput("truncated", "truncated JSON", b'{"event": "Site Status Update", "data": '),
    BadInput("not-json", "a body that is not JSON", b"event=Site+Status+Update"),
    BadInput("top-level-array", "a top-level JSON array", b'[{"event": "Webhook Validate", "data": {}}]'),
    BadInput("top-level-string", "a top-level JSON string", b'"Webhook Validate"'),
    # JSON literals: valid JSON, no envelope. ``null`` killed a real receiver's process (payload.event on null).
    BadInput("json-null", "the JSON literal null", b"null"),
    BadInput("json-true", "the JSON literal true", b"true"),
    BadInput("json-zero", "the JSON number 0", b"0"),
    BadInput("json-empty-string", 'the empty JSON string ""', b'""'),
    BadInput("json-empty-array", "an empty JSON array", b"[]"),
    BadInput("missing-event", "an envelope without event", _bytes({"data": {}})),
    BadInput("event-not-string", "an envelope whose event is a number", _bytes({"event": 5, "data": {}})),
    BadInput("event-null", "an envelope whose event is null", _bytes({"event": None, "data": {}})),
    BadInput("missing-data", "an envelope without data", _bytes({"event": "Site Status Update"})),
    BadInput(
        "data-not-object", "an envelope whose data is a list", _bytes({"event": "Site Status Update", "data": []})
    ),
    BadInput("data-string", "an envelope whose data is a string", _bytes({"event": "Site Status Update", "data": "x"})),
    BadInput(
        "invalid-utf8",
        "invalid UTF-8 bytes inside a string",
        b'{"event": "Site Status Update", "data": {"doctype": "Site", "name": "\xff\xfe.example.com"}}',
    ),
    BadInput(
        "deep-nesting",
        f"data nested {NESTING} arrays deep",
        b'{"event": "Site Status Update", "data": ' + b"[" * NESTING + b"]" * NESTING + b"}",
    ),
)

# BAD-2: receiver-security.md §3 C1-C2. The handshake's body, so a receiver that ignores the method does no harm.
# No DELETE: sent with the right secret to a URL that handles it, it could delete something.
METHOD_CASES: tuple[BadInput, ...] = (
    BadInput("GET", "a GET", b"", method="GET", content_type=None),
    BadInput("PUT", "the handshake as a PUT", method="PUT"),
    BadInput("PATCH", "the handshake as a PATCH", method="PATCH"),
)

# BAD-3: receiver-security.md §3 C4-C6. The handshake's JSON, declared as something else.
CONTENT_TYPE_CASES: tuple[BadInput, ...] = (
    BadInput("text-plain", "the handshake declared as text/plain", content_type="text/plain"),
    BadInput("no-content-type", "the handshake without a Content-Type", content_type=None),
    BadInput(
        "form-urlencoded",
        "the handshake declared as a form",
        content_type="application/x-www-form-urlencoded",
    ),
)


def oversize_request(url: str, secret: Secret) -> Request:
    """BAD-4: a well-formed handshake padded to :data:`OVERSIZE_BYTES`, so only its size is wrong."""
    head = encode(VALIDATE, {"padding": ""})[:-3]  # up to the padding's opening quote
    tail = b'"}}'
    body = head + b"x" * (OVERSIZE_BYTES - len(head) - len(tail)) + tail
    right = right_secret(secret)
    description = f"the handshake padded to {OVERSIZE_BYTES // 1024} KiB, with {right.note}"
    return Request(url, body, description, secret=right.secret, secret_shell=right.shell)


@dataclass(frozen=True)
class OddSecret:
    """AUTH-4: a wrong secret header a naive comparison crashes on. The value is not derived from the secret."""

    name: str
    description: str
    value: str
    #: The same value as a bash expression, for the reproduction (curl would send a literal é as UTF-8).
    shell: str

    def header(self) -> HeaderValue:
        return HeaderValue(Secret(self.value), self.description, self.shell)


ODD_SECRET_CASES: tuple[OddSecret, ...] = (
    # requests sends header values as Latin-1, like the Cloud: the byte 0xE9, which is not ASCII.
    OddSecret(
        "non-ascii",
        "a secret header holding a non-ASCII byte",
        "conformance-caf\xe9",
        "$(printf 'conformance-caf\\351')",
    ),
    OddSecret("8kb", "an 8 KB secret header", "x" * 8192, "$(printf 'x%.0s' {1..8192})"),
)
