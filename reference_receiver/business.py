"""Your business logic: one function per event, registered with ``@on``. This is the file to edit.

Handlers run on the processor thread, after the event is stored and acknowledged, in the order of the
event's own timestamp per resource. Each event reaches a handler once when it succeeds; one that raises
is retried (1 s, 2 s, 4 s... up to WEBHOOK_MAX_ATTEMPTS) with the same ``event.key``, so make what it
does idempotent (an upsert keyed on ``event.key``, or on the document's name and ``modified``).
"""

from __future__ import annotations

import logging

from .processing import Event, on

log = logging.getLogger("reference_receiver.business")


@on("Site Plan Change")
def record_plan_change(event: Event) -> None:
    """An example: replace the body with your own (bill the customer, update your records...)."""
    data = event.data
    log.info("plan changed", extra={"site": data.get("site"), "from": data.get("from_plan"), "to": data.get("to_plan")})
