"""The gallery: receivers that each get one thing wrong, to prove every check can fail.

Each receiver is a handler ``(request, seen) -> response`` for pytest-httpserver, whose docstring
says how it misbehaves; ``seen`` lists the events this server instance received before, for the
receivers whose bug depends on history. :data:`GALLERY` pairs each one with the requirements the
suite must report as failed, no more and no fewer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from werkzeug import Request, Response

from harness.events import DOCUMENT_EVENTS, KNOWN_EVENTS, VALIDATE
from harness.schemas import sample_data

SECRET = "gallery-secret-5f3a9c1e7b2d4f60a8c3"
#: The slow receiver runs the suite with a short timeout, so it is caught quickly; the margins on both
#: sides are wide so that a busy machine cannot make a normal answer look slow, or a slow one fast.
SLOW_SECONDS = 1.5
FAST_TIMEOUT = "0.5"
#: How long the single-worker receiver is busy with each delivery: long enough for a burst to collide.
HOLD_SECONDS = 0.3

Handler = Callable[[Request, list[str]], Response]


def _received(request: Request) -> bytes:
    return request.headers.get("X-Webhook-Secret", "").encode("latin-1")


def _secret_ok(request: Request) -> bool:
    return hmac.compare_digest(_received(request), SECRET.encode())


def _event(request: Request) -> str | None:
    try:
        payload = json.loads(request.get_data())
    except ValueError:
        return None
    return payload.get("event") if isinstance(payload, dict) else None


def ok() -> Response:
    return Response("OK", 200, content_type="text/plain")


def unauthorized() -> Response:
    return Response("Unauthorized", 401, content_type="text/plain")


def correct(request: Request, seen: list[str]) -> Response:
    """Follows the contract: the whole secret compared in constant time, every delivery answered OK."""
    return ok() if _secret_ok(request) else unauthorized()


def accepts_any_secret(request: Request, seen: list[str]) -> Response:
    """Never looks at X-Webhook-Secret."""
    return ok()


def accepts_prefix(request: Request, seen: list[str]) -> Response:
    """Accepts any non-empty prefix of the secret: ``SECRET.startswith(received)``."""
    received = _received(request)
    return ok() if received and SECRET.encode().startswith(received) else unauthorized()


def compares_case_insensitively(request: Request, seen: list[str]) -> Response:
    """Lower-cases both sides before comparing, so the secret with its case changed passes."""
    return ok() if _received(request).lower() == SECRET.encode().lower() else unauthorized()


def answers_403(request: Request, seen: list[str]) -> Response:
    """Rejects a wrong secret with 403 Forbidden instead of 401."""
    return ok() if _secret_ok(request) else Response("Forbidden", 403)


def fails_handshake(request: Request, seen: list[str]) -> Response:
    """Crashes on Webhook Validate (500), having no handler for it."""
    if not _secret_ok(request):
        return unauthorized()
    return Response("Internal Server Error", 500) if _event(request) == VALIDATE else ok()


def fails_second_handshake(request: Request, seen: list[str]) -> Response:
    """Answers 409 to every Webhook Validate after the first: 'already validated'."""
    if not _secret_ok(request):
        return unauthorized()
    if _event(request) == VALIDATE and seen.count(VALIDATE) > 1:
        return Response("already validated", 409)
    return ok()


def redirects(request: Request, seen: list[str]) -> Response:
    """Redirects /webhook to /webhook/ (a framework's trailing-slash rule)."""
    return Response("", 308, headers={"Location": "/webhook/"})


def too_slow(request: Request, seen: list[str]) -> Response:
    """Does its business work before answering: a deploy update takes longer than the Cloud waits."""
    if not _secret_ok(request):
        return unauthorized()
    if _event(request) == "Bench Deploy Status Update":
        time.sleep(SLOW_SECONDS)
    return ok()


def _data(request: Request) -> dict[str, object]:
    payload = json.loads(request.get_data())
    return payload.get("data", {}) if isinstance(payload, dict) else {}


def rejects_duplicates(request: Request, seen: list[str]) -> Response:
    """Answers 409 to a document event it has seen before, byte for byte: a retry is refused."""
    if not _secret_ok(request):
        return unauthorized()
    if _event(request) in DOCUMENT_EVENTS:
        key = "body:" + hashlib.sha256(request.get_data()).hexdigest()
        if key in seen:
            return Response("duplicate", 409)
        seen.append(key)
    return ok()


_ONE_AT_A_TIME = threading.Lock()


def handles_one_at_a_time(request: Request, seen: list[str]) -> Response:
    """A single worker for site updates: one that arrives while another is being handled gets 503."""
    if not _secret_ok(request):
        return unauthorized()
    if _event(request) != "Site Status Update":
        return ok()
    if not _ONE_AT_A_TIME.acquire(blocking=False):
        return Response("busy", 503)
    try:
        time.sleep(HOLD_SECONDS)
    finally:
        _ONE_AT_A_TIME.release()
    return ok()


def rejects_stale_events(request: Request, seen: list[str]) -> Response:
    """Answers 409 to an event older (by data.modified) than one it has seen for the same resource."""
    if not _secret_ok(request):
        return unauthorized()
    if _event(request) in DOCUMENT_EVENTS:
        data = _data(request)
        name, modified = str(data.get("name")), str(data.get("modified"))
        latest = max((m.split("|", 2)[2] for m in seen if m.startswith(f"mod|{name}|")), default="")
        if modified < latest:
            return Response("stale event", 409)
        seen.append(f"mod|{name}|{modified}")
    return ok()


def rejects_unknown_keys(request: Request, seen: list[str]) -> Response:
    """Validates strictly: any key it does not know, in the envelope or in data, is a 400."""
    if not _secret_ok(request):
        return unauthorized()
    payload = json.loads(request.get_data())
    event = payload.get("event")
    known = set(sample_data(event)) if event in DOCUMENT_EVENTS else None  # exactly today's keys
    if set(payload) - {"event", "data"} or (known is not None and set(payload["data"]) - known):
        return Response("unknown key", 400)
    return ok()


def rejects_unknown_events(request: Request, seen: list[str]) -> Response:
    """Answers 400 to an event it has no handler for."""
    if not _secret_ok(request):
        return unauthorized()
    return ok() if _event(request) in KNOWN_EVENTS else Response("unknown event", 400)


def rejects_deploy_event(request: Request, seen: list[str]) -> Response:
    """Knows only three of the four events and answers 400 to Bench Deploy Status Update."""
    if not _secret_ok(request):
        return unauthorized()
    return Response("unknown event", 400) if _event(request) == "Bench Deploy Status Update" else ok()


def skips_secret_on_handshake(request: Request, seen: list[str]) -> Response:
    """Answers Webhook Validate before checking the secret, which it checks only on events."""
    if _event(request) == VALIDATE:
        return ok()
    return ok() if _secret_ok(request) else unauthorized()


def checks_secret_only_on_handshake(request: Request, seen: list[str]) -> Response:
    """Checks the secret on Webhook Validate only, and trusts every event after activation."""
    if _event(request) != VALIDATE:
        return ok()
    return ok() if _secret_ok(request) else unauthorized()


def echoes_secret(request: Request, seen: list[str]) -> Response:
    """Echoes the header it received in its 401 body, to 'help debugging'."""
    if _secret_ok(request):
        return ok()
    return Response(f"invalid X-Webhook-Secret: {_received(request).decode('latin-1')}", 401)


def echoes_secret_lowercased(request: Request, seen: list[str]) -> Response:
    """Echoes the header it received, lower-cased, in its 401 body ('normalised' for the log)."""
    if _secret_ok(request):
        return ok()
    return Response(f"bad secret: {_received(request).decode('latin-1').lower()}", 401)


def echoes_part_of_secret(request: Request, seen: list[str]) -> Response:
    """Echoes the first four fifths of the header it received, lower-cased and 'redacted', in its 401 body."""
    if _secret_ok(request):
        return ok()
    received = _received(request).decode("latin-1")
    return Response(f"bad secret: {received[: len(received) * 4 // 5].lower()}...", 401)


def answers_json(request: Request, seen: list[str]) -> Response:
    """Answers 200 with a JSON body instead of the documented OK."""
    if not _secret_ok(request):
        return unauthorized()
    return Response('{"status": "ok"}', 200, content_type="application/json")


def requires_header_absent(request: Request, seen: list[str]) -> Response:
    """Configured without a secret, it rejects the empty X-Webhook-Secret header the Cloud still sends."""
    if "X-Webhook-Secret" in request.headers:
        return unauthorized()
    return ok()


@dataclass(frozen=True)
class Broken:
    handler: Handler
    #: Requirement ids the suite must report as failed (SHOULD findings included).
    fails: frozenset[str]
    #: The secret the suite is told about; None runs it with no secret configured.
    secret: str | None = SECRET
    args: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.handler.__name__


DELIVERY_MUSTS = ("DLV-1", "DLV-2")
DELIVERY_SHOULDS = ("DLV-3", "DLV-4", "DLV-5")

GALLERY: tuple[Broken, ...] = (
    Broken(accepts_any_secret, frozenset({"AUTH-1", "AUTH-2"})),
    Broken(accepts_prefix, frozenset({"AUTH-1", "AUTH-2"})),
    Broken(compares_case_insensitively, frozenset({"AUTH-1", "AUTH-2"})),
    Broken(answers_403, frozenset({"AUTH-1", "AUTH-2"})),
    Broken(fails_handshake, frozenset({"HS-1", "HS-2"})),
    Broken(fails_second_handshake, frozenset({"HS-2"})),
    # Every delivery is redirected: every check that needs a 2xx fails with it.
    Broken(
        redirects,
        frozenset({"HS-1", "HS-2", "EVT-1", *DELIVERY_MUSTS, *DELIVERY_SHOULDS, "AUTH-1", "AUTH-2", "REDIR-1"}),
    ),
    Broken(too_slow, frozenset({"EVT-1"}), args=("--webhook-timeout", FAST_TIMEOUT)),
    Broken(rejects_deploy_event, frozenset({"EVT-1"})),
    Broken(skips_secret_on_handshake, frozenset({"AUTH-1"})),
    Broken(checks_secret_only_on_handshake, frozenset({"AUTH-2"})),
    Broken(echoes_secret, frozenset({"LEAK-1"})),
    Broken(echoes_secret_lowercased, frozenset({"LEAK-1"})),
    Broken(echoes_part_of_secret, frozenset({"LEAK-1"})),
    Broken(answers_json, frozenset({"HS-3", "EVT-2"})),
    Broken(rejects_duplicates, frozenset({"DLV-1"})),
    Broken(handles_one_at_a_time, frozenset({"DLV-2"})),
    Broken(rejects_stale_events, frozenset({"DLV-3"})),
    Broken(rejects_unknown_keys, frozenset({"DLV-4"})),
    Broken(rejects_unknown_events, frozenset({"DLV-5"})),
    Broken(
        requires_header_absent,
        frozenset({"HS-1", "HS-2", "EVT-1", *DELIVERY_MUSTS, *DELIVERY_SHOULDS, "AUTH-3"}),
        secret=None,
    ),
)
