"""The new checks' judgement on hand-made exchanges: what passes, what fails, with which words."""

from __future__ import annotations

import pytest

from harness.config.secret import Secret
from harness.judging import checks
from harness.payloads.badinput import BODY_CASES, OVERSIZE_BYTES, oversize_request
from harness.payloads.deliveries import console_request
from harness.wire.transport import Exchange, Hop, Request, Response, TransportError

URL = "http://127.0.0.1:9/webhook"


def answer(status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> Exchange:
    return Exchange(Request(URL, b"{}", "a request"), Response(status, "", headers, body), None, 0.01)


# One page per marker of checks.DEBUG_MARKERS, as the stack or framework writes it.
DEBUG_PAGES = {
    "the Werkzeug debugger": b"<title>KeyError // Werkzeug Debugger</title>",
    "a Python traceback": b"Traceback (most recent call last):\n  oops",
    "a Python stack frame": b'error at File "/srv/app.py", line 12, in view',
    "Django's debug page": b"You're seeing this error because you have <code>DEBUG = True</code>",
    "a Node.js stack trace": b"TypeError: x\n    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)",
    "a Java stack trace": b"java.lang.NullPointerException\n\tat com.example.Hook.handle(Hook.java:42)",
    "a Go panic": b"panic: runtime error\n\ngoroutine 1 [running]:\nmain.main()",
    "a PHP stack trace": b"Fatal error: Uncaught Exception\nStack trace:\n#0 /var/www/hook.php(3)",
    "an ASP.NET error page": b"<h1>Server Error in '/' Application.</h1>",
    "the Rails debug page": b"<h1>Action Controller: Exception caught</h1>",
}


def test_every_debug_marker_has_a_page() -> None:
    assert {marker.what for marker in checks.DEBUG_MARKERS} == set(DEBUG_PAGES)


@pytest.mark.parametrize(("what", "page"), DEBUG_PAGES.items(), ids=list(DEBUG_PAGES))
def test_debug_page_is_found_and_named(what: str, page: bytes) -> None:
    with pytest.raises(checks.CheckFailed, match=what):
        checks.no_debug_output([answer(200), answer(500, page)])


@pytest.mark.parametrize(
    "body",
    [
        b"OK",
        b'{"error": "invalid JSON", "detail": "Expecting value: line 1 column 1 (char 0)"}',
        b'{"detail": [{"loc": ["body"], "msg": "field required", "type": "value_error.missing"}]}',
        b"<html><body><h1>500 Internal Server Error</h1></body></html>",
        b"at least one event is required (see docs at https://example.com/hooks:8080)",
    ],
)
def test_ordinary_error_bodies_are_not_debug_pages(body: bytes) -> None:
    checks.no_debug_output([answer(400, body), answer(500, body)])


def test_console_is_found_only_when_served() -> None:
    console = b"<title>Console // Werkzeug Debugger</title><script>var CONSOLE_MODE = true"
    with pytest.raises(checks.CheckFailed, match="console"):
        checks.console_not_served(answer(200, console))
    checks.console_not_served(answer(404, b"Not Found"))
    checks.console_not_served(answer(400, console))  # not served: refused
    assert console_request(URL + "?x=1").url == "http://127.0.0.1:9/console"


def test_missing_and_wrong_secret_must_answer_alike() -> None:
    checks.answered_alike(answer(401, b"no"), answer(401, b"no"), answer(401, b"no"))
    with pytest.raises(checks.CheckFailed, match="same status"):
        checks.answered_alike(answer(401), answer(403), answer(401))
    with pytest.raises(checks.CheckFailed, match="same body"):
        checks.answered_alike(answer(401, b"missing"), answer(401, b"wrong"), answer(401, b"missing"))
    # A body that differs by itself (a request id) is not compared: only the status is.
    checks.answered_alike(answer(401, b"id 1"), answer(401, b"id 2"), answer(401, b"id 3"))


def test_a_4xx_is_required_for_bad_bodies() -> None:
    checks.answered_4xx(answer(422))
    for status, words in ((500, "crashed"), (200, "acknowledged a body that is not a delivery")):
        with pytest.raises(checks.CheckFailed) as failed:
            checks.answered_4xx(answer(status))
        assert words in str(failed.value.hint)


def test_one_of_names_a_crash() -> None:
    checks.answered_one_of(answer(431), (401, 400, 431), "hint")
    with pytest.raises(checks.CheckFailed, match="401 or 400 or 431") as failed:
        checks.answered_one_of(answer(500), (401, 400, 431), "Compare bytes.")
    assert str(failed.value.hint).startswith("A 5xx means the receiver crashed")


def test_latency_fails_on_the_95th_percentile_and_shows_the_slowest() -> None:
    def timed(seconds: float) -> Exchange:
        return Exchange(Request(URL, b"{}", "d"), Response(200, "", (), b""), None, seconds)

    checks.fast_enough([timed(0.01)] * 19 + [timed(3.0)])  # one slow in 20: p95 is still fast
    with pytest.raises(checks.CheckFailed) as failed:
        checks.fast_enough([timed(0.01)] * 18 + [timed(1.5), timed(3.0)])
    assert failed.value.exchange is not None
    assert failed.value.exchange.elapsed == 3.0
    with pytest.raises(checks.NotApplicable):
        checks.fast_enough([])


@pytest.mark.parametrize(
    ("url", "in_clear"),
    [
        ("http://example.com/webhook", True),
        ("http://10.0.0.5:8000/webhook", True),
        ("https://example.com/webhook", False),
        ("http://127.0.0.1:8000/webhook", False),
        ("http://127.8.9.10/webhook", False),
        ("http://localhost:8000/webhook", False),
        ("http://hooks.localhost/webhook", False),
        ("http://[::1]:8000/webhook", False),
    ],
)
def test_secret_in_clear_only_over_http_to_another_machine(url: str, in_clear: bool) -> None:
    assert checks.sends_in_clear(url) is in_clear
    if in_clear:
        with pytest.raises(checks.CheckFailed, match="the Cloud accepts http endpoints"):
            checks.secret_not_in_clear(url)
    else:
        checks.secret_not_in_clear(url)


def test_werkzeug_server_header_is_noted() -> None:
    checks.not_a_development_server([answer(200, headers=(("Server", "waitress"),))])
    with pytest.raises(checks.CheckFailed, match="Werkzeug's development server"):
        checks.not_a_development_server([answer(200, headers=(("Server", "Werkzeug/3.1.9 Python/3.11.7"),))])


def test_bad_input_cases_are_named_once_and_carry_the_right_secret() -> None:
    names = [case.name for case in BODY_CASES]
    assert len(names) == len(set(names))
    secret = Secret("a-secret-of-thirty-characters!")
    assert all(case.request(URL, secret).secret == secret for case in BODY_CASES)
    big = oversize_request(URL, secret)
    assert len(big.body) == OVERSIZE_BYTES
    assert big.body.startswith(b'{"event": "Webhook Validate", "data": {"padding": "xxx')
    assert big.body.endswith(b'xxx"}}')


# --- answers as the Cloud's requests ends them -------------------------------------------------------------


def with_response(status: int, **response: object) -> Exchange:
    return Exchange(Request(URL, b"{}", "a request"), Response(status, "", (), b"OK", **response), None, 0.01)  # type: ignore[arg-type]


def test_answered_2xx_passes_a_2xx_and_names_what_else_came() -> None:
    checks.answered_2xx(with_response(204))
    with pytest.raises(checks.CheckFailed) as failed:
        checks.answered_2xx(with_response(500))
    assert failed.value.actual == "500"
    assert "5xx counts toward the Cloud disabling" in (failed.value.hint or "")


def test_answered_2xx_fails_a_body_the_clouds_requests_cannot_decode() -> None:
    with pytest.raises(checks.CheckFailed) as failed:
        checks.answered_2xx(with_response(200, unreadable="ContentDecodingError: incorrect header check"))
    assert "cannot decode" in failed.value.actual
    assert "Content-Encoding" in (failed.value.hint or "")


def test_answered_2xx_fails_a_body_longer_than_the_cloud_keeps() -> None:
    with pytest.raises(checks.CheckFailed) as failed:
        checks.answered_2xx(with_response(200, truncated=True))
    assert "65,535 bytes the Cloud keeps" in failed.value.actual


def hop(status: int, location: str = "/webhook/v2") -> Hop:
    return Hop(Response(status, "", (("Location", location),), b""), URL + "/v2")


def test_delivered_passes_a_same_origin_307_and_fails_a_302_that_lost_the_body() -> None:
    followed = Exchange(Request(URL, b"{}", "d"), Response(200, "", (), b"OK"), None, 0.01, (hop(307),))
    checks.delivered(followed)
    lost = Exchange(Request(URL, b"{}", "d"), Response(200, "", (), b"OK"), None, 0.01, (hop(302),))
    checks.answered_2xx(lost)  # what the Cloud records...
    with pytest.raises(checks.CheckFailed) as failed:
        checks.delivered(lost)  # ...while the event never arrives
    assert "GET without the body" in failed.value.actual


def test_never_redirected_allows_a_307_within_the_origin_only() -> None:
    ok = Exchange(Request(URL, b"{}", "d"), Response(200, "", (), b"OK"), None, 0.01, (hop(307),))
    checks.never_redirected([ok])
    elsewhere = answer(307, headers=(("Location", "http://localhost:9/webhook"),))
    with pytest.raises(checks.CheckFailed, match="another origin"):
        checks.never_redirected([elsewhere])
    lost = Exchange(Request(URL, b"{}", "d"), Response(405, "", (), b""), None, 0.01, (hop(301),))
    with pytest.raises(checks.CheckFailed, match="drops the body"):
        checks.never_redirected([lost])
    with pytest.raises(checks.CheckFailed, match="no redirect"):
        checks.never_redirected([answer(300)])


def test_secret_never_echoed_reads_the_redirects_on_the_way_too() -> None:
    secret = Secret("s3cret-value-of-thirty-chars-xx")
    leaky = Hop(Response(307, "", (("Location", f"/webhook?echo={secret.reveal()}"),), b""), URL)
    exchange = Exchange(Request(URL, b"{}", "d"), Response(200, "", (), b"OK"), None, 0.01, (leaky,))
    with pytest.raises(checks.CheckFailed, match="headers"):
        checks.secret_never_echoed([exchange], secret)


def test_dashboard_accepts_fails_a_query_string_and_leaves_the_host_alone() -> None:
    checks.dashboard_accepts("http://127.0.0.1:8000/webhook")
    checks.dashboard_accepts("http://localhost:8000/webhook")  # a warning in the header, not a failure
    with pytest.raises(checks.CheckFailed, match="query string"):
        checks.dashboard_accepts("https://hooks.example.com/webhook?token=abc")
    with pytest.raises(checks.CheckFailed, match="scheme"):
        checks.dashboard_accepts("ftp://hooks.example.com/webhook")


def test_still_answers_names_the_request_after_which_the_receiver_died() -> None:
    def silent(description: str, kind: str) -> Exchange:
        return Exchange(Request(URL, b"{}", description), None, TransportError(kind, "x"), 0.01)

    history = [answer(200), answer(400), silent("the JSON literal null", "protocol"), silent("next", "connect")]
    gone = silent("a handshake", "connect")
    with pytest.raises(checks.CheckFailed) as failed:
        checks.still_answers(gone, [answer(200)], [*history, gone])
    assert "It stopped answering after the JSON literal null." in (failed.value.hint or "")
    checks.still_answers(answer(200), [answer(200)], history)


def test_still_answers_is_not_judged_when_the_handshake_never_worked() -> None:
    with pytest.raises(checks.NotApplicable):
        checks.still_answers(answer(500), [answer(500)], [answer(500)])
