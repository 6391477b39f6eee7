"""How the Cloud really delivers: duplicates, parallel workers, no order, changing payloads (DLV-*)."""

from __future__ import annotations

import datetime
import itertools
import uuid
from typing import Any

from harness.config.settings import Settings
from harness.judging import checks
from harness.payloads.deliveries import STAMPED, fresh
from harness.payloads.events import DOCUMENT_EVENTS, slug
from harness.payloads.generate import explore
from harness.payloads.schemas import sample_data
from harness.plugin import requirement
from harness.sending.client import Client

# The Cloud's busiest event: a site's status changes in bursts, and each change is a delivery.
EVENT = "Site Status Update"


@requirement("DLV-1")
def test_duplicate_delivery_gets_2xx_twice(webhook_client: Client, requirement_id: str) -> None:
    data = fresh(EVENT)
    first = webhook_client.deliver(EVENT, data=data)
    again = webhook_client.deliver(EVENT, data=data)  # a retry: the same payload, byte for byte
    checks.delivered(first)
    checks.delivered(again)


@requirement("DLV-2")
def test_parallel_deliveries_all_get_2xx(
    webhook_client: Client, webhook_settings: Settings, requirement_id: str
) -> None:
    # Different sites, so that no order among them is expected: the burst is about concurrency only.
    sites = [f"conformance-harness-{i}.example.com" for i in range(webhook_settings.parallelism)]
    requests = [webhook_client.delivery(EVENT, data=fresh(EVENT, name=site, host_name=site)) for site in sites]
    for exchange in webhook_client.send_at_once(requests):
        checks.delivered(exchange)


@requirement("DLV-3")
def test_out_of_order_events_get_2xx(webhook_client: Client, requirement_id: str) -> None:
    older = fresh(EVENT, status="Installing")
    newer = fresh(EVENT, offset=1000, status="Active")
    checks.delivered(webhook_client.deliver(EVENT, data=newer))
    checks.delivered(webhook_client.deliver(EVENT, data=older))


@requirement("DLV-4")
def test_unknown_keys_get_2xx(webhook_client: Client, requirement_id: str) -> None:
    data = fresh(EVENT, conformance_new_field="a key this receiver has never seen")
    extra = {"conformance_envelope_field": {"added": "by a future sender"}}
    checks.delivered(webhook_client.deliver(EVENT, data=data, extra=extra))


@requirement("DLV-5")
def test_unknown_event_gets_2xx(webhook_client: Client, requirement_id: str) -> None:
    # Shaped like the Cloud's document events, under a name it does not send (yet).
    data = {"doctype": "Site Backup", "name": "conformance-harness.example.com", "status": "Success"}
    checks.delivered(webhook_client.deliver("Site Backup Update", data=data))


@requirement("DLV-6", cases=[(slug(e), e) for e in DOCUMENT_EVENTS])
def test_generated_payloads_get_2xx(webhook_client: Client, webhook_settings: Settings, case: str) -> None:
    # The resource's identity is the harness's own (a generated name must not be a real site's), and new
    # with each payload, in each run, so that random dates are never read as one site's events out of order
    # (DLV-3's concern), even by a receiver that remembers earlier runs.
    identity = [key for key in sample_data(case) if key in ("name", "site", "host_name")]
    run, sends = uuid.uuid4().hex[:8], itertools.count()

    def named(data: dict[str, Any]) -> dict[str, Any]:
        name = f"conformance-{run}-{next(sends)}.example.com"
        # Stamped as the sender stamps them, at the change: a random 2015 "modified" is no payload it sends.
        now = str(datetime.datetime.now())
        return {**data, **dict.fromkeys(identity, name), **{key: now for key in STAMPED if key in data}}

    first = len(webhook_client.exchanges)
    try:
        # The same seed every run: a finding reproduces, and a fixed receiver is seen to be fixed. Not counted
        # as the Cloud's deliveries: shrinking sends many variants of one failing payload.
        found = explore(
            case,
            lambda data: webhook_client.deliver(case, data=named(data), as_the_cloud=False),
            lambda exchange: not (checks.cloud_success(exchange) and exchange.arrived_as_sent),
            examples=webhook_settings.examples,
        )
    except checks.NotApplicable:
        # The client gave up on a receiver that stopped answering: the payload that timed out is the finding.
        timed_out = [e for e in webhook_client.exchanges[first:] if e.response is None]
        if timed_out:
            checks.delivered(timed_out[-1])
        raise
    if found.failure is not None:
        checks.delivered(found.failure)  # the smallest failing payload, as hypothesis shrank it


#: Enough deliveries for a 95th percentile to mean something, when DLV-7 runs without the checks before it.
LATENCY_SAMPLE = 20


@requirement("DLV-7")
def test_latency_p95_under_1s(webhook_client: Client, requirement_id: str) -> None:
    made = [e for e in webhook_client.exchanges if e.request.as_the_cloud]
    for i in range(LATENCY_SAMPLE - len(made)):
        site = f"conformance-latency-{i}.example.com"
        made.append(webhook_client.deliver(EVENT, data=fresh(EVENT, name=site, host_name=site)))
    checks.fast_enough(made)
