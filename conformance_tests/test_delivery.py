"""How the Cloud really delivers: duplicates, parallel workers, no order, changing payloads (DLV-*).

Each test is a thin call into the engine (harness/run/suite.py holds the check of the same name); the
engine sends its cases, up to --webhook-parallelism at once, and the test reports its judgement.
"""

from __future__ import annotations

from harness.plugin import Judgement, conformance


@conformance
def test_duplicate_delivery_gets_2xx_twice(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_parallel_deliveries_all_get_2xx(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_out_of_order_events_get_2xx(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_unknown_keys_get_2xx(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_unknown_event_gets_2xx(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_generated_payloads_get_2xx(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_latency_p95_under_1s(webhook_case: Judgement) -> None:
    webhook_case.judge()
