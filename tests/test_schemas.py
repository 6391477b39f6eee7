"""The JSON Schemas: well formed, faithful to the Cloud's sender (cloud-sender.md §2), tolerant of
what the Cloud may add, and strict about the value types it does send."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from harness.events import DOCUMENT_EVENTS, KNOWN_EVENTS, VALIDATE, slug
from harness.schemas import delivery_errors, event_schema, load, sample_data, schema_dir, schema_files

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://cloud-webhook-conformance.example/schemas/"
#: The schemas of deliveries; the others (e.g. the requirement catalogue's) describe the kit's own files.
DELIVERY_SCHEMAS = ("envelope", "common", *(f"events/{slug(event)}" for event in KNOWN_EVENTS))

SITE = "Site Status Update"
PLAN = "Site Plan Change"
BENCH = "Bench Status Update"
BUILD = "Bench Deploy Status Update"

# --------------------------------------------------------------------------------------------------
# What the sender emits (cloud-sender.md §1 and §2.3), as data.

DEFAULT_FIELDS = ["doctype", "name", "owner", "creation", "modified", "modified_by", "docstatus", "idx"]

#: The keys of ``data``, in the sender's order: the default fields, then ``dashboard_fields``.
SENDER_KEYS: dict[str, list[str]] = {
    SITE: [
        *DEFAULT_FIELDS,
        "ip",
        "status",
        "group",
        "team",
        "plan",
        "setup_wizard_complete",
        "archive_failed",
        "cluster",
        "bench",
        "database_access_connection_limit",
        "trial_end_date",
        "tags",
        "server",
        "host_name",
        "skip_auto_updates",
        "additional_system_user_created",
        "label",
        "signup_time",
        "account_request",
        "allow_physical_backup_by_user",
        "site_usage_exceeded",
        "is_monitoring_disabled",
        "is_dedicated_server",
        "reason_for_disabling_monitoring",
        "creation_failed",
        "fatal_site_update",
        "standby_for_product",
    ],
    PLAN: [*DEFAULT_FIELDS, "from_plan", "to_plan", "type", "site", "timestamp"],
    BENCH: [
        *DEFAULT_FIELDS,
        "group",
        "status",
        "cluster",
        "is_ssh_proxy_setup",
        "inplace_update_docker_image",
    ],
    BUILD: [
        *DEFAULT_FIELDS,
        "status",
        "deployed",
        "build_start",
        "build_end",
        "build_duration",
        "build_error",
        "group",
        "retry_count",
        "team",
        "deploy_candidate",
    ],
}

#: The key counts cloud-sender.md states, to catch a slip in SENDER_KEYS.
SENDER_KEY_COUNTS = {SITE: 35, PLAN: 13, BENCH: 13, BUILD: 18}

DOCTYPES = {SITE: "Site", PLAN: "Site Plan Change", BENCH: "Bench", BUILD: "Deploy Candidate Build"}

#: The enumerated keys and every value the sender can put in them.
ENUMS: dict[tuple[str, str], list[str]] = {
    (SITE, "status"): [
        "Pending",
        "Installing",
        "Updating",
        "Active",
        "Inactive",
        "Broken",
        "Archived",
        "Suspended",
        "Recovering",
    ],
    (BENCH, "status"): ["Pending", "Installing", "Updating", "Active", "Broken", "Archived"],
    (BUILD, "status"): ["Draft", "Scheduled", "Pending", "Preparing", "Running", "Success", "Failure"],
    (PLAN, "type"): ["Initial Plan", "Upgrade", "Downgrade"],
}

#: What a receiver can rely on; nothing else is required.
REQUIRED: dict[str, list[str]] = {
    VALIDATE: [],
    SITE: ["doctype", "name", "status"],
    PLAN: ["doctype", "name", "type"],
    BENCH: ["doctype", "name", "status"],
    BUILD: ["doctype", "name", "status"],
}

#: The sender's own example deliveries, verbatim from cloud-sender.md §2.3.
SENDER_EXAMPLE_SITE = """\
{"event": "Site Status Update", "data": {"doctype": "Site", "name": "acme.frappe.cloud",
 "owner": "owner@acme.com", "creation": "2025-03-01 10:04:41.244578",
 "modified": "2025-03-01 10:09:34.381793", "modified_by": "Administrator", "docstatus": 0, "idx": 0,
 "ip": null, "status": "Active", "group": "bench-0008", "team": "dnjt4bkes2", "plan": "USD 10",
 "setup_wizard_complete": 0, "archive_failed": 0, "cluster": "Mumbai", "bench": "bench-0008-000005-f1",
 "database_access_connection_limit": 16, "trial_end_date": null, "tags": [], "server": "f1-mumbai.frappe.cloud",
 "host_name": "acme.frappe.cloud", "skip_auto_updates": 0, "additional_system_user_created": 1,
 "label": null, "signup_time": null, "account_request": null, "allow_physical_backup_by_user": 0,
 "site_usage_exceeded": 0, "is_monitoring_disabled": 0, "is_dedicated_server": null,
 "reason_for_disabling_monitoring": null, "creation_failed": null, "fatal_site_update": null,
 "standby_for_product": null}}
"""
SENDER_EXAMPLE_PLAN = """\
{"event": "Site Plan Change", "data": {"doctype": "Site Plan Change", "name": "368704046d",
 "owner": "owner@acme.com", "creation": "2024-09-24 11:29:41.596739", "modified": "2024-09-24 11:29:41.596739",
 "modified_by": "owner@acme.com", "docstatus": 0, "idx": 0, "from_plan": "USD 10", "to_plan": "USD 25",
 "type": "Upgrade", "site": "acme.frappe.cloud", "timestamp": "2024-09-24 11:29:41.596639"}}
"""
SENDER_EXAMPLE_BENCH = """\
{"event": "Bench Status Update", "data": {"doctype": "Bench", "name": "bench-0008-000005-f1",
 "owner": "Administrator", "creation": "2025-03-01 09:00:00.123456", "modified": "2025-03-01 09:00:05.654321",
 "modified_by": "Administrator", "docstatus": 0, "idx": 0, "group": "bench-0008", "status": "Active",
 "cluster": "Mumbai", "is_ssh_proxy_setup": 0, "inplace_update_docker_image": null}}
"""
SENDER_EXAMPLE_BUILD = """\
{"event": "Bench Deploy Status Update", "data": {"doctype": "Deploy Candidate Build", "name": "k2j4h5g6f7",
 "owner": "owner@acme.com", "creation": "2025-03-01 08:50:00.000100", "modified": "2025-03-01 08:58:12.000200",
 "modified_by": "owner@acme.com", "docstatus": 0, "idx": 0, "status": "Success", "deployed": null,
 "build_start": "2025-03-01 08:51:00.000300", "build_end": "2025-03-01 08:58:12.000200",
 "build_duration": "0:07:11.999900", "build_error": null, "group": "bench-0008", "retry_count": 0,
 "team": "dnjt4bkes2", "deploy_candidate": "deploy-0008-000123"}}
"""
SENDER_EXAMPLES = {
    SITE: SENDER_EXAMPLE_SITE,
    PLAN: SENDER_EXAMPLE_PLAN,
    BENCH: SENDER_EXAMPLE_BENCH,
    BUILD: SENDER_EXAMPLE_BUILD,
}

# --------------------------------------------------------------------------------------------------
# Helpers.


def _relative(path: Path) -> str:
    return path.relative_to(schema_dir()).as_posix()


def _document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _delivery(event: str, **changes: Any) -> dict[str, Any]:
    """The event's default delivery, with some ``data`` keys replaced."""
    data = copy.deepcopy(sample_data(event))
    data.update(changes)
    return {"event": event, "data": data}


def _without(event: str, key: str) -> dict[str, Any]:
    """The event's default delivery without one ``data`` key."""
    delivery = _delivery(event)
    del delivery["data"][key]
    return delivery


def _keywords(node: object, pointer: str = "") -> Iterator[tuple[str, str, object]]:
    """Every (pointer, keyword, value) in a schema, skipping the instance data under examples/const/enum."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield pointer, key, value
            if key not in ("examples", "const", "enum", "default"):
                yield from _keywords(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _keywords(item, f"{pointer}/{index}")


def _strings(node: object) -> Iterator[str]:
    """Every string value in an instance, at any depth."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


_HOST = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b"
)


def _unreserved_names(text: str) -> list[str]:
    """The host names (including email domains) in ``text`` that are not under ``example.com``."""
    hosts = (match.group(0).lower() for match in _HOST.finditer(text))
    return [host for host in hosts if host != "example.com" and not host.endswith(".example.com")]


SCHEMA_FILES = [pytest.param(path, id=_relative(path)) for path in schema_files()]
EXAMPLES = [
    pytest.param(event, example, id=f"{slug(event)}-{index}")
    for event in KNOWN_EVENTS
    for index, example in enumerate(load(f"events/{slug(event)}")["examples"])
]
DOCUMENT_EXAMPLES = [case for case in EXAMPLES if case.values[0] in DOCUMENT_EVENTS]
SENDER_EXAMPLE_CASES = [pytest.param(event, text, id=slug(event)) for event, text in SENDER_EXAMPLES.items()]

# --------------------------------------------------------------------------------------------------
# Every schema file is a well-formed, identifiable draft 2020-12 schema.


@pytest.mark.parametrize("path", SCHEMA_FILES)
def test_schema_is_valid_draft_2020_12(path: Path) -> None:
    schema = _document(path)
    assert schema["$schema"] == DRAFT_2020_12
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", SCHEMA_FILES)
def test_schema_has_id_title_and_description(path: Path) -> None:
    schema = _document(path)
    assert schema["$id"] == ID_BASE + _relative(path)
    assert schema["title"].strip()
    assert schema["description"].strip()


def test_schema_ids_are_unique() -> None:
    ids = [_document(path)["$id"] for path in schema_files()]
    assert len(ids) == len(set(ids))


def test_delivery_schemas_exist() -> None:
    found = {_relative(path).removesuffix(".schema.json") for path in schema_files()}
    assert set(DELIVERY_SCHEMAS) <= found


# --------------------------------------------------------------------------------------------------
# One schema per known event, and no schema for an event the Cloud does not send.


@pytest.mark.parametrize("event", KNOWN_EVENTS)
def test_known_event_has_exactly_one_schema(event: str) -> None:
    matches = [path for path in schema_files() if _relative(path) == f"events/{slug(event)}.schema.json"]
    assert len(matches) == 1
    assert event_schema(event) == _document(matches[0])


def test_every_event_schema_belongs_to_a_known_event() -> None:
    known = {f"events/{slug(event)}.schema.json" for event in KNOWN_EVENTS}
    event_files = {_relative(path) for path in schema_files() if _relative(path).startswith("events/")}
    assert event_files == known


# --------------------------------------------------------------------------------------------------
# Examples: valid, realistic, and recognisably synthetic.


@pytest.mark.parametrize(("event", "example"), EXAMPLES)
def test_example_validates(event: str, example: dict[str, Any]) -> None:
    assert delivery_errors({"event": event, "data": example}) == []


def test_envelope_examples_validate() -> None:
    for example in load("envelope")["examples"]:
        assert delivery_errors(example) == []


@pytest.mark.parametrize("path", SCHEMA_FILES)
def test_examples_use_only_reserved_names(path: Path) -> None:
    texts = [
        text for _, keyword, value in _keywords(_document(path)) if keyword == "examples" for text in _strings(value)
    ]
    assert [name for text in texts for name in _unreserved_names(text)] == []


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("acme.frappe.cloud", True),
        ("owner@acme.com", True),
        ("registry.frappe.cloud/fc/bench:tag", True),
        ("notexample.com", True),
        ("conformance-harness.example.com", False),
        ("harness@example.com", False),
        ("registry.example.com/harness/bench-harness:deploy-harness-000002", False),
        ("0:07:11.999900", False),
        ("2026-06-18 10:02:14.244578", False),
        ("USD 10", False),
    ],
)
def test_reserved_name_check_flags_real_names(text: str, flagged: bool) -> None:
    assert bool(_unreserved_names(text)) is flagged


def test_webhook_validate_example_is_empty() -> None:
    assert load(f"events/{slug(VALIDATE)}")["examples"] == [{}]


@pytest.mark.parametrize("event", DOCUMENT_EVENTS)
def test_document_event_has_two_examples(event: str) -> None:
    assert len(load(f"events/{slug(event)}")["examples"]) == 2


def test_plan_change_examples_are_initial_plan_then_upgrade() -> None:
    examples = load(f"events/{slug(PLAN)}")["examples"]
    assert [(e["type"], e["from_plan"]) for e in examples] == [("Initial Plan", ""), ("Upgrade", "USD 10")]


def test_examples_include_a_datetime_without_microseconds() -> None:
    whole_seconds = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
    texts = [text for event in DOCUMENT_EVENTS for text in _strings(load(f"events/{slug(event)}")["examples"])]
    assert any(whole_seconds.match(text) for text in texts)


# --------------------------------------------------------------------------------------------------
# Fidelity to the sender: its own payloads validate, and every key it sends is declared in its order.


@pytest.mark.parametrize(("event", "text"), SENDER_EXAMPLE_CASES)
def test_sender_example_validates(event: str, text: str) -> None:
    payload = json.loads(text)
    assert payload["event"] == event
    assert delivery_errors(payload) == []


@pytest.mark.parametrize(("event", "text"), SENDER_EXAMPLE_CASES)
def test_sender_example_has_the_documented_keys_in_order(event: str, text: str) -> None:
    payload = json.loads(text)
    assert list(payload) == ["event", "data"]
    assert list(payload["data"]) == SENDER_KEYS[event]
    assert len(SENDER_KEYS[event]) == SENDER_KEY_COUNTS[event]


@pytest.mark.parametrize("event", DOCUMENT_EVENTS)
def test_default_delivery_follows_sender_key_order(event: str) -> None:
    assert list(sample_data(event)) == SENDER_KEYS[event]


@pytest.mark.parametrize(("event", "example"), DOCUMENT_EXAMPLES)
def test_example_follows_sender_key_order(event: str, example: dict[str, Any]) -> None:
    assert list(example) == SENDER_KEYS[event]


@pytest.mark.parametrize("event", DOCUMENT_EVENTS)
def test_schema_declares_exactly_the_sender_keys(event: str) -> None:
    schema = load(f"events/{slug(event)}")
    assert schema["$ref"] == "../common.schema.json#/$defs/document"
    defaults = load("common")["$defs"]["document"]["properties"]
    assert list(defaults) == DEFAULT_FIELDS
    assert set(defaults) | set(schema["properties"]) == set(SENDER_KEYS[event])


@pytest.mark.parametrize("event", DOCUMENT_EVENTS)
def test_doctype_is_a_const(event: str) -> None:
    assert load(f"events/{slug(event)}")["properties"]["doctype"] == {"const": DOCTYPES[event]}


@pytest.mark.parametrize(("event", "key"), list(ENUMS))
def test_enum_is_exactly_the_senders(event: str, key: str) -> None:
    assert load(f"events/{slug(event)}")["properties"][key]["enum"] == ENUMS[event, key]


@pytest.mark.parametrize(
    ("event", "key", "value"),
    [(event, key, value) for (event, key), values in ENUMS.items() for value in values],
)
def test_every_sender_enum_value_is_accepted(event: str, key: str, value: str) -> None:
    assert delivery_errors(_delivery(event, **{key: value})) == []


@pytest.mark.parametrize("event", KNOWN_EVENTS)
def test_requires_only_what_a_receiver_can_rely_on(event: str) -> None:
    assert load(f"events/{slug(event)}").get("required", []) == REQUIRED[event]


@pytest.mark.parametrize("name", ["datetime", "date", "timedelta"])
def test_nullable_variant_shares_the_pattern(name: str) -> None:
    defs = load("common")["$defs"]
    assert defs[f"nullable_{name}"]["pattern"] == defs[name]["pattern"]
    assert defs[f"nullable_{name}"]["type"] == [defs[name]["type"], "null"]


@pytest.mark.parametrize(
    "delivery",
    [
        pytest.param(_delivery(SITE, creation="2026-06-18 10:02:14"), id="datetime-without-microseconds"),
        pytest.param(_delivery(SITE, modified="2026-06-18 10:02:14.000001"), id="datetime-with-microseconds"),
        pytest.param(_delivery(SITE, trial_end_date="2026-07-02"), id="trial-end-date-set"),
        pytest.param(_delivery(SITE, signup_time="2026-06-18 09:58:02.512334"), id="signup-time-set"),
        pytest.param(_delivery(SITE, tags=["ResourceTag(harnesstg1)", "ResourceTag(harnesstg2)"]), id="tags-rendered"),
        pytest.param(_delivery(SITE, plan=None, host_name=""), id="link-null-and-data-empty"),
        pytest.param(_delivery(SITE, setup_wizard_complete=1, archive_failed=1), id="checks-set"),
        pytest.param(_delivery(PLAN, type="Downgrade", from_plan="USD 25", to_plan="USD 10"), id="downgrade"),
        pytest.param(_delivery(BENCH, docstatus=1, idx=3), id="docstatus-and-idx"),
        pytest.param(
            _delivery(BUILD, status="Pending", build_start=None, build_end=None, build_duration=None),
            id="build-not-started",
        ),
        pytest.param(_delivery(BUILD, build_duration="1 day, 0:00:01"), id="timedelta-with-days"),
        pytest.param(_delivery(BUILD, build_duration="0:02:05"), id="timedelta-whole-seconds"),
        pytest.param(_delivery(BUILD, build_error="Traceback (most recent call last): ..."), id="build-error"),
    ],
)
def test_sender_value_variant_is_accepted(delivery: dict[str, Any]) -> None:
    assert delivery_errors(delivery) == []


# --------------------------------------------------------------------------------------------------
# Tolerance: the Cloud may add keys, so nothing forbids them.


@pytest.mark.parametrize("name", DELIVERY_SCHEMAS)
def test_schema_does_not_forbid_extra_keys(name: str) -> None:
    closed = [
        f"{pointer}/{keyword}"
        for pointer, keyword, value in _keywords(load(name))
        if keyword in ("additionalProperties", "unevaluatedProperties") and value is False
    ]
    assert closed == []


@pytest.mark.parametrize("event", KNOWN_EVENTS)
def test_extra_keys_are_tolerated(event: str) -> None:
    data = {**copy.deepcopy(sample_data(event)), "added_later": {"nested": [1, None]}}
    assert delivery_errors({"event": event, "data": data, "delivery_id": "added-later"}) == []


@pytest.mark.parametrize(
    "delivery",
    [
        pytest.param({"event": "Site Backup Complete", "data": {}}, id="future-event"),
        pytest.param({"event": "Webhook Test", "data": {"doctype": "Site"}}, id="pre-2024-validate-name"),
        pytest.param(
            {
                "event": "Server Status Update",
                "data": {"name": "f1-harness.example.com", "status": "Exploded"},
            },
            id="unknown-document-event",
        ),
    ],
)
def test_unknown_event_with_valid_envelope_conforms(delivery: dict[str, Any]) -> None:
    assert delivery_errors(delivery) == []


# --------------------------------------------------------------------------------------------------
# Strictness: each case is rejected, with an error at the expected place.

#: (why, delivery, where the error is): envelopes the sender never produces.
BAD_ENVELOPES: list[tuple[str, object, str]] = [
    ("missing-event", {"data": {}}, "(root)"),
    ("missing-data", {"event": SITE}, "(root)"),
    ("event-number", {"event": 5, "data": {}}, "event"),
    ("event-null", {"event": None, "data": {}}, "event"),
    ("event-object", {"event": {}, "data": {}}, "event"),
    ("event-empty", {"event": "", "data": {}}, "event"),
    ("data-array", {"event": VALIDATE, "data": []}, "data"),
    ("data-string", {"event": VALIDATE, "data": "x"}, "data"),
    ("data-null", {"event": VALIDATE, "data": None}, "data"),
    ("top-level-array", [{"event": VALIDATE, "data": {}}], "(root)"),
    ("top-level-string", "Webhook Validate", "(root)"),
]

#: (why, event, key, value): one ``data`` value the sender never emits, in the default delivery.
BAD_VALUES: list[tuple[str, str, str, object]] = [
    ("site-status-not-in-enum", SITE, "status", "Deleted"),
    ("site-status-wrong-case", SITE, "status", "active"),
    ("bench-status-not-in-enum", BENCH, "status", "Suspended"),
    ("build-status-not-in-enum", BUILD, "status", "Active"),
    ("check-true", SITE, "setup_wizard_complete", True),
    ("check-2", SITE, "archive_failed", 2),
    ("check-false", BENCH, "is_ssh_proxy_setup", False),
    ("datetime-with-T", SITE, "creation", "2026-06-18T10:02:14.244578"),
    ("datetime-with-offset", SITE, "modified", "2026-06-18 10:02:14.244578+00:00"),
    ("datetime-with-Z", SITE, "modified", "2026-06-18 10:02:14Z"),
    ("datetime-3-digit-fraction", PLAN, "timestamp", "2026-06-18 10:02:14.530"),
    ("datetime-without-time", SITE, "signup_time", "2026-06-18"),
    ("nullable-datetime-with-T", BUILD, "build_end", "2026-06-18T08:58:12.402017"),
    ("date-with-time", SITE, "trial_end_date", "2026-07-02 00:00:00"),
    ("date-not-in-calendar", SITE, "trial_end_date", "2026-02-30"),
    ("timedelta-prose", BUILD, "build_duration", "7 minutes"),
    ("timedelta-as-seconds", BUILD, "build_duration", 431.9999),
    ("tags-not-array", SITE, "tags", "[]"),
    ("tags-row-as-object", SITE, "tags", [{"tag": "x"}]),
    ("docstatus-3", SITE, "docstatus", 3),
    ("idx-negative", SITE, "idx", -1),
    ("int-as-string", BUILD, "retry_count", "0"),
    ("plan-type-sidegrade", PLAN, "type", "Sidegrade"),
    ("name-empty", SITE, "name", ""),
    ("site-wrong-doctype", SITE, "doctype", "Bench"),
    ("build-wrong-doctype", BUILD, "doctype", "Deploy Candidate"),
    ("ip-as-pre-2024-string", SITE, "ip", "None"),
]

#: (event, key): a key a receiver relies on, left out of the default delivery.
MISSING_KEYS: list[tuple[str, str]] = [
    (SITE, "doctype"),
    (SITE, "name"),
    (SITE, "status"),
    (PLAN, "name"),
    (PLAN, "type"),
    (BENCH, "name"),
    (BENCH, "status"),
    (BUILD, "doctype"),
    (BUILD, "name"),
    (BUILD, "status"),
]


def _assert_rejected(delivery: object, *places: str) -> None:
    """``delivery_errors`` rejects the delivery, with an error whose path starts with one of ``places``."""
    errors = delivery_errors(delivery)
    assert errors, "expected the delivery to be rejected"
    assert any(error.startswith(places) for error in errors), errors


@pytest.mark.parametrize(
    ("delivery", "where"), [pytest.param(delivery, where, id=why) for why, delivery, where in BAD_ENVELOPES]
)
def test_malformed_envelope_is_rejected(delivery: object, where: str) -> None:
    _assert_rejected(delivery, f"{where}: ")


@pytest.mark.parametrize(
    ("event", "key", "value"),
    [pytest.param(event, key, value, id=why) for why, event, key, value in BAD_VALUES],
)
def test_value_the_sender_never_emits_is_rejected(event: str, key: str, value: object) -> None:
    _assert_rejected(_delivery(event, **{key: value}), f"data/{key}: ", f"data/{key}/")


@pytest.mark.parametrize(
    ("event", "key"), [pytest.param(event, key, id=f"{slug(event)}-{key}") for event, key in MISSING_KEYS]
)
def test_missing_required_key_is_rejected(event: str, key: str) -> None:
    _assert_rejected(_without(event, key), f"data: '{key}' is a required property")
