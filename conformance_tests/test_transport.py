"""How deliveries travel: a URL the dashboard saves, a certificate the Cloud can verify, no secret in clear, a
production server (URL-*, TLS-*, SRV-*).

Each test is a thin call into the engine (harness/run/suite.py holds the check of the same name); the
engine sends its cases, up to --webhook-parallelism at once, and the test reports its judgement.
"""

from __future__ import annotations

from harness.plugin import Judgement, conformance


@conformance
def test_dashboard_can_save_the_url(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_certificate_verifies(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_secret_not_sent_in_clear(webhook_case: Judgement) -> None:
    webhook_case.judge()


@conformance
def test_not_a_development_server(webhook_case: Judgement) -> None:
    webhook_case.judge()
