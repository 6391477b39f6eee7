"""What the Cloud would conclude from a run: activation and auto-disable, from the exchanges as its requests
would have ended them."""

from __future__ import annotations

import pytest

from harness.config.secret import Secret
from harness.judging.outlook import DISABLE_ABOVE, attempt_failure_rate, outlook
from harness.payloads.deliveries import delivery, right_secret
from harness.payloads.events import VALIDATE
from harness.wire.transport import Exchange, Hop, Request, Response, TransportError

URL = "http://127.0.0.1:9/webhook"


def exchange(
    status: int | None,
    event: str = "Site Status Update",
    *,
    as_the_cloud: bool = True,
    headers: tuple[tuple[str, str], ...] = (),
    hops: tuple[Hop, ...] = (),
    **response: object,
) -> Exchange:
    request = delivery(URL, event, right_secret(Secret("s" * 30)), as_the_cloud=as_the_cloud)
    if status is None:
        return Exchange(request, None, TransportError("read-timeout", "timed out"), 5.0)
    return Exchange(request, Response(status, "", headers, b"", **response), None, 0.01, hops)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("events_failing", "attempts_failing"),
    [(0.0, 0.0), (1.0, 1.0), (0.25, 1 / 1.75), (0.5, 2 / 2.5)],
)
def test_attempt_failure_rate_counts_the_three_retries(events_failing: float, attempts_failing: float) -> None:
    assert attempt_failure_rate(events_failing) == pytest.approx(attempts_failing)


def test_the_threshold_is_crossed_between_36_and_37_percent_of_events() -> None:
    assert attempt_failure_rate(0.36) <= DISABLE_ABOVE < attempt_failure_rate(0.37)


def test_activation_needs_both_handshakes() -> None:
    assert outlook([exchange(200, VALIDATE), exchange(200, VALIDATE)]).activation is True
    failed = outlook([exchange(200, VALIDATE), exchange(409, VALIDATE)])
    assert failed.activation is False
    assert "1 of the 2 Webhook Validate" in failed.activation_note
    assert outlook([]).activation is None


def test_activation_reads_the_answer_as_the_clouds_requests_does() -> None:
    undecodable = exchange(200, VALIDATE, unreadable="ContentDecodingError: incorrect header check")
    assert outlook([exchange(200, VALIDATE), undecodable]).activation is False
    elsewhere = exchange(307, VALIDATE, headers=(("Location", "http://localhost:9/webhook"),))
    left_open = outlook([elsewhere, elsewhere])
    assert left_open.activation is None
    assert "another origin" in left_open.activation_note


def test_a_handshake_failing_after_activation_says_the_receiver_stopped() -> None:
    seen = outlook([exchange(200, VALIDATE), exchange(200, VALIDATE), exchange(None, VALIDATE)])
    assert seen.activation is True
    assert seen.stopped
    assert any(line.startswith("stopped:") for line in seen.lines())


def test_a_bodiless_get_is_recorded_as_sent_but_the_event_is_lost() -> None:
    moved = Hop(Response(302, "Found", (("Location", "/elsewhere"),), b""), URL.replace("webhook", "elsewhere"))
    seen = outlook([exchange(200, hops=(moved,)), exchange(200)])
    assert (seen.failed, seen.lost) == (0, 1)
    assert "lost events" in "\n".join(seen.lines())


def test_a_body_the_cloud_cannot_keep_is_a_failed_delivery() -> None:
    seen = outlook([exchange(200, truncated=True), exchange(200)])
    assert seen.failed == 1
    assert seen.failing == ("Site Status Update",)


def test_only_deliveries_as_the_cloud_sends_them_count() -> None:
    exchanges = [
        exchange(200),
        exchange(500),
        exchange(None),  # a timeout is a failed attempt too
        exchange(200, VALIDATE),  # the handshake is not a delivery attempt
        exchange(400, as_the_cloud=False),  # bad input the Cloud never sends
        Exchange(Request(URL, b"[]", "probe"), Response(400, "", (), b""), None, 0.01),
    ]
    seen = outlook(exchanges)
    assert (seen.deliveries, seen.failed) == (3, 2)
    assert seen.disabled  # 2 of 3 events failing: 8 of 9 attempts
    assert "would fail: above the 70%" in seen.lines()[1]
    assert seen.as_json()["auto_disable"] is True


def test_a_healthy_run_is_not_disabled_and_says_so() -> None:
    seen = outlook([exchange(200, VALIDATE)] * 2 + [exchange(200)] * 9 + [exchange(503)])
    assert not seen.disabled
    assert seen.lines()[0].startswith("activation: would succeed")
    assert "1 of 10 deliveries" in seen.lines()[1]
    assert "not above the 70%" in seen.lines()[1]


def test_no_delivery_no_rate() -> None:
    assert "no delivery as the Cloud sends them" in outlook([]).lines()[1]


def test_an_event_that_always_fails_and_redirects_are_named() -> None:
    elsewhere = exchange(308, headers=(("Location", "https://elsewhere.example.com/webhook"),))
    exchanges = [exchange(200)] * 8 + [exchange(400, "Bench Deploy Status Update")] * 2 + [elsewhere]
    seen = outlook(exchanges)
    assert not seen.disabled
    assert seen.always_failing == ("Bench Deploy Status Update",)
    assert seen.redirected == 1
    text = "\n".join(seen.lines())
    assert "every delivery of Bench Deploy Status Update failed; the Cloud has no minimum sample" in text
    assert "redirected to another origin" in text


def test_what_the_harness_cannot_see_is_left_out_of_the_rate() -> None:
    # A redirect to another origin: the Cloud follows it (and may well succeed there); the harness never does.
    elsewhere = exchange(307, headers=(("Location", "http://localhost:9/webhook"),))
    trickling = Exchange(exchange(200).request, None, TransportError("deadline", "still coming"), 10.0)
    seen = outlook([elsewhere] * 5 + [trickling, exchange(200)])
    assert (seen.deliveries, seen.failed, seen.unknown, seen.redirected) == (1, 0, 6, 5)
    assert seen.disabled is None  # all 6 fine at the Cloud: not disabled; all 6 failing: disabled
    assert seen.as_json()["auto_disable"] is None
    assert seen.always_failing == ()
    text = "\n".join(seen.lines())
    assert "not known here: 6 deliveries" in text
    assert "decide whether the Cloud disables the webhook" in text


def test_unknown_deliveries_that_cannot_change_the_answer_leave_it_standing() -> None:
    elsewhere = exchange(307, headers=(("Location", "http://localhost:9/webhook"),))
    assert outlook([elsewhere] + [exchange(200)] * 19).disabled is False  # 1 in 20, even failing: 17% of attempts
    assert outlook([elsewhere] + [exchange(500)] * 19).disabled is True  # 19 in 20 fail whatever the 20th does


def test_a_long_handshake_answer_still_activates() -> None:
    # validate_endpoint stores nothing, so only an event's answer must fit the attempt log.
    assert outlook([exchange(200, VALIDATE, truncated=True)] * 2).activation is True
