"""How deliveries travel: a URL the dashboard saves, a certificate the Cloud can verify, no secret in clear, a
production server (URL-*, TLS-*, SRV-*)."""

from __future__ import annotations

import dataclasses
import urllib.parse

from harness.judging import checks
from harness.plugin import requirement
from harness.sending.client import Client, Target
from harness.wire import transport


@requirement("URL-1")
def test_dashboard_can_save_the_url(webhook_target: Target, requirement_id: str) -> None:
    checks.dashboard_accepts(webhook_target.url)


@requirement("TLS-1")
def test_certificate_verifies(webhook_client: Client, webhook_target: Target, requirement_id: str) -> None:
    if urllib.parse.urlsplit(webhook_target.url).scheme != "https":
        raise checks.NotApplicable("the target is http, so there is no certificate to verify")
    # Verified as the Cloud verifies: against the public CAs, whatever this run was told to trust
    # (--webhook-ca-bundle) or not to check (--webhook-insecure).
    error = transport.probe(webhook_target.url, dataclasses.replace(webhook_client.options, verify=True))
    checks.certificate_verified(None if error is None or error.kind != "tls" else error.detail)


@requirement("TLS-2")
def test_secret_not_sent_in_clear(webhook_target: Target, requirement_id: str) -> None:
    checks.secret_not_in_clear(webhook_target.url)


@requirement("SRV-1")
def test_not_a_development_server(webhook_client: Client, requirement_id: str) -> None:
    checks.not_a_development_server(webhook_client.exchanges)
