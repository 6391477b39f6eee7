"""The doctor: why an exchange failed, in words a receiver's author can act on.

Causes are data: a table of statuses and a table of transport errors, each with the fix the
Cloud's users actually need. :func:`hint` reads an exchange; :func:`setup_hint` reads a failed
connection attempt.
"""

from __future__ import annotations

from harness.payloads.masking import Masking
from harness.wire.transport import MAX_REDIRECTS, Exchange, TransportError
from harness.wire.untrusted import printable

__all__ = ["hint", "setup_hint"]

_REJECTED_PAYLOAD = (
    'accept the envelope {"event", "data"}, unknown keys, nulls and 0/1 integers (see schemas/); a '
    "rejection counts toward the Cloud disabling the webhook."
)

#: A 401 without a secret configured: the first thing to say, before any other finding.
HINT_401_UNCONFIGURED = (
    "The receiver refused a request without a secret (401): it expects one. Set WEBHOOK_SECRET (or "
    "--webhook-secret-file) to the webhook's secret and run again. If the webhook really has no secret, the "
    "receiver must accept the empty X-Webhook-Secret header the Cloud then sends (AUTH-3)."
)
#: A 401 to an event whose secret the handshake accepted: the receiver's own rule, not the secret.
HINT_401_OWN_RULE = (
    "Webhook Validate with this same secret got a 2xx, so this 401 is not about the secret: it is a rule of the "
    "receiver's own (an allow-list of sites or teams, a freshness window on the payload's dates, a signature the "
    "Cloud does not send). The Cloud sends what it sends: accept every delivery that carries the right secret."
)

#: A 307/308 to another origin, with where it leads: the harness stops there, the Cloud goes on (see hint).
HINT_OTHER_ORIGIN = (
    "This redirect leads to another origin (scheme, host or port): the Cloud re-sends the POST to {target}, body "
    "and secret included, so the secret leaves the registered URL; the harness does not follow it. If the receiver "
    "lives there, point the webhook at {target}; otherwise redirect only within the same origin."
)
#: A 307/308 with no Location: requests follows only an answer that says where to go.
HINT_NO_LOCATION = (
    "A 307/308 without a Location header leads nowhere: the Cloud's requests does not follow it and records a "
    "failed attempt. Answer at the URL itself."
)
#: The longest redirect target quoted in a hint: whole or not at all, since a cut could end inside the secret,
#: where masking no longer recognises it (as checks.status_text quotes a Location).
LOCATION_SHOWN = 200

#: (lowest status, highest status, hint for a request that carried the right secret); the first match wins.
STATUS_HINTS: tuple[tuple[int, int, str], ...] = (
    (
        301,
        303,
        "Answer at the URL itself. The Cloud follows a 301/302/303 as a GET without the body (requests' rules), so "
        "the event is lost even when the GET gets a 2xx; the harness follows it the same way within the origin.",
    ),
    (300, 399, "Answer at the URL itself: a 3xx that is not followed is a failed attempt at the Cloud."),
    (400, 400, f"The receiver rejected the Cloud's payload: {_REJECTED_PAYLOAD}"),
    (
        401,
        401,
        "The receiver rejected the right secret: it is configured with another secret than the one given here "
        "(WEBHOOK_SECRET), or it does not read the X-Webhook-Secret header.",
    ),
    (
        403,
        403,
        "403 with the right secret: the receiver's secret differs from the one given here, or a framework's CSRF "
        "protection rejects the POST (exempt the webhook route, e.g. Django's @csrf_exempt).",
    ),
    (404, 404, "Nothing answers at this path: check the URL's path, and any trailing slash, against the route."),
    (405, 405, "The route exists but does not accept POST: allow POST on it (Flask: methods=['POST'])."),
    (
        415,
        415,
        "The receiver refuses Content-Type: application/json, which is what the Cloud sends: parse JSON bodies.",
    ),
    (422, 422, f"The receiver's validation (FastAPI, pydantic...) rejected the Cloud's payload: {_REJECTED_PAYLOAD}"),
    (
        429,
        429,
        "The receiver rate-limited the Cloud. Its 8 workers deliver in parallel, and a dispatch tick takes up to 100 "
        "events every 5 s, so bursts are normal; a 429 is a failed attempt, retried and counted toward "
        "auto-disable. Exempt the Cloud's authenticated deliveries from the limit, or size it for those bursts.",
    ),
    (
        500,
        599,
        "The receiver failed while handling the request: see its logs, and the response above. Catch errors and "
        "acknowledge the delivery; a 5xx counts toward the Cloud disabling the webhook.",
    ),
)

TRANSPORT_HINTS: dict[str, str] = {
    "read-timeout": "The Cloud gives up after 5 s: answer first, then do the work (a queue, a background job).",
    "deadline": "The answer did not complete within the harness's deadline (twice the timeout). The Cloud waits "
    "up to 5 s between two bytes, so a slow trickle may pass there, but answer promptly.",
    "connect": "The receiver stopped accepting connections: did it crash, or restart, during the run?",
    "connect-timeout": "Nothing answered: a firewall may be dropping connections, or the host is down.",
    "dns": "The host name does not resolve: check the URL for typos.",
    "protocol": "The answer is not valid HTTP/1.1, or the connection was closed before a complete answer.",
    # The harness follows same-origin redirects only, so these hops never left the registered origin.
    "redirects": f"More than {MAX_REDIRECTS} redirects in a row: a redirect loop (a path sent back to itself, or "
    "two rules such as one adding a trailing slash and one removing it), or a chain longer than the Cloud's "
    "requests follows. The Cloud gives up there too (TooManyRedirects) and records a failed attempt. Fix the loop, "
    "and point the webhook at the final URL, so that a delivery needs no redirect at all.",
}

SETUP_HINTS: dict[str, str] = {
    "connect": "Is the receiver running and listening on that host and port? Is the URL right?",
    "dns": TRANSPORT_HINTS["dns"],
    "connect-timeout": TRANSPORT_HINTS["connect-timeout"],
    "protocol": "The answer is not HTTP: is the URL's scheme right (https:// for a TLS port, http:// otherwise)?",
}

# (any of these words in the TLS error, hint). The Cloud verifies certificates against the public CAs,
# so each of these stops its deliveries too.
TLS_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("expired",), "The certificate has expired: renew it. The Cloud rejects expired certificates too."),
    (
        ("self-signed", "self signed"),
        "The certificate is self-signed: the Cloud accepts only certificates from a public CA (Let's Encrypt "
        "works). To test a private setup here, pass --webhook-ca-bundle.",
    ),
    (
        ("hostname mismatch", "ip address mismatch"),
        "The certificate is issued for another host name: it must cover the host in the URL.",
    ),
    (
        ("wrong version number", "packet length too long", "record layer failure"),
        "This port does not speak TLS: is the URL's scheme right (http:// for a plain-HTTP port)?",
    ),
    (
        ("local issuer",),
        "The certificate's issuer is unknown: serve the full chain, intermediate certificates included; for a "
        "private CA, pass --webhook-ca-bundle.",
    ),
)
TLS_DEFAULT = (
    "The Cloud verifies certificates too, so it could not deliver either. Check that the certificate is valid, "
    "unexpired and issued for this host name; for a private CA, pass --webhook-ca-bundle."
)


def hint(exchange: Exchange) -> str | None:
    """What to do about an exchange that should have been a 2xx."""
    response = exchange.response
    if response is None:
        assert exchange.error is not None
        if exchange.error.kind == "tls":
            return _tls_hint(exchange.error)
        return TRANSPORT_HINTS.get(exchange.error.kind)
    without_secret = exchange.request.secret is not None and not exchange.request.secret
    if response.status == 401 and without_secret:
        return HINT_401_UNCONFIGURED
    if response.status == 401 and exchange.secret_accepted_before:
        return HINT_401_OWN_RULE
    if response.status == 403 and without_secret:
        return (
            "403 to a request without a secret: the receiver wants one (set WEBHOOK_SECRET to the webhook's secret), "
            "or a framework's CSRF protection rejects the POST (exempt the webhook route, e.g. Django's @csrf_exempt)."
        )
    # A redirect that turned the POST into a GET explains whatever the GET got (a 405, a 404, a page).
    status = next((hop.response.status for hop in exchange.redirects if hop.changed_to_get), response.status)
    if status in (307, 308):
        return _method_keeping_redirect_hint(exchange)
    return _status_hint(status)


def _method_keeping_redirect_hint(exchange: Exchange) -> str | None:
    """A final 307/308: one the harness did not follow, since it leads to another origin or nowhere."""
    assert exchange.response is not None
    target = exchange.redirect_elsewhere
    if target is not None:
        return HINT_OTHER_ORIGIN.format(target=_shown_target(target, exchange))
    if not exchange.response.header("Location"):
        return HINT_NO_LOCATION
    return _status_hint(exchange.response.status)


def _shown_target(target: str, exchange: Exchange) -> str:
    """Where a redirect leads, quoted so that it can be shown: the receiver wrote it.

    Masked with what the request carried (its secret, a password in its URL), then made inert (control
    characters written out, CI commands broken), as checks.status_text shows a Location. The front doors
    mask and escape every hint again (the engine's records, the failure text, ``send``), with the run's
    masking, which also knows the right secret when this request carried a wrong one.
    """
    if len(target) > LOCATION_SHOWN:
        return f"the URL in its Location header ({len(target)} characters, not shown)"
    return f"'{printable(Masking(exchange.request.url, exchange.request.secret)(target))}'"


def _status_hint(status: int) -> str | None:
    return next((text for low, high, text in STATUS_HINTS if low <= status <= high), None)


def setup_hint(error: TransportError) -> str:
    """What to do when no connection can be made at all."""
    if error.kind == "tls":
        return _tls_hint(error)
    return SETUP_HINTS.get(error.kind, "")


def _tls_hint(error: TransportError) -> str:
    detail = error.detail.lower()
    return next((text for words, text in TLS_HINTS if any(w in detail for w in words)), TLS_DEFAULT)
