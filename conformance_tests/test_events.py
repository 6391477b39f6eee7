"""Every event the Cloud sends, with a realistic payload and the right secret (EVT-*)."""

from __future__ import annotations

from harness import checks
from harness.client import Client
from harness.events import DOCUMENT_EVENTS, slug
from harness.plugin import requirement

EVENTS = [(slug(e), e) for e in DOCUMENT_EVENTS]


@requirement("EVT-1", cases=EVENTS)
def test_event_gets_2xx(webhook_client: Client, case: str) -> None:
    checks.answered_2xx(webhook_client.deliver(case))


@requirement("EVT-2", cases=EVENTS)
def test_event_answered_ok(webhook_client: Client, case: str) -> None:
    checks.answered_ok_body(webhook_client.deliver(case))
