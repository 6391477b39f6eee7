"""The checks' judgement on hand-made exchanges: what passes, what fails, with which words.

Every check gets at least one exchange it passes and one it fails, and the failure's structured fields
(``expected``, ``actual``, ``hint``, the exchange it carries) are asserted, not only its message.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable

import pytest

from harness.config.secret import MIN_JUDGED_LENGTH, Secret
from harness.judging import checks, doctor
from harness.payloads.badinput import BODY_CASES, OVERSIZE_BYTES, oversize_request
from harness.payloads.dashboard_url import unsaveable
from harness.payloads.deliveries import HANDSHAKE, console_request
from harness.wire.transport import Exchange, Hop, Request, Response, TransportError

URL = "http://127.0.0.1:9/webhook"
ELSEWHERE = "https://login.example.com/sso"
SECRET = Secret("s3cret-value-of-thirty-chars-xx")

Headers = tuple[tuple[str, str], ...]


def answer(status: int, body: bytes = b"", headers: Headers = ()) -> Exchange:
    return Exchange(Request(URL, b"{}", "a request"), Response(status, "", headers, body), None, 0.01)


def exchange(
    status: int | None = 200,
    body: bytes = b"OK",
    headers: Headers = (),
    *,
    reason: str = "",
    hops: tuple[Hop, ...] = (),
    error: TransportError | None = None,
    request: Request | None = None,
    elapsed: float = 0.01,
    truncated: bool = False,
    unreadable: str | None = None,
    description: str = "a request",
    method: str = "POST",
) -> Exchange:
    """An exchange as the transport returns it: ``status`` None is no response, with ``error`` (default connect)."""
    request = request or Request(URL, b"{}", description, method=method)
    if status is None:
        return Exchange(request, None, error or TransportError("connect", "refused"), elapsed, hops)
    response = Response(status, reason, headers, body, truncated=truncated, unreadable=unreadable)
    return Exchange(request, response, None, elapsed, hops)


def silent(description: str, kind: str) -> Exchange:
    return Exchange(Request(URL, b"{}", description), None, TransportError(kind, "x"), 0.01)


def failure(check: Callable[..., None], *args: object) -> checks.CheckFailed:
    """The CheckFailed ``check(*args)`` raises."""
    with pytest.raises(checks.CheckFailed) as failed:
        check(*args)
    return failed.value


def hop(status: int, location: str = "/webhook/v2") -> Hop:
    return Hop(Response(status, "", (("Location", location),), b""), URL + "/v2")


# --- what the Cloud records --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_cloud_success_is_any_2xx(status: int) -> None:
    assert checks.cloud_success(exchange(status))


@pytest.mark.parametrize("status", [100, 199, 300, 301, 307, 400, 401, 404, 500, 503])
def test_cloud_success_is_nothing_else(status: int) -> None:
    assert not checks.cloud_success(exchange(status))


def test_cloud_success_needs_an_answer_it_can_decode_and_keep() -> None:
    assert not checks.cloud_success(exchange(None, error=TransportError("read-timeout", "5 s")))
    assert not checks.cloud_success(exchange(200, unreadable="ContentDecodingError"))
    assert not checks.cloud_success(exchange(200, unreadable="ContentDecodingError"), stored=False)
    # A body longer than the attempt log keeps fails only an answer that is stored.
    assert not checks.cloud_success(exchange(200, truncated=True))
    assert checks.cloud_success(exchange(200, truncated=True), stored=False)


def test_outcome_unknown_is_a_deadline_or_a_redirect_elsewhere() -> None:
    assert checks.outcome_unknown(exchange(None, error=TransportError("deadline", "10 s")))
    assert checks.outcome_unknown(exchange(307, headers=(("Location", ELSEWHERE),)))
    assert checks.outcome_unknown(exchange(302, headers=(("Location", "http://127.0.0.1:10/webhook"),)))  # port
    assert checks.outcome_unknown(exchange(308, headers=(("Location", "https://127.0.0.1:9/webhook"),)))  # scheme
    # The Location is resolved against the last hop followed, as the Cloud's requests resolves it.
    assert checks.outcome_unknown(exchange(307, headers=(("Location", "//other.example.com/x"),), hops=(hop(307),)))


@pytest.mark.parametrize(
    "outcome",
    [
        exchange(200),
        exchange(500),
        exchange(None, error=TransportError("read-timeout", "5 s")),
        exchange(None, error=TransportError("connect", "refused")),
        exchange(307, headers=(("Location", "/webhook/v2"),)),  # same origin: what the Cloud gets, the harness gets
        exchange(307),  # no Location at all: requests does not follow it either
        exchange(200, headers=(("Location", ELSEWHERE),)),  # a Location on a 2xx is no redirect
    ],
    ids=["200", "500", "read-timeout", "connect", "same-origin-307", "no-location", "2xx-with-location"],
)
def test_outcome_is_known_otherwise(outcome: Exchange) -> None:
    assert not checks.outcome_unknown(outcome)


def test_outcome_unknown_keeps_the_default_port_equal_to_none() -> None:
    request = Request("https://hooks.example.com/webhook", b"{}", "d")
    same = Exchange(request, Response(307, "", (("Location", "https://HOOKS.example.com:443/v2"),), b""), None, 0.1)
    assert not checks.outcome_unknown(same)


def test_status_text_lists_the_redirects_then_the_answer() -> None:
    followed = exchange(
        200, reason="OK", hops=(Hop(Response(307, "Temporary Redirect", (("Location", "/w/"),), b""), URL),)
    )
    assert checks.status_text(followed) == "307 Temporary Redirect to '/w/', then 200 OK"
    assert checks.status_text(exchange(None, error=TransportError("read-timeout", "5 s"))) == (
        "no response: read-timeout (5 s)"
    )
    assert checks.status_text(exchange(500, reason="")) == "500"


def test_status_text_never_cuts_a_long_location() -> None:
    # A cut could end inside the secret, where masking no longer recognises it: whole, or only its length.
    location = "/login?next=" + "x" * 300
    text = checks.status_text(exchange(302, reason="Found", headers=(("Location", location),)))
    assert text == f"302 Found to a location of {len(location)} characters"
    assert "xxx" not in text


def test_status_text_names_an_unreadable_or_endless_body() -> None:
    assert checks.status_text(exchange(200, reason="OK", unreadable="bad gzip")) == (
        "200 OK, whose body the Cloud's requests cannot decode (bad gzip)"
    )
    assert "longer than the 65,535 bytes the Cloud keeps" in checks.status_text(exchange(200, truncated=True))


# --- answered_2xx ------------------------------------------------------------------------------------------


def with_response(status: int, **response: object) -> Exchange:
    return Exchange(Request(URL, b"{}", "a request"), Response(status, "", (), b"OK", **response), None, 0.01)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_answered_2xx_passes_any_2xx(status: int) -> None:
    checks.answered_2xx(exchange(status))


def test_answered_2xx_passes_after_a_same_origin_redirect_the_cloud_follows_too() -> None:
    checks.answered_2xx(exchange(200, hops=(hop(308),)))


def test_answered_2xx_passes_a_2xx_and_names_what_else_came() -> None:
    checks.answered_2xx(with_response(204))
    crashed = with_response(500)
    failed = failure(checks.answered_2xx, crashed)
    assert failed.expected == "a 2xx status"
    assert failed.actual == "500"
    assert failed.exchange is crashed
    assert failed.hint == doctor.hint(crashed)
    assert "5xx counts toward the Cloud disabling" in (failed.hint or "")


@pytest.mark.parametrize(
    ("status", "words"),
    [(404, "check the URL's path"), (405, "does not accept POST"), (415, "Content-Type: application/json")],
)
def test_answered_2xx_hints_the_cause_of_a_refusal(status: int, words: str) -> None:
    failed = failure(checks.answered_2xx, exchange(status, reason="Refused"))
    assert failed.actual == f"{status} Refused"
    assert words in (failed.hint or "")


def test_answered_2xx_fails_no_answer_with_the_transport_hint() -> None:
    timed_out = exchange(None, error=TransportError("read-timeout", "read timed out after 5 s"))
    failed = failure(checks.answered_2xx, timed_out)
    assert failed.actual == "no response: read-timeout (read timed out after 5 s)"
    assert failed.exchange is timed_out
    assert failed.hint == doctor.TRANSPORT_HINTS["read-timeout"]


def test_answered_2xx_fails_a_body_the_clouds_requests_cannot_decode() -> None:
    failed = failure(checks.answered_2xx, with_response(200, unreadable="ContentDecodingError: incorrect header check"))
    assert "cannot decode" in failed.actual
    assert "Content-Encoding" in (failed.hint or "")


def test_answered_2xx_names_an_undecodable_body_before_a_long_one() -> None:
    failed = failure(checks.answered_2xx, with_response(200, unreadable="bad", truncated=True))
    assert "cannot decode (bad)" in failed.actual
    assert "ContentDecodingError" in (failed.hint or "")


def test_answered_2xx_fails_a_body_longer_than_the_cloud_keeps() -> None:
    failed = failure(checks.answered_2xx, with_response(200, truncated=True))
    assert "65,535 bytes the Cloud keeps" in failed.actual
    assert "keeps it in its attempt log, 65,535 bytes at most" in (failed.hint or "")


def test_answered_2xx_explains_a_long_handshake_answer_apart() -> None:
    # The Cloud stores nothing of the handshake's answer: the reason to fail it is the endless body.
    handshake = Request(URL, HANDSHAKE, "'Webhook Validate' with the right secret")
    long_answer = Exchange(handshake, Response(200, "OK", (), b"x", truncated=True), None, 0.01)
    failed = failure(checks.answered_2xx, long_answer)
    assert "cannot be told from one that never ends" in (failed.hint or "")
    assert "attempt log" not in (failed.hint or "")


def test_answered_2xx_fails_a_redirect_to_another_origin_with_its_location() -> None:
    away = exchange(307, reason="Temporary Redirect", headers=(("Location", ELSEWHERE),))
    failed = failure(checks.answered_2xx, away)
    assert failed.actual == f"307 Temporary Redirect to {ELSEWHERE!r}"
    assert "leads to another origin" in (failed.hint or "")


# --- delivered ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [307, 308])
def test_delivered_passes_a_same_origin_redirect_that_keeps_the_body(status: int) -> None:
    checks.delivered(exchange(200, hops=(hop(status),)))


def test_delivered_passes_a_302_that_lost_the_body_after_all() -> None:
    followed = Exchange(Request(URL, b"{}", "d"), Response(200, "", (), b"OK"), None, 0.01, (hop(307),))
    checks.delivered(followed)
    lost = Exchange(Request(URL, b"{}", "d"), Response(200, "", (), b"OK"), None, 0.01, (hop(302),))
    checks.answered_2xx(lost)  # what the Cloud records...
    with pytest.raises(checks.CheckFailed) as failed:
        checks.delivered(lost)  # ...while the event never arrives
    assert "GET without the body" in failed.value.actual


@pytest.mark.parametrize("status", [301, 302, 303])
def test_delivered_fails_a_redirect_that_turned_the_post_into_a_get(status: int) -> None:
    lost = exchange(200, reason="OK", hops=(hop(status),))
    failed = failure(checks.delivered, lost)
    assert failed.expected == "a 2xx to the POST itself"
    assert failed.actual.startswith(f"{status} to '/webhook/v2', then 200 OK: the Cloud follows a 301/302/303 as a GET")
    assert "the event never arrives" in failed.actual
    assert failed.exchange is lost
    assert failed.hint == doctor.STATUS_HINTS[0][2]


def test_delivered_fails_a_body_lost_in_the_middle_of_a_chain() -> None:
    failed = failure(checks.delivered, exchange(200, hops=(hop(307), hop(301, "/webhook/v3"), hop(308))))
    assert failed.expected == "a 2xx to the POST itself"


def test_delivered_judges_the_status_first() -> None:
    failed = failure(checks.delivered, exchange(404, hops=(hop(302),)))
    assert failed.expected == "a 2xx status"
    # The GET's 404 is the 302's fault: the hint names the redirect.
    assert failed.hint == doctor.STATUS_HINTS[0][2]


# --- answered_401 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 429])
def test_answered_401_passes_401_and_a_limiter_429(status: int) -> None:
    checks.answered_401(exchange(status, b"Unauthorized"))


ACCEPTED_WRONG = (
    "The receiver accepted a wrong secret: compare the whole header value with the secret, in constant time."
)


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (200, ACCEPTED_WRONG),
        (204, ACCEPTED_WRONG),
        (403, "Answer 401 Unauthorized for a missing or wrong secret, not 403."),
        (400, "Answer 401 Unauthorized for a missing or wrong secret."),
        (404, "Answer 401 Unauthorized for a missing or wrong secret."),
    ],
)
def test_answered_401_fails_anything_else_with_a_hint_for_its_status(status: int, hint: str) -> None:
    accepted = exchange(status, reason="Reason")
    failed = failure(checks.answered_401, accepted)
    assert failed.expected == "401 Unauthorized"
    assert failed.actual == f"{status} Reason"
    assert failed.exchange is accepted
    assert failed.hint == hint


@pytest.mark.parametrize("status", [500, 502, 503])
def test_answered_401_names_a_crash_on_a_wrong_secret(status: int) -> None:
    failed = failure(checks.answered_401, exchange(status))
    assert "hmac.compare_digest" in (failed.hint or "")


def test_answered_401_leaves_redirects_and_silence_to_the_doctor() -> None:
    away = exchange(302, headers=(("Location", ELSEWHERE),))
    assert failure(checks.answered_401, away).hint == doctor.hint(away)
    assert "follows a 301/302/303 as a GET" in (failure(checks.answered_401, away).hint or "")
    gone = exchange(None, error=TransportError("read-timeout", "5 s"))
    failed = failure(checks.answered_401, gone)
    assert failed.actual == "no response: read-timeout (5 s)"
    assert failed.hint == doctor.TRANSPORT_HINTS["read-timeout"]


# --- answered_ok_body --------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"OK", b"OK\n", b"  OK\r\n", b"\tOK "])
def test_answered_ok_body_passes_ok_whitespace_aside(body: bytes) -> None:
    checks.answered_ok_body(exchange(200, body))


@pytest.mark.parametrize("body", [b"ok", b"Ok", b'"OK"', b'{"status": "OK"}', b"OK!", b"", b"O K"])
def test_answered_ok_body_fails_any_other_body(body: bytes) -> None:
    other = exchange(200, body)
    failed = failure(checks.answered_ok_body, other)
    assert failed.expected == "the body OK"
    assert failed.actual == f"200 with a body of {len(body)} bytes"
    assert failed.exchange is other
    assert failed.hint is not None
    assert failed.hint.startswith("The Cloud accepts any 2xx, but its documentation answers 'OK'")


def test_answered_ok_body_says_a_204_cannot_carry_one() -> None:
    failed = failure(checks.answered_ok_body, exchange(204, b""))
    assert failed.actual == "204 with a body of 0 bytes"
    assert failed.hint == "A 204 cannot carry a body: answer 200 with the body OK (the Cloud accepts either)."


@pytest.mark.parametrize(
    "outcome",
    [exchange(500, b"OK"), exchange(401, b"OK"), exchange(302, b"OK"), exchange(None)],
    ids=["500", "401", "302", "no-response"],
)
def test_answered_ok_body_does_not_judge_an_answer_that_is_no_2xx(outcome: Exchange) -> None:
    with pytest.raises(checks.NotApplicable, match="did not get a 2xx") as skipped:
        checks.answered_ok_body(outcome)
    assert checks.status_text(outcome) in str(skipped.value)


# --- never_redirected --------------------------------------------------------------------------------------


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


def test_never_redirected_passes_no_exchanges_and_plain_answers() -> None:
    checks.never_redirected([])
    checks.never_redirected(
        [exchange(200), exchange(401), exchange(500), exchange(None), exchange(200, hops=(hop(308),))]
    )


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_never_redirected_fails_any_redirect_to_another_origin(status: int) -> None:
    away = exchange(status, reason="Moved", headers=(("Location", ELSEWHERE),))
    failed = failure(checks.never_redirected, [exchange(200), away])
    assert failed.expected == "no redirect to another origin"
    assert (
        failed.actual == f"{status} Moved to {ELSEWHERE!r}: another origin, where the Cloud would send the secret too"
    )
    assert failed.exchange is away
    assert failed.hint == doctor.hint(away)


def test_never_redirected_resolves_the_location_against_the_last_hop() -> None:
    # Followed within the origin, then sent away by a scheme-relative Location.
    away = exchange(308, headers=(("Location", "//evil.example.net/hook"),), hops=(hop(307),))
    failed = failure(checks.never_redirected, [away])
    assert failed.expected == "no redirect to another origin"
    assert failed.actual.startswith("307 to '/webhook/v2', then 308 to '//evil.example.net/hook'")


@pytest.mark.parametrize("status", [301, 302, 303])
def test_never_redirected_fails_a_same_origin_redirect_that_drops_the_body(status: int) -> None:
    lost = exchange(200, reason="OK", hops=(hop(status),))
    failed = failure(checks.never_redirected, [lost])
    assert failed.expected == "no redirect that drops the body"
    assert (
        failed.actual == f"{status} to '/webhook/v2', then 200 OK: the Cloud would follow it as a GET without the body"
    )
    assert failed.exchange is lost
    assert failed.hint == doctor.STATUS_HINTS[0][2]


@pytest.mark.parametrize("status", [300, 304, 305, 399])
def test_never_redirected_fails_a_3xx_that_was_not_followed(status: int) -> None:
    unfollowed = exchange(status, b"")
    failed = failure(checks.never_redirected, [unfollowed])
    assert failed.expected == "no redirect"
    assert failed.actual == str(status)
    assert failed.exchange is unfollowed
    assert failed.hint == "Answer at the URL itself: a 3xx that is not followed is a failed attempt at the Cloud."


def test_never_redirected_names_the_first_redirected_delivery() -> None:
    first = exchange(302, headers=(("Location", ELSEWHERE),), description="first")
    second = exchange(200, hops=(hop(301),), description="second")
    assert failure(checks.never_redirected, [exchange(200), first, second]).exchange is first


def test_never_redirected_leaves_a_get_alone() -> None:
    # A site may redirect a GET of its pages (/console, BAD-2's GET) to a login page.
    login = Exchange(
        console_request(URL), Response(302, "Found", (("Location", ELSEWHERE),), b""), None, 0.01, (hop(301),)
    )
    checks.never_redirected([login])
    put = exchange(302, headers=(("Location", ELSEWHERE),), method="PUT")
    checks.never_redirected([put])


# --- secret_never_echoed -----------------------------------------------------------------------------------


def echoing(body: bytes = b"OK", headers: Headers = (), reason: str = "OK", hops: tuple[Hop, ...] = ()) -> Exchange:
    return exchange(200, body, headers, reason=reason, hops=hops)


def test_secret_never_echoed_passes_answers_without_the_secret() -> None:
    checks.secret_never_echoed([], SECRET)
    checks.secret_never_echoed(
        [
            echoing(b"OK"),
            exchange(401, b"invalid X-Webhook-Secret header", (("WWW-Authenticate", "Secret"),), reason="Unauthorized"),
            exchange(None),
        ],
        SECRET,
    )


def test_secret_never_echoed_is_not_judged_without_a_secret() -> None:
    with pytest.raises(checks.NotApplicable, match="no secret is configured"):
        checks.secret_never_echoed([echoing(b"anything")], Secret(""))


def test_secret_never_echoed_is_not_judged_for_a_short_secret() -> None:
    short = Secret("x" * (MIN_JUDGED_LENGTH - 1))
    with pytest.raises(checks.NotApplicable, match=f"shorter than {MIN_JUDGED_LENGTH} characters"):
        checks.secret_never_echoed([echoing(short.reveal().encode())], short)
    judged = Secret("x" * MIN_JUDGED_LENGTH)  # from the limit on, it is judged
    checks.secret_never_echoed([echoing(b"OK")], judged)
    with pytest.raises(checks.CheckFailed):
        checks.secret_never_echoed([echoing(judged.reveal().encode())], judged)


VALUE = SECRET.reveal()
ECHOES = {
    "verbatim-in-body": (echoing(f"wrong secret {VALUE}".encode()), "body"),
    "upper-case-in-body": (echoing(f'{{"got": "{VALUE.upper()}"}}'.encode()), "body"),
    "case-swapped-in-body": (echoing(VALUE.swapcase().encode()), "body"),
    "three-quarters-in-body": (echoing(VALUE[: SECRET.run_length(0.75, 16)].encode()), "body"),
    "url-encoded-in-body": (echoing(urllib.parse.quote(VALUE, safe="").encode()), "body"),
    "in-a-header-value": (echoing(headers=(("X-Echo", VALUE),)), "headers"),
    "in-a-header-name": (echoing(headers=((f"X-{VALUE}", "1"),)), "headers"),
    "in-a-location": (exchange(302, headers=(("Location", f"/?s={VALUE}"),)), "headers"),
    "in-the-reason": (echoing(reason=f"Bad {VALUE.upper()}"), "reason"),
}


@pytest.mark.parametrize(("leaky", "where"), ECHOES.values(), ids=list(ECHOES))
def test_secret_never_echoed_finds_the_secret_anywhere_in_an_answer(leaky: Exchange, where: str) -> None:
    failed = failure(checks.secret_never_echoed, [echoing(), leaky, echoing()], SECRET)
    assert failed.expected == "no response containing the secret"
    assert failed.actual == (
        f"the secret, or three quarters of it, in the response {where} ({checks.status_text(leaky)})"
    )
    assert failed.exchange is leaky
    assert failed.hint is not None
    assert "Never echo the secret" in failed.hint


def test_secret_never_echoed_allows_less_than_three_quarters() -> None:
    below = SECRET.run_length(0.75, 16) - 1
    checks.secret_never_echoed([echoing(VALUE[:below].encode()), echoing(VALUE[-below:].encode())], SECRET)


def test_secret_never_echoed_allows_the_header_name_in_a_human_secret() -> None:
    human = Secret("my-webhook-secret-2024-rotated")
    checks.secret_never_echoed([exchange(401, b"missing X-Webhook-Secret header: invalid webhook-secret")], human)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_secret_never_echoed_reads_a_non_ascii_secret_in_either_encoding(encoding: str) -> None:
    # requests sends a header as Latin-1; a receiver can echo those bytes or the UTF-8 of what it decoded.
    accented = Secret("conformance-café-0123456789abcdef")
    leaky = echoing(b"got " + accented.reveal().encode(encoding))
    assert failure(checks.secret_never_echoed, [leaky], accented).exchange is leaky


def test_secret_never_echoed_reads_the_redirects_on_the_way_too() -> None:
    secret = Secret("s3cret-value-of-thirty-chars-xx")
    leaky = Hop(Response(307, "", (("Location", f"/webhook?echo={secret.reveal()}"),), b""), URL)
    exchange = Exchange(Request(URL, b"{}", "d"), Response(200, "", (), b"OK"), None, 0.01, (leaky,))
    with pytest.raises(checks.CheckFailed, match="headers"):
        checks.secret_never_echoed([exchange], secret)


def test_secret_never_echoed_reads_a_redirect_body_and_reason() -> None:
    in_body = Hop(Response(307, "", (("Location", "/v2"),), f"moved, secret {VALUE}".encode()), URL)
    failed = failure(checks.secret_never_echoed, [echoing(hops=(in_body,))], SECRET)
    assert "in the response body" in failed.actual
    in_reason = Hop(Response(308, f"Moved {VALUE}", (("Location", "/v2"),), b""), URL)
    assert "in the response reason" in failure(checks.secret_never_echoed, [echoing(hops=(in_reason,))], SECRET).actual


# The spellings the masking recognises as the secret (Secret.forms) are leaks for LEAK-1 too. Every encoding is
# tested in tests/test_secret.py and tests/test_secret_leaks.py; these are the ones the masking knew first.
RESERVED = Secret("Ab3+Cd4/Ef5=Gh6+Ij7/Kl8=Mn9+Op0/")
MASKED_SPELLINGS = {
    "base64": (SECRET, base64.b64encode(VALUE.encode()).decode()),
    "base64-urlsafe": (SECRET, base64.urlsafe_b64encode(VALUE.encode()).decode().rstrip("=")),
    "url-encoded-reserved": (RESERVED, urllib.parse.quote(RESERVED.reveal(), safe="")),
}


@pytest.mark.parametrize(("secret", "spelling"), MASKED_SPELLINGS.values(), ids=list(MASKED_SPELLINGS))
def test_secret_never_echoed_finds_the_spellings_the_masking_knows(secret: Secret, spelling: str) -> None:
    assert spelling in secret.forms()
    with pytest.raises(checks.CheckFailed):
        checks.secret_never_echoed([echoing(f"echo {spelling}".encode())], secret)


# --- answered_4xx ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 404, 413, 415, 422, 499])
def test_a_4xx_passes_for_bad_bodies(status: int) -> None:
    checks.answered_4xx(exchange(status))


def test_a_4xx_is_required_for_bad_bodies() -> None:
    checks.answered_4xx(answer(422))
    for status, words in ((500, "crashed"), (200, "acknowledged a body that is not a delivery")):
        with pytest.raises(checks.CheckFailed) as failed:
            checks.answered_4xx(answer(status))
        assert words in str(failed.value.hint)


@pytest.mark.parametrize(
    ("outcome", "hint"),
    [
        (exchange(500), "The receiver crashed on input it should refuse"),
        (exchange(503), "The receiver crashed on input it should refuse"),
        (exchange(200), "The receiver acknowledged a body that is not a delivery: check its shape and answer 400."),
        (exchange(204), "The receiver acknowledged a body that is not a delivery: check its shape and answer 400."),
        (exchange(None, error=TransportError("connect", "x")), doctor.TRANSPORT_HINTS["connect"]),
        (exchange(302, headers=(("Location", ELSEWHERE),)), doctor.STATUS_HINTS[0][2]),
    ],
    ids=["500", "503", "200", "204", "connect", "302"],
)
def test_answered_4xx_fails_anything_else(outcome: Exchange, hint: str) -> None:
    failed = failure(checks.answered_4xx, outcome)
    assert failed.expected == "a 4xx status (400 for a malformed body)"
    assert failed.actual == checks.status_text(outcome)
    assert failed.exchange is outcome
    assert (failed.hint or "").startswith(hint)


# --- answered_one_of ---------------------------------------------------------------------------------------


def test_one_of_names_a_crash() -> None:
    checks.answered_one_of(answer(431), (401, 400, 431), "hint")
    with pytest.raises(checks.CheckFailed, match="401 or 400 or 431") as failed:
        checks.answered_one_of(answer(500), (401, 400, 431), "Compare bytes.")
    assert str(failed.value.hint).startswith("A 5xx means the receiver crashed")


@pytest.mark.parametrize("status", [405, 404])
def test_one_of_passes_every_status_listed(status: int) -> None:
    checks.answered_one_of(exchange(status), (405, 404), "Refuse the method.")


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (200, "Refuse the method."),
        (400, "Refuse the method."),
        (503, "A 5xx means the receiver crashed on this request. Refuse the method."),
        (
            501,
            "501 says the server lacks the method; for a method a URL refuses, HTTP's answer is 405. "
            "Refuse the method.",
        ),
    ],
)
def test_one_of_fails_another_status_with_the_given_hint(status: int, hint: str) -> None:
    other = exchange(status, reason="Reason")
    failed = failure(checks.answered_one_of, other, (405, 404), "Refuse the method.")
    assert failed.expected == "405 or 404"
    assert failed.actual == f"{status} Reason"
    assert failed.exchange is other
    assert failed.hint == hint


def test_one_of_leaves_silence_to_the_doctor() -> None:
    gone = exchange(None, error=TransportError("read-timeout", "5 s"))
    failed = failure(checks.answered_one_of, gone, (400,), "Refuse it.")
    assert failed.expected == "400"
    assert failed.hint == doctor.TRANSPORT_HINTS["read-timeout"]


# --- answered_alike ----------------------------------------------------------------------------------------


def test_missing_and_wrong_secret_must_answer_alike() -> None:
    checks.answered_alike(answer(401, b"no"), answer(401, b"no"), answer(401, b"no"))
    with pytest.raises(checks.CheckFailed, match="same status"):
        checks.answered_alike(answer(401), answer(403), answer(401))
    with pytest.raises(checks.CheckFailed, match="same body"):
        checks.answered_alike(answer(401, b"missing"), answer(401, b"wrong"), answer(401, b"missing"))
    # A body that differs by itself (a request id) is not compared: only the status is.
    checks.answered_alike(answer(401, b"id 1"), answer(401, b"id 2"), answer(401, b"id 3"))


def test_answered_alike_fails_on_the_wrong_secrets_exchange() -> None:
    missing, wrong = exchange(401, b"", reason="Unauthorized"), exchange(403, b"", reason="Forbidden")
    failed = failure(checks.answered_alike, missing, wrong, missing)
    assert failed.expected == "the same status for a missing and a wrong secret"
    assert failed.actual == "401 Unauthorized for a missing secret, 403 Forbidden for a wrong one"
    assert failed.exchange is wrong
    assert failed.hint == (
        "Answer every authentication failure alike (401, one body), so a prober learns nothing from the answer."
    )
    body = failure(
        checks.answered_alike, exchange(401, b"missing"), wrong := exchange(401, b"wrong!"), exchange(401, b"missing")
    )
    assert body.expected == "the same body for a missing and a wrong secret"
    assert body.actual == "different bodies (7 and 6 bytes)"
    assert body.exchange is wrong


@pytest.mark.parametrize("silent_one", [0, 1, 2])
def test_answered_alike_compares_nothing_when_a_request_got_no_answer(silent_one: int) -> None:
    three = [exchange(401), exchange(403), exchange(401)]
    three[silent_one] = exchange(None, error=TransportError("read-timeout", "5 s"))
    with pytest.raises(checks.NotApplicable, match="got no response"):
        checks.answered_alike(*three)


# --- no_debug_output and console_not_served ----------------------------------------------------------------


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


def test_debug_output_failure_names_the_request_and_carries_its_exchange() -> None:
    crashed = exchange(500, DEBUG_PAGES["a Python traceback"], reason="Internal Server Error", description="null")
    failed = failure(checks.no_debug_output, [exchange(200), crashed, exchange(500, DEBUG_PAGES["a Go panic"])])
    assert failed.expected == "no stack trace or debug page in any response"
    assert failed.actual == "a Python traceback in the answer to null (500 Internal Server Error)"
    assert failed.exchange is crashed
    assert "Turn debug off" in (failed.hint or "")


def test_debugger_is_named_before_the_traceback_it_shows() -> None:
    page = b"<title>Werkzeug Debugger</title>\nTraceback (most recent call last):\n"
    assert failure(checks.no_debug_output, [exchange(500, page)]).actual.startswith("the Werkzeug debugger in")


def test_debug_output_is_read_html_and_json_escaped() -> None:
    express = b"TypeError: x<br> &nbsp; &nbsp;at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)"
    assert failure(checks.no_debug_output, [exchange(500, express)]).actual.startswith("a Node.js stack trace")
    spring = b'{"trace": "java.lang.IllegalStateException\\n\\tat com.example.Hook.handle(Hook.java:42)"}'
    assert failure(checks.no_debug_output, [exchange(500, spring)]).actual.startswith("a Java stack trace")


def test_debug_output_is_read_in_the_redirects_on_the_way() -> None:
    trace = Hop(Response(307, "", (("Location", "/v2"),), DEBUG_PAGES["a Python stack frame"]), URL)
    followed = exchange(200, hops=(trace,))
    assert failure(checks.no_debug_output, [followed]).exchange is followed


def test_console_is_found_only_when_served() -> None:
    console = b"<title>Console // Werkzeug Debugger</title><script>var CONSOLE_MODE = true"
    with pytest.raises(checks.CheckFailed, match="console"):
        checks.console_not_served(answer(200, console))
    checks.console_not_served(answer(404, b"Not Found"))
    checks.console_not_served(answer(400, console))  # not served: refused
    assert console_request(URL + "?x=1").url == "http://127.0.0.1:9/console"


@pytest.mark.parametrize("marker", checks.CONSOLE_MARKERS)
def test_console_is_found_by_any_of_its_markers(marker: str) -> None:
    served = exchange(200, f"<html>{marker}</html>".encode(), reason="OK")
    failed = failure(checks.console_not_served, served)
    assert failed.expected == "no interactive debugger console"
    assert failed.actual == "the Werkzeug debugger's console (200 OK)"
    assert failed.exchange is served
    assert "debug=True" in (failed.hint or "")


@pytest.mark.parametrize(
    "outcome",
    [exchange(200, b"<html>Welcome</html>"), exchange(302, b"Interactive Console"), exchange(None)],
    ids=["ordinary-page", "redirect", "no-response"],
)
def test_console_not_served_passes_anything_but_the_console(outcome: Exchange) -> None:
    checks.console_not_served(outcome)


# --- certificate_verified ----------------------------------------------------------------------------------


def test_certificate_verified_passes_without_an_error() -> None:
    checks.certificate_verified(None)


def test_certificate_verified_fails_with_the_error_as_what_came() -> None:
    error = "certificate verify failed: self-signed certificate"
    failed = failure(checks.certificate_verified, error)
    assert failed.expected == "a certificate the Cloud can verify"
    assert failed.actual == error
    assert failed.exchange is None
    assert "--webhook-ca-bundle is one the Cloud cannot verify" in (failed.hint or "")


# --- fast_enough -------------------------------------------------------------------------------------------


def timed(seconds: float) -> Exchange:
    return Exchange(Request(URL, b"{}", "d"), Response(200, "", (), b""), None, seconds)


def test_latency_fails_on_the_95th_percentile_and_shows_the_slowest() -> None:
    checks.fast_enough([timed(0.01)] * 19 + [timed(3.0)])  # one slow in 20: p95 is still fast
    with pytest.raises(checks.CheckFailed) as failed:
        checks.fast_enough([timed(0.01)] * 18 + [timed(1.5), timed(3.0)])
    assert failed.value.exchange is not None
    assert failed.value.exchange.elapsed == 3.0
    with pytest.raises(checks.NotApplicable):
        checks.fast_enough([])


def test_latency_limit_is_exclusive() -> None:
    checks.fast_enough([timed(0.999)])
    failed = failure(checks.fast_enough, [timed(checks.LATENCY_P95_LIMIT)])
    assert failed.expected == "a p95 latency under 1 s"
    assert failed.actual == "p50 1.00 s, p95 1.00 s, p99 1.00 s, max 1.00 s over 1 delivery"
    assert "Answer first, work later" in (failed.hint or "")


def test_latency_failure_describes_every_percentile() -> None:
    slowest = timed(4.0)
    failed = failure(checks.fast_enough, [timed(0.005)] * 10 + [timed(2.0)] * 9 + [slowest])
    assert failed.actual == "p50 5.0 ms, p95 2.00 s, p99 4.00 s, max 4.00 s over 20 deliveries"
    assert failed.exchange is slowest


# --- not_a_development_server, secret_not_in_clear, dashboard_accepts --------------------------------------


def test_werkzeug_server_header_is_noted() -> None:
    checks.not_a_development_server([answer(200, headers=(("Server", "waitress"),))])
    with pytest.raises(checks.CheckFailed, match="Werkzeug's development server"):
        checks.not_a_development_server([answer(200, headers=(("Server", "Werkzeug/3.1.9 Python/3.11.7"),))])


def test_development_server_is_found_in_any_case_and_shown_cut_short() -> None:
    server = "WERKZEUG/3.1.9 " + "Python/3.11.7 " * 20
    werkzeug = exchange(200, headers=(("server", server),))
    failed = failure(checks.not_a_development_server, [exchange(200, headers=(("Server", "gunicorn"),)), werkzeug])
    assert failed.expected == "a production server"
    assert failed.actual == f"the Server header {server[:80]!r}: Werkzeug's development server"
    assert failed.exchange is werkzeug
    assert "waitress or gunicorn" in (failed.hint or "")


def test_development_server_needs_a_server_header() -> None:
    checks.not_a_development_server([])
    checks.not_a_development_server(
        [exchange(200), exchange(None), exchange(200, headers=(("X-Powered-By", "Werkzeug"),))]
    )


@pytest.mark.parametrize(
    ("url", "in_clear"),
    [
        ("http://example.com/webhook", True),
        ("http://10.0.0.5:8000/webhook", True),
        ("HTTP://Hooks.Example.COM/webhook", True),
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


def test_secret_in_clear_failure_names_the_host() -> None:
    failed = failure(checks.secret_not_in_clear, "http://hooks.example.com:8080/webhook")
    assert failed.expected == "an https URL"
    assert failed.actual.startswith("http://hooks.example.com: the Cloud accepts http endpoints")
    assert failed.exchange is None
    assert "https" in (failed.hint or "")


def test_dashboard_accepts_fails_a_query_string_and_leaves_the_host_alone() -> None:
    checks.dashboard_accepts("http://127.0.0.1:8000/webhook")
    checks.dashboard_accepts("http://localhost:8000/webhook")  # a warning in the header, not a failure
    with pytest.raises(checks.CheckFailed, match="query string"):
        checks.dashboard_accepts("https://hooks.example.com/webhook?token=abc")
    with pytest.raises(checks.CheckFailed, match="scheme"):
        checks.dashboard_accepts("ftp://hooks.example.com/webhook")


def test_dashboard_accepts_names_every_rule_broken() -> None:
    url = "ftp://hooks.example.com/webhook?token=abc"
    failed = failure(checks.dashboard_accepts, url)
    assert failed.expected == "a URL the dashboard accepts"
    assert len(unsaveable(url)) == 2
    assert failed.actual == "; ".join(unsaveable(url))
    assert failed.exchange is None
    assert "can never be activated" in (failed.hint or "")


# --- still_answers -----------------------------------------------------------------------------------------


def test_still_answers_names_the_request_after_which_the_receiver_died() -> None:
    history = [answer(200), answer(400), silent("the JSON literal null", "protocol"), silent("next", "connect")]
    gone = silent("a handshake", "connect")
    with pytest.raises(checks.CheckFailed) as failed:
        checks.still_answers(gone, [answer(200)], [*history, gone])
    assert "It stopped answering after the JSON literal null." in (failed.value.hint or "")
    checks.still_answers(answer(200), [answer(200)], history)


def test_still_answers_blames_the_last_answered_request_when_the_next_found_no_one() -> None:
    # A request refused at connect was never seen: the one before it, answered, brought the receiver down.
    history = [answer(200), exchange(500, description="a deep nesting"), silent("the JSON literal null", "connect")]
    gone = silent("a handshake", "connect")
    failed = failure(checks.still_answers, gone, [answer(200), answer(200)], [*history, gone])
    assert failed.expected == "a 2xx to Webhook Validate, as at the start of the run"
    assert failed.actual == "no response: connect (x); it stopped answering after a deep nesting"
    assert failed.exchange is gone
    assert "It stopped answering after a deep nesting." in (failed.hint or "")


def test_still_answers_without_a_culprit_says_what_came() -> None:
    crashed = exchange(500, reason="Internal Server Error")
    failed = failure(checks.still_answers, crashed, [answer(200)], [answer(200), crashed])
    assert failed.actual == "500 Internal Server Error"
    assert "It stopped answering" not in (failed.hint or "")
    assert "run it under a supervisor" in (failed.hint or "")
    # Everything silent from the start: nothing to blame either.
    gone = silent("a handshake", "connect")
    assert failure(checks.still_answers, gone, [answer(200)], [silent("a", "connect"), gone]).actual == (
        "no response: connect (x)"
    )


def test_still_answers_is_not_judged_when_the_handshake_never_worked() -> None:
    with pytest.raises(checks.NotApplicable):
        checks.still_answers(answer(500), [answer(500)], [answer(500)])


@pytest.mark.parametrize(
    "earlier", [[], [answer(200), answer(503)], [exchange(200, truncated=True)]], ids=["none", "one-failed", "long"]
)
def test_still_answers_needs_every_earlier_handshake_to_have_worked(earlier: list[Exchange]) -> None:
    with pytest.raises(checks.NotApplicable, match="no answer left to lose"):
        checks.still_answers(answer(500), earlier, [answer(500)])


# --- the bad input the checks judge ------------------------------------------------------------------------


def test_bad_input_cases_are_named_once_and_carry_the_right_secret() -> None:
    names = [case.name for case in BODY_CASES]
    assert len(names) == len(set(names))
    secret = Secret("a-secret-of-thirty-characters!")
    assert all(case.request(URL, secret).secret == secret for case in BODY_CASES)
    big = oversize_request(URL, secret)
    assert len(big.body) == OVERSIZE_BYTES
    assert big.body.startswith(b'{"event": "Webhook Validate", "data": {"padding": "xxx')
    assert big.body.endswith(b'xxx"}}')
