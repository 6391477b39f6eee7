"""The target of a run and the client that talks to it, recording every exchange."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness.config.secret import Secret
from harness.judging.checks import NotApplicable, cloud_success
from harness.payloads.deliveries import HeaderValue, delivery, is_handshake, right_secret
from harness.payloads.events import KNOWN_EVENTS, VALIDATE
from harness.wire import transport

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
        #: A handshake with the target's secret got a 2xx: a later 401 to an event is the receiver's own rule.
        self._secret_accepted = False
        #: No secret is configured and the handshake got 401: the receiver wants one, and nothing else is judged.
        self.refused_without_secret = False

    @property
    def gave_up(self) -> bool:
        """The receiver stopped answering, so later checks were not judged: no verdict can say READY."""
        return self._silent_in_a_row >= GIVE_UP_AFTER

    def _give_up_if_hung(self) -> None:
        if self.refused_without_secret:
            raise NotApplicable(
                "not sent: the receiver refused the handshake without a secret (401), so it expects one; set "
                "WEBHOOK_SECRET to the webhook's secret and run again"
            )
        if self.gave_up:
            raise NotApplicable(
                f"not sent: the receiver did not answer the last {GIVE_UP_AFTER} requests within the timeout "
                "(those checks failed), so it seems hung"
            )

    def send(self, request: transport.Request) -> transport.Exchange:
        """Send, unless the receiver has stopped answering: then the check cannot be judged."""
        self._give_up_if_hung()
        exchange = self._noted(transport.send(request, self.options))
        self.exchanges.append(exchange)
        silent = exchange.error is not None and exchange.error.kind in ("read-timeout", "deadline")
        self._silent_in_a_row = self._silent_in_a_row + 1 if silent else 0
        if self.gave_up and self._answers_a_handshake():
            self._silent_in_a_row = 0  # slow on some deliveries only (say, one event's shapes), not hung
        return exchange

    def _answers_a_handshake(self) -> bool:
        """Does the receiver still answer at all? One handshake, not kept: a probe, not a delivery to judge."""
        probe = self.delivery(VALIDATE, as_the_cloud=False)
        return transport.send(probe, self.options).response is not None

    def _noted(self, exchange: transport.Exchange) -> transport.Exchange:
        """Remember what the Cloud's own deliveries tell about the secret, for the hints and the give-up rule."""
        request = exchange.request
        if not request.as_the_cloud:
            return exchange
        status = exchange.response.status if exchange.response is not None else None
        if is_handshake(request) and cloud_success(exchange):
            self._secret_accepted = True
        elif is_handshake(request) and status == 401 and not self.target.secret:
            self.refused_without_secret = True
        elif status == 401 and self._secret_accepted:
            return dataclasses.replace(exchange, secret_accepted_before=True)
        return exchange

    def deliver(
        self,
        event: str,
        header: HeaderValue | None = None,
        *,
        data: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        as_the_cloud: bool | None = None,
        shape: str | None = None,
    ) -> transport.Exchange:
        """Send ``event`` like the Cloud would, with ``header`` (default: the target's secret)."""
        request = self.delivery(event, header, data=data, extra=extra, as_the_cloud=as_the_cloud, shape=shape)
        return self.send(request)

    def delivery(
        self,
        event: str,
        header: HeaderValue | None = None,
        *,
        data: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        as_the_cloud: bool | None = None,
        shape: str | None = None,
    ) -> transport.Request:
        """The request :meth:`deliver` would send; ``as_the_cloud`` None decides it from the arguments."""
        chosen = header if header is not None else right_secret(self.target.secret)
        if as_the_cloud is None:
            # The Cloud sends its known events, with the configured secret and no keys it does not have yet.
            as_the_cloud = header is None and event in KNOWN_EVENTS and extra is None
        return delivery(self.target.url, event, chosen, data=data, extra=extra, as_the_cloud=as_the_cloud, shape=shape)

    def send_at_once(self, requests: Sequence[transport.Request]) -> list[transport.Exchange]:
        """Send all ``requests`` concurrently, as the Cloud's parallel workers do, each on its own connection."""
        self._give_up_if_hung()
        with ThreadPoolExecutor(max_workers=max(1, len(requests))) as pool:
            exchanges = list(pool.map(lambda request: self._noted(transport.send(request, self.options)), requests))
        self.exchanges.extend(exchanges)
        return exchanges
