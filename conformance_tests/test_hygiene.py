"""Properties of every response of the session: no leaked secret or debug page, no redirect (LEAK-*, REDIR-*)."""

from __future__ import annotations

import pytest

from harness.judging import checks
from harness.payloads.deliveries import console_request, probes
from harness.plugin import requirement
from harness.sending.client import Client, Target
from harness.wire.transport import Exchange


@pytest.fixture(scope="module")
def every_exchange(webhook_client: Client, webhook_target: Target) -> list[Exchange]:
    """The probes' exchanges, error paths included, plus every exchange the session made before."""
    for request in probes(webhook_target.url, webhook_target.secret):
        webhook_client.send(request)
    return webhook_client.exchanges


@requirement("LEAK-1")
def test_no_response_contains_secret(
    every_exchange: list[Exchange], webhook_target: Target, requirement_id: str
) -> None:
    checks.secret_never_echoed(every_exchange, webhook_target.secret)


@requirement("REDIR-1")
def test_no_delivery_redirected(every_exchange: list[Exchange], requirement_id: str) -> None:
    checks.never_redirected(every_exchange)


@requirement("LEAK-2")
def test_no_debug_page_or_console(
    every_exchange: list[Exchange], webhook_client: Client, webhook_target: Target, requirement_id: str
) -> None:
    # The console first: code execution for anyone is the worst of what debug mode shows.
    checks.console_not_served(webhook_client.send(console_request(webhook_target.url)))
    checks.no_debug_output(every_exchange)
