"""Deliveries built as the Cloud builds them: the bytes, the dates, the names, and the wrong-secret variants."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
import requests

from harness.config.secret import Secret
from harness.payloads import deliveries
from harness.payloads.deliveries import (
    HANDSHAKE,
    OLD_DATES,
    SECRET_VARIANTS,
    HeaderValue,
    Shape,
    console_request,
    corpus,
    delivery,
    encode,
    fresh,
    is_handshake,
    probes,
    redated,
    right_secret,
    sent_now,
    stale_bench_job_update,
    trial_initial_plan_change,
    usable_variants,
    variant_values,
)
from harness.payloads.events import DOCUMENT_EVENTS, KNOWN_EVENTS, VALIDATE
from harness.payloads.schemas import delivery_errors, examples, sample_data
from harness.wire.transport import Request

URL = "https://hooks.example.com:8443/webhook"
SECRET = Secret("abcdefgh")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?$")
#: How far two readings of the clock in one test may be apart.
SLACK = dt.timedelta(seconds=5)


def parse(value: str) -> dt.datetime:
    assert DATETIME.match(value), value
    return dt.datetime.fromisoformat(value)


def is_now(value: str, offset: dt.timedelta = dt.timedelta(0)) -> bool:
    return abs(parse(value) - (dt.datetime.now() + offset)) < SLACK


def datetimes(data: dict[str, Any]) -> dict[str, dt.datetime]:
    return {k: dt.datetime.fromisoformat(v) for k, v in data.items() if isinstance(v, str) and DATETIME.match(v)}


# --- the bytes on the wire ---------------------------------------------------------------------------------


def test_encode_is_requests_json_encoding_of_the_envelope() -> None:
    data = {"name": "café.example.com", "tags": [], "ip": None, "idx": 0, "ratio": 1.5}
    sent = requests.Request("POST", URL, json={"event": "Site Status Update", "data": data}).prepare().body
    assert encode("Site Status Update", data) == sent
    assert encode("Site Status Update", data) == (
        b'{"event": "Site Status Update", "data": {"name": "caf\\u00e9.example.com", "tags": [], "ip": null, '
        b'"idx": 0, "ratio": 1.5}}'
    )


def test_encode_puts_extra_keys_after_event_and_data() -> None:
    assert encode("X", {"a": 1}, {"z": True, "b": "c"}) == b'{"event": "X", "data": {"a": 1}, "z": true, "b": "c"}'
    assert encode("X", {}, None) == encode("X", {}, {}) == b'{"event": "X", "data": {}}'


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_encode_refuses_what_requests_refuses(value: float) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode("Site Status Update", {"x": value})


def test_handshake_is_the_dashboards_validate_byte_for_byte() -> None:
    assert HANDSHAKE == b'{"event": "Webhook Validate", "data": {}}'
    assert is_handshake(Request(URL, HANDSHAKE, "d"))
    assert is_handshake(delivery(URL, VALIDATE, right_secret(SECRET)))


@pytest.mark.parametrize(
    "body",
    [
        b'{"event":"Webhook Validate","data":{}}',
        b'{"data": {}, "event": "Webhook Validate"}',
        b'{"event": "Webhook Validate", "data": {}}\n',
        b'{"event": "Webhook Validate", "data": {"padding": ""}}',
        b'{"event": "Webhook Validate", "data": {}, "extra": 1}',
        b"",
    ],
)
def test_anything_else_is_not_the_handshake(body: bytes) -> None:
    assert not is_handshake(Request(URL, body, "d"))


# --- dates and names -------------------------------------------------------------------------------------


def test_redated_makes_modified_now_and_keeps_every_age() -> None:
    original = sample_data("Bench Deploy Status Update")
    before = datetimes(original)
    assert {"creation", "modified", "build_start", "build_end"} <= set(before)
    now = redated(original)
    assert is_now(now["modified"])
    after = datetimes(now)
    assert set(after) == set(before)
    for key in before:
        assert after[key] - after["modified"] == before[key] - before["modified"], key
    # What is not a date is left as it is: a duration, a name, a null.
    assert now["build_duration"] == original["build_duration"] == "0:07:11.999900"
    assert {k: v for k, v in now.items() if k not in after} == {k: v for k, v in original.items() if k not in before}


def test_redated_adds_the_offset_in_microseconds() -> None:
    hour = dt.timedelta(hours=1)
    assert is_now(redated(sample_data("Site Status Update"), offset=3600 * 10**6)["modified"], offset=hour)
    base = {"modified": "2026-06-18 10:00:00.000000"}
    # Two payloads built with offsets 0 and 1: the second is later, whatever the clock did in between.
    assert parse(redated(base, 10**6)["modified"]) > parse(redated(base)["modified"])


def test_redated_does_not_change_its_argument() -> None:
    original = sample_data("Site Status Update")
    kept = json.loads(json.dumps(original))
    redated(original)
    assert original == kept


def test_redated_moves_a_date_only_field_by_the_same_delta() -> None:
    data = {"modified": "2026-06-18 10:00:00.000001", "trial_end_date": "2026-06-25", "label": "2026-06-25 x"}
    now = redated(data)
    modified = parse(now["modified"])
    expected = (modified + (dt.datetime(2026, 6, 25) - dt.datetime(2026, 6, 18, 10, 0, 0, 1))).date()
    assert now["trial_end_date"] == str(expected)
    assert now["label"] == "2026-06-25 x"  # a string that merely starts with a date is no date


def test_redated_stamps_now_when_modified_is_no_date() -> None:
    data = {"modified": None, "creation": "old", "timestamp": 5, "name": "n", "build_start": "2020-01-01 00:00:00"}
    now = redated(data)
    for key in ("modified", "creation", "timestamp"):
        assert is_now(now[key]), key
    assert now["name"] == "n"
    assert now["build_start"] == "2020-01-01 00:00:00"  # not stamped, not moved: nothing to move it by
    assert redated({"name": "n"}) == {"name": "n"}  # no stamped field: nothing to stamp


def test_sent_now_names_each_plan_change_anew() -> None:
    sample = sample_data("Site Plan Change")
    names = {sent_now("Site Plan Change", sample)["name"] for _ in range(5)}
    assert len(names) == 5
    assert sample["name"] not in names
    assert all(re.fullmatch(r"[0-9a-f]{10}", name) for name in names)  # frappe's autoname hash


@pytest.mark.parametrize("event", [e for e in DOCUMENT_EVENTS if e != "Site Plan Change"])
def test_sent_now_keeps_the_name_of_a_document_that_lives_on(event: str) -> None:
    sample = sample_data(event)
    now = sent_now(event, sample)
    assert now["name"] == sample["name"]
    assert is_now(now["modified"])


@pytest.mark.parametrize("event", DOCUMENT_EVENTS)
def test_fresh_is_the_sample_sent_now_and_conforms(event: str) -> None:
    payload = fresh(event)
    sample = sample_data(event)
    assert set(payload) == set(sample)
    assert is_now(payload["modified"])
    assert payload["doctype"] == sample["doctype"]
    assert delivery_errors({"event": event, "data": payload}) == []


def test_fresh_applies_changes_last() -> None:
    payload = fresh("Site Status Update", status="Broken", modified="2020-01-01 00:00:00", extra_key=1)
    assert payload["status"] == "Broken"
    assert payload["modified"] == "2020-01-01 00:00:00"
    assert payload["extra_key"] == 1


def test_fresh_with_an_offset_is_later() -> None:
    hour = dt.timedelta(hours=1)
    assert is_now(fresh("Bench Status Update", offset=3600 * 10**6)["modified"], offset=hour)


# --- the corpus --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", DOCUMENT_EVENTS)
def test_corpus_holds_every_example_in_order_with_distinct_names(event: str) -> None:
    shapes = corpus(event)
    assert [shape.data for shape in shapes] == examples(event)
    assert {shape.event for shape in shapes} == {event}
    names = [shape.name for shape in shapes]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in names), names


@pytest.mark.parametrize("event", DOCUMENT_EVENTS)
def test_corpus_names_say_what_sets_a_shape_apart(event: str) -> None:
    for shape in corpus(event):
        data = shape.data
        assert shape.name.startswith(
            str(data.get("status") or data.get("type") or "document").lower().replace(" ", "-")
        )
        assert ("tagged" in shape.name) == bool(data.get("tags"))
        assert ("on-trial" in shape.name) == bool(data.get("trial_end_date"))
        assert ("labelled" in shape.name) == isinstance(data.get("label"), str)
        assert ("with-error" in shape.name) == bool(data.get("build_error"))


def test_corpus_numbers_a_name_seen_before() -> None:
    names = [shape.name for shape in corpus("Site Plan Change")]
    assert names[:2] == ["initial-plan", "upgrade"]
    assert names.count("initial-plan") == 1
    assert "initial-plan-2" in names


def test_corpus_copies_the_examples() -> None:
    corpus("Site Status Update")[0].data["status"] = "Changed"
    assert corpus("Site Status Update")[0].data["status"] != "Changed"


def test_corpus_of_an_unknown_event_is_refused() -> None:
    with pytest.raises(KeyError):
        corpus("Conformance Probe")


def test_shape_reads_its_name_as_words() -> None:
    assert Shape("Site Status Update", "broken-tagged-on-trial", {}).what == "broken tagged on trial"


# --- the Cloud's own old dates -----------------------------------------------------------------------------


def test_trial_initial_plan_change_is_dated_days_before_it_is_sent() -> None:
    data = trial_initial_plan_change()
    assert data["type"] == "Initial Plan"
    assert is_now(data["modified"])
    assert is_now(data["creation"])
    assert parse(data["modified"]) - parse(data["timestamp"]) == deliveries.TRIAL_SITE_AGE == dt.timedelta(days=3)
    assert data["name"] != sample_data("Site Plan Change")["name"]
    assert delivery_errors({"event": "Site Plan Change", "data": data}) == []


def test_stale_bench_job_update_is_a_new_bench_modified_an_hour_ago() -> None:
    first, second = stale_bench_job_update(), stale_bench_job_update()
    assert first["status"] == "Installing"
    assert first["creation"] == first["modified"]
    assert is_now(first["modified"], offset=-deliveries.BENCH_JOB_AGE)
    assert re.fullmatch(r"bench-harness-[0-9a-f]{6}-f1", first["name"])
    assert first["name"] != second["name"]  # a bench of its own each time: never older than its own last event
    assert delivery_errors({"event": "Bench Status Update", "data": first}) == []


def test_old_dates_are_named_once_and_build_their_events() -> None:
    assert len({name for name, *_ in OLD_DATES}) == len(OLD_DATES)
    for name, what, event, build in OLD_DATES:
        assert event in DOCUMENT_EVENTS, name
        assert what
        assert delivery_errors({"event": event, "data": build()}) == [], name


# --- the header and the request ----------------------------------------------------------------------------


def test_right_secret_is_the_secret_or_the_empty_header() -> None:
    assert right_secret(SECRET) == HeaderValue(SECRET, "the right secret", "$WEBHOOK_SECRET")
    empty = right_secret(Secret(""))
    assert empty.secret == Secret("")
    assert empty.secret is not None  # the header is sent, empty: what the Cloud sends with no secret
    assert empty.shell == ""
    assert empty.note == "the empty secret header the Cloud sends when none is configured"


def test_delivery_of_an_event_carries_its_fresh_sample_and_the_header() -> None:
    request = delivery(URL, "Site Status Update", right_secret(SECRET), as_the_cloud=True)
    assert request.url == URL
    assert request.method == "POST"
    assert request.content_type == "application/json"
    assert request.secret == SECRET
    assert request.secret_shell == "$WEBHOOK_SECRET"
    assert request.as_the_cloud
    assert request.description == "'Site Status Update' with the right secret"
    envelope = json.loads(request.body)
    assert list(envelope) == ["event", "data"]
    assert envelope["event"] == "Site Status Update"
    assert is_now(envelope["data"]["modified"])
    assert delivery_errors(envelope) == []


def test_delivery_of_the_handshake_is_the_handshake() -> None:
    request = delivery(URL, VALIDATE, right_secret(Secret("")))
    assert request.body == HANDSHAKE
    assert request.secret == Secret("")
    assert request.description == (
        "'Webhook Validate' with the empty secret header the Cloud sends when none is configured"
    )
    assert not request.as_the_cloud


def test_delivery_sends_given_data_verbatim_with_extra_keys_and_a_shape() -> None:
    old = {"modified": "2020-01-01 00:00:00", "name": "n"}
    request = delivery(URL, "Site Plan Change", right_secret(SECRET), data=old, extra={"v": 2}, shape="upgrade")
    assert (
        request.body
        == b'{"event": "Site Plan Change", "data": {"modified": "2020-01-01 00:00:00", "name": "n"}, "v": 2}'
    )
    assert request.description == "'Site Plan Change' (upgrade) with the right secret"


def test_delivery_without_a_header_sends_none() -> None:
    missing = next(v for v in SECRET_VARIANTS if v.name == "missing").header(SECRET)
    request = delivery(URL, VALIDATE, missing)
    assert request.secret is None
    assert request.secret_shell is None
    assert request.description == "'Webhook Validate' with no X-Webhook-Secret header"


# --- the wrong secrets -------------------------------------------------------------------------------------


def variant(name: str) -> deliveries.SecretVariant:
    return next(v for v in SECRET_VARIANTS if v.name == name)


def test_variants_are_named_once() -> None:
    names = [v.name for v in SECRET_VARIANTS]
    assert len(names) == len(set(names))
    assert names == ["missing", "empty", "wrong-same-length", "prefix", "appended", "case-changed", "embedded"]


@pytest.mark.parametrize(
    ("name", "secret", "value"),
    [
        ("missing", "abcdefgh", None),
        ("empty", "abcdefgh", ""),
        ("wrong-same-length", "abcdefgh", "abcdefga"),
        ("wrong-same-length", "abcdefga", "abcdefgb"),
        ("prefix", "abcdefgh", "abcdefg"),
        ("appended", "abcdefgh", "abcdefghx"),
        ("case-changed", "aBcD-1234", "AbCd-1234"),
        ("case-changed", "café-Zz", "CAFé-zZ"),  # ASCII letters only, as tr(1) swaps them
        ("embedded", "abcdefgh", "xabcdefghx"),
    ],
)
def test_variant_builds_its_wrong_value(name: str, secret: str, value: str | None) -> None:
    header = variant(name).header(Secret(secret))
    assert header.secret == (None if value is None else Secret(value))
    assert header.note == variant(name).description
    assert header.shell == variant(name).shell


@pytest.mark.parametrize("secret", ["abcdefgh", "a", "x" * 30, "1234-5678", "é" * 8, "secret-ending-in-a"])
def test_every_usable_variant_is_wrong(secret: str) -> None:
    for usable in usable_variants(Secret(secret)):
        made = usable.header(Secret(secret)).secret
        assert made is None or made.reveal() != secret, usable.name
    same_length = variant("wrong-same-length").header(Secret(secret)).secret
    assert same_length is not None
    assert len(same_length) == len(secret)
    assert same_length.reveal()[:-1] == secret[:-1]


def test_no_variant_is_usable_without_a_secret() -> None:
    assert usable_variants(Secret("")) == []
    for each in SECRET_VARIANTS:
        reason = each.unusable(Secret(""))
        assert reason is not None
        assert "no secret is configured: set WEBHOOK_SECRET" in reason
        with pytest.raises(ValueError, match="no secret is configured"):
            each.header(Secret(""))


def test_variants_that_cannot_be_derived_say_why() -> None:
    assert variant("prefix").unusable(Secret("a")) == "a one-character secret has no non-empty prefix"
    assert variant("case-changed").unusable(Secret("1234-5678")) == (
        "the secret has no ASCII letters, so its case cannot change"
    )
    with pytest.raises(ValueError, match="no non-empty prefix"):
        variant("prefix").header(Secret("a"))
    assert [v.name for v in usable_variants(Secret("1234-5678"))] == [
        "missing",
        "empty",
        "wrong-same-length",
        "prefix",
        "appended",
        "embedded",
    ]
    assert "prefix" not in [v.name for v in usable_variants(Secret("a"))]
    assert usable_variants(SECRET) == list(SECRET_VARIANTS)


def test_variant_values_are_the_wrong_values_long_enough_to_mask() -> None:
    assert variant_values(SECRET) == [Secret(v) for v in ("abcdefga", "abcdefg", "abcdefghx", "ABCDEFGH", "xabcdefghx")]
    # Shorter than 4 characters, a value would mask ordinary words: left out.
    assert variant_values(Secret("abc")) == [Secret("abcx"), Secret("xabcx")]
    assert variant_values(Secret("")) == []


# --- probes and the console --------------------------------------------------------------------------------


def test_probes_cover_every_event_every_wrong_secret_and_the_error_paths() -> None:
    sent = probes(URL, SECRET)
    assert len(sent) == len(KNOWN_EVENTS) + len(SECRET_VARIANTS) + 3
    assert all(request.url == URL for request in sent)
    events = sent[: len(KNOWN_EVENTS)]
    assert [json.loads(r.body)["event"] for r in events] == list(KNOWN_EVENTS)
    assert all(r.secret == SECRET for r in events)
    wrong = sent[len(KNOWN_EVENTS) : -3]
    assert all(r.body == HANDSHAKE for r in wrong)
    assert [r.secret for r in wrong] == [v.header(SECRET).secret for v in SECRET_VARIANTS]
    errors = sent[-3:]
    assert [r.body for r in errors] == [
        b'{"event": "Site Status Update", "data": ',
        b"[]",
        b'{"event": "Conformance Probe", "data": {}}',
    ]
    assert all(r.secret == SECRET and r.secret_shell == "$WEBHOOK_SECRET" for r in errors)
    assert errors[0].description == "truncated JSON, with the right secret"


def test_probes_without_a_secret_send_the_empty_header() -> None:
    sent = probes(URL, Secret(""))
    assert len(sent) == len(KNOWN_EVENTS) + 3
    assert all(request.secret == Secret("") for request in sent)


@pytest.mark.parametrize(
    ("url", "console"),
    [
        ("http://127.0.0.1:9/webhook?x=1", "http://127.0.0.1:9/console"),
        ("https://hooks.example.com:8443/a/b/webhook/#frag", "https://hooks.example.com:8443/console"),
        ("http://[::1]:8000/webhook", "http://[::1]:8000/console"),
        ("https://hooks.example.com", "https://hooks.example.com/console"),
    ],
)
def test_console_request_asks_the_origin_for_the_console_without_the_secret(url: str, console: str) -> None:
    request = console_request(url)
    assert request.url == console
    assert request.method == "GET"
    assert request.body == b""
    assert request.content_type is None
    assert request.secret is None  # the secret never goes anywhere but the webhook's URL
    assert "/console" in request.description
