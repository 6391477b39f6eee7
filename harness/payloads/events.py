"""The Cloud's event catalogue, read from the schemas: the examples of the envelope's ``event`` (one source).

The reference receiver keeps its own copy (reference_receiver/events.py) by design: teams copy it alone.
"""

from __future__ import annotations

from harness.payloads.schemas import load, slug

__all__ = ["DOCUMENT_EVENTS", "KNOWN_EVENTS", "VALIDATE", "slug"]

#: Every event a receiver can see, the handshake first (schemas/envelope.schema.json).
KNOWN_EVENTS: tuple[str, ...] = tuple(load("envelope")["properties"]["event"]["examples"])

VALIDATE = KNOWN_EVENTS[0]

#: Events fired by documents; each has a schema in ``schemas/events/``.
DOCUMENT_EVENTS: tuple[str, ...] = KNOWN_EVENTS[1:]
