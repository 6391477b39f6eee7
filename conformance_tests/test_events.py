"""Every event the Cloud sends, in every shape of the realistic corpus, with the right secret (EVT-*)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.judging import checks
from harness.payloads.deliveries import OLD_DATES, Shape, corpus, sent_now
from harness.payloads.events import DOCUMENT_EVENTS, slug
from harness.plugin import requirement
from harness.sending.client import Client

SHAPES = [(f"{slug(shape.event)}-{shape.name}", shape) for event in DOCUMENT_EVENTS for shape in corpus(event)]


@requirement("EVT-1", cases=SHAPES)
def test_event_gets_2xx(webhook_client: Client, case: Shape) -> None:
    # Dated as the Cloud dates it: now, at the moment of sending.
    checks.delivered(webhook_client.deliver(case.event, data=sent_now(case.event, case.data), shape=case.what))


@requirement("EVT-2", cases=[(slug(e), e) for e in DOCUMENT_EVENTS])
def test_event_answered_ok(webhook_client: Client, case: str) -> None:
    checks.answered_ok_body(webhook_client.deliver(case))


@requirement("EVT-3", cases=[(name, (what, event, build)) for name, what, event, build in OLD_DATES])
def test_event_with_the_clouds_old_dates_gets_2xx(
    webhook_client: Client, case: tuple[str, str, Callable[[], dict[str, Any]]]
) -> None:
    what, event, build = case
    checks.delivered(webhook_client.deliver(event, data=build(), shape=what))
