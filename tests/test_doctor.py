"""The doctor's hints, read off hand-made exchanges: one per status family, per transport error, per TLS failure."""

from __future__ import annotations

import pytest

from harness.config.secret import Secret
from harness.judging import doctor
from harness.wire.transport import Exchange, Hop, Request, Response, TransportError

URL = "https://hooks.example.com/webhook"
SECRET = Secret("abcdefgh-right-secret")

GET_REDIRECT = doctor.STATUS_HINTS[0][2]
OTHER_ORIGIN = doctor.STATUS_HINTS[1][2]
UNFOLLOWED_3XX = "Answer at the URL itself: a 3xx that is not followed is a failed attempt at the Cloud."
BY_STATUS = {low: text for low, high, text in doctor.STATUS_HINTS if low == high}


def exchange(
    status: int | None,
    *,
    secret: Secret | None = SECRET,
    hops: tuple[int, ...] = (),
    error: TransportError | None = None,
    accepted_before: bool = False,
) -> Exchange:
    request = Request(URL, b"{}", "'Webhook Validate' with the right secret", secret=secret)
    followed = tuple(Hop(Response(s, "", (("Location", "/v2"),), b""), URL + "/v2") for s in hops)
    if status is None:
        return Exchange(request, None, error, 0.1, followed)
    return Exchange(request, Response(status, "", (), b""), None, 0.1, followed, secret_accepted_before=accepted_before)


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
        (307, OTHER_ORIGIN),
        (308, OTHER_ORIGIN),
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
        307: "re-sends the POST there, body and secret included",
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
        pytest.param(
            "redirects",
            marks=pytest.mark.xfail(reason="more than 30 redirects has no hint in TRANSPORT_HINTS", strict=True),
        ),
    ],
)
def test_every_transport_error_kind_gets_a_hint(kind: str) -> None:
    assert doctor.hint(exchange(None, error=TransportError(kind, "detail")))


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
