"""What ``webhook-conformance send`` shows of its one exchange, as lines or as JSON for scripts.

Masked and escaped as the suite's reports are: the receiver chooses its reason, header names and values and
body, and may echo the secret in any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.config.secret import Secret, redact
from harness.output.explain import safe_text
from harness.wire.transport import Exchange
from harness.wire.untrusted import printable

__all__ = ["Sent", "sent"]

#: The body shown, in characters: more than a failure's excerpt, since the answer is all that is asked for.
BODY_CHARS = 2000


@dataclass(frozen=True)
class Sent:
    #: What was sent, in the harness's words ("Webhook Validate with the right secret").
    sent: str
    url: str
    #: "delivered" (a 2xx), "refused" (any other answer) or "no-response".
    outcome: str
    status: int | None
    reason: str
    headers: list[tuple[str, str]]
    body: str
    elapsed_ms: float
    error: str | None
    hint: str | None

    def lines(self) -> list[str]:
        found = [f"Sent {self.sent} to {self.url}"]
        if self.status is None:
            found.append(f"No response: {self.error}")
        else:
            answer = f"HTTP {self.status} {self.reason}".rstrip()
            found.append(f"{answer} ({self.elapsed_ms:.0f} ms)")
            found += [f"{name}: {value}" for name, value in self.headers]
            found += ["", self.body]
        if self.hint:
            found += ["", f"Hint: {self.hint}"] if self.status is not None else [f"Hint: {self.hint}"]
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "url": self.url,
            "outcome": self.outcome,
            "status": self.status,
            "reason": self.reason,
            "headers": [list(pair) for pair in self.headers],
            "body": self.body,
            "elapsed_ms": self.elapsed_ms,
            "error": self.error,
            "hint": self.hint,
        }


def _shown(text: str, secrets: list[Secret], limit: int) -> str:
    return safe_text(text.encode("latin-1", "replace"), secrets, limit)


def sent(exchange: Exchange, secrets: list[Secret], hint: str | None) -> Sent:
    """The exchange as ``send`` shows it; ``hint`` is the doctor's advice, masked and escaped here too."""
    response = exchange.response
    shown_hint = printable(redact(hint, secrets)) if hint else None
    url = printable(redact(exchange.request.url, secrets))
    elapsed = round(exchange.elapsed * 1000, 1)
    if response is None:
        assert exchange.error is not None
        error = printable(redact(f"{exchange.error.kind}: {exchange.error.detail}", secrets))
        return Sent(exchange.request.description, url, "no-response", None, "", [], "", elapsed, error, shown_hint)
    return Sent(
        sent=exchange.request.description,
        url=url,
        outcome="delivered" if 200 <= response.status < 300 else "refused",
        status=response.status,
        reason=_shown(response.reason, secrets, 80),
        headers=[(_shown(name, secrets, 80), _shown(value, secrets, 200)) for name, value in response.headers],
        body=safe_text(response.body, secrets, BODY_CHARS),
        elapsed_ms=elapsed,
        error=None,
        hint=None if 200 <= response.status < 300 else shown_hint,
    )
