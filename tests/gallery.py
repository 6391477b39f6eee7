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

from harness.payloads.events import DOCUMENT_EVENTS, KNOWN_EVENTS, VALIDATE
from harness.payloads.schemas import sample_data

SECRET = "gallery-secret-5f3a9c1e7b2d4f60a8c3"
#: The slow receiver runs the suite with a short timeout, so it is caught quickly; the margins on both
#: sides are wide so that a busy machine cannot make a normal answer look slow, or a slow one fast.
SLOW_SECONDS = 1.5
FAST_TIMEOUT = "0.5"
#: How long the single-worker receiver is busy with each delivery: long enough for a burst to collide.
HOLD_SECONDS = 0.3
#: Over DLV-7's 1 s bound, well within the Cloud's 5 s.
LATENCY_SECONDS = 1.3
#: The token of the receivers that want one in their URL.
QUERY_TOKEN = "t0ken-4e1f"
#: Requests at a time the rate-limiting receivers allow: fewer than the Cloud's 8 workers.
RATE_LIMIT = 3

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


#: The body limit of every gallery receiver but the one that has none.
MAX_BODY = 64 * 1024
#: What the front door checks; a receiver marked ``@lenient(...)`` skips those checks.
FRONT_DOOR = ("method", "content-type", "size", "shape")


def lenient(*skipped: str) -> Callable[[Handler], Handler]:
    """Mark a receiver as skipping some of the front door's checks: that is its bug."""
    assert set(skipped) <= set(FRONT_DOOR)

    def mark(handler: Handler) -> Handler:
        handler.lenient = frozenset(skipped)  # type: ignore[attr-defined]
        return handler

    return mark


def _well_formed(body: bytes) -> bool:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(payload, dict) and isinstance(payload.get("event"), str) and isinstance(payload.get("data"), dict)


def front_door(request: Request, skipped: frozenset[str] = frozenset()) -> Response | None:
    """What every gallery receiver does before its own logic, as a well-built one would: the answer to a
    request that is not a delivery (405, 415, 413, 400), or None for a delivery."""
    if "method" not in skipped and request.method != "POST":
        return Response("Method Not Allowed", 405, headers={"Allow": "POST"})
    if "content-type" not in skipped and request.mimetype != "application/json":
        return Response("Unsupported Media Type", 415)
    if "size" not in skipped and (request.content_length or 0) > MAX_BODY:
        return Response("Payload Too Large", 413)
    if "shape" not in skipped and not _well_formed(request.get_data()):
        return Response("Bad Request", 400)
    return None


def responder(handler: Handler) -> Callable[[Request], Response]:
    """The handler as served: the front door first, then the handler with a history of its own."""
    seen: list[str] = []

    def respond(request: Request) -> Response:
        refusal = front_door(request, getattr(handler, "lenient", frozenset()))
        if refusal is not None:
            return refusal
        try:
            event = json.loads(request.get_data()).get("event")
        except (ValueError, AttributeError, RecursionError):
            event = None
        seen.append(str(event))
        return handler(request, seen)

    return respond


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


def redirects_to_another_origin(request: Request, seen: list[str]) -> Response:
    """Moved: 307s every delivery from 127.0.0.1 to localhost (another origin), where it answers correctly.

    The Cloud would follow the 307 there with the body and the secret, and succeed; the harness never sends the
    secret to another origin, so it fails what needs a 2xx: deliberately stricter than the Cloud.
    """
    if request.host.startswith("127.0.0.1"):
        location = request.url.replace("//127.0.0.1", "//localhost", 1)
        return Response("", 307, headers={"Location": location})
    return correct(request, seen)


def redirects_within_the_origin(request: Request, seen: list[str]) -> Response:
    """Correct twin of the redirecting ones: 307s /webhook to /webhook/v2 on the same origin, which answers OK.

    requests follows a 307 with the body and every header, and the secret stays on the origin it was sent to.
    """
    if request.path == "/webhook":
        return Response("", 307, headers={"Location": "/webhook/v2"})
    return correct(request, seen)


def redirects_with_302(request: Request, seen: list[str]) -> Response:
    """Answers 302 to /webhook/v2 (a framework's 'moved' shortcut): the Cloud follows it as a GET, which gets 405."""
    if request.path == "/webhook":
        return Response("", 302, headers={"Location": "/webhook/v2"})
    return correct(request, seen)


def wants_query_token(request: Request, seen: list[str]) -> Response:
    """Authenticates with ?token= in its URL besides the secret: the dashboard refuses to save a URL with a query."""
    if request.args.get("token") != QUERY_TOKEN:
        return unauthorized()
    return correct(request, seen)


def wants_path_token(request: Request, seen: list[str]) -> Response:
    """Correct twin of wants_query_token: the token is a path segment, /webhook/<token>, which the dashboard saves."""
    if request.path != f"/webhook/{QUERY_TOKEN}":
        return Response("Not Found", 404)
    return correct(request, seen)


wants_query_token.query = f"?token={QUERY_TOKEN}"  # type: ignore[attr-defined]
wants_path_token.query = f"/{QUERY_TOKEN}"  # type: ignore[attr-defined]


def crashes_on_tags(request: Request, seen: list[str]) -> Response:
    """Reads each site tag as an object (tag["tag"]): the Cloud sends tags as "ResourceTag(<row>)" strings, a 500."""
    if not _secret_ok(request):
        return unauthorized()
    tags = _data(request).get("tags") if _event(request) == "Site Status Update" else None
    try:
        [tag["tag"] for tag in tags or []]  # type: ignore[index]
    except TypeError:
        return Response("Internal Server Error", 500)
    return ok()


def expects_a_signature(request: Request, seen: list[str]) -> Response:
    """Wants an X-Webhook-Signature HMAC on events, which the Cloud never sends: every event gets 401."""
    if not _secret_ok(request):
        return unauthorized()
    if _event(request) != VALIDATE and "X-Webhook-Signature" not in request.headers:
        return Response("missing signature", 401)
    return ok()


_IN_FLIGHT = threading.BoundedSemaphore(RATE_LIMIT)


def rate_limits_bursts(request: Request, seen: list[str]) -> Response:
    """Limits every client to a few requests at a time (429 beyond): the Cloud's parallel workers are refused."""
    if not _IN_FLIGHT.acquire(blocking=False):
        return Response("Too Many Requests", 429, headers={"Retry-After": "1"})
    try:
        time.sleep(HOLD_SECONDS / 6)
        return correct(request, seen)
    finally:
        _IN_FLIGHT.release()


def limits_only_failed_secrets(request: Request, seen: list[str]) -> Response:
    """Correct twin of rate_limits_bursts: only requests with a wrong secret are limited (429 beyond a few)."""
    if _secret_ok(request):
        return ok()
    if not _IN_FLIGHT.acquire(blocking=False):
        return Response("Too Many Requests", 429, headers={"Retry-After": "1"})
    try:
        return unauthorized()
    finally:
        _IN_FLIGHT.release()


def refuses_empty_header_on_events(request: Request, seen: list[str]) -> Response:
    """Configured without a secret, it answers the handshake but refuses every event carrying the (empty)
    X-Webhook-Secret header, which the Cloud always sends."""
    if _event(request) != VALIDATE and "X-Webhook-Secret" in request.headers:
        return unauthorized()
    return ok()


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


def assumes_plan_is_set(request: Request, seen: list[str]) -> Response:
    """Reads data["plan"].upper() for site events: a site without a plan (null, as the Cloud sends it) is a 500."""
    if not _secret_ok(request):
        return unauthorized()
    if _event(request) == "Site Status Update":
        plan = _data(request).get("plan")
        if not isinstance(plan, str):
            return Response("Internal Server Error", 500)
    return ok()


def slow_on_bench_updates(request: Request, seen: list[str]) -> Response:
    """Rebuilds a report on every bench update before answering: within the Cloud's 5 s, but over a second."""
    if not _secret_ok(request):
        return unauthorized()
    if _event(request) == "Bench Status Update":
        time.sleep(LATENCY_SECONDS)
    return ok()


@lenient("shape")
def crashes_on_malformed_body(request: Request, seen: list[str]) -> Response:
    """Indexes payload["event"] and payload["data"] without checking the shape: a 500 on malformed bodies."""
    if not _secret_ok(request):
        return unauthorized()
    try:
        payload = json.loads(request.get_data())
        if not isinstance(payload["event"], str) or not isinstance(payload["data"], dict):
            raise TypeError("not a delivery")
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        return Response("Internal Server Error", 500)
    return ok()


@lenient("method")
def ignores_method(request: Request, seen: list[str]) -> Response:
    """Routes every method to the webhook handler: a PUT or DELETE with the right secret is acknowledged."""
    if not _secret_ok(request):
        return unauthorized()
    return ok()


@lenient("content-type")
def ignores_content_type(request: Request, seen: list[str]) -> Response:
    """Parses the body as JSON whatever its declared Content-Type."""
    if not _secret_ok(request):
        return unauthorized()
    return ok()


@lenient("size")
def has_no_body_limit(request: Request, seen: list[str]) -> Response:
    """Reads bodies of any size into memory."""
    if not _secret_ok(request):
        return unauthorized()
    return ok()


def crashes_on_non_ascii_secret(request: Request, seen: list[str]) -> Response:
    """Compares the header as str with hmac.compare_digest, which raises on non-ASCII: a 500."""
    received = request.headers.get("X-Webhook-Secret", "")
    try:
        matches = hmac.compare_digest(received, SECRET)
    except TypeError:
        return Response("Internal Server Error", 500)
    return ok() if matches else unauthorized()


def tells_missing_from_wrong(request: Request, seen: list[str]) -> Response:
    """Says whether the secret was missing or wrong: a prober learns that its header was read."""
    if "X-Webhook-Secret" not in request.headers:
        return Response("missing X-Webhook-Secret", 401)
    return ok() if _secret_ok(request) else Response("wrong secret", 401)


@lenient("shape")
def shows_tracebacks(request: Request, seen: list[str]) -> Response:
    """Answers a body it cannot parse with 400 and the Python traceback, 'to help the sender debug'."""
    if not _secret_ok(request):
        return unauthorized()
    if not _well_formed(request.get_data()):
        trace = (
            "Traceback (most recent call last):\n"
            '  File "/srv/receiver/app.py", line 31, in webhook\n'
            '    event = payload["event"]\n'
            "KeyError: 'event'\n"
        )
        return Response(trace, 400, content_type="text/plain")
    return ok()


@dataclass(frozen=True)
class Broken:
    handler: Handler
    #: Requirement ids the suite must report as failed (SHOULD findings included).
    fails: frozenset[str]
    #: The secret the suite is told about; None runs it with no secret configured.
    secret: str | None = SECRET
    args: tuple[str, ...] = ()
    #: INFO requirements the suite must note (every gallery receiver runs on Werkzeug's development server).
    notes: frozenset[str] = frozenset({"SRV-1"})
    #: Text the run's output must hold: the hint or the verdict that names this receiver's real cause.
    says: str | None = None

    @property
    def name(self) -> str:
        return self.handler.__name__


DELIVERY_MUSTS = ("DLV-1", "DLV-2", "DLV-3")
DELIVERY_SHOULDS = ("DLV-4", "DLV-5", "DLV-6")

GALLERY: tuple[Broken, ...] = (
    Broken(accepts_any_secret, frozenset({"AUTH-1", "AUTH-2", "AUTH-4"})),
    Broken(accepts_prefix, frozenset({"AUTH-1", "AUTH-2"})),
    Broken(compares_case_insensitively, frozenset({"AUTH-1", "AUTH-2"})),
    Broken(answers_403, frozenset({"AUTH-1", "AUTH-2", "AUTH-4"})),
    Broken(fails_handshake, frozenset({"HS-1", "HS-2"})),
    Broken(fails_second_handshake, frozenset({"HS-2"})),
    # Every delivery is redirected to another origin, which the harness does not follow: every check that
    # needs a 2xx fails with it, and the outlook leaves activation open (the Cloud would follow and succeed).
    Broken(
        redirects_to_another_origin,
        frozenset(
            {"HS-1", "HS-2", "EVT-1", "EVT-3", *DELIVERY_MUSTS, *DELIVERY_SHOULDS, "AUTH-1", "AUTH-2", "AUTH-4"}
            | {"REDIR-1"}
        ),
    ),
    # A 302 is followed as a GET, which gets 405: the Cloud fails everything too.
    Broken(
        redirects_with_302,
        frozenset(
            {"HS-1", "HS-2", "EVT-1", "EVT-3", *DELIVERY_MUSTS, *DELIVERY_SHOULDS, "AUTH-1", "AUTH-2", "AUTH-4"}
            | {"REDIR-1"}
        ),
    ),
    Broken(wants_query_token, frozenset({"URL-1"}), says="the dashboard rejects URLs with a query string"),
    Broken(crashes_on_tags, frozenset({"EVT-1", "DLV-6"})),
    Broken(
        expects_a_signature,
        frozenset({"EVT-1", "EVT-3", *DELIVERY_MUSTS, *DELIVERY_SHOULDS}),
        says="so this 401 is not about the secret",
    ),
    Broken(rate_limits_bursts, frozenset({"DLV-2"}), says="The receiver rate-limited the Cloud"),
    Broken(too_slow, frozenset({"EVT-1", "DLV-6"}), args=("--webhook-timeout", FAST_TIMEOUT)),
    Broken(rejects_deploy_event, frozenset({"EVT-1", "DLV-6"})),
    Broken(skips_secret_on_handshake, frozenset({"AUTH-1", "AUTH-4"})),
    Broken(checks_secret_only_on_handshake, frozenset({"AUTH-2"})),
    # Echoing what was received also makes a missing secret and a wrong one answer differently (AUTH-5).
    Broken(echoes_secret, frozenset({"LEAK-1", "AUTH-5"})),
    Broken(echoes_secret_lowercased, frozenset({"LEAK-1", "AUTH-5"})),
    Broken(echoes_part_of_secret, frozenset({"LEAK-1", "AUTH-5"})),
    Broken(answers_json, frozenset({"HS-3", "EVT-2"})),
    Broken(rejects_duplicates, frozenset({"DLV-1"})),
    Broken(handles_one_at_a_time, frozenset({"DLV-2"})),
    Broken(rejects_stale_events, frozenset({"DLV-3"})),
    Broken(rejects_unknown_keys, frozenset({"DLV-4"})),
    Broken(rejects_unknown_events, frozenset({"DLV-5"})),
    Broken(assumes_plan_is_set, frozenset({"DLV-6"})),
    Broken(slow_on_bench_updates, frozenset({"DLV-7"})),
    Broken(crashes_on_malformed_body, frozenset({"BAD-1"})),
    Broken(ignores_method, frozenset({"BAD-2"})),
    Broken(ignores_content_type, frozenset({"BAD-3"})),
    Broken(has_no_body_limit, frozenset({"BAD-4"})),
    Broken(crashes_on_non_ascii_secret, frozenset({"AUTH-4"})),
    Broken(tells_missing_from_wrong, frozenset({"AUTH-5"})),
    Broken(shows_tracebacks, frozenset({"LEAK-2"})),
    # The handshake refused without a secret: one diagnosis, and nothing else is sent.
    Broken(
        requires_header_absent,
        frozenset({"HS-1"}),
        secret=None,
        says="every delivery without a secret got 401, so this receiver expects one",
    ),
    Broken(
        refuses_empty_header_on_events,
        frozenset({"EVT-1", "EVT-3", *DELIVERY_MUSTS, *DELIVERY_SHOULDS, "AUTH-3"}),
        secret=None,
    ),
)


@dataclass(frozen=True)
class Framework:
    """A stand-alone receiver of tests/receivers/, in a real framework, run as its own process."""

    name: str
    fails: frozenset[str] = frozenset()
    #: Failed or not by timing alone: checks of the stage in which the receiver dies, sent beside the case that
    #: kills it (the engine sends a stage's cases at once), fail only when they reach it after its death.
    in_flight: frozenset[str] = frozenset()


# Each broken one beside its correct twin (tests/receivers/*: the docstrings say what each gets wrong).
FRAMEWORKS: tuple[Framework, ...] = (
    # Realistic payloads: tags as "ResourceTag(...)" strings, trial sites, queued builds; MUST since they are real.
    Framework("fastapi_strict_models", frozenset({"EVT-1", "DLV-6"})),
    Framework("fastapi_tolerant_models"),
    # Answers read as the Cloud's requests reads them: a Content-Encoding it cannot undo, a body without end.
    Framework(
        "starlette_bad_gzip",
        frozenset({"HS-1", "HS-2", "HS-3", "EVT-1", "EVT-2", "EVT-3", *DELIVERY_MUSTS, *DELIVERY_SHOULDS}),
    ),
    Framework("starlette_gzip"),
    Framework("starlette_endless_body", frozenset({"EVT-1", "DLV-6"})),
    # Redirects judged as the Cloud follows them: APPEND_SLASH's 301 becomes a GET (405); a 307 in-origin works.
    Framework(
        "django_append_slash",
        frozenset(
            {"HS-1", "HS-2", "EVT-1", "EVT-3", *DELIVERY_MUSTS, *DELIVERY_SHOULDS, "AUTH-1", "AUTH-2", "AUTH-4"}
            | {"BAD-3", "BAD-4", "REDIR-1"}
        ),
    ),
    Framework("django_same_origin_307"),
    # Dates stamped as the Cloud stamps them; its own old timestamps (a trial's initial plan) are EVT-3.
    Framework("aiohttp_freshness_on_all_dates", frozenset({"EVT-3"})),
    Framework("aiohttp_freshness_window"),
    # Out of order is normal: a refusal is a failed attempt (DLV-3, a MUST).
    Framework("aiohttp_rejects_out_of_order", frozenset({"DLV-3"})),
    Framework("aiohttp_orders_later"),
    # A JSON null kills the process: LIVE-1 notices; everything after it goes unanswered.
    Framework("node_dies_on_null", frozenset({"LIVE-1", "BAD-1"}), in_flight=frozenset({"BAD-2", "BAD-3", "BAD-4"})),
    Framework("node_checks_shape"),
)

#: Receivers that get everything right in a way a naive check would refuse: each must pass every check.
TWINS: tuple[Handler, ...] = (redirects_within_the_origin, wants_path_token, limits_only_failed_secrets)

#: Requirements whose failing receiver needs more than a handler (a TLS server, a proxy, Flask's debugger):
#: the test in the project's suite that shows each one failing, as "module::function".
CAUGHT_ELSEWHERE: dict[str, str] = {
    "TLS-1": "test_tls::test_certificate_that_does_not_verify_fails_only_tls_1_when_insecure",
    "TLS-2": "test_transport_rules::test_http_target_on_another_machine_is_noted",
}
