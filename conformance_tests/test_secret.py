"""The shared secret in X-Webhook-Secret: wrong values rejected everywhere, no secret handled (AUTH-*)."""

from __future__ import annotations

from harness.judging import checks
from harness.payloads.badinput import ODD_SECRET_CASES, OddSecret
from harness.payloads.deliveries import SECRET_VARIANTS, SecretVariant
from harness.payloads.events import DOCUMENT_EVENTS, KNOWN_EVENTS, VALIDATE, slug
from harness.plugin import requirement
from harness.sending.client import Client, Target
from harness.wire.transport import Exchange


def _deliver_variant(client: Client, target: Target, event: str, variant: SecretVariant) -> Exchange:
    """Send ``event`` with a wrong value derived from the target's secret."""
    reason = variant.unusable(target.secret)
    if reason:
        raise checks.NotApplicable(reason)
    return client.deliver(event, variant.header(target.secret))


@requirement("AUTH-1", cases=[(v.name, v) for v in SECRET_VARIANTS])
def test_validate_with_bad_secret_gets_401(webhook_client: Client, webhook_target: Target, case: SecretVariant) -> None:
    checks.answered_401(_deliver_variant(webhook_client, webhook_target, VALIDATE, case))


@requirement("AUTH-2", cases=[(f"{slug(e)}-{v.name}", (e, v)) for e in DOCUMENT_EVENTS for v in SECRET_VARIANTS])
def test_event_with_bad_secret_gets_401(
    webhook_client: Client, webhook_target: Target, case: tuple[str, SecretVariant]
) -> None:
    event, variant = case
    checks.answered_401(_deliver_variant(webhook_client, webhook_target, event, variant))


@requirement("AUTH-3", cases=[(slug(e), e) for e in KNOWN_EVENTS])
def test_empty_secret_header_accepted_without_secret(webhook_client: Client, webhook_target: Target, case: str) -> None:
    if webhook_target.secret:
        raise checks.NotApplicable("a secret is configured; this checks receivers configured without one")
    exchange = webhook_client.deliver(case)
    if case == VALIDATE:
        checks.answered_2xx(exchange)
    else:
        checks.delivered(exchange)


@requirement("AUTH-4", cases=[(case.name, case) for case in ODD_SECRET_CASES])
def test_odd_secret_header_gets_401(webhook_client: Client, webhook_target: Target, case: OddSecret) -> None:
    if not webhook_target.secret:
        raise checks.NotApplicable("no secret is configured, so the receiver is not expected to refuse any header")
    exchange = webhook_client.deliver(VALIDATE, case.header())
    checks.answered_one_of(
        exchange,
        (401, 400, 431),
        "Compare bytes, not str: hmac.compare_digest(header.encode('latin-1'), secret.encode()); answer 401.",
    )


@requirement("AUTH-5")
def test_missing_and_wrong_secret_answered_alike(
    webhook_client: Client, webhook_target: Target, requirement_id: str
) -> None:
    missing, wrong = (next(v for v in SECRET_VARIANTS if v.name == name) for name in ("missing", "wrong-same-length"))
    for variant in (missing, wrong):
        reason = variant.unusable(webhook_target.secret)
        if reason:
            raise checks.NotApplicable(reason)
    first = webhook_client.deliver(VALIDATE, missing.header(webhook_target.secret))
    other = webhook_client.deliver(VALIDATE, wrong.header(webhook_target.secret))
    again = webhook_client.deliver(VALIDATE, missing.header(webhook_target.secret))
    checks.answered_alike(first, other, again)
