"""The reference receiver says 2xx only for what it stored: the deduplication key, strict framing, finite numbers.

A 2xx tells the Cloud to forget the event; so two different payloads must never share a key (the second
would be acknowledged and dropped as a duplicate), while a retry, which re-sends the stored payload byte
for byte (cloud-sender.md §5), must still be recognised. Requests whose head is ambiguous (no Host, two
Host or two Content-Type headers) and bodies with a number no float can hold are refused, with nothing
stored; the Cloud's own requests (python requests, HTTP/1.1, one Host) still pass.
"""

from __future__ import annotations

import copy
import json
import math
import random
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_oracle import CloudOracle
from conftest import stored_names
from harness.payloads.events import DOCUMENT_EVENTS
from harness.payloads.schemas import sample_data
from reference_receiver import Answer, Config, Receiver, RunningServer, WebhookApp, start_in_thread
from reference_receiver.events import RULES

SECRET = "Zq8vN3kP0wLr5TbX2mYc7HdJ4sFa9G"
UNKNOWN = "Site Backup Update"  # an event this receiver does not know: stored all the same


def cloud_body(payload: dict[str, Any]) -> bytes:
    """The bytes the Cloud sends: requests' ``json=`` of the payload it stored (cloud-sender.md §2.2)."""
    return json.dumps(payload).encode()


def cloud_headers(body: bytes, host: bytes = b"receiver.example.com") -> list[tuple[bytes, bytes]]:
    """The Cloud's headers, as an ASGI server hands them over (lower-case names, in the order sent)."""
    return [
        (b"host", host),
        (b"user-agent", b"python-requests/2.31.0"),
        (b"accept-encoding", b"gzip, deflate"),
        (b"accept", b"*/*"),
        (b"connection", b"keep-alive"),
        (b"x-webhook-secret", SECRET.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
    ]


def answer_to(body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
    return Receiver(Config(secret=SECRET)).handle("POST", "/webhook", headers or cloud_headers(body), body)


def key_of(body: bytes) -> str:
    answer = answer_to(body)
    assert answer.status == 200, answer
    assert answer.record is not None
    return answer.record.key


# --- The key: distinct events, distinct keys; a re-send, the same key ---------------------------------------


def same_json(a: Any, b: Any) -> bool:
    """Whether two parsed JSON values are the same value, JSON types kept apart (Python's == says
    1 == 1.0 == True, and 0.0 == -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same_json, a, b))
    if isinstance(a, float):
        return bool(a.hex() == b.hex())
    return bool(a == b)


#: Any value a drifted field may take: null, another type, a nested value.
VALUES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.lists(st.integers(0, 3), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2)
)


def base(event: str) -> dict[str, Any]:
    if event == UNKNOWN:
        return {"doctype": "Site Backup", "name": "backup.example.com", "status": "Success"}
    return copy.deepcopy(sample_data(event))


def required(event: str) -> tuple[str, ...]:
    return RULES[event].required if event in RULES else ()


@st.composite
def drifted(draw: st.DrawFn) -> dict[str, Any]:
    """A delivery with every drift the README says is tolerated: keys missing (``modified`` among them),
    null or of another type, a new status or plan-change type, new keys in data and in the envelope, an
    unknown event; what a handler relies on (doctype, name, status, type: strings) is kept."""
    event = draw(st.sampled_from([*DOCUMENT_EVENTS, UNKNOWN]))
    data = base(event)
    loose = [key for key in data if key not in required(event)]
    for key in draw(st.lists(st.sampled_from(loose), unique=True, max_size=3)):
        del data[key]
    data.update(
        draw(st.dictionaries(st.sampled_from([*loose, "modified", "conformance_new_field"]), VALUES, max_size=3))
    )
    renamable = [key for key in required(event) if key != "doctype"]
    if renamable:
        data.update(draw(st.dictionaries(st.sampled_from(renamable), st.text(min_size=1, max_size=8), max_size=2)))
    envelope = draw(st.dictionaries(st.sampled_from(["api", "conformance_envelope_field"]), VALUES, max_size=1))
    return {"event": event, "data": data, **envelope}


def changed_once(draw: Callable[[st.SearchStrategy[Any]], Any], payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with one difference somewhere in ``data``: a value, a key removed or a key added."""
    other = copy.deepcopy(payload)
    data = other["data"]
    loose = [key for key in data if key not in required(other["event"])]
    how = draw(st.sampled_from(["value", "remove", "add"] if loose else ["add"]))
    if how == "value":
        data[draw(st.sampled_from(loose))] = draw(VALUES)
    elif how == "remove":
        del data[draw(st.sampled_from(loose))]
    else:
        data[draw(st.text(min_size=1, max_size=6))] = draw(VALUES)
    return other


PROPERTY = settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(first=drifted(), how=st.sampled_from(["the same", "one difference", "another"]), data=st.data())
def test_two_deliveries_share_a_key_exactly_when_they_are_the_same_event(
    first: dict[str, Any], how: str, data: st.DataObject
) -> None:
    if how == "the same":
        second = copy.deepcopy(first)
    elif how == "one difference":
        second = changed_once(data.draw, first)
    else:
        second = data.draw(drifted())
    same_key = key_of(cloud_body(first)) == key_of(cloud_body(second))
    assert same_key == same_json(first, second), (first, second)


@PROPERTY
@given(payload=drifted(), seed=st.integers(0, 2**32))
def test_a_resent_event_has_the_same_key_however_it_is_serialised(payload: dict[str, Any], seed: int) -> None:
    sent = cloud_body(payload)
    # The Cloud's retry: the payload stored as indent=4 text, loaded again and sent by requests.
    retried = cloud_body(json.loads(json.dumps(payload, default=str, indent=4)))
    assert retried == sent
    shuffled = list(payload["data"].items())
    random.Random(seed).shuffle(shuffled)
    reserialised = [
        json.dumps(payload, separators=(",", ":")).encode(),
        json.dumps(payload, indent=2, ensure_ascii=False).encode(),
        json.dumps({**payload, "data": dict(shuffled)}).encode(),
    ]
    assert {key_of(body) for body in [sent, retried, *reserialised]} == {key_of(sent)}


def site_update(**change: object) -> dict[str, Any]:
    return {"event": "Site Status Update", "data": {**sample_data("Site Status Update"), **change}}


#: The drifts of the README, each applied to two Site Status Updates that differ elsewhere (their plan).
TOLERATED = {
    "modified-null": {"modified": None},
    "modified-missing": {"modified": ...},
    "modified-a-number": {"modified": 1735689600},
    "new-status": {"status": "Migrating"},
    "a-null": {"cluster": None},
    "boolean-for-check": {"setup_wizard_complete": True},
    "new-key": {"conformance_new_field": {"nested": [1]}},
}


def apply(payload: dict[str, Any], drift: dict[str, object]) -> dict[str, Any]:
    data = {k: v for k, v in {**payload["data"], **drift}.items() if v is not ...}
    return {**payload, "data": data}


@pytest.mark.parametrize("drift", TOLERATED.values(), ids=TOLERATED.keys())
def test_updates_that_differ_only_outside_the_old_identity_keep_distinct_keys(drift: dict[str, object]) -> None:
    one, other = (apply(site_update(plan=plan), drift) for plan in ("USD 10", "USD 25"))
    assert key_of(cloud_body(one)) != key_of(cloud_body(other))
    assert key_of(cloud_body(one)) == key_of(cloud_body(one))  # and a retry is still a duplicate


def test_one_and_one_point_zero_and_true_are_three_events() -> None:
    keys = {key_of(cloud_body(site_update(setup_wizard_complete=value))) for value in (1, 1.0, True)}
    assert len(keys) == 3


# --- Served: every 2xx was stored ---------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[WebhookApp, RunningServer]]:
    app = WebhookApp(Config(secret=SECRET, inbox=str(tmp_path / "inbox.sqlite3"), order_window=60), handlers={})
    with start_in_thread(app) as server:
        yield app, server


def post(server: RunningServer, payload: dict[str, Any]) -> int:
    headers = {"X-Webhook-Secret": SECRET}
    return requests.post(server.url, json=payload, headers=headers, timeout=5, allow_redirects=False).status_code


def stored_count(app: WebhookApp) -> int:
    assert app.inbox is not None
    return len(app.inbox.events())


def test_three_different_updates_of_one_site_with_null_modified_are_all_stored(
    served: tuple[WebhookApp, RunningServer],
) -> None:
    app, server = served
    updates = [
        site_update(modified=None, status="Active", plan="USD 10"),
        site_update(modified=None, status="Active", plan="USD 25"),  # the old key took this one for the first
        site_update(modified=None, status="Broken", plan="USD 25"),
    ]
    assert [post(server, update) for update in updates] == [200, 200, 200]
    assert post(server, updates[1]) == 200  # a retry: acknowledged, not stored again
    assert stored_count(app) == 3
    assert stored_names(app.config.inbox) == [updates[0]["data"]["name"]] * 3


# --- Framing: one Host, at most one Content-Type --------------------------------------------------------------

DELIVERY = cloud_body(site_update(name="framing.example.com"))


def without(headers: list[tuple[bytes, bytes]], name: bytes) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if k != name]


AMBIGUOUS = {
    "no-host": without(cloud_headers(DELIVERY), b"host"),
    "two-hosts": [*cloud_headers(DELIVERY), (b"host", b"other.example.com")],
    "two-equal-hosts": [*cloud_headers(DELIVERY), (b"host", b"receiver.example.com")],
    "two-hosts-any-case": [*cloud_headers(DELIVERY), (b"Host", b"other.example.com")],
    "two-content-types": [*cloud_headers(DELIVERY), (b"content-type", b"text/plain")],
    "two-equal-content-types": [*cloud_headers(DELIVERY), (b"content-type", b"application/json")],
}


@pytest.mark.parametrize("headers", AMBIGUOUS.values(), ids=AMBIGUOUS.keys())
def test_an_ambiguous_head_is_400_and_stores_nothing(headers: list[tuple[bytes, bytes]]) -> None:
    answer = answer_to(DELIVERY, headers)
    assert (answer.status, answer.record) == (400, None)
    assert ("Connection", "close") in answer.headers  # the body is unread: it is no next request
    assert set(json.loads(answer.body)) == {"error", "reason"}


def test_the_clouds_headers_are_accepted() -> None:
    assert answer_to(DELIVERY).status == 200


def raw(server: RunningServer, head: list[bytes], body: bytes) -> int:
    """Send a request head line by line, then the body; the status of the answer (0 if none)."""
    request = b"\r\n".join([b"POST /webhook HTTP/1.1", *head, b"Content-Length: %d" % len(body), b"", b""]) + body
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


SECRET_LINE = b"X-Webhook-Secret: " + SECRET.encode()
JSON_LINE = b"Content-Type: application/json"
SERVED_AMBIGUOUS = {
    "no-host": [SECRET_LINE, JSON_LINE],
    "two-hosts": [b"Host: 127.0.0.1", b"Host: evil.example.com", SECRET_LINE, JSON_LINE],
    "two-content-types": [b"Host: 127.0.0.1", SECRET_LINE, JSON_LINE, JSON_LINE],
}


@pytest.mark.parametrize("head", SERVED_AMBIGUOUS.values(), ids=SERVED_AMBIGUOUS.keys())
def test_served_an_ambiguous_head_is_400_and_nothing_is_stored(
    served: tuple[WebhookApp, RunningServer], head: list[bytes]
) -> None:
    app, server = served
    assert raw(server, [*head, b"Connection: close"], DELIVERY) == 400
    assert stored_count(app) == 0
    assert raw(server, [b"Host: 127.0.0.1", SECRET_LINE, JSON_LINE, b"Connection: close"], DELIVERY) == 200
    assert stored_count(app) == 1  # the same event, framed plainly


def test_the_clouds_own_call_is_still_acknowledged_and_stored(
    served: tuple[WebhookApp, RunningServer], cloud_oracle: CloudOracle
) -> None:
    app, server = served
    assert cloud_oracle.activation(server.url, SECRET)
    payloads = [site_update(name=f"oracle-{i}.example.com") for i in range(3)]
    [sent] = cloud_oracle.deliveries(server.url, SECRET, [payloads])
    assert [result.ok for result in sent] == [True, True, True]
    assert sorted(stored_names(app.config.inbox)) == sorted(p["data"]["name"] for p in payloads)


# --- Numbers: finite, or 400 -------------------------------------------------------------------------------

NOT_FINITE = ["1e999999", "-1e999999", "1E400", "12345678901234567890e300"]


@pytest.mark.parametrize("number", NOT_FINITE)
@pytest.mark.parametrize("event", ["Site Status Update", UNKNOWN])
def test_a_number_too_large_for_a_float_is_400_like_nan(event: str, number: str) -> None:
    text = json.dumps({"event": event, "data": {**base(event), "database_access_connection_limit": 0}})
    body = text.replace('"database_access_connection_limit": 0', f'"database_access_connection_limit": {number}')
    assert float(number) in (math.inf, -math.inf)  # what json.loads alone would have made of it
    answer = answer_to(body.encode())
    assert (answer.status, answer.record) == (400, None)
    assert "out of range" in json.loads(answer.body)["reason"]


def test_large_finite_numbers_and_huge_integers_within_limits_are_accepted() -> None:
    for number in ("1.7976931348623157e308", "-1e-400", "123456789012345678901234567890"):
        text = json.dumps(site_update(database_access_connection_limit=0))
        body = text.replace('"database_access_connection_limit": 0', f'"database_access_connection_limit": {number}')
        assert answer_to(body.encode()).status == 200, number


def test_served_a_non_finite_number_is_400_and_not_stored(served: tuple[WebhookApp, RunningServer]) -> None:
    app, server = served
    body = DELIVERY.replace(b'"database_access_connection_limit": 16', b'"database_access_connection_limit": 1e999999')
    assert body != DELIVERY
    assert raw(server, [b"Host: 127.0.0.1", SECRET_LINE, JSON_LINE, b"Connection: close"], body) == 400
    assert stored_count(app) == 0
