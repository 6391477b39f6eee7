"""The shared secret in X-Webhook-Secret: wrong values rejected everywhere, no secret handled (AUTH-*).

Each test is a thin call into the engine (harness/run/suite.py holds the check of the same name); the
engine sends its cases, up to --webhook-parallelism at once, and the test reports its judgement.
"""

from __future__ import annotations

from harness.plugin import Judgement, conformance


@conformance
def test_validate_with_bad_secret_gets_401(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_event_with_bad_secret_gets_401(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_empty_secret_header_accepted_without_secret(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_odd_secret_header_gets_401(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_missing_and_wrong_secret_answered_alike(webhook_case: Judgement) -> None:
    webhook_case.judge()
