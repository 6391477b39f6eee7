"""What the Cloud would conclude from what this run saw: would it activate the webhook, would it disable it.

Activation (cloud-sender.md §4): the dashboard sends Webhook Validate on Validate and again on Activate,
and activates only if both get a 2xx. Auto-disable (§5): hourly, an endpoint whose attempts of the last
hour failed more than 70% of the time is disabled. Every failed delivery is attempted 4 times (the first
send and 3 retries, all within 15 minutes), so a share ``f`` of failing events makes ``4f / (1 + 3f)`` of the
attempts fail: a receiver that fails 37% of its events is disabled.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.events import VALIDATE
from harness.report import CheckRecord
from harness.transport import Exchange

__all__ = ["ATTEMPTS_PER_FAILED_EVENT", "DISABLE_ABOVE", "Outlook", "attempt_failure_rate", "outlook"]

#: The first send and 3 retries (+2, +4, +8 minutes): a failing event's attempts all fall within the hour.
ATTEMPTS_PER_FAILED_EVENT = 4
#: The share of failed attempts above which the hourly job disables an endpoint (strictly above).
DISABLE_ABOVE = 0.70
HANDSHAKE_CHECKS = ("HS-1", "HS-2")


def attempt_failure_rate(event_failure_rate: float) -> float:
    """The share of an hour's attempts that fail when ``event_failure_rate`` of the events fail every time."""
    failed = ATTEMPTS_PER_FAILED_EVENT * event_failure_rate
    return failed / (1 - event_failure_rate + failed) if failed else 0.0


@dataclass(frozen=True)
class Outlook:
    #: None when the handshake checks did not run.
    activation: bool | None
    activation_note: str
    #: Deliveries the run made as the Cloud sends them (known events, right secret), handshakes aside.
    deliveries: int
    failed: int
    #: Events whose every delivery failed: an hour in which only they fire disables the webhook.
    always_failing: tuple[str, ...] = ()
    #: Deliveries answered with a redirect, which the Cloud would follow (taking the secret along).
    redirected: int = 0

    @property
    def attempts_failing(self) -> float:
        return attempt_failure_rate(self.failed / self.deliveries) if self.deliveries else 0.0

    @property
    def disabled(self) -> bool:
        return self.attempts_failing > DISABLE_ABOVE

    def lines(self) -> list[str]:
        lines = [f"activation: {self.activation_note}"]
        if not self.deliveries:
            return [*lines, "auto-disable: no delivery as the Cloud sends them was made, so no failure rate to judge"]
        share = self.failed / self.deliveries
        verdict = (
            f"above the {DISABLE_ABOVE:.0%} at which the Cloud disables the webhook within the hour"
            if self.disabled
            else f"not above the {DISABLE_ABOVE:.0%} at which the Cloud disables a webhook"
        )
        lines.append(
            f"auto-disable: {self.failed} of {self.deliveries} deliveries as the Cloud sends them failed "
            f"({share:.0%}); "
            f"with its {ATTEMPTS_PER_FAILED_EVENT - 1} retries of each failure, {self.attempts_failing:.0%} of an "
            f"hour's attempts would fail: {verdict}"
        )
        if self.always_failing:
            lines.append(
                f"auto-disable: every delivery of {', '.join(self.always_failing)} failed; the Cloud has no minimum "
                "sample, so an hour in which only these fire disables the webhook"
            )
        if self.redirected:
            lines.append(
                f"redirects: {self.redirected} deliveries were redirected; the Cloud follows redirects (a 307/308 "
                "with the body and the secret, a 301/302/303 as a GET), so its outcome depends on where they lead"
            )
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "activation": self.activation,
            "activation_note": self.activation_note,
            "deliveries": self.deliveries,
            "failed": self.failed,
            "attempts_failing": round(self.attempts_failing, 4),
            "auto_disable": self.disabled,
            "always_failing": list(self.always_failing),
            "redirected": self.redirected,
        }


def _event(exchange: Exchange) -> object:
    try:
        payload = json.loads(exchange.request.body)
    except ValueError:
        return None
    return payload.get("event") if isinstance(payload, dict) else None


def _got_2xx(exchange: Exchange) -> bool:
    return exchange.response is not None and 200 <= exchange.response.status < 300


def _activation(records: Sequence[CheckRecord]) -> tuple[bool | None, str]:
    handshake = [r for r in records if r.requirement in HANDSHAKE_CHECKS]
    failed = [r.requirement for r in handshake if r.outcome in ("failed", "error")]
    if failed:
        return False, f"would fail: {', '.join(sorted(set(failed)))} failed (Validate and Activate each need a 2xx)"
    if {r.requirement for r in handshake if r.outcome == "passed"} == set(HANDSHAKE_CHECKS):
        return True, "would succeed: Webhook Validate got a 2xx twice, as Validate and Activate send it"
    return None, "not judged: the handshake checks (HS-1, HS-2) did not run"


def outlook(records: Sequence[CheckRecord], exchanges: Iterable[Exchange]) -> Outlook:
    """The Cloud's conclusions from the run's check records and its exchanges."""
    activation, note = _activation(records)
    # Each body parsed once: a run makes a hundred deliveries, a load-sized one far more.
    by_event = [(str(_event(e)), e) for e in exchanges if e.request.as_the_cloud]
    deliveries = [e for event, e in by_event if event != VALIDATE]
    failed = len([e for e in deliveries if not _got_2xx(e)])
    answered = {event for event, e in by_event if _got_2xx(e)}
    always = tuple(sorted({event for event, e in by_event if event != VALIDATE} - answered))
    redirected = len([e for e in deliveries if e.response is not None and 300 <= e.response.status < 400])
    return Outlook(activation, note, len(deliveries), failed, always, redirected)
