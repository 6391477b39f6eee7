"""The target of a run and the client that talks to it, recording every exchange.

Thread-safe: the engine sends independent cases at once, as the Cloud's workers do. Each case talks through
its own :meth:`Client.view`, which records the case's exchanges as well as the run's.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness.config.secret import Secret
from harness.payloads.deliveries import HeaderValue, delivery, is_handshake, right_secret
from harness.payloads.events import KNOWN_EVENTS, VALIDATE
from harness.sending.cloud import cloud_success
from harness.wire import transport

__all__ = ["GIVE_UP_AFTER", "Client", "NotSent", "Target"]

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


class NotSent(Exception):  # noqa: N818 - an outcome: the request was not sent, so nothing can be judged
    """The client refused to send: the receiver seems hung, or it wants a secret the run does not have."""


class _Shared:
    """What every view of one client shares: the run's exchanges and what they taught, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exchanges: list[transport.Exchange] = []
        self.silent_in_a_row = 0
        #: Decided once a handshake probe after GIVE_UP_AFTER timeouts in a row got no answer either.
        self.hung = False
        #: One probe at a time: the other senders go on meanwhile, and nobody gives up before its verdict.
        self.probing = threading.Lock()
        #: A handshake with the target's secret got a 2xx: a later 401 to an event is the receiver's own rule.
        self.secret_accepted = False
        #: No secret is configured and the handshake got 401: the receiver wants one, and nothing else is judged.
        self.refused_without_secret = False


class Client:
    """Sends requests to one target with fixed options, and keeps every exchange for later checks."""

    def __init__(self, target: Target, options: transport.Options, *, _shared: _Shared | None = None) -> None:
        self.target = target
        self.options = options
        self._shared = _shared or _Shared()
        #: This view's own exchanges, in the order they were sent; the run's are :attr:`exchanges`.
        self.own: list[transport.Exchange] = []

    def view(self) -> Client:
        """A client for one case: same target and state, with its own record of what it sent."""
        return Client(self.target, self.options, _shared=self._shared)

    @property
    def exchanges(self) -> list[transport.Exchange]:
        """Every exchange of the run so far, in the order they ended (a copy)."""
        with self._shared.lock:
            return list(self._shared.exchanges)

    @property
    def refused_without_secret(self) -> bool:
        return self._shared.refused_without_secret

    @property
    def gave_up(self) -> bool:
        """The receiver stopped answering, so later checks were not judged: no verdict can say READY."""
        return self._shared.hung

    def _give_up_if_hung(self) -> None:
        if self.refused_without_secret:
            raise NotSent(
                "not sent: the receiver refused the handshake without a secret (401), so it expects one; set "
                "WEBHOOK_SECRET to the webhook's secret and run again"
            )
        if self.gave_up:
            raise NotSent(
                f"not sent: the receiver did not answer the last {GIVE_UP_AFTER} requests within the timeout "
                "(those checks failed), so it seems hung"
            )

    def send(self, request: transport.Request) -> transport.Exchange:
        """Send, unless the receiver has stopped answering: then the check cannot be judged."""
        self._give_up_if_hung()
        exchange = self._kept(transport.send(request, self.options))
        self._judge_silence()
        return exchange

    def _judge_silence(self) -> None:
        """After GIVE_UP_AFTER timeouts in a row, one handshake decides: hung, or slow on some deliveries only
        (say, one event's shapes), which are then judged as they come."""
        shared = self._shared
        if shared.silent_in_a_row < GIVE_UP_AFTER or shared.hung or not shared.probing.acquire(blocking=False):
            return
        try:
            if shared.silent_in_a_row >= GIVE_UP_AFTER:
                answered = self._answers_a_handshake()
                with shared.lock:
                    shared.hung = not answered
                    shared.silent_in_a_row = 0
        finally:
            shared.probing.release()

    def _kept(self, exchange: transport.Exchange) -> transport.Exchange:
        exchange = self._noted(exchange)
        silent = exchange.error is not None and exchange.error.kind in ("read-timeout", "deadline")
        with self._shared.lock:
            self._shared.exchanges.append(exchange)
            self._shared.silent_in_a_row = self._shared.silent_in_a_row + 1 if silent else 0
        self.own.append(exchange)
        return exchange

    def withdraw(self, exchanges: Sequence[transport.Exchange]) -> None:
        """Count ``exchanges`` as the harness's, not the Cloud's: refusals its own concurrency caused. They
        stay in the record (every answer is still judged for leaks), out of the outlook and the latency."""
        mine = {id(exchange) for exchange in exchanges}
        with self._shared.lock:
            self._shared.exchanges = [
                dataclasses.replace(e, request=dataclasses.replace(e.request, as_the_cloud=False))
                if id(e) in mine
                else e
                for e in self._shared.exchanges
            ]

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
        shared = self._shared
        if is_handshake(request) and cloud_success(exchange):
            shared.secret_accepted = True
        elif is_handshake(request) and status == 401 and not self.target.secret:
            shared.refused_without_secret = True
        elif status == 401 and shared.secret_accepted:
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
            sent = list(pool.map(lambda request: transport.send(request, self.options), requests))
        kept = [self._kept(exchange) for exchange in sent]
        self._judge_silence()
        return kept
