"""The validation handshake: what the dashboard sends before it activates a webhook (HS-*).

Each test is a thin call into the engine (harness/run/suite.py holds the check of the same name); the
engine sends its cases, up to --webhook-parallelism at once, and the test reports its judgement.
"""

from __future__ import annotations

from harness.plugin import Judgement, conformance


@conformance
def test_validate_gets_2xx(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_second_validate_gets_2xx(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_validate_answered_ok(webhook_case: Judgement) -> None:
    webhook_case.judge()
