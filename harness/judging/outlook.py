"""What the Cloud would conclude from what this run saw: would it activate the webhook, would it disable it.

Everything here is read from the exchanges as the Cloud's requests would have ended them (same-origin
redirects followed, bodies decoded and kept), not from the checks, which can be stricter.

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

from harness.payloads.events import VALIDATE
from harness.sending.cloud import cloud_success, outcome_unknown
from harness.wire.transport import Exchange

__all__ = ["ATTEMPTS_PER_FAILED_EVENT", "DISABLE_ABOVE", "Outlook", "attempt_failure_rate", "outlook"]

#: The first send and 3 retries (+2, +4, +8 minutes): a failing event's attempts all fall within the hour.
ATTEMPTS_PER_FAILED_EVENT = 4
#: The share of failed attempts above which the hourly job disables an endpoint (strictly above).
DISABLE_ABOVE = 0.70


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
    #: Deliveries redirected to another origin, which the Cloud would follow with the secret (the harness does not).
    redirected: int = 0
    #: Deliveries the Cloud would record as sent although a 301/302/303 turned them into a bodiless GET.
    lost: int = 0
    #: Events with at least one delivery the Cloud would record as failed.
    failing: tuple[str, ...] = ()
    #: A handshake after activation failed: the receiver stopped answering during the run.
    stopped: bool = False
    #: Deliveries whose outcome at the Cloud the harness cannot see (redirected elsewhere, still trickling).
    unknown: int = 0

    @property
    def attempts_failing(self) -> float:
        return attempt_failure_rate(self.failed / self.deliveries) if self.deliveries else 0.0

    @property
    def disabled(self) -> bool | None:
        """Would the hourly job disable the webhook? None when the deliveries the harness cannot see decide it:
        the answer differs between all of them succeeding and all of them failing at the Cloud."""
        at_best = self._disabled_with(0)
        return at_best if at_best == self._disabled_with(self.unknown) else None

    def _disabled_with(self, unknown_failed: int) -> bool:
        total = self.deliveries + self.unknown
        return bool(total) and attempt_failure_rate((self.failed + unknown_failed) / total) > DISABLE_ABOVE

    def lines(self) -> list[str]:
        lines = [f"activation: {self.activation_note}"]
        if self.stopped:
            lines.append(
                "stopped: a later Webhook Validate failed (LIVE-1), so from that moment the Cloud would fail every "
                "delivery and disable the webhook within the hour"
            )
        if not self.deliveries:
            lines.append("auto-disable: no delivery as the Cloud sends them was made, so no failure rate to judge")
            return lines + self._unknown_lines()
        share = self.failed / self.deliveries
        verdict = {
            True: f"above the {DISABLE_ABOVE:.0%} at which the Cloud disables the webhook within the hour",
            False: f"not above the {DISABLE_ABOVE:.0%} at which the Cloud disables a webhook",
            None: "but the deliveries whose outcome is not known here decide whether the Cloud disables the webhook",
        }[self.disabled]
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
        if self.lost:
            lines.append(
                f"lost events: the Cloud would record {self.lost} deliveries as sent, but a 301/302/303 turned each "
                "into a GET without its body: unless the receiver handled the POST before redirecting, the event "
                "never arrives"
            )
        return lines + self._unknown_lines()

    def _unknown_lines(self) -> list[str]:
        if not self.unknown:
            return []
        return [
            f"not known here: {self.unknown} deliveries ({self.redirected} redirected to another origin, which the "
            "Cloud would follow with the body and the secret; the rest still coming at the harness's deadline, "
            "where the Cloud reads on while bytes come), left out of the counts above"
        ]

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
            "lost": self.lost,
            "failing_events": list(self.failing),
            "stopped": self.stopped,
            "unknown": self.unknown,
        }


def _event(exchange: Exchange) -> object:
    try:
        payload = json.loads(exchange.request.body)
    except ValueError:
        return None
    return payload.get("event") if isinstance(payload, dict) else None


def _activation(handshakes: Sequence[Exchange]) -> tuple[bool | None, str]:
    if not handshakes:
        return None, "not judged: no Webhook Validate was sent as the Cloud sends it"
    # validate_endpoint returns the answer to the dashboard and stores nothing: its length does not matter.
    failed = [e for e in handshakes if not cloud_success(e, stored=False)]
    if not failed:
        return True, "would succeed: Webhook Validate got a 2xx twice, as Validate and Activate send it"
    if all(outcome_unknown(e) for e in failed):
        return None, (
            "not known here: Webhook Validate is redirected to another origin, which the Cloud would follow with "
            "the secret (the harness does not), or its answer was still coming at the harness's deadline"
        )
    return False, f"would fail: {len(failed)} of the {len(handshakes)} Webhook Validate got no 2xx the Cloud accepts"


def outlook(exchanges: Iterable[Exchange]) -> Outlook:
    """The Cloud's conclusions from the run's exchanges, as its requests would have ended them."""
    # Each body parsed once: a run makes a hundred deliveries, a load-sized one far more.
    by_event = [(str(_event(e)), e) for e in exchanges if e.request.as_the_cloud]
    handshakes = [e for event, e in by_event if event == VALIDATE]
    # The dashboard's two: Validate, then Activate. Later handshakes (LIVE-1) are about staying up.
    activation, note = _activation(handshakes[:2])
    every = [(event, e) for event, e in by_event if event != VALIDATE]
    # What the harness cannot see is counted apart, never as a failure the Cloud would record.
    unknown = [e for _, e in every if outcome_unknown(e)]
    deliveries = [(event, e) for event, e in every if not outcome_unknown(e)]
    failed = [(event, e) for event, e in deliveries if not cloud_success(e)]
    answered = {event for event, e in deliveries if cloud_success(e)}
    always = tuple(sorted({event for event, _ in deliveries} - answered))
    redirected = len([e for e in unknown if e.redirect_elsewhere])
    lost = len([e for _, e in deliveries if cloud_success(e) and not e.arrived_as_sent])
    failing = tuple(sorted({event for event, _ in failed}))
    stopped = bool(activation) and not all(cloud_success(e, stored=False) for e in handshakes)
    return Outlook(
        activation, note, len(deliveries), len(failed), always, redirected, lost, failing, stopped, len(unknown)
    )
