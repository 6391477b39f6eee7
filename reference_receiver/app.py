"""The reference webhook receiver: a Flask app that accepts the Cloud's deliveries safely.

Copying this template? Change three things and keep the rest:

1. Business logic: register a function per event with ``@on("Site Status Update")``. It gets ``data``
   (already schema-checked) after the request is accepted. Keep it fast, because the Cloud gives up after
   5 s and then retries, and make it idempotent, because the Cloud delivers duplicates.
2. Configuration: ``WEBHOOK_SECRET`` (the secret entered in the Cloud's dashboard) and, if needed,
   ``WEBHOOK_MAX_BODY_BYTES`` (default 64 KiB; the Cloud's payloads are a few KB).
3. Serving: ``python -m reference_receiver --host 0.0.0.0 --port 8000`` (waitress), behind HTTPS.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.http import HTTP_STATUS_CODES

from harness.events import DOCUMENT_EVENTS, KNOWN_EVENTS, VALIDATE
from harness.schemas import event_schema, validator

__all__ = ["DEFAULT_MAX_BODY_BYTES", "HANDLERS", "Handler", "create_app", "on"]

DEFAULT_MAX_BODY_BYTES = 64 * 1024
log = logging.getLogger("reference_receiver")

Handler = Callable[[dict[str, Any]], object]
#: Business logic, by event name. Fill it with ``@on(...)``.
HANDLERS: dict[str, list[Handler]] = {}


def on(event: str) -> Callable[[Handler], Handler]:
    """Register ``handler(data)`` for a document event; it runs once the delivery is accepted.

    A handler that raises is logged and the Cloud still gets 200: a failure is yours to retry, and
    non-2xx answers count toward the Cloud disabling the webhook.
    """
    if event not in DOCUMENT_EVENTS:  # catches typos, and the handshake must stay free of side effects
        raise ValueError(f"not a document event the Cloud sends: {event!r}")

    def register(handler: Handler) -> Handler:
        HANDLERS.setdefault(event, []).append(handler)
        return handler

    return register


def create_app(secret: str | None = None, *, max_body_bytes: int | None = None) -> Flask:
    """The receiver; ``None`` means: read ``WEBHOOK_SECRET`` / ``WEBHOOK_MAX_BODY_BYTES``.

    An empty secret accepts every request (the Cloud then sends the header empty).
    """
    if secret is None:
        secret = os.environ.get("WEBHOOK_SECRET", "")
    if secret != secret.strip():  # HTTP servers strip header whitespace, so it could never match
        raise ValueError("the secret (WEBHOOK_SECRET) must not start or end with whitespace")
    if max_body_bytes is None:
        max_body_bytes = _env_int("WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
    if max_body_bytes <= 0:
        raise ValueError(f"max_body_bytes must be positive, not {max_body_bytes}")
    if not secret:
        log.warning("no WEBHOOK_SECRET configured: every request is accepted")
    try:
        # The Cloud's HTTP client sends header values as Latin-1 bytes: compare with those.
        expected = secret.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("the secret (WEBHOOK_SECRET) must be Latin-1 text: the Cloud cannot send others") from None
    # Built now so a missing schema stops the start-up instead of failing requests.
    schemas = {e: s for e in KNOWN_EVENTS if (s := event_schema(e)) is not None}
    schema_errors: dict[str, Callable[[object], Iterator[Any]]] = {
        e: validator(s).iter_errors for e, s in schemas.items()
    }
    required = {e: frozenset(s.get("required", ())) for e, s in schemas.items()}

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes  # declared and streamed (chunked) bodies alike
    app.register_error_handler(HTTPException, _on_http_error)

    @app.post("/webhook", provide_automatic_options=False)
    def webhook() -> Response:
        # The secret first: a stranger can make us neither read nor parse anything.
        if expected and not _secret_matches(request.headers.get("X-Webhook-Secret", ""), expected):
            return _reject(401)
        body = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
        if request.mimetype != "application/json":  # lower-cased, parameters such as charset dropped
            return _reject(415)
        try:
            event, data = _parse(body)
        except ValueError as e:
            return _reject(400, str(e))
        errors = schema_errors.get(event)
        if errors is None:  # rejecting would count toward the Cloud's auto-disable
            log.warning("webhook status=200 event=%r unknown event acknowledged", event)
            return _ok()
        rejection, drift = _judge(errors(data), required[event])
        if rejection:
            return _reject(400, rejection, event)
        if drift:
            # The Cloud's payloads change over time; rejecting them would get the webhook disabled.
            log.warning("webhook event=%r accepted despite payload drift: %r", event, drift)
        log.info("webhook status=200 event=%r accepted", event)
        if event != VALIDATE:
            _dispatch(event, data)
        return _ok()

    return app


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    if not (raw.isascii() and raw.isdigit() and int(raw) > 0):
        raise ValueError(f"{name} must be a positive integer, not {raw!r}")
    return int(raw)


def _secret_matches(header: str, expected: bytes) -> bool:
    # WSGI decodes headers as latin-1: re-encoding gives the raw bytes, and comparing bytes never raises.
    try:
        sent = header.encode("latin-1")
    except UnicodeEncodeError:  # only from a server that breaks PEP 3333
        return False
    return hmac.compare_digest(sent, expected)


def _parse(body: bytes) -> tuple[str, dict[str, Any]]:
    """The event and data of a delivery; ValueError with a short reason if the envelope is wrong."""
    try:
        payload = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_not_json)
    except RecursionError:  # deeply nested arrays: a 2 KB body would otherwise be a 500
        raise ValueError("JSON nested too deeply") from None
    except ValueError as e:  # also invalid UTF-8 (UnicodeDecodeError)
        raise ValueError(f"invalid JSON: {e}") from None
    if not isinstance(payload, dict):
        raise ValueError("body must be a JSON object")
    event, data = payload.get("event"), payload.get("data")
    if not isinstance(event, str) or not event:
        raise ValueError("'event' must be a non-empty string")
    if not isinstance(data, dict):
        raise ValueError("'data' must be an object")
    return event, data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # which value wins would be a guess
        raise ValueError("duplicate key")
    return obj


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _judge(errors: Iterator[Any], required: frozenset[str]) -> tuple[str | None, str | None]:
    """(why to reject, or None; what differs from the schema, or None).

    Only a missing or mistyped key that a receiver relies on (doctype, name, status...) is a reason
    to reject: anything else is drift, which the sender has shown before and will show again.
    """
    drift = None
    try:
        for error in errors:
            where = "/".join(["data", *map(str, error.absolute_path)]) + f": {error.message}"
            path = list(error.absolute_path)
            if error.validator == "required" or (
                path and path[0] in required and len(path) == 1 and error.validator == "type"
            ):
                return where, None
            drift = drift or where
    except RecursionError:
        return "data nested too deeply", None
    return None, drift


def _dispatch(event: str, data: dict[str, Any]) -> None:
    for handler in HANDLERS.get(event, []):
        try:
            handler(data)
        except Exception:
            log.exception("webhook event=%r handler %r failed", event, handler)


def _on_http_error(error: HTTPException) -> Response:
    # Routing (404, 405), the body limit (413) and crashes (500) answer like the view: small JSON.
    response = _reject(error.code or 500)
    if isinstance(error, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(error.valid_methods or ["POST"])
    return response


def _reject(status: int, reason: str | None = None, event: str | None = None) -> Response:
    level = logging.ERROR if status >= 500 else logging.WARNING
    log.log(level, "webhook status=%d event=%r %r", status, event, reason or "rejected")
    body: dict[str, str] = {"error": HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_")}
    if reason:
        body["reason"] = reason[:200]  # shown in the Cloud's dashboard: keep it short
    return _response(json.dumps(body), status, "application/json")


def _ok() -> Response:
    return _response("OK", 200, "text/plain; charset=utf-8")


def _response(body: str, status: int, content_type: str) -> Response:
    response = Response(body, status, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
