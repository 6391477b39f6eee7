"""The validation handshake: what the dashboard sends before it activates a webhook (HS-*)."""

from __future__ import annotations

from harness.judging import checks
from harness.payloads.events import VALIDATE
from harness.plugin import requirement
from harness.sending.client import Client


@requirement("HS-1")
def test_validate_gets_2xx(webhook_client: Client, requirement_id: str) -> None:
    checks.answered_2xx(webhook_client.deliver(VALIDATE))


@requirement("HS-2")
def test_second_validate_gets_2xx(webhook_client: Client, requirement_id: str) -> None:
    # Validate, then Activate: two handshakes back to back, both of which must succeed.
    first = webhook_client.deliver(VALIDATE)
    second = webhook_client.deliver(VALIDATE)
    checks.answered_2xx(first)
    checks.answered_2xx(second)


@requirement("HS-3")
def test_validate_answered_ok(webhook_client: Client, requirement_id: str) -> None:
    checks.answered_ok_body(webhook_client.deliver(VALIDATE))
