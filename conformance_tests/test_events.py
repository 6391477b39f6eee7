"""Every event the Cloud sends, in every shape of the realistic corpus, with the right secret (EVT-*)."""

from __future__ import annotations

from harness import checks
from harness.client import Client
from harness.deliveries import Shape, corpus, redated, trial_initial_plan_change
from harness.events import DOCUMENT_EVENTS, slug
from harness.plugin import requirement

SHAPES = [(f"{slug(shape.event)}-{shape.name}", shape) for event in DOCUMENT_EVENTS for shape in corpus(event)]


@requirement("EVT-1", cases=SHAPES)
def test_event_gets_2xx(webhook_client: Client, case: Shape) -> None:
    # Dated as the Cloud dates it: now, at the moment of sending.
    checks.delivered(webhook_client.deliver(case.event, data=redated(case.data), shape=case.what))


@requirement("EVT-2", cases=[(slug(e), e) for e in DOCUMENT_EVENTS])
def test_event_answered_ok(webhook_client: Client, case: str) -> None:
    checks.answered_ok_body(webhook_client.deliver(case))


@requirement("EVT-3")
def test_trial_initial_plan_with_old_timestamp_gets_2xx(webhook_client: Client, requirement_id: str) -> None:
    data = trial_initial_plan_change()
    shape = "an Initial Plan of a trial site, its timestamp the site's creation days ago"
    checks.delivered(webhook_client.deliver("Site Plan Change", data=data, shape=shape))
