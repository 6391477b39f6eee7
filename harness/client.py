"""The target of a run and the client that talks to it, recording every exchange."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness import transport
from harness.deliveries import delivery
from harness.secret import Secret

__all__ = ["Client", "Target"]


@dataclass(frozen=True)
class Target:
    """Where deliveries go, and the secret configured for that receiver in the Cloud's dashboard."""

    url: str
    secret: Secret
    #: True when the target is the bundled reference receiver that the harness started itself.
    embedded: bool = False

    @property
    def description(self) -> str:
        return f"{self.url} (embedded reference receiver)" if self.embedded else self.url


class Client:
    """Sends requests to one target with fixed options, and keeps every exchange for later checks."""

    def __init__(self, target: Target, options: transport.Options) -> None:
        self.target = target
        self.options = options
        self.exchanges: list[transport.Exchange] = []

    def send(self, request: transport.Request) -> transport.Exchange:
        exchange = transport.send(request, self.options)
        self.exchanges.append(exchange)
        return exchange

    def deliver(
        self,
        event: str,
        secret: Secret | None,
        *,
        data: Mapping[str, Any] | None = None,
        header_note: str = "the right secret",
    ) -> transport.Exchange:
        """Send ``event`` like the Cloud would, carrying ``secret`` (None: no header at all)."""
        if secret is not None and not secret:
            header_note = "the empty secret header the Cloud sends when none is configured"
        request = delivery(self.target.url, event, secret, data=data, description=f"{event!r} with {header_note}")
        return self.send(request)
