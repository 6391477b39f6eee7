"""How the Cloud's sender reads an answer: what it records as a success, and what the harness cannot see.

Below the checks, because the client needs it too: a handshake the Cloud would count as a success tells the
client that the secret works (cloud-sender.md §4).
"""

from __future__ import annotations

from harness.wire.transport import Exchange

__all__ = ["cloud_success", "outcome_unknown"]


def cloud_success(exchange: Exchange, *, stored: bool = True) -> bool:
    """Would the Cloud record this exchange as a success? A 2xx after the redirects it follows, whose whole
    body its requests decodes and, when the answer is ``stored`` (an event's attempt log; the handshake's is
    not), its attempt log can keep. A redirect to another origin is not followed here, so it counts as a
    failure: the harness is stricter than the Cloud there (the secret would leave)."""
    response = exchange.response
    if response is None or not 200 <= response.status < 300:
        return False
    return response.unreadable is None and not (stored and response.truncated)


def outcome_unknown(exchange: Exchange) -> bool:
    """Is what the Cloud would record out of the harness's sight? A redirect to another origin (the Cloud
    follows it, the harness does not), or an answer still trickling at the harness's wall-clock deadline (the
    Cloud's 5 s read timeout is between bytes, so it reads on)."""
    deadline = exchange.error is not None and exchange.error.kind == "deadline"
    return deadline or exchange.redirect_elsewhere is not None
