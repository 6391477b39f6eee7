"""The bad-input catalogue: every case is one request, with the right secret, and exactly what it claims is wrong."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from harness.config.secret import Secret
from harness.payloads.badinput import (
    BODY_CASES,
    CONTENT_TYPE_CASES,
    METHOD_CASES,
    NESTING,
    ODD_SECRET_CASES,
    OVERSIZE_BYTES,
    BadInput,
    OddSecret,
    oversize_request,
)
from harness.payloads.deliveries import HANDSHAKE, HeaderValue, is_handshake
from harness.payloads.events import VALIDATE
from harness.payloads.schemas import delivery_errors

URL = "http://127.0.0.1:9/webhook"
SECRET = Secret("a-secret-of-thirty-characters!")
EVERY_CASE = (*BODY_CASES, *METHOD_CASES, *CONTENT_TYPE_CASES)


def parsed(body: bytes) -> object:
    return json.loads(body)


def unparseable(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return True
    return False


#: What each BAD-1 body claims to break, as a predicate on its bytes.
CLAIMS: dict[str, Callable[[bytes], bool]] = {
    "empty": lambda b: b == b"",
    "truncated": lambda b: unparseable(b) and b.startswith(b'{"event": "Site Status Update", "data": '),
    "not-json": lambda b: unparseable(b),
    "top-level-array": lambda b: isinstance(parsed(b), list) and parsed(b) == [json.loads(HANDSHAKE)],
    "top-level-string": lambda b: parsed(b) == VALIDATE,
    "json-null": lambda b: parsed(b) is None,
    "json-true": lambda b: parsed(b) is True,
    "json-zero": lambda b: parsed(b) == 0 and type(parsed(b)) is int,
    "json-empty-string": lambda b: parsed(b) == "",
    "json-empty-array": lambda b: parsed(b) == [],
    "missing-event": lambda b: parsed(b) == {"data": {}},
    "event-not-string": lambda b: parsed(b) == {"event": 5, "data": {}},
    "event-null": lambda b: parsed(b) == {"event": None, "data": {}},
    "missing-data": lambda b: parsed(b) == {"event": "Site Status Update"},
    "data-not-object": lambda b: parsed(b) == {"event": "Site Status Update", "data": []},
    "data-string": lambda b: parsed(b) == {"event": "Site Status Update", "data": "x"},
    # Valid JSON but for the bytes of one string, which are not UTF-8.
    "invalid-utf8": lambda b: (
        not _decodes(b) and json.loads(b.decode("latin-1"))["data"]["name"] == "\xff\xfe.example.com"
    ),
    "deep-nesting": lambda b: b.count(b"[") == b.count(b"]") == NESTING and unparseable(b),
}


def _decodes(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_every_body_case_states_its_claim() -> None:
    assert [case.name for case in BODY_CASES] == list(CLAIMS)


@pytest.mark.parametrize("case", BODY_CASES, ids=lambda c: c.name)
def test_body_case_breaks_what_it_claims(case: BadInput) -> None:
    assert case.body is not None
    assert CLAIMS[case.name](case.body)


@pytest.mark.parametrize("case", BODY_CASES, ids=lambda c: c.name)
def test_no_body_case_is_a_delivery(case: BadInput) -> None:
    # Each must get a 4xx: a conforming delivery would rightly get a 2xx.
    assert case.body is not None
    if unparseable(case.body) or not _decodes(case.body):
        return
    assert delivery_errors(json.loads(case.body)) != []


def test_deep_nesting_exhausts_a_recursive_parser_in_4_kb() -> None:
    case = next(c for c in BODY_CASES if c.name == "deep-nesting")
    assert case.body is not None
    assert len(case.body) <= 4 * 1024
    assert NESTING > 1000  # Python's recursion limit
    head = b'{"event": "Site Status Update", "data": '
    assert case.body == head + b"[" * NESTING + b"]" * NESTING + b"}"
    with pytest.raises(RecursionError):
        json.loads(case.body)
    assert case.description == f"data nested {NESTING} arrays deep"


@pytest.mark.parametrize("case", EVERY_CASE, ids=lambda c: f"{c.method}-{c.name}")
def test_every_case_carries_the_right_secret(case: BadInput) -> None:
    request = case.request(URL, SECRET)
    assert request.url == URL
    assert request.secret == SECRET
    assert request.secret_shell == "$WEBHOOK_SECRET"
    assert request.description == f"{case.description}, with the right secret"
    assert request.method == case.method
    assert request.content_type == case.content_type
    assert not request.as_the_cloud  # bad input does not count toward the Cloud's rules


@pytest.mark.parametrize("case", EVERY_CASE, ids=lambda c: f"{c.method}-{c.name}")
def test_without_a_secret_every_case_carries_the_empty_header(case: BadInput) -> None:
    request = case.request(URL, Secret(""))
    assert request.secret == Secret("")
    assert request.secret_shell == ""
    assert request.description.endswith("with the empty secret header the Cloud sends when none is configured")


def test_case_names_are_unique_in_each_catalogue() -> None:
    for catalogue in (BODY_CASES, METHOD_CASES, CONTENT_TYPE_CASES, ODD_SECRET_CASES):
        names = [case.name for case in catalogue]
        assert len(names) == len(set(names))


def test_body_cases_are_posted_as_json() -> None:
    assert {(c.method, c.content_type) for c in BODY_CASES} == {("POST", "application/json")}


def test_a_case_without_a_body_sends_the_handshake() -> None:
    assert BadInput("x", "d").request(URL, SECRET).body == HANDSHAKE
    assert BadInput("x", "d", b"").request(URL, SECRET).body == b""


def test_method_cases_change_only_the_method() -> None:
    assert [c.name for c in METHOD_CASES] == ["GET", "PUT", "PATCH"]
    for case in METHOD_CASES:
        request = case.request(URL, SECRET)
        assert request.method == case.name
    get, put, patch = (c.request(URL, SECRET) for c in METHOD_CASES)
    assert (get.body, get.content_type) == (b"", None)
    assert put.body == patch.body == HANDSHAKE
    assert put.content_type == patch.content_type == "application/json"
    # Nothing destructive: no DELETE, with the right secret, to a URL that may handle it.
    assert "DELETE" not in {c.method for c in EVERY_CASE}


def test_content_type_cases_change_only_the_content_type() -> None:
    declared = {c.name: c.content_type for c in CONTENT_TYPE_CASES}
    assert declared == {
        "text-plain": "text/plain",
        "no-content-type": None,
        "form-urlencoded": "application/x-www-form-urlencoded",
    }
    for case in CONTENT_TYPE_CASES:
        request = case.request(URL, SECRET)
        assert is_handshake(request)
        assert request.method == "POST"


def test_oversize_request_is_a_valid_handshake_too_big_only() -> None:
    request = oversize_request(URL, SECRET)
    assert OVERSIZE_BYTES == 1024 * 1024
    assert len(request.body) == OVERSIZE_BYTES
    envelope = json.loads(request.body)
    assert envelope["event"] == VALIDATE
    assert set(envelope["data"]["padding"]) == {"x"}
    assert delivery_errors(envelope) == []
    assert not is_handshake(request)
    assert request.secret == SECRET
    assert request.secret_shell == "$WEBHOOK_SECRET"
    assert (request.method, request.content_type) == ("POST", "application/json")
    assert request.description == "the handshake padded to 1024 KiB, with the right secret"
    assert oversize_request(URL, Secret("")).secret == Secret("")


def test_bodies_name_no_real_document() -> None:
    # Only the handshake and the one event a receiver must treat as harmless, or malformed ones.
    for case in BODY_CASES:
        assert case.body is not None
        if not unparseable(case.body) and _decodes(case.body):
            value = json.loads(case.body)
            event = value.get("event") if isinstance(value, dict) else None
            assert event in (None, 5, VALIDATE, "Site Status Update"), case.name


# --- AUTH-4's odd secrets ----------------------------------------------------------------------------------


def test_odd_secrets_are_what_they_say() -> None:
    odd = {case.name: case for case in ODD_SECRET_CASES}
    assert set(odd) == {"non-ascii", "8kb"}
    non_ascii = odd["non-ascii"].value
    assert not non_ascii.isascii()
    assert non_ascii.encode("latin-1") == b"conformance-caf\xe9"  # requests sends it as Latin-1, like the Cloud
    assert odd["8kb"].value == "x" * 8192


@pytest.mark.parametrize("case", ODD_SECRET_CASES, ids=lambda c: c.name)
def test_odd_secret_header_carries_its_value(case: OddSecret) -> None:
    assert case.header() == HeaderValue(Secret(case.value), case.description, case.shell)


@pytest.mark.parametrize("case", ODD_SECRET_CASES, ids=lambda c: c.name)
def test_odd_secret_shell_rebuilds_the_bytes_sent(case: OddSecret) -> None:
    shell = subprocess.run(
        ["bash", "-c", f'printf %s "{case.shell}"'], capture_output=True, timeout=10, check=True, env={}
    )
    assert shell.stdout == case.value.encode("latin-1")
