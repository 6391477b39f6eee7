"""Deciding what to answer to a request, with no server and no framework: a status, and what to store.

``Receiver.route`` judges what comes before the body (framing, path, method, secret, content type,
declared size), so that a stranger can make the receiver neither read nor parse anything; ``Receiver.accept``
judges the body. Neither raises on any input: every request gets a status. A 2xx ``Answer`` for an event
carries the ``Record`` that must be stored durably before the answer is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import Config
from .events import RULES, VALIDATE

__all__ = ["PATH", "Admitted", "Answer", "Headers", "Receiver", "Record"]

PATH = "/webhook"
#: Raw header pairs as the server received them (ASGI's form): lower-case names, Latin-1 values.
Headers = Sequence[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Record:
    """An accepted event, as the inbox stores it."""

    key: str  # the same for every delivery of one event, and only for those: a hash of its whole content
    event: str
    resource: str  # events of one resource are processed in ``occurred_at`` order
    occurred_at: str  # the payload's own timestamp; "" when it has none
    payload: str  # the body as received (UTF-8 JSON)


@dataclass(frozen=True)
class Admitted:
    """``route``'s word that the request may be read: the secret matched."""

    during_rotation: bool = False  # it was the previous secret


@dataclass(frozen=True)
class Answer:
    """What to send back; ``record``, when set, must be stored before sending."""

    status: int
    reason: str = ""
    record: Record | None = None
    headers: tuple[tuple[str, str], ...] = ()
    #: The request carried the previous secret (a rotation in progress): time to finish it.
    during_rotation: bool = False

    @property
    def body(self) -> bytes:
        if 200 <= self.status < 300:
            return b"OK"
        body = {"error": _ERRORS.get(self.status, "error")}
        if self.reason:
            body["reason"] = self.reason[:200]  # shown in the Cloud's dashboard: keep it short
        return json.dumps(body).encode()

    @property
    def content_type(self) -> str:
        return "text/plain; charset=utf-8" if 200 <= self.status < 300 else "application/json"


_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_entity_too_large",
    415: "unsupported_media_type",
    503: "service_unavailable",
}


class Receiver:
    """The webhook endpoint's decisions for one configuration."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._current = config.secret.encode("latin-1")
        self._previous = config.previous_secret.encode("latin-1")

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Answer:
        """The whole decision for a request whose body has been read (for tests and simple adapters)."""
        routed = self.route(method, path, headers)
        return routed if isinstance(routed, Answer) else self.accept(body, routed)

    def route(self, method: str, path: str, headers: Headers) -> Answer | Admitted:
        """The answer decided before reading the body, or ``Admitted``: read it (at most ``max_body_bytes``)."""
        ambiguous = _ambiguous_framing(headers)
        if ambiguous:  # RFC 9112 3.2: 400 for a missing or repeated Host; the body is left unread
            return Answer(400, ambiguous, headers=_CLOSE)
        if path != PATH:
            return Answer(404)
        if method != "POST":
            return Answer(405, headers=(("Allow", "POST"),))
        opened_by = self.secret_used(headers)
        if not opened_by:  # before anything else is looked at
            return Answer(401)
        media_type = _header(headers, b"content-type").split(b";")[0].strip().lower()
        if media_type != b"application/json":
            return Answer(415, "send Content-Type: application/json")
        declared = _header(headers, b"content-length")
        if declared.isdigit() and int(declared) > self.config.max_body_bytes:
            return self.too_large(body_unread=True)
        return Admitted(during_rotation=opened_by == "previous")

    def accept(self, body: bytes, admitted: Admitted = Admitted()) -> Answer:
        """The answer to a delivery that ``route`` admitted."""
        rotation = admitted.during_rotation
        if len(body) > self.config.max_body_bytes:
            return self.too_large()
        try:
            payload = _parse(body)
            event, data = payload["event"], payload["data"]
            rejection = _missing(event, data)
            record = None if rejection or event == VALIDATE else _record(payload, body)
        except ValueError as e:
            return Answer(400, str(e))
        if rejection:
            return Answer(400, rejection)
        # The handshake has no side effect: nothing is stored.
        return Answer(200, record=record, during_rotation=rotation)

    def too_large(self, body_unread: bool = False) -> Answer:
        """413. With the body left unread, the connection closes rather than read it as the next request."""
        close = (("Connection", "close"),) if body_unread else ()
        return Answer(413, f"the limit is {self.config.max_body_bytes} bytes", headers=close)

    def secret_used(self, headers: Headers) -> str:
        """Which secret the request carries: "current", "previous" (accepted during a rotation) or "" (none)."""
        sent = [value for name, value in headers if name.lower() == b"x-webhook-secret"]
        if not self._current:  # the webhook has no secret: the Cloud sends the header empty
            return "current"
        if len(sent) != 1:  # missing, or repeated: which one counts would be a guess
            return ""
        # Both compared in constant time, always, so timing tells nothing about which one is set.
        current = hmac.compare_digest(sent[0], self._current)
        previous = bool(self._previous) and hmac.compare_digest(sent[0], self._previous)
        if current:
            return "current"
        return "previous" if previous and self.config.previous_accepted() else ""


#: For an answer given with the body unread: its rest must not be read as the next request.
_CLOSE = (("Connection", "close"),)
#: Headers a request must carry exactly once: with two, which one counts would be a guess (and another
#: server on the way, a proxy, may have guessed the other way).
_EXACTLY_ONCE = (b"host", b"content-type")


def _ambiguous_framing(headers: Headers) -> str:
    """Why the request's head is ambiguous ("" if it is not): no Host, or Host or Content-Type repeated.
    A missing Content-Type is no ambiguity: it is 415, after the secret."""
    counts = dict.fromkeys(_EXACTLY_ONCE, 0)
    for name, _ in headers:
        lowered = name.lower()
        if lowered in counts:
            counts[lowered] += 1
    if counts[b"host"] != 1:
        return "send exactly one Host header"
    if counts[b"content-type"] > 1:
        return "send exactly one Content-Type header"
    return ""


def _header(headers: Headers, name: bytes) -> bytes:
    for key, value in headers:
        if key.lower() == name:
            return value
    return b""


def _parse(body: bytes) -> dict[str, Any]:
    """The delivery, whose "event" is a non-empty string and "data" an object; else ValueError with a short
    reason."""
    try:
        payload = json.loads(
            body.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_not_json, parse_float=_finite
        )
    except RecursionError:  # deeply nested arrays: a 2 KB body would otherwise crash the request
        raise ValueError("JSON nested too deeply") from None
    except ValueError as e:  # also invalid UTF-8 (UnicodeDecodeError) and huge integers
        raise ValueError(f"invalid JSON: {e}") from None
    if not isinstance(payload, dict):
        raise ValueError("body must be a JSON object")
    event, data = payload.get("event"), payload.get("data")
    if not isinstance(event, str) or not event:
        raise ValueError("'event' must be a non-empty string")
    if not isinstance(data, dict):
        raise ValueError("'data' must be an object")
    return payload


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # which value wins would be a guess
        raise ValueError("duplicate key")
    return obj


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float; ValueError for one too large for a float (1e999999 would be inf, which
    no JSON encoder can write back and no handler expects)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _missing(event: str, data: dict[str, Any]) -> str | None:
    """Why a known event cannot be used, or None. Other keys may drift: the Cloud's payloads change."""
    rule = RULES.get(event)
    if rule is None:
        return None  # the handshake, or an event added after this receiver: acknowledged (no auto-disable)
    for key in rule.required:
        if not isinstance(data.get(key), str):
            return f"data/{key} must be a string"
    if data["doctype"] != rule.doctype:
        return f"data/doctype must be {rule.doctype!r} for {event!r}"
    return None


def _record(payload: dict[str, Any], body: bytes) -> Record:
    """The record of an accepted event; ValueError if its text cannot be stored."""
    event, data = payload["event"], payload["data"]
    rule = RULES.get(event)
    if rule is None:  # an unknown event: in no particular order
        resource, clock = "", None
    else:
        owner = data.get(rule.resource)  # not a name (a drifted payload): then it is in no particular order
        resource = f"{rule.doctype}:{owner}" if isinstance(owner, str) else ""
        clock = data.get(rule.clock)
    key = _key(payload, body)
    record = Record(
        key=key,
        event=event,
        resource=resource or f"{event}:{key}",
        occurred_at=clock if isinstance(clock, str) else "",
        payload=body.decode("utf-8"),
    )
    for text in (record.event, record.resource, record.occurred_at):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # "\ud800" is valid JSON but no text: no store can keep it
            raise ValueError("a lone UTF-16 surrogate (\\uD800-\\uDFFF) is not text") from None
    return record


def _key(payload: dict[str, Any], body: bytes) -> str:
    """The deduplication key: a hash of the whole delivery's content, as canonical JSON.

    The Cloud sends no delivery id, and a retry re-sends the stored payload, byte for byte; so the same
    content is the same event, and any difference (a value, a type, a key added or missing) is another
    event, stored. A key of a few fields (doctype, name, status, modified) took a different payload for a
    duplicate whenever those fields were equal or null, and answered 2xx for an event it never stored.
    Canonical (sorted keys, no spaces, ASCII) so that a re-serialised copy is still recognised; JSON types
    are kept apart (1, 1.0 and true are three values).
    """
    try:
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except RecursionError:  # nested as deep as the parser allows: one level more is too deep to re-encode
        return hashlib.sha256(b"body\0" + body).hexdigest()  # the same bytes, the same key: never a loss
    return hashlib.sha256(b"json\0" + canonical.encode("ascii")).hexdigest()
