"""The target of a run and the client that talks to it, recording every exchange."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness import transport
from harness.checks import NotApplicable
from harness.deliveries import HeaderValue, delivery, right_secret
from harness.events import KNOWN_EVENTS
from harness.secret import Secret

__all__ = ["GIVE_UP_AFTER", "Client", "Target"]

#: Timeouts in a row after which the receiver is taken as hung: the remaining checks are skipped, not
#: each left to wait out its own timeout.
GIVE_UP_AFTER = 3


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
        self._silent_in_a_row = 0

    @property
    def gave_up(self) -> bool:
        """The receiver stopped answering, so later checks were not judged: no verdict can say READY."""
        return self._silent_in_a_row >= GIVE_UP_AFTER

    def _give_up_if_hung(self) -> None:
        if self.gave_up:
            raise NotApplicable(
                f"not sent: the receiver did not answer the last {GIVE_UP_AFTER} requests within the timeout "
                "(those checks failed), so it seems hung"
            )

    def send(self, request: transport.Request) -> transport.Exchange:
        """Send, unless the receiver has stopped answering: then the check cannot be judged."""
        self._give_up_if_hung()
        exchange = transport.send(request, self.options)
        self.exchanges.append(exchange)
        silent = exchange.error is not None and exchange.error.kind in ("read-timeout", "deadline")
        self._silent_in_a_row = self._silent_in_a_row + 1 if silent else 0
        return exchange

    def deliver(
        self,
        event: str,
        header: HeaderValue | None = None,
        *,
        data: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        as_the_cloud: bool | None = None,
    ) -> transport.Exchange:
        """Send ``event`` like the Cloud would, with ``header`` (default: the target's secret)."""
        return self.send(self.delivery(event, header, data=data, extra=extra, as_the_cloud=as_the_cloud))

    def delivery(
        self,
        event: str,
        header: HeaderValue | None = None,
        *,
        data: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        as_the_cloud: bool | None = None,
    ) -> transport.Request:
        """The request :meth:`deliver` would send; ``as_the_cloud`` None decides it from the arguments."""
        chosen = header if header is not None else right_secret(self.target.secret)
        if as_the_cloud is None:
            # The Cloud sends its known events, with the configured secret and no keys it does not have yet.
            as_the_cloud = header is None and event in KNOWN_EVENTS and extra is None
        return delivery(self.target.url, event, chosen, data=data, extra=extra, as_the_cloud=as_the_cloud)

    def send_at_once(self, requests: Sequence[transport.Request]) -> list[transport.Exchange]:
        """Send all ``requests`` concurrently, as the Cloud's parallel workers do, each on its own connection."""
        self._give_up_if_hung()
        with ThreadPoolExecutor(max_workers=max(1, len(requests))) as pool:
            exchanges = list(pool.map(lambda request: transport.send(request, self.options), requests))
        self.exchanges.extend(exchanges)
        return exchanges
