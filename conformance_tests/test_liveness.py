"""The receiver outlives what it is sent: it still answers the handshake after the probes (LIVE-*).

Each test is a thin call into the engine (harness/run/suite.py holds the check of the same name); the
engine sends its cases, up to --webhook-parallelism at once, and the test reports its judgement.
"""

from __future__ import annotations

from harness.plugin import Judgement, conformance


@conformance
def test_still_answers_after_bad_input(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_still_answers_at_the_end(webhook_case: Judgement) -> None:
    webhook_case.judge()
