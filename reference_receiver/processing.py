"""Business logic, run from the inbox after the Cloud has its answer: handlers, retries, order.

Register a handler per event with ``@on("Site Plan Change")``. The processor thread hands it each stored
event once, in the order of the event's own timestamp per resource (arrival order means nothing: the
Cloud sends from 8 workers, newest first, and retries minutes later). A handler that raises is retried
with a growing delay, up to ``max_attempts``, then the event is marked "failed" with the error: the Cloud
never sees any of it, since a non-2xx would only make it retry and, past 70% failures, disable the webhook.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .events import DOCUMENT_EVENTS, RULES
from .inbox import Claim, Inbox, Outcome, Stored

__all__ = ["HANDLERS", "Event", "Handler", "Processor", "on"]

log = logging.getLogger("reference_receiver.processing")


@dataclass(frozen=True)
class Event:
    """What a handler gets: the event's name, its data, and its deduplication key."""

    name: str
    data: dict[str, Any]
    key: str
    attempt: int  # 1 on the first try
    #: PostgreSQL's connection, in the transaction that records this event's outcome: what a handler writes
    #: through it commits with the outcome, exactly once. None on the other stores.
    connection: Any = None


Handler = Callable[[Event], object]
#: Business logic, by event name. Fill it with ``@on(...)``.
HANDLERS: dict[str, list[Handler]] = {}


def on(event: str, registry: dict[str, list[Handler]] | None = None) -> Callable[[Handler], Handler]:
    """Register ``handler(event)`` for a document event."""
    if event not in DOCUMENT_EVENTS:  # catches typos, and the handshake must stay free of side effects
        raise ValueError(f"not a document event the Cloud sends: {event!r}")

    def register(handler: Handler) -> Handler:
        (HANDLERS if registry is None else registry).setdefault(event, []).append(handler)
        return handler

    return register


class Processor:
    """Runs the handlers of stored events on its own thread until ``stop()``."""

    def __init__(
        self,
        inbox: Inbox,
        handlers: Mapping[str, list[Handler]] | None = None,
        *,
        order_window: float = 5.0,
        max_attempts: int = 5,
        retention_days: float = 7.0,
        poll: float = 0.2,
    ) -> None:
        self.inbox = inbox
        self.handlers = HANDLERS if handlers is None else handlers
        self.order_window = order_window  # events wait this long, so that late ones can be put in order
        self.max_attempts = max_attempts
        self.retention = retention_days * 86400
        self._poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inbox-processor", daemon=True)
        self._last_purge = 0.0

    def start(self) -> Processor:
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the handler in progress, then stop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run_once(self, now: float | None = None) -> int:
        """Process what is due now; the number of events handled."""
        now = time.time() if now is None else now
        due = self.inbox.due(now, now - self.order_window, limit=100)
        ignored: list[Outcome] = []  # no handler wants them: written together, without a claim
        for stored in due:  # one resource appears once in a batch, so its events stay in order
            if self._stop.is_set():
                break
            if not self.handlers.get(stored.record.event):
                ignored.append(Outcome(stored.seq, "ignored"))
                continue
            try:
                self._claim_and_handle(stored, now)
            except Exception:  # this event's store failed: the others of the batch still go on
                log.exception("inbox processing failed", extra={"key": stored.record.key[:16]})
        if ignored:
            self.inbox.settle(ignored)
        if self.retention and now - self._last_purge > 3600:
            self._last_purge = now
            self.inbox.purge(now - self.retention)
        return len(due)

    def _claim_and_handle(self, stored: Stored, now: float) -> None:
        # Written at once, so a handler that succeeded is not run again after a restart; held, so that no
        # other processor sharing the store runs it, or its resource, at the same time.
        with self.inbox.claim(stored, now) as claim:
            if claim is not None:
                # Superseded is decided while held: another processor may just have finished a newer one.
                claim.settle(self._superseded(claim.stored) or self._handle(claim, now))

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    busy = self.run_once()
                except Exception:  # the store is unavailable: try again, the events are safe where they are
                    log.exception("inbox processing failed")
                    busy = 0
                if not busy:
                    self._stop.wait(self._poll)
        except BaseException:
            log.critical("the processor stopped: no event is processed until a restart", exc_info=True)
            raise

    def _superseded(self, stored: Stored) -> Outcome | None:
        """ "superseded" for an older snapshot of a document than one already applied, else None."""
        record = stored.record
        rule = RULES.get(record.event)
        if (
            rule
            and rule.snapshot
            and record.occurred_at
            and record.occurred_at < self.inbox.newest_done(record.resource)
        ):
            # A newer snapshot of the same document was applied already: applying this one would go back.
            log.info("event superseded", extra={"event": record.event, "key": record.key[:16]})
            return Outcome(stored.seq, "superseded")
        return None

    def _handle(self, claim: Claim, now: float) -> Outcome:
        stored, record = claim.stored, claim.stored.record
        data = json.loads(record.payload)["data"]
        event = Event(record.event, data, record.key, stored.attempts + 1, claim.connection)
        try:
            for handler in self.handlers[record.event]:
                handler(event)
            why = claim.problem()
            if why is not None:
                raise RuntimeError(why)
        except BaseException as e:  # even SystemExit: one event must not stop the processing of all others
            return self._failed(stored, e, now)
        return Outcome(stored.seq, "done")

    def _failed(self, stored: Stored, error: BaseException, now: float) -> Outcome:
        attempt = stored.attempts + 1
        try:
            reason = f"{type(error).__name__}: {error}"[:500]
        except Exception:  # an exception whose str() fails
            reason = type(error).__name__
        fields = {"event": stored.record.event, "key": stored.record.key[:16], "attempt": attempt}
        if attempt >= self.max_attempts:
            log.error("handler failed, giving up", exc_info=error, extra=fields)
            return Outcome(stored.seq, "failed", reason)
        log.warning("handler failed, will retry", exc_info=error, extra=fields)
        return Outcome(stored.seq, "pending", reason, retry_at=now + min(2.0 ** (attempt - 1), 300.0))
