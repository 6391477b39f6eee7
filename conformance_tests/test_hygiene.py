"""Properties of every response of the session: no leaked secret or debug page, no redirect (LEAK-*, REDIR-*).

Each test is a thin call into the engine (harness/run/suite.py holds the check of the same name); the
engine sends its cases, up to --webhook-parallelism at once, and the test reports its judgement.
"""

from __future__ import annotations

from harness.plugin import Judgement, conformance


@conformance
def test_no_response_contains_secret(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_no_delivery_redirected(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_no_debug_page_or_console(webhook_case: Judgement) -> None:
    webhook_case.judge()
