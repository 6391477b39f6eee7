"""Requests that are not deliveries: refused with the right 4xx, never a crash (BAD-*).

Each test is a thin call into the engine (harness/run/suite.py holds the check of the same name); the
engine sends its cases, up to --webhook-parallelism at once, and the test reports its judgement.
"""

from __future__ import annotations

from harness.plugin import Judgement, conformance


@conformance
def test_malformed_body_gets_4xx(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_other_method_gets_405(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_non_json_content_type_gets_415(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_oversized_body_gets_413(webhook_case: Judgement) -> None:
    webhook_case.judge()
