"""What the Cloud would conclude from a run: activation and auto-disable, from records and exchanges."""

from __future__ import annotations

import pytest

from harness.deliveries import delivery, right_secret
from harness.events import VALIDATE
from harness.outlook import DISABLE_ABOVE, attempt_failure_rate, outlook
from harness.report import CheckRecord
from harness.secret import Secret
from harness.transport import Exchange, Request, Response, TransportError

URL = "http://127.0.0.1:9/webhook"


def record(requirement: str, outcome: str) -> CheckRecord:
    return CheckRecord(f"x::{requirement}", requirement, "MUST", "statement", outcome, 1.0)  # type: ignore[arg-type]


def exchange(status: int | None, event: str = "Site Status Update", *, as_the_cloud: bool = True) -> Exchange:
    request = delivery(URL, event, right_secret(Secret("s" * 30)), as_the_cloud=as_the_cloud)
    if status is None:
        return Exchange(request, None, TransportError("read-timeout", "timed out"), 5.0)
    return Exchange(request, Response(status, "", (), b""), None, 0.01)


@pytest.mark.parametrize(
    ("events_failing", "attempts_failing"),
    [(0.0, 0.0), (1.0, 1.0), (0.25, 1 / 1.75), (0.5, 2 / 2.5)],
)
def test_attempt_failure_rate_counts_the_three_retries(events_failing: float, attempts_failing: float) -> None:
    assert attempt_failure_rate(events_failing) == pytest.approx(attempts_failing)


def test_the_threshold_is_crossed_between_36_and_37_percent_of_events() -> None:
    assert attempt_failure_rate(0.36) <= DISABLE_ABOVE < attempt_failure_rate(0.37)


def test_activation_needs_both_handshakes() -> None:
    assert outlook([record("HS-1", "passed"), record("HS-2", "passed")], []).activation is True
    failed = outlook([record("HS-1", "passed"), record("HS-2", "failed")], [])
    assert failed.activation is False
    assert "HS-2 failed" in failed.activation_note
    assert outlook([record("HS-1", "passed")], []).activation is None


def test_only_deliveries_as_the_cloud_sends_them_count() -> None:
    exchanges = [
        exchange(200),
        exchange(500),
        exchange(None),  # a timeout is a failed attempt too
        exchange(200, VALIDATE),  # the handshake is not a delivery attempt
        exchange(400, as_the_cloud=False),  # bad input the Cloud never sends
        Exchange(Request(URL, b"[]", "probe"), Response(400, "", (), b""), None, 0.01),
    ]
    seen = outlook([], exchanges)
    assert (seen.deliveries, seen.failed) == (3, 2)
    assert seen.disabled  # 2 of 3 events failing: 8 of 9 attempts
    assert "would fail: above the 70%" in seen.lines()[1]
    assert seen.as_json()["auto_disable"] is True


def test_a_healthy_run_is_not_disabled_and_says_so() -> None:
    seen = outlook([record("HS-1", "passed"), record("HS-2", "passed")], [exchange(200)] * 9 + [exchange(503)])
    assert not seen.disabled
    assert seen.lines()[0].startswith("activation: would succeed")
    assert "1 of 10 deliveries" in seen.lines()[1]
    assert "not above the 70%" in seen.lines()[1]


def test_no_delivery_no_rate() -> None:
    assert "no delivery as the Cloud sends them" in outlook([], []).lines()[1]


def test_an_event_that_always_fails_and_redirects_are_named() -> None:
    exchanges = [exchange(200)] * 8 + [exchange(400, "Bench Deploy Status Update")] * 2 + [exchange(308)]
    seen = outlook([], exchanges)
    assert not seen.disabled
    assert seen.always_failing == ("Bench Deploy Status Update",)
    assert seen.redirected == 1
    text = "\n".join(seen.lines())
    assert "every delivery of Bench Deploy Status Update failed; the Cloud has no minimum sample" in text
    assert "the Cloud follows redirects" in text
