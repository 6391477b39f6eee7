"""Judging exchanges: one small function per property, named after what it asserts.

A check returns None when the property holds and raises :class:`CheckFailed` when it does not.
:class:`NotApplicable` means the property cannot be judged here (a precondition failed); the
plugin turns it into a skip with its reason. Neither knows about pytest.
"""

from __future__ import annotations

import html
import ipaddress
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.config.secret import MIN_JUDGED_LENGTH, Secret
from harness.judging import doctor
from harness.payloads.dashboard_url import unsaveable
from harness.payloads.deliveries import is_handshake
from harness.sending.cloud import cloud_success, outcome_unknown
from harness.wire.transport import MAX_KEPT_BODY, Exchange, Response
from harness.wire.untrusted import printable

__all__ = [
    "DEBUG_MARKERS",
    "CheckFailed",
    "NotApplicable",
    "answered_2xx",
    "answered_4xx",
    "answered_401",
    "answered_alike",
    "answered_ok_body",
    "answered_one_of",
    "certificate_verified",
    "cloud_success",
    "console_not_served",
    "dashboard_accepts",
    "delivered",
    "fast_enough",
    "never_redirected",
    "no_debug_output",
    "not_a_development_server",
    "outcome_unknown",
    "secret_never_echoed",
    "secret_not_in_clear",
    "still_answers",
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


def _answer_text(response: Response) -> str:
    # The reason and the Location are the receiver's: written out inert here, as they go into skip reasons.
    text = printable(f"{response.status} {response.reason}".strip())
    location = response.header("Location")
    if 300 <= response.status < 400 and location:
        # Whole or not at all: a cut could end inside the secret, where masking no longer recognises it.
        shown = f"'{printable(location)}'" if len(location) <= 200 else f"a location of {len(location)} characters"
        text += f" to {shown}"
    return text


def status_text(exchange: Exchange) -> str:
    """The outcome of an exchange in a few words: ``403 Forbidden`` or ``no response: read-timeout (...)``.

    Redirects the harness followed come first: ``307 Temporary Redirect to '/webhook/', then 200 OK``.
    """
    hops = "".join(f"{_answer_text(hop.response)}, then " for hop in exchange.redirects)
    if exchange.response is None:
        assert exchange.error is not None
        return f"{hops}no response: {exchange.error.kind} ({printable(exchange.error.detail)})"
    response = exchange.response
    text = hops + _answer_text(response)
    if response.unreadable:
        text += f", whose body the Cloud's requests cannot decode ({response.unreadable})"
    elif response.truncated:
        text += f", with a body longer than the {MAX_KEPT_BODY:,} bytes the Cloud keeps (or one that never ends)"
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
    """The Cloud would record a success: a 2xx within the timeout, after the redirects it follows, whose
    whole body it can read, decode and keep."""
    __tracebackhide__ = True
    if cloud_success(exchange):
        return
    response = exchange.response
    hint = doctor.hint(exchange)
    if response is not None and 200 <= response.status < 300:
        if response.unreadable:
            hint = (
                "The Cloud's requests decodes the body by its Content-Encoding and fails the attempt when it cannot "
                "(ContentDecodingError): send the Content-Encoding the body really has, or none."
            )
        elif is_handshake(exchange.request):
            hint = (
                "The Cloud stores nothing of the handshake's answer, but within a bounded read a body this long "
                "cannot be told from one that never ends, which the dashboard would wait on: answer OK."
            )
        else:
            hint = (
                f"The Cloud reads the whole answer and keeps it in its attempt log, {MAX_KEPT_BODY:,} bytes at "
                "most: a longer or endless body never completes there. Answer with a short body such as OK."
            )
    raise CheckFailed("a 2xx status", status_text(exchange), exchange, hint)


def delivered(exchange: Exchange) -> None:
    """The event reached the receiver and the Cloud would record a success: :func:`answered_2xx`, and no
    redirect turned the POST into a GET without its body."""
    __tracebackhide__ = True
    answered_2xx(exchange)
    if not exchange.arrived_as_sent:
        raise CheckFailed(
            "a 2xx to the POST itself",
            f"{status_text(exchange)}: the Cloud follows a 301/302/303 as a GET without the body, so it records "
            "a success while the event never arrives",
            exchange,
            doctor.hint(exchange),
        )


#: A rejection of a wrong secret: 401, or 429 from a limiter on failed attempts (the Cloud never sends a
#: wrong secret, so it never meets the limiter; the harness sends many).
REJECTED = (401, 429)


def answered_401(exchange: Exchange) -> None:
    """The exchange got 401 Unauthorized (or 429 Too Many Requests, from a limiter of failed attempts)."""
    __tracebackhide__ = True
    if exchange.response is not None and exchange.response.status in REJECTED:
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
    """No delivery is redirected to another origin or turned into a GET: the Cloud follows redirects, taking
    the secret along, and a 301/302/303 loses the body. A 307/308 within the same origin is safe."""
    __tracebackhide__ = True
    for exchange in exchanges:
        # Deliveries only: a site may well redirect a GET of its pages (/console, BAD-2's GET) to a login.
        if exchange.request.method != "POST":
            continue
        elsewhere = exchange.redirect_elsewhere
        if elsewhere is not None:
            actual = f"{status_text(exchange)}: another origin, where the Cloud would send the secret too"
            raise CheckFailed("no redirect to another origin", actual, exchange, doctor.hint(exchange))
        if not exchange.arrived_as_sent:
            actual = f"{status_text(exchange)}: the Cloud would follow it as a GET without the body"
            raise CheckFailed("no redirect that drops the body", actual, exchange, doctor.hint(exchange))
        response = exchange.response
        if response is not None and 300 <= response.status < 400:
            raise CheckFailed("no redirect", status_text(exchange), exchange, doctor.hint(exchange))


def secret_never_echoed(exchanges: Iterable[Exchange], secret: Secret) -> None:
    """No response, status line, header or body, contains the secret in any case or spelling (hex, base64,
    escaped, ...: :data:`harness.config.secret.ENCODINGS`), or three quarters of it."""
    __tracebackhide__ = True
    if not secret:
        raise NotApplicable("no secret is configured, so there is none to leak")
    if len(secret) < MIN_JUDGED_LENGTH:
        raise NotApplicable(
            f"the secret is shorter than {MIN_JUDGED_LENGTH} characters and could appear in a response by "
            "chance; use a long random secret (the dashboard generates 30 characters)"
        )
    for exchange in exchanges:
        for response in _answers(exchange):
            _secret_not_in(response, exchange, secret)


def _answers(exchange: Exchange) -> list[Response]:
    """Every answer of an exchange: the redirects followed on the way, then the final one."""
    final = [] if exchange.response is None else [exchange.response]
    return [hop.response for hop in exchange.redirects] + final


def _secret_not_in(response: Response, exchange: Exchange, secret: Secret) -> None:
    __tracebackhide__ = True
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers)
    # Both decodings: a non-ASCII secret can come back as UTF-8 or as the Latin-1 bytes it was sent as.
    texts = [
        ("body", response.body.decode("utf-8", "replace")),
        ("body", response.body.decode("latin-1")),
        ("headers", headers),
        ("reason", response.reason),
    ]
    for where, text in texts:
        if (spelling := secret.spelling_in(text)) is not None:
            raise CheckFailed(
                "no response containing the secret",
                f"{spelling.described}, in the response {where} ({status_text(exchange)})",
                exchange,
                "Never echo the secret, nor the received header, in a response: the Cloud shows response "
                "bodies in its dashboard.",
            )


def answered_4xx(exchange: Exchange) -> None:
    """The exchange got a 4xx: the request was refused as the client's fault, without a crash or a 2xx."""
    __tracebackhide__ = True
    response = exchange.response
    if response is not None and 400 <= response.status < 500:
        return
    hint = doctor.hint(exchange)
    if response is not None and response.status >= 500:
        hint = (
            "The receiver crashed on input it should refuse: parse the body inside a try, check that event is a "
            "string and data an object, and answer 400."
        )
    elif response is not None and 200 <= response.status < 300:
        hint = "The receiver acknowledged a body that is not a delivery: check its shape and answer 400."
    raise CheckFailed("a 4xx status (400 for a malformed body)", status_text(exchange), exchange, hint)


def answered_one_of(exchange: Exchange, statuses: Sequence[int], hint: str) -> None:
    """The exchange got one of ``statuses`` (the first is the one to prefer)."""
    __tracebackhide__ = True
    if exchange.response is not None and exchange.response.status in statuses:
        return
    wanted = " or ".join(str(s) for s in statuses)
    status = exchange.response.status if exchange.response is not None else None
    shown = hint if status is not None and status < 500 else None
    if status == 501:
        shown = f"501 says the server lacks the method; for a method a URL refuses, HTTP's answer is 405. {hint}"
    elif status is not None and status >= 500:
        shown = f"A 5xx means the receiver crashed on this request. {hint}"
    raise CheckFailed(wanted, status_text(exchange), exchange, shown or doctor.hint(exchange))


def answered_alike(missing: Exchange, wrong: Exchange, missing_again: Exchange) -> None:
    """A missing and a wrong secret got the same status and, unless the body varies by itself, the same body."""
    __tracebackhide__ = True
    for exchange in (missing, wrong, missing_again):
        if exchange.response is None:
            raise NotApplicable(f"a request got no response ({status_text(exchange)}), so answers are not compared")
    assert missing.response is not None
    assert wrong.response is not None
    assert missing_again.response is not None
    hint = "Answer every authentication failure alike (401, one body), so a prober learns nothing from the answer."
    if missing.response.status != wrong.response.status:
        actual = f"{status_text(missing)} for a missing secret, {status_text(wrong)} for a wrong one"
        raise CheckFailed("the same status for a missing and a wrong secret", actual, wrong, hint)
    # A body with a request id or a time in it differs between any two answers: only a stable body is compared.
    stable = missing.response.body == missing_again.response.body
    if stable and missing.response.body != wrong.response.body:
        actual = f"different bodies ({len(missing.response.body)} and {len(wrong.response.body)} bytes)"
        raise CheckFailed("the same body for a missing and a wrong secret", actual, wrong, hint)


@dataclass(frozen=True)
class DebugMarker:
    """Text that only a stack trace or a debug page contains, and which stack or framework shows it."""

    pattern: re.Pattern[str]
    what: str


DEBUG_MARKERS: tuple[DebugMarker, ...] = tuple(
    DebugMarker(re.compile(pattern), what)
    for pattern, what in (
        # The debugger first: its pages hold a traceback too, and the debugger is the worse finding.
        (r"Werkzeug Debugger|__debugger__|The debugger caught an exception", "the Werkzeug debugger"),
        (r"Traceback \(most recent call last\)", "a Python traceback"),
        (r'File "[^"\n]+\.py", line \d+', "a Python stack frame"),
        (r"DEBUG = True", "Django's debug page"),
        (r"\n\s+at [^\n]*\((?:/|[A-Za-z]:\\|node:)[^)\n]+:\d+:\d+\)", "a Node.js stack trace"),
        (r"\n\s*at [\w$.]+\([\w$]+\.(?:java|kt):\d+\)", "a Java stack trace"),
        (r"goroutine \d+ \[running\]", "a Go panic"),
        (r"Stack trace:\s*\n#0 |Whoops! There was an error", "a PHP stack trace"),
        (r"Server Error in '[^']*' Application", "an ASP.NET error page"),
        (r"Action Controller: Exception caught", "the Rails debug page"),
    )
)

#: What a request for the Werkzeug debugger's console gets when the console is served.
CONSOLE_MARKERS = ("Interactive Console", "__debugger__", "Werkzeug Debugger", "CONSOLE_MODE = true")


def _readable_forms(text: str) -> list[str]:
    """The body, and the body as a reader sees it: HTML unescaped (Express writes ``<br> &nbsp;at``), and JSON
    string escapes undone (a trace inside ``{"trace": "...\\n\\tat ..."}``)."""
    html_text = html.unescape(re.sub(r"<br\s*/?>", "\n", text, flags=re.IGNORECASE)).replace("\xa0", " ")
    json_text = text.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"')
    return [text, html_text, json_text]


def _debug_output(text: str) -> str | None:
    for form in _readable_forms(text):
        found = next((marker.what for marker in DEBUG_MARKERS if marker.pattern.search(form)), None)
        if found is not None:
            return found
    return None


def no_debug_output(exchanges: Iterable[Exchange]) -> None:
    """No response shows a stack trace, a framework's debug page or its debugger."""
    __tracebackhide__ = True
    for exchange, response in ((e, r) for e in exchanges for r in _answers(e)):
        found = _debug_output(response.body.decode("utf-8", "replace"))
        if found is not None:
            raise CheckFailed(
                "no stack trace or debug page in any response",
                f"{found} in the answer to {exchange.request.description} ({status_text(exchange)})",
                exchange,
                "The receiver runs in debug mode: it shows its code and, with Werkzeug's debugger, lets anyone "
                "who reaches it run code. Turn debug off and serve with a production server.",
            )


def console_not_served(exchange: Exchange) -> None:
    """A GET of /console did not get the Werkzeug debugger's interactive console."""
    __tracebackhide__ = True
    response = exchange.response
    if response is None or not 200 <= response.status < 300:
        return
    text = response.body.decode("utf-8", "replace")
    if any(marker in text for marker in CONSOLE_MARKERS):
        raise CheckFailed(
            "no interactive debugger console",
            f"the Werkzeug debugger's console ({status_text(exchange)})",
            exchange,
            "Flask's debug=True serves a Python console at /console: anyone who reaches it (or guesses its PIN) "
            "runs code on the server. Never run with debug=True outside your own machine.",
        )


def certificate_verified(error: str | None) -> None:
    """The target's TLS certificate verified against the trusted CAs (``error`` says why it did not)."""
    __tracebackhide__ = True
    if error is None:
        return
    raise CheckFailed(
        "a certificate the Cloud can verify",
        error,
        None,
        "The Cloud verifies certificates against the public CAs and fails every delivery otherwise: serve a "
        "certificate from a public CA with its full chain, for the URL's exact host name (a certificate that "
        "verifies only with --webhook-ca-bundle is one the Cloud cannot verify).",
    )


#: DLV-7's bound: well inside the Cloud's 5 s, so a receiver has headroom when its host is busy.
LATENCY_P95_LIMIT = 1.0


def fast_enough(exchanges: Sequence[Exchange]) -> None:
    """The 95th percentile of the exchanges' latencies is under :data:`LATENCY_P95_LIMIT`."""
    __tracebackhide__ = True
    from harness.sending.load import (
        Latency,  # harness.sending.load sends through the transport; checks stay import-light
    )

    latency = Latency.of([e.elapsed for e in exchanges])
    if latency is None:
        raise NotApplicable("no delivery was made, so there is no latency to judge")
    if latency.p95 < LATENCY_P95_LIMIT:
        return
    raise CheckFailed(
        f"a p95 latency under {LATENCY_P95_LIMIT:g} s",
        latency.describe(),
        max(exchanges, key=lambda e: e.elapsed),  # the slowest, to reproduce
        "Answer first, work later: store the event and return 200, then process it in the background.",
    )


def not_a_development_server(exchanges: Iterable[Exchange]) -> None:
    """INFO: no response names Werkzeug's development server in its Server header."""
    __tracebackhide__ = True
    for exchange in exchanges:
        server = exchange.response.header("Server") if exchange.response is not None else None
        if server and "werkzeug" in server.lower():
            raise CheckFailed(
                "a production server",
                f"the Server header {server[:80]!r}: Werkzeug's development server",
                exchange,
                "Werkzeug's server is for development: serve the app with waitress or gunicorn in production.",
            )


def _on_this_machine(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret_not_in_clear(url: str) -> None:
    """INFO: the target is https, or on this machine, so the secret does not cross a network in clear."""
    __tracebackhide__ = True
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or _on_this_machine(parts.hostname or ""):
        return
    raise CheckFailed(
        "an https URL",
        f"http://{parts.hostname}: the Cloud accepts http endpoints, but the secret and every payload would "
        "cross the network in clear",
        None,
        "Put the receiver behind https (a reverse proxy with a Let's Encrypt certificate will do).",
    )


def sends_in_clear(url: str) -> bool:
    """Would a delivery to ``url`` cross a network unencrypted (http to another machine)?"""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme == "http" and not _on_this_machine(parts.hostname or "")


def dashboard_accepts(url: str) -> None:
    """The dashboard can save ``url`` wherever the receiver runs: http or https, a host, no query string.

    Rules about the host (loopback, private addresses, ``localhost``) depend on where the test runs: those
    stay warnings in the header, since the URL checked is often not the one registered.
    """
    __tracebackhide__ = True
    found = unsaveable(url)
    if not found:
        return
    raise CheckFailed(
        "a URL the dashboard accepts",
        "; ".join(found),
        None,
        "The dashboard refuses this URL when the webhook is saved, so it can never be activated: put what the "
        "query carries into the path (or rely on X-Webhook-Secret), and use an http:// or https:// URL.",
    )


def still_answers(exchange: Exchange, earlier_handshakes: Sequence[Exchange], history: Sequence[Exchange]) -> None:
    """The receiver still answers Webhook Validate with a 2xx, as it answered ``earlier_handshakes``; if not, name
    the request of ``history`` after which it stopped."""
    __tracebackhide__ = True
    if cloud_success(exchange):
        return
    if not earlier_handshakes or not all(cloud_success(e) for e in earlier_handshakes):
        raise NotApplicable(
            "an earlier Webhook Validate already got no 2xx (see HS-1, HS-2 and LIVE-1), so there is no answer "
            "left to lose"
        )
    culprit = _last_answered_before_silence(history)
    where = f" It stopped answering after {culprit}." if culprit else ""
    raise CheckFailed(
        "a 2xx to Webhook Validate, as at the start of the run",
        status_text(exchange) + ("" if not culprit else f"; it stopped answering after {culprit}"),
        exchange,
        "The receiver stopped working during the run: a request crashed its process or wedged it, and the Cloud "
        f"would fail every delivery from then on.{where} Catch errors per request (the server must outlive any "
        "body) and run it under a supervisor that restarts it.",
    )


def _last_answered_before_silence(history: Sequence[Exchange]) -> str | None:
    """The description of the request after which every exchange went unanswered, or None."""
    silent_from = len(history)
    while silent_from > 0 and history[silent_from - 1].response is None:
        silent_from -= 1
    if silent_from == len(history) or silent_from == 0:
        return None
    last = history[silent_from - 1]
    first_silent = history[silent_from]
    # A request the receiver died on may still have been half-answered; one it never saw gets "connect".
    culprit = last if first_silent.error is not None and first_silent.error.kind == "connect" else first_silent
    return culprit.request.description
