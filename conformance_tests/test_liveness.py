"""The receiver outlives what it is sent: it still answers the handshake after the probes (LIVE-*)."""

from __future__ import annotations

from harness.judging import checks
from harness.payloads.deliveries import is_handshake
from harness.payloads.events import VALIDATE
from harness.plugin import requirement
from harness.sending.client import Client
from harness.wire.transport import Exchange


def _check_still_answers(client: Client) -> None:
    earlier = _handshakes(client.exchanges)
    checks.still_answers(client.deliver(VALIDATE), earlier, client.exchanges)


def _handshakes(exchanges: list[Exchange]) -> list[Exchange]:
    """The handshakes the Cloud's way (the right secret), as HS-1 to HS-3 and earlier LIVE-1 checks sent them."""
    return [e for e in exchanges if e.request.as_the_cloud and is_handshake(e.request)]


@requirement("LIVE-1", cases=[("after-bad-input", "after-bad-input")])
def test_still_answers_after_bad_input(webhook_client: Client, case: str) -> None:
    _check_still_answers(webhook_client)


@requirement("LIVE-1", cases=[("at-end", "at-end")], last=True)
def test_still_answers_at_the_end(webhook_client: Client, case: str) -> None:
    _check_still_answers(webhook_client)
