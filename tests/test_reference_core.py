"""The reference receiver's decisions (``reference_receiver.core``), its settings and its event catalogue.

No server: ``Receiver.handle(method, path, headers, body)`` is called directly, including by a
property-based test that it returns a status for any request and never raises.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.payloads.events import DOCUMENT_EVENTS as HARNESS_DOCUMENT_EVENTS
from harness.payloads.events import KNOWN_EVENTS, VALIDATE, slug
from harness.payloads.schemas import event_schema, sample_data
from reference_receiver import Answer, Config, Receiver
from reference_receiver.core import Headers
from reference_receiver.events import DOCUMENT_EVENTS, RULES

SECRET = "Zq8vN3kP0wLr5TbX2mYc7HdJ4sFa9G"  # 30 [A-Za-z0-9], like the dashboard's generator
OLD_SECRET = "Old0secret0that0is0rotated0out"


def envelope(event: str, data: Any) -> bytes:
    return json.dumps({"event": event, "data": data}).encode()


HANDSHAKE = envelope(VALIDATE, {})


def headers(secret: str | bytes | None = SECRET, content_type: str | None = "application/json") -> Headers:
    pairs = [(b"host", b"receiver.example.com")]  # every HTTP/1.1 request has exactly one
    if secret is not None:
        pairs.append((b"x-webhook-secret", secret if isinstance(secret, bytes) else secret.encode("latin-1")))
    if content_type is not None:
        pairs.append((b"content-type", content_type.encode()))
    return pairs


def post(body: bytes = HANDSHAKE, receiver: Receiver | None = None, **kwargs: Any) -> Answer:
    return (receiver or Receiver(Config(secret=SECRET))).handle("POST", "/webhook", headers(**kwargs), body)


def assert_rejected(answer: Answer, status: int) -> dict[str, str]:
    assert answer.status == status, answer
    assert answer.record is None
    assert answer.content_type == "application/json"
    body: dict[str, str] = json.loads(answer.body)
    assert set(body) <= {"error", "reason"}
    assert len(answer.body) < 300
    return body


# --- Acceptance -------------------------------------------------------------------------------------


def test_handshake_is_ok_and_stores_nothing() -> None:
    answer = post()
    assert (answer.status, answer.body, answer.record) == (200, b"OK", None)


@pytest.mark.parametrize("event", HARNESS_DOCUMENT_EVENTS, ids=slug)
def test_each_document_event_is_ok_with_a_record_of_its_body(event: str) -> None:
    body = envelope(event, sample_data(event))
    answer = post(body)
    assert answer.status == 200
    assert answer.record is not None
    assert (answer.record.event, answer.record.payload) == (event, body.decode())


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_with_parameters_or_any_case_is_ok(content_type: str) -> None:
    assert post(content_type=content_type).status == 200


def test_unknown_event_is_acknowledged_and_stored() -> None:
    answer = post(envelope("Site Renamed", {"name": "x"}))
    assert answer.status == 200
    assert answer.record is not None
    assert answer.record.event == "Site Renamed"


# Payloads the Cloud has sent, or plausibly will: a receiver that rejects them gets the webhook disabled.
DRIFT = {
    "new-site-status": ("Site Status Update", {"status": "Migrating"}),
    "old-ip-as-string": ("Site Status Update", {"ip": "None"}),
    "null-cluster": ("Site Status Update", {"cluster": None}),
    "boolean-check": ("Site Status Update", {"setup_wizard_complete": True}),
    "iso-datetime": ("Site Status Update", {"creation": "2026-06-18T10:02:14.244578"}),
    "new-build-status": ("Bench Deploy Status Update", {"status": "Cancelled"}),
    "new-plan-change-type": ("Site Plan Change", {"type": "Trial"}),
    "no-modified": ("Bench Status Update", {"modified": None}),
}


@pytest.mark.parametrize(("event", "change"), DRIFT.values(), ids=DRIFT.keys())
def test_payload_drift_is_accepted(event: str, change: dict[str, object]) -> None:
    assert post(envelope(event, {**sample_data(event), **change})).status == 200


# --- Secret -----------------------------------------------------------------------------------------

WRONG_SECRETS: dict[str, str | bytes | None] = {
    "missing": None,
    "empty": "",
    "wrong-same-length": SECRET[::-1],
    "prefix": SECRET[:-1],
    "extra-char": SECRET + "x",
    "case-changed": SECRET.swapcase(),
    "embedded": f"x{SECRET}x",
    "non-ascii-byte": SECRET.encode()[:-1] + b"\xe9",
    "8kb": "a" * 8192,
    "trailing-space": SECRET + " ",
}


@pytest.mark.parametrize("sent", WRONG_SECRETS.values(), ids=WRONG_SECRETS.keys())
def test_wrong_secret_is_401(sent: str | bytes | None) -> None:
    assert assert_rejected(post(secret=sent), 401) == {"error": "unauthorized"}


def test_wrong_secret_is_401_before_the_body_or_its_type_are_looked_at() -> None:
    assert post(b"[" * 1000, secret="wrong", content_type="text/plain").status == 401


def test_a_repeated_secret_header_is_401_even_with_the_right_value() -> None:
    receiver = Receiver(Config(secret=SECRET))
    twice = [*headers(), (b"x-webhook-secret", SECRET.encode())]
    assert receiver.handle("POST", "/webhook", twice, HANDSHAKE).status == 401


def test_no_secret_configured_accepts_the_empty_header_the_cloud_sends() -> None:
    assert post(receiver=Receiver(Config(secret="")), secret="").status == 200


def test_latin1_secret_matches_the_bytes_the_cloud_sends() -> None:
    secret = "caf\u00e9-secret-0123456789"
    assert post(receiver=Receiver(Config(secret=secret)), secret=secret.encode("latin-1")).status == 200


def test_previous_secret_is_accepted_during_a_rotation_and_says_so() -> None:
    receiver = Receiver(Config(secret=SECRET, previous_secret=OLD_SECRET))
    old = post(receiver=receiver, secret=OLD_SECRET)
    assert (old.status, old.during_rotation) == (200, True)
    new = post(receiver=receiver)
    assert (new.status, new.during_rotation) == (200, False)
    assert post(receiver=receiver, secret="neither").status == 401


def test_previous_secret_is_refused_after_its_window() -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    receiver = Receiver(Config(secret=SECRET, previous_secret=OLD_SECRET, previous_until=past))
    assert post(receiver=receiver, secret=OLD_SECRET).status == 401
    assert post(receiver=receiver).status == 200


# --- Method, path, media type, size -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
def test_other_methods_are_405_allowing_post(method: str) -> None:
    answer = Receiver(Config(secret=SECRET)).handle(method, "/webhook", headers(), HANDSHAKE)
    assert_rejected(answer, 405)
    assert dict(answer.headers)["Allow"] == "POST"


def test_other_paths_are_404() -> None:
    answer = Receiver(Config(secret=SECRET)).handle("POST", "/webhook/extra", headers(), HANDSHAKE)
    assert assert_rejected(answer, 404) == {"error": "not_found"}


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded", "application/jsonx"])
def test_non_json_content_types_are_415(content_type: str | None) -> None:
    assert_rejected(post(content_type=content_type), 415)


def test_body_over_the_limit_is_413_and_at_the_limit_is_ok() -> None:
    receiver = Receiver(Config(secret=SECRET, max_body_bytes=len(HANDSHAKE) + 10))
    assert post(HANDSHAKE + b" " * 10, receiver).status == 200
    assert_rejected(post(HANDSHAKE + b" " * 11, receiver), 413)


def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    receiver = Receiver(Config(secret=SECRET, max_body_bytes=100))
    answer = receiver.route("POST", "/webhook", [*headers(), (b"content-length", b"101")])
    assert isinstance(answer, Answer)
    assert_rejected(answer, 413)


# --- Bad bodies -------------------------------------------------------------------------------------

NESTED = b"[" * 1000 + b"]" * 1000
NAMELESS = {k: v for k, v in sample_data("Site Status Update").items() if k != "name"}
BAD_BODIES = {
    "empty": b"",
    "truncated": b'{"event": ',
    "top-level-array": b"[]",
    "top-level-string": b'"Webhook Validate"',
    "event-not-a-string": b'{"event": 5, "data": {}}',
    "event-null": b'{"event": null, "data": {}}',
    "event-empty": b'{"event": "", "data": {}}',
    "data-not-an-object": b'{"event": "Webhook Validate", "data": []}',
    "missing-event": b'{"data": {}}',
    "missing-data": b'{"event": "Webhook Validate"}',
    "invalid-utf-8": b'{"event": "Webhook Validate\xff", "data": {}}',
    "utf-16": HANDSHAKE.decode().encode("utf-16"),
    "nan": b'{"event": "Webhook Validate", "data": {"x": NaN}}',
    "infinity": b'{"event": "Webhook Validate", "data": {"x": -Infinity}}',
    "duplicate-key": b'{"event": "Webhook Validate", "event": "Site Plan Change", "data": {}}',
    "nested-1000-arrays": NESTED,
    "nested-1000-in-data": b'{"event": "Unknown", "data": {"x": ' + NESTED + b"}}",
    "5000-digit-integer": b'{"event": "Webhook Validate", "data": {"x": ' + b"9" * 5000 + b"}}",
    "site-status-without-name": envelope("Site Status Update", NAMELESS),
    "site-status-name-not-a-string": envelope("Site Status Update", {**sample_data("Site Status Update"), "name": 7}),
    "site-status-of-a-bench": envelope("Site Status Update", {**sample_data("Site Status Update"), "doctype": "Bench"}),
    "lone-surrogate-in-name": envelope("Site Status Update", {**sample_data("Site Status Update"), "name": "\ud800.x"}),
    "lone-surrogate-event": b'{"event": "Site \\udfff", "data": {}}',
    "plan-change-without-type": envelope(
        "Site Plan Change", {k: v for k, v in sample_data("Site Plan Change").items() if k != "type"}
    ),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_body_is_400_and_stores_nothing(body: bytes) -> None:
    assert assert_rejected(post(body), 400)["error"] == "bad_request"


@pytest.mark.parametrize("depth", range(sys.getrecursionlimit() - 300, sys.getrecursionlimit() + 5))
def test_nesting_around_the_parsers_limit_is_answered_never_raised(depth: int) -> None:
    # Parsed at one depth, re-encoded for the deduplication key one level deeper: every depth near the
    # limit is tried, since where the limit falls depends on how deep the caller's stack already is.
    for event in ("Unknown", "Site Status Update"):
        nested = b"[" * depth + b"]" * depth
        data = b'{"doctype": "Site", "name": "n", "status": "Active", "modified": ' + nested + b"}"
        answer = post(b'{"event": "%s", "data": %s}' % (event.encode(), data))
        assert answer.status in (200, 400)


def test_a_declared_oversize_body_closes_the_connection() -> None:
    receiver = Receiver(Config(secret=SECRET, max_body_bytes=100))
    answer = receiver.route("POST", "/webhook", [*headers(), (b"content-length", b"101")])
    assert isinstance(answer, Answer)
    assert dict(answer.headers)["Connection"] == "close"


def test_missing_key_reason_names_the_field() -> None:
    assert assert_rejected(post(BAD_BODIES["site-status-without-name"]), 400)["reason"] == "data/name must be a string"


# --- Deduplication and order keys ---------------------------------------------------------------------


def record_of(event: str, **change: object) -> Any:
    answer = post(envelope(event, {**sample_data(event), **change}))
    assert answer.record is not None
    return answer.record


def test_the_same_event_sent_again_has_the_same_key_even_reformatted() -> None:
    data = sample_data("Site Status Update")
    compact = json.dumps({"event": "Site Status Update", "data": data}, separators=(",", ":")).encode()
    keys = {post(body).record.key for body in (envelope("Site Status Update", data), compact)}  # type: ignore[union-attr]
    assert len(keys) == 1


@pytest.mark.parametrize(("field", "value"), [("status", "Broken"), ("modified", "2031-01-01 00:00:00"), ("name", "b")])
def test_a_new_status_or_modification_is_a_new_event(field: str, value: str) -> None:
    assert record_of("Site Status Update").key != record_of("Site Status Update", **{field: value}).key


def test_a_plan_change_is_identified_by_its_whole_content_not_its_name_alone() -> None:
    # One name with two contents is not a re-send (a retry carries the same bytes): both are kept.
    assert record_of("Site Plan Change").key == record_of("Site Plan Change").key
    assert record_of("Site Plan Change").key != record_of("Site Plan Change", modified="2031-01-01 00:00:00").key
    assert record_of("Site Plan Change").key != record_of("Site Plan Change", name="other00001").key


def test_events_are_ordered_per_document_by_their_own_clock() -> None:
    status = record_of("Site Status Update", modified="2030-01-01 00:00:00")
    assert (status.resource, status.occurred_at) == (f"Site:{status_name()}", "2030-01-01 00:00:00")
    plan = record_of("Site Plan Change")
    data = sample_data("Site Plan Change")
    assert (plan.resource, plan.occurred_at) == (f"Site Plan Change:{data['site']}", data["timestamp"])


def status_name() -> str:
    return str(sample_data("Site Status Update")["name"])


# --- Never raises -----------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
ENVELOPES = st.fixed_dictionaries(
    {"event": st.sampled_from([*KNOWN_EVENTS, "Other"]) | JSON_VALUES, "data": JSON_VALUES}
) | st.builds(
    lambda event, data: {"event": event, "data": {**sample_data(event), **data}},
    st.sampled_from(HARNESS_DOCUMENT_EVENTS),
    st.dictionaries(
        st.sampled_from(["name", "doctype", "status", "type", "modified", "site", "timestamp"]), JSON_VALUES
    ),
)
BODIES = st.binary(max_size=200) | ENVELOPES.map(lambda value: json.dumps(value).encode())
HEADER_NAMES = st.sampled_from([b"x-webhook-secret", b"content-type", b"content-length", b"X-Webhook-Secret"])
HEADER_VALUES = st.binary(max_size=40) | st.sampled_from(
    [SECRET.encode(), b"application/json", b"application/json; charset=utf-8", b"99999999", b"-1", b""]
)


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["POST", "GET", "PUT", "post", ""]),
    path=st.sampled_from(["/webhook", "/", "/webhook/", "/healthz"]) | st.text(max_size=10),
    extra=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=5),
    body=BODIES,
    with_secret=st.booleans(),
)
def test_any_request_gets_a_status_and_only_a_2xx_stores(
    method: str, path: str, extra: list[tuple[bytes, bytes]], body: bytes, with_secret: bool
) -> None:
    receiver = Receiver(Config(secret=SECRET, max_body_bytes=150))
    sent = [*(headers() if with_secret else []), *extra]
    answer = receiver.handle(method, path, sent, body)
    assert answer.status in {200, 400, 401, 404, 405, 413, 415}
    if answer.status == 200:
        assert json.loads(body)["event"] == VALIDATE or answer.record is not None
    else:
        assert answer.record is None
        json.loads(answer.body)


# --- Settings -----------------------------------------------------------------------------------------


def test_settings_come_from_the_environment() -> None:
    env = {
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_SECRET_PREVIOUS": OLD_SECRET,
        "WEBHOOK_SECRET_PREVIOUS_UNTIL": "2031-01-01T00:00:00",
        "WEBHOOK_INBOX": "/var/lib/webhooks/inbox.sqlite3",
        "WEBHOOK_MAX_BODY_BYTES": "1000",
        "WEBHOOK_ORDER_WINDOW": "0",
        "WEBHOOK_LOG_LEVEL": "warning",
    }
    config = Config.from_env(env)
    assert (config.secret, config.previous_secret, config.inbox) == (SECRET, OLD_SECRET, env["WEBHOOK_INBOX"])
    assert (config.max_body_bytes, config.order_window, config.log_level) == (1000, 0.0, "WARNING")
    assert config.previous_until == datetime(2031, 1, 1, tzinfo=UTC)


def test_an_unset_secret_is_refused_and_an_empty_one_is_a_choice() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_SECRET is not set"):
        Config.from_env({})
    assert Config.from_env({"WEBHOOK_SECRET": ""}).secret == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBHOOK_MAX_BODY_BYTES", "lots"),
        ("WEBHOOK_MAX_BODY_BYTES", "0"),
        ("WEBHOOK_SECRET", " padded"),
        ("WEBHOOK_SECRET", "\u20acuro-secret"),
        ("WEBHOOK_ORDER_WINDOW", "-1"),
        ("WEBHOOK_BODY_TIMEOUT", "nan"),
        ("WEBHOOK_SECRET_PREVIOUS_UNTIL", "next tuesday"),
        ("WEBHOOK_LOG_LEVEL", "loud"),
    ],
)
def test_a_bad_value_is_refused_naming_it(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Config.from_env({"WEBHOOK_SECRET": SECRET, name: value})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WEBHOOK_SECRET": "", "WEBHOOK_SECRET_PREVIOUS": OLD_SECRET}, "WEBHOOK_SECRET_PREVIOUS"),
        ({"WEBHOOK_SECRET": SECRET, "WEBHOOK_SECRET_PREVIOUS": SECRET}, "WEBHOOK_SECRET_PREVIOUS"),
        ({"WEBHOOK_SECRET": SECRET, "WEBHOOK_SECRET_PREVIOUS_UNTIL": "2031-01-01"}, "WEBHOOK_SECRET_PREVIOUS_UNTIL"),
        ({"WEBHOOK_SECRET": "with\x00nul"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": SECRET, "WEBHOOK_BODY_TIMEOUT": "1e-9"}, "WEBHOOK_BODY_TIMEOUT"),
        ({"WEBHOOK_SECRET": SECRET, "WEBHOOK_HEADER_TIMEOUT": "0"}, "WEBHOOK_HEADER_TIMEOUT"),
    ],
    ids=[
        "previous-without-current",
        "previous-is-current",
        "until-without-previous",
        "nul",
        "tiny-body-timeout",
        "no-header-timeout",
    ],
)
def test_settings_that_cannot_work_are_refused(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Config.from_env(env)


# --- The catalogue agrees with the schemas ---------------------------------------------------------------


def test_the_receiver_knows_the_events_the_harness_knows() -> None:
    assert set(DOCUMENT_EVENTS) == set(HARNESS_DOCUMENT_EVENTS)


@pytest.mark.parametrize("event", HARNESS_DOCUMENT_EVENTS, ids=slug)
def test_the_receiver_requires_what_the_schema_requires(event: str) -> None:
    schema = event_schema(event)
    assert schema is not None
    rule = RULES[event]
    assert set(rule.required) == set(schema["required"])
    assert schema["properties"]["doctype"] == {"const": rule.doctype}
    assert {rule.clock, rule.resource} <= set(sample_data(event))


def test_every_setting_has_a_variable_and_a_parser() -> None:
    from reference_receiver.config import _PARSERS, VARIABLES

    assert set(VARIABLES) == {"secret", "previous_secret", *_PARSERS}
