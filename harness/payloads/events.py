"""The Cloud's event catalogue, as its sender defines it (cloud-sender.md §1)."""

from __future__ import annotations

VALIDATE = "Webhook Validate"

#: Events fired by documents; each has a schema in ``schemas/events/``.
DOCUMENT_EVENTS: tuple[str, ...] = (
    "Site Status Update",
    "Site Plan Change",
    "Bench Status Update",
    "Bench Deploy Status Update",
)

#: Every event a receiver can see, the handshake first.
KNOWN_EVENTS: tuple[str, ...] = (VALIDATE, *DOCUMENT_EVENTS)


def slug(event: str) -> str:
    """The file-name and test-id form of an event name: ``Site Plan Change`` -> ``site-plan-change``."""
    return "-".join(event.lower().split())
