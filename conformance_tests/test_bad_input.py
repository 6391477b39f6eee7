"""Requests that are not deliveries: refused with the right 4xx, never a crash (BAD-*).

The cases are data (harness/payloads/badinput.py, from receiver-security.md §3); each carries the right secret,
so that only the one thing under test is wrong.
"""

from __future__ import annotations

from harness.judging import checks
from harness.payloads.badinput import BODY_CASES, CONTENT_TYPE_CASES, METHOD_CASES, BadInput, oversize_request
from harness.plugin import requirement
from harness.sending.client import Client, Target


def _cases(cases: tuple[BadInput, ...]) -> list[tuple[str, object]]:
    return [(case.name, case) for case in cases]


@requirement("BAD-1", cases=_cases(BODY_CASES))
def test_malformed_body_gets_4xx(webhook_client: Client, webhook_target: Target, case: BadInput) -> None:
    checks.answered_4xx(webhook_client.send(case.request(webhook_target.url, webhook_target.secret)))


@requirement("BAD-2", cases=_cases(METHOD_CASES))
def test_other_method_gets_405(webhook_client: Client, webhook_target: Target, case: BadInput) -> None:
    exchange = webhook_client.send(case.request(webhook_target.url, webhook_target.secret))
    checks.answered_one_of(exchange, (405,), "Accept only POST at the webhook URL; answer 405 to other methods.")


@requirement("BAD-3", cases=_cases(CONTENT_TYPE_CASES))
def test_non_json_content_type_gets_415(webhook_client: Client, webhook_target: Target, case: BadInput) -> None:
    exchange = webhook_client.send(case.request(webhook_target.url, webhook_target.secret))
    # 422: what FastAPI and others answer for a body they will not take; a refusal all the same.
    checks.answered_one_of(
        exchange, (415, 400, 422), "Check that Content-Type is application/json before parsing; answer 415 otherwise."
    )


@requirement("BAD-4")
def test_oversized_body_gets_413(webhook_client: Client, webhook_target: Target, requirement_id: str) -> None:
    exchange = webhook_client.send(oversize_request(webhook_target.url, webhook_target.secret))
    checks.answered_one_of(
        exchange, (413, 400), "Limit request bodies (64 KiB is plenty) so that the server refuses this with 413."
    )
