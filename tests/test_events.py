"""The event catalogue: the handshake first, the document events, and the slug that names their schemas."""

from __future__ import annotations

import pytest

from harness.payloads import schemas
from harness.payloads.events import DOCUMENT_EVENTS, KNOWN_EVENTS, VALIDATE, slug


def test_the_handshake_is_webhook_validate() -> None:
    assert VALIDATE == "Webhook Validate"


def test_known_events_are_the_handshake_then_the_document_events() -> None:
    assert KNOWN_EVENTS[0] == VALIDATE
    assert (VALIDATE, *DOCUMENT_EVENTS) == KNOWN_EVENTS
    assert VALIDATE not in DOCUMENT_EVENTS
    assert len(set(KNOWN_EVENTS)) == len(KNOWN_EVENTS)


def test_document_events_are_the_four_the_sender_fires() -> None:
    assert DOCUMENT_EVENTS == (
        "Site Status Update",
        "Site Plan Change",
        "Bench Status Update",
        "Bench Deploy Status Update",
    )


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("Site Plan Change", "site-plan-change"),
        ("Webhook Validate", "webhook-validate"),
        ("Bench Deploy Status Update", "bench-deploy-status-update"),
        ("  Site   Status\tUpdate\n", "site-status-update"),
        ("Conformance Probe", "conformance-probe"),
        ("single", "single"),
        ("", ""),
    ],
)
def test_slug_lowers_and_joins_the_words(event: str, expected: str) -> None:
    assert slug(event) == expected


def test_slugs_tell_the_known_events_apart() -> None:
    assert len({slug(event) for event in KNOWN_EVENTS}) == len(KNOWN_EVENTS)


@pytest.mark.parametrize("event", KNOWN_EVENTS)
def test_each_known_event_has_the_schema_its_slug_names(event: str) -> None:
    path = schemas.schema_dir() / "events" / f"{slug(event)}.schema.json"
    assert path.is_file()
    schema = schemas.event_schema(event)
    assert schema is not None
    assert schema["title"] == f"{event}: data"


def test_an_unknown_event_has_no_schema() -> None:
    assert schemas.event_schema("Conformance Probe") is None
