"""What this receiver relies on in each of the Cloud's events, as data.

The receiver is meant to be copied out of this kit, so it carries its own small catalogue instead of
the JSON Schemas: the keys it needs (a delivery without them is refused with 400), the payload's own clock
(arrival order is not the order of events) and the resource whose events are put in order. Duplicates are
recognised by the whole payload (``core``), not by keys listed here. ``tests/test_reference_receiver.py``
checks this table against ``schemas/``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DOCUMENT_EVENTS", "RULES", "VALIDATE", "Rule"]

VALIDATE = "Webhook Validate"


@dataclass(frozen=True)
class Rule:
    """How one event is checked and ordered."""

    doctype: str
    #: Keys a handler relies on: present, and a string. Anything else may drift without a rejection.
    required: tuple[str, ...]
    #: The payload's own timestamp, by which events of one resource are put in order.
    clock: str
    #: The key naming the resource whose events must be processed in order.
    resource: str
    #: A snapshot of a document: an older one arriving after a newer one was processed is stale.
    snapshot: bool


_STATUS = ("doctype", "name", "status")

RULES: dict[str, Rule] = {
    "Site Status Update": Rule("Site", _STATUS, "modified", "name", snapshot=True),
    "Bench Status Update": Rule("Bench", _STATUS, "modified", "name", snapshot=True),
    "Bench Deploy Status Update": Rule("Deploy Candidate Build", _STATUS, "modified", "name", snapshot=True),
    # Each plan change is its own document (a random name), fired once; a site's changes are ordered.
    "Site Plan Change": Rule("Site Plan Change", ("doctype", "name", "type"), "timestamp", "site", snapshot=False),
}

DOCUMENT_EVENTS: tuple[str, ...] = tuple(RULES)
