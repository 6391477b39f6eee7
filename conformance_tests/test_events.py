"""Every event the Cloud sends, in every shape of the realistic corpus, with the right secret (EVT-*).

Each test is a thin call into the engine (harness/run/suite.py holds the check of the same name); the
engine sends its cases, up to --webhook-parallelism at once, and the test reports its judgement.
"""

from __future__ import annotations

from harness.plugin import Judgement, conformance


@conformance
def test_event_gets_2xx(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_event_answered_ok(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_event_with_the_clouds_old_dates_gets_2xx(webhook_case: Judgement) -> None:
    webhook_case.judge()
