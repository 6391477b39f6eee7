"""The JSON Schemas: well formed, faithful to the Cloud's sender (cloud-sender.md §2), tolerant of
what the Cloud may add, and strict about the value types it does send."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from harness.payloads.events import DOCUMENT_EVENTS, KNOWN_EVENTS, VALIDATE, slug
from harness.payloads.schemas import delivery_errors, event_schema, load, sample_data, schema_dir, schema_files

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


def _examples(event: str) -> list[dict[str, Any]]:
    examples: list[dict[str, Any]] = load(f"events/{slug(event)}")["examples"]
    return examples


def _datetime(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _timedelta(text: str) -> dt.timedelta:
    """The duration ``str(timedelta)`` rendered as ``text`` (the sender's Time values)."""
    match = re.fullmatch(r"(?:(-?\d+) days?, )?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{6}))?", text)
    assert match, text
    days, hours, minutes, seconds, micro = match.groups()
    return dt.timedelta(
        days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=int(seconds), microseconds=int(micro or 0)
    )


#: The value type of each common definition an event property refers to.
_KINDS = {"datetime": "datetime", "nullable_datetime": "datetime", "date": "date", "nullable_date": "date"}
_KINDS |= {"timedelta": "timedelta", "nullable_timedelta": "timedelta"}


def _kinds(event: str) -> dict[str, str]:
    """The keys of an event's data whose values are datetimes, dates or durations, and which."""
    properties = {**load("common")["$defs"]["document"]["properties"], **load(f"events/{slug(event)}")["properties"]}
    kinds = {}
    for key, node in properties.items():
        target = str(node.get("$ref", "")).rsplit("/", 1)[-1]
        if target in _KINDS:
            kinds[key] = _KINDS[target]
    return kinds


@pytest.mark.parametrize("event", DOCUMENT_EVENTS)
def test_date_keys_are_known(event: str) -> None:
    # Catches a refactor of the schemas that would make the rendering test below check nothing.
    assert {"creation", "modified"} <= set(_kinds(event))


@pytest.mark.parametrize(("event", "example"), DOCUMENT_EXAMPLES)
def test_example_dates_are_rendered_as_the_sender_renders_them(event: str, example: dict[str, Any]) -> None:
    """str(datetime) (".ffffff" left out when 0), str(date), str(timedelta): the harness re-dates these."""
    for key, kind in _kinds(event).items():
        value = example[key]
        if value is None:
            continue
        if kind == "datetime":
            assert str(_datetime(value)) == value, key
        elif kind == "date":
            assert str(dt.date.fromisoformat(value)) == value, key
        else:
            assert str(_timedelta(value)) == value, key


@pytest.mark.parametrize(("event", "example"), DOCUMENT_EXAMPLES)
def test_example_dates_are_in_a_realistic_order(event: str, example: dict[str, Any]) -> None:
    creation, modified = _datetime(example["creation"]), _datetime(example["modified"])
    assert creation <= modified
    if event == PLAN:
        # A new document: stamped once, moments after its timestamp default (Now) was set.
        assert creation == modified
        assert dt.timedelta(0) < creation - _datetime(example["timestamp"]) < dt.timedelta(milliseconds=1)
    if event == BUILD:
        start, end, duration = example["build_start"], example["build_end"], example["build_duration"]
        assert (duration is None) == (end is None) or start is None
        if start is not None:
            assert creation <= _datetime(start) <= modified
        if end is not None:
            assert start is not None
            assert _datetime(start) <= _datetime(end) <= modified
            assert _timedelta(duration) == min(
                _datetime(end) - _datetime(start), dt.timedelta(hours=23, minutes=59, seconds=59)
            )
    if event == SITE and example["signup_time"] is not None and example["owner"] != "Administrator":
        # Signed up, then created: signup_time is set just before the insert.
        assert dt.timedelta(0) < creation - _datetime(example["signup_time"]) < dt.timedelta(seconds=1)


def test_plan_change_examples_start_with_an_initial_plan_and_cover_every_type() -> None:
    examples = _examples(PLAN)
    assert (examples[0]["type"], examples[0]["from_plan"]) == ("Initial Plan", "")
    assert {e["type"] for e in examples} == set(ENUMS[PLAN, "type"])
    for example in examples:
        # "" for an Initial Plan, a plan name otherwise; never null.
        assert (example["from_plan"] == "") == (example["type"] == "Initial Plan")
        assert isinstance(example["from_plan"], str)


def test_site_examples_cover_the_shapes_the_cloud_sends() -> None:
    examples = _examples(SITE)
    statuses = {e["status"] for e in examples}
    assert {"Pending", "Installing", "Updating", "Active", "Inactive", "Broken", "Archived", "Suspended"} <= statuses
    assert any(len(e["tags"]) > 1 and all(re.fullmatch(r"ResourceTag\(\w+\)", t) for t in e["tags"]) for e in examples)
    assert any(e["trial_end_date"] and "Trial" in e["plan"] for e in examples)
    assert any(e["status"] == "Pending" and e["signup_time"] and e["account_request"] for e in examples)
    assert any(e["status"] == "Archived" and e["archive_failed"] == 0 for e in examples)
    assert any(isinstance(e["label"], str) for e in examples)
    assert any(e["creation_failed"] for e in examples)
    assert any(e["standby_for_product"] for e in examples)
    assert any(e["owner"] == "Administrator" for e in examples)  # a site from the standby pool


def test_bench_examples_cover_the_shapes_the_cloud_sends() -> None:
    examples = _examples(BENCH)
    assert {e["status"] for e in examples} == set(ENUMS[BENCH, "status"])
    assert {e["inplace_update_docker_image"] is None for e in examples} == {True, False}
    assert {e["is_ssh_proxy_setup"] for e in examples} == {0, 1}
    # The agent-job paths send the stale modified: the same as another example's.
    assert any(e["creation"] == e["modified"] and e["status"] == "Installing" for e in examples)


def test_build_examples_cover_the_shapes_the_cloud_sends() -> None:
    examples = _examples(BUILD)
    assert {e["status"] for e in examples} == set(ENUMS[BUILD, "status"])
    assert any(e["status"] == "Running" and e["build_start"] and e["build_end"] is None for e in examples)
    assert any(e["status"] == "Failure" and (e["build_error"] or "").count("\n") > 2 for e in examples)
    assert any(e["status"] == "Failure" and e["build_end"] is None for e in examples)
    assert any(e["status"] == "Success" and e["retry_count"] > 0 for e in examples)
    assert any(e["status"] == "Scheduled" and e["build_start"] is None and e["retry_count"] > 0 for e in examples)
    assert any(e["status"] == "Pending" and e["build_start"] is None for e in examples)
    assert {e["build_error"] for e in examples} >= {None, ""}


def test_label_is_not_pinned_to_null() -> None:
    """Site.label was a Data field in 2025 (87ab8a0f50 to 8a3971f819); its column still holds SaaS sites' labels."""
    assert delivery_errors(_delivery(SITE, label="Harness CRM")) == []
    assert delivery_errors(_delivery(SITE, label=None)) == []
    assert delivery_errors(_delivery(SITE, label="")) == []


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
        pytest.param(_delivery(SITE, label="Harness CRM"), id="label-from-2025"),
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
    ("label-number", SITE, "label", 5),
    ("is-dedicated-server-string", SITE, "is_dedicated_server", "0"),
    ("deployed-check", BUILD, "deployed", 0),
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
