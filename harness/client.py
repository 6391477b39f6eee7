"""The target of a run and the client that talks to it, recording every exchange."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness import transport
from harness.deliveries import HeaderValue, delivery, right_secret
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
        self, event: str, header: HeaderValue | None = None, *, data: Mapping[str, Any] | None = None
    ) -> transport.Exchange:
        """Send ``event`` like the Cloud would, with ``header`` (default: the target's secret)."""
        chosen = header if header is not None else right_secret(self.target.secret)
        return self.send(delivery(self.target.url, event, chosen, data=data))
