"""The doctor's hints, read off hand-made exchanges: one per status family, per transport error, per TLS failure."""

from __future__ import annotations

import pytest

from harness.config.secret import MASK, Secret
from harness.judging import doctor
from harness.wire.transport import MAX_REDIRECTS, Exchange, Hop, Request, Response, TransportError
from harness.wire.untrusted import printable

URL = "https://hooks.example.com/webhook"
SECRET = Secret("abcdefgh-right-secret")

GET_REDIRECT = doctor.STATUS_HINTS[0][2]
ELSEWHERE = "https://elsewhere.example.net/hook"
UNFOLLOWED_3XX = "Answer at the URL itself: a 3xx that is not followed is a failed attempt at the Cloud."
BY_STATUS = {low: text for low, high, text in doctor.STATUS_HINTS if low == high}


def exchange(
    status: int | None,
    *,
    secret: Secret | None = SECRET,
    hops: tuple[int, ...] = (),
    error: TransportError | None = None,
    accepted_before: bool = False,
    location: str | None = None,
    url: str = URL,
) -> Exchange:
    request = Request(url, b"{}", "'Webhook Validate' with the right secret", secret=secret)
    followed = tuple(Hop(Response(s, "", (("Location", "/v2"),), b""), url + "/v2") for s in hops)
    if status is None:
        return Exchange(request, None, error, 0.1, followed)
    headers = () if location is None else (("Location", location),)
    response = Response(status, "", headers, b"")
    return Exchange(request, response, None, 0.1, followed, secret_accepted_before=accepted_before)


# --- statuses ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (300, UNFOLLOWED_3XX),
        (301, GET_REDIRECT),
        (302, GET_REDIRECT),
        (303, GET_REDIRECT),
        (304, UNFOLLOWED_3XX),
        (305, UNFOLLOWED_3XX),
        (307, doctor.HINT_NO_LOCATION),
        (308, doctor.HINT_NO_LOCATION),
        (399, UNFOLLOWED_3XX),
        (400, BY_STATUS[400]),
        (401, BY_STATUS[401]),
        (403, BY_STATUS[403]),
        (404, BY_STATUS[404]),
        (405, BY_STATUS[405]),
        (415, BY_STATUS[415]),
        (422, BY_STATUS[422]),
        (429, BY_STATUS[429]),
        (500, doctor.STATUS_HINTS[-1][2]),
        (502, doctor.STATUS_HINTS[-1][2]),
        (599, doctor.STATUS_HINTS[-1][2]),
    ],
)
def test_each_status_family_gets_its_hint(status: int, hint: str) -> None:
    assert doctor.hint(exchange(status)) == hint


@pytest.mark.parametrize("status", [100, 199, 200, 204, 299, 402, 406, 409, 410, 413, 418, 431, 451, 499, 600])
def test_a_status_without_a_known_cause_gets_no_hint(status: int) -> None:
    assert doctor.hint(exchange(status)) is None


def test_status_hints_say_what_each_family_means() -> None:
    words = {
        301: "follows a 301/302/303 as a GET without the body",
        307: "without a Location header leads nowhere",
        400: "accept the envelope",
        401: "configured with another secret",
        403: "CSRF",
        404: "check the URL's path",
        405: "does not accept POST",
        415: "Content-Type: application/json",
        422: "FastAPI, pydantic",
        429: "rate-limited the Cloud",
        500: "counts toward the Cloud disabling the webhook",
    }
    for status, phrase in words.items():
        assert phrase in (doctor.hint(exchange(status)) or ""), status


def test_the_first_status_range_that_matches_is_the_narrowest() -> None:
    # The first match wins: a narrow range must come before a wider one that holds it.
    assert all(300 <= low <= high <= 599 and text for low, high, text in doctor.STATUS_HINTS)
    for status in range(300, 600):
        matching = [(low, high) for low, high, _ in doctor.STATUS_HINTS if low <= status <= high]
        if matching:
            assert matching[0] == min(matching, key=lambda bounds: bounds[1] - bounds[0]), status


# --- a 307/308 the harness did not follow ------------------------------------------------------------------


@pytest.mark.parametrize("status", [307, 308])
def test_a_redirect_to_another_origin_names_where_the_cloud_would_go(status: int) -> None:
    hint = doctor.hint(exchange(status, location=ELSEWHERE))
    assert hint == doctor.HINT_OTHER_ORIGIN.format(target=repr(ELSEWHERE))
    assert f"the Cloud re-sends the POST to {ELSEWHERE!r}, body and secret included" in hint
    assert f"point the webhook at {ELSEWHERE!r}" in hint


def test_the_redirect_target_is_resolved_as_the_cloud_resolves_it() -> None:
    # Against the last hop followed, scheme-relative included, as requests resolves it.
    hint = doctor.hint(exchange(307, location="//evil.example.net/x", hops=(308,)))
    assert "re-sends the POST to 'https://evil.example.net/x'" in (hint or "")
    hint = doctor.hint(exchange(308, location="http://hooks.example.com/webhook"))  # another scheme
    assert "re-sends the POST to 'http://hooks.example.com/webhook'" in (hint or "")


def test_a_redirect_without_a_location_leads_nowhere() -> None:
    assert doctor.hint(exchange(307, location="")) == doctor.HINT_NO_LOCATION
    assert "another origin" not in doctor.HINT_NO_LOCATION
    # The harness follows a same-origin one; if it is the final answer anyway, nothing specific is known.
    assert doctor.hint(exchange(307, location="/v3")) == UNFOLLOWED_3XX


def test_a_get_redirect_before_the_307_is_still_the_cause() -> None:
    assert doctor.hint(exchange(307, location=ELSEWHERE, hops=(303,))) == GET_REDIRECT


HOSTILE_LOCATIONS = {
    "esc": "https://evil.example.net/\x1b[2J\x1b[31mPASSED",
    "crlf": "https://evil.example.net/a\r\nREADY: every check passed",
    "github-command": "https://evil.example.net/::error::forged",
    "github-command-on-a-new-line": "https://evil.example.net/\n::error file=x::forged",
    "azure-command": "https://evil.example.net/##vso[task.setvariable variable=x]y",
    "azure-format": "https://evil.example.net/##[error]forged",
    "bidi-override": "https://evil.example.net/\u202egnp.exe",
}


@pytest.mark.parametrize("location", HOSTILE_LOCATIONS.values(), ids=list(HOSTILE_LOCATIONS))
def test_a_hostile_location_is_escaped_before_it_reaches_the_hint(location: str) -> None:
    hint = doctor.hint(exchange(307, location=location))
    assert hint is not None
    assert "re-sends the POST to '" in hint  # quoted, mid-line: the receiver's text starts no line
    assert hint.isprintable()  # no ESC, CR or LF left
    assert printable(hint) == hint  # and no CI command: nothing left for the escaper to do
    assert "##vso[" not in hint
    assert "##[" not in hint


def test_escaping_writes_the_characters_out() -> None:
    hint = doctor.hint(exchange(307, location=HOSTILE_LOCATIONS["esc"])) or ""
    assert "'https://evil.example.net/\\x1b[2J\\x1b[31mPASSED'" in hint
    hint = doctor.hint(exchange(307, location=HOSTILE_LOCATIONS["azure-command"])) or ""
    assert "'https://evil.example.net/\\x23#vso[task.setvariable variable=x]y'" in hint
    hint = doctor.hint(exchange(307, location=HOSTILE_LOCATIONS["bidi-override"])) or ""
    assert "'https://evil.example.net/\\u202egnp.exe'" in hint


def test_a_location_holding_the_secret_is_masked() -> None:
    value = SECRET.reveal()
    for location in (f"{ELSEWHERE}?echo={value}", f"{ELSEWHERE}?echo={value.upper()}", f"https://{value}.example.net/"):
        hint = doctor.hint(exchange(307, location=location)) or ""
        assert value not in hint.lower()
        assert MASK in hint


def test_a_location_holding_the_urls_password_is_masked() -> None:
    password = "a-long-url-password-1234"
    url = f"https://user:{password}@hooks.example.com/webhook"
    hint = doctor.hint(exchange(307, location=f"https://user:{password}@elsewhere.example.net/", url=url)) or ""
    assert password not in hint
    assert MASK in hint


def test_a_long_location_is_not_shown_at_all() -> None:
    # A cut could end inside the secret, where masking no longer recognises it.
    location = f"{ELSEWHERE}?pad={'x' * doctor.LOCATION_SHOWN}&echo={SECRET.reveal()}"
    hint = doctor.hint(exchange(308, location=location)) or ""
    assert f"the URL in its Location header ({len(location)} characters, not shown)" in hint
    assert "pad=" not in hint
    assert SECRET.reveal() not in hint
    assert "elsewhere.example.net" in (doctor.hint(exchange(308, location=ELSEWHERE + "/" * 165)) or "")


# --- what the request carried and what came before ---------------------------------------------------------


def test_a_401_without_a_secret_asks_for_one() -> None:
    assert doctor.hint(exchange(401, secret=Secret(""))) == doctor.HINT_401_UNCONFIGURED
    # Before anything else: the run cannot judge the receiver until the secret is set.
    assert doctor.hint(exchange(401, secret=Secret(""), accepted_before=True)) == doctor.HINT_401_UNCONFIGURED
    assert "Set WEBHOOK_SECRET" in doctor.HINT_401_UNCONFIGURED


def test_a_401_after_the_handshake_passed_is_the_receivers_own_rule() -> None:
    assert doctor.hint(exchange(401, accepted_before=True)) == doctor.HINT_401_OWN_RULE
    assert doctor.hint(exchange(401)) == BY_STATUS[401]
    # Only a 401 is about the secret; the other refusals keep their own hint.
    assert doctor.hint(exchange(403, accepted_before=True)) == BY_STATUS[403]
    assert doctor.hint(exchange(500, accepted_before=True)) == doctor.STATUS_HINTS[-1][2]


def test_a_403_without_a_secret_names_the_secret_and_csrf() -> None:
    hint = doctor.hint(exchange(403, secret=Secret("")))
    assert hint is not None
    assert hint != BY_STATUS[403]
    assert hint.startswith("403 to a request without a secret: the receiver wants one (set WEBHOOK_SECRET")
    assert "@csrf_exempt" in hint


def test_other_refusals_without_a_secret_get_their_status_hint() -> None:
    assert doctor.hint(exchange(404, secret=Secret(""))) == BY_STATUS[404]
    assert doctor.hint(exchange(500, secret=Secret(""))) == doctor.STATUS_HINTS[-1][2]


@pytest.mark.parametrize("final", [200, 404, 405, 500])
@pytest.mark.parametrize("redirect", [301, 302, 303])
def test_a_redirect_that_turned_the_post_into_a_get_explains_what_the_get_got(redirect: int, final: int) -> None:
    assert doctor.hint(exchange(final, hops=(redirect,))) == GET_REDIRECT


def test_a_redirect_that_keeps_the_method_leaves_the_final_answer_to_explain() -> None:
    assert doctor.hint(exchange(404, hops=(307,))) == BY_STATUS[404]
    assert doctor.hint(exchange(405, hops=(308, 307))) == BY_STATUS[405]
    assert doctor.hint(exchange(200, hops=(307,))) is None
    # Anywhere in the chain, the method-changing redirect is the cause.
    assert doctor.hint(exchange(405, hops=(307, 303, 308))) == GET_REDIRECT


# --- transport errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(doctor.TRANSPORT_HINTS))
def test_each_transport_error_gets_its_hint(kind: str) -> None:
    hint = doctor.hint(exchange(None, error=TransportError(kind, "detail")))
    assert hint == doctor.TRANSPORT_HINTS[kind]


def test_transport_hints_say_what_happened() -> None:
    words = {
        "read-timeout": "The Cloud gives up after 5 s",
        "deadline": "twice the timeout",
        "connect": "did it crash, or restart",
        "connect-timeout": "a firewall may be dropping connections",
        "dns": "does not resolve",
        "protocol": "not valid HTTP/1.1",
        "redirects": "More than 30 redirects in a row: a redirect loop",
    }
    assert set(words) == set(doctor.TRANSPORT_HINTS)
    for kind, phrase in words.items():
        assert phrase in doctor.TRANSPORT_HINTS[kind], kind


# The kinds TransportError's docstring lists: each failed attempt should say what to do.
@pytest.mark.parametrize(
    "kind",
    [
        "connect",
        "dns",
        "tls",
        "connect-timeout",
        "read-timeout",
        "deadline",
        "protocol",
        "redirects",
    ],
)
def test_every_transport_error_kind_gets_a_hint(kind: str) -> None:
    assert doctor.hint(exchange(None, error=TransportError(kind, "detail")))


def test_too_many_redirects_says_to_fix_the_loop_and_register_the_final_url() -> None:
    hint = doctor.hint(exchange(None, error=TransportError("redirects", "more than 30 redirects")))
    assert hint == doctor.TRANSPORT_HINTS["redirects"]
    assert f"More than {MAX_REDIRECTS} redirects" in hint
    assert "TooManyRedirects" in hint
    assert "Fix the loop, and point the webhook at the final URL" in hint


def test_a_tls_error_gets_the_tls_hint_for_its_detail() -> None:
    error = TransportError("tls", "certificate verify failed: certificate has expired (_ssl.c:1006)")
    assert doctor.hint(exchange(None, error=error)) == doctor.setup_hint(error) == doctor.TLS_HINTS[0][1]


# --- failures to connect at all ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(doctor.SETUP_HINTS))
def test_each_setup_failure_gets_its_hint(kind: str) -> None:
    assert doctor.setup_hint(TransportError(kind, "detail")) == doctor.SETUP_HINTS[kind]


def test_setup_hints_differ_from_mid_run_ones_where_the_cause_does() -> None:
    # Before the first answer, a refused connection means nothing listens; later, that the receiver died.
    assert "Is the receiver running" in doctor.setup_hint(TransportError("connect", "refused"))
    assert "scheme" in doctor.setup_hint(TransportError("protocol", "x"))
    assert doctor.setup_hint(TransportError("dns", "x")) == doctor.TRANSPORT_HINTS["dns"]


@pytest.mark.parametrize("kind", ["read-timeout", "deadline", "redirects", "unheard-of"])
def test_setup_hint_is_empty_for_a_kind_it_does_not_know(kind: str) -> None:
    assert doctor.setup_hint(TransportError(kind, "detail")) == ""


TLS_WORDS = [(word, text) for words, text in doctor.TLS_HINTS for word in words]


@pytest.mark.parametrize(("word", "text"), TLS_WORDS, ids=[word for word, _ in TLS_WORDS])
def test_each_tls_failure_gets_its_hint_in_any_case(word: str, text: str) -> None:
    for detail in (f"certificate verify failed: {word} (_ssl.c:1006)", f"[SSL] {word.upper()}"):
        assert doctor.setup_hint(TransportError("tls", detail)) == text


def test_tls_hints_say_what_to_do() -> None:
    hint = {words[0]: text for words, text in doctor.TLS_HINTS}
    assert "renew it" in hint["expired"]
    assert "--webhook-ca-bundle" in hint["self-signed"]
    assert "must cover the host in the URL" in hint["hostname mismatch"]
    assert "http:// for a plain-HTTP port" in hint["wrong version number"]
    assert "full chain" in hint["local issuer"]


def test_an_unknown_tls_failure_gets_the_default() -> None:
    assert doctor.setup_hint(TransportError("tls", "unexpected eof while reading")) == doctor.TLS_DEFAULT
    assert doctor.setup_hint(TransportError("tls", "")) == doctor.TLS_DEFAULT


def test_the_first_tls_cause_named_wins() -> None:
    both = TransportError("tls", "hostname mismatch on a certificate that has expired")
    assert doctor.setup_hint(both) == doctor.TLS_HINTS[0][1]
