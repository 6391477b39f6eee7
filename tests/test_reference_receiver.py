"""The reference receiver: the app through Flask's test client, the served path over loopback HTTP."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import reference_receiver.app as receiver_app
from harness.events import DOCUMENT_EVENTS, KNOWN_EVENTS, VALIDATE, slug
from harness.schemas import sample_data
from reference_receiver import create_app, on, start_in_thread
from reference_receiver.__main__ import main

SECRET = "Zq8vN3kP0wLr5TbX2mYc7HdJ4sFa9G"  # 30 [A-Za-z0-9], like the dashboard's generator
JSON = "application/json"
UNAUTHORIZED = {"error": "unauthorized"}
HEADERS = {"X-Webhook-Secret": SECRET, "Content-Type": JSON}


def envelope(event: str, data: Any) -> bytes:
    return json.dumps({"event": event, "data": data}).encode()


HANDSHAKE = envelope(VALIDATE, {})


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("WEBHOOK_MAX_BODY_BYTES", raising=False)
    monkeypatch.setattr(receiver_app, "HANDLERS", {})


@pytest.fixture
def app() -> Flask:
    return create_app(SECRET)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def post(
    client: FlaskClient, body: bytes = HANDSHAKE, secret: str | None = SECRET, content_type: str | None = JSON
) -> TestResponse:
    headers = {} if secret is None else {"X-Webhook-Secret": secret}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post("/webhook", data=body, headers=headers)


def assert_ok(response: TestResponse) -> None:
    assert (response.status_code, response.data) == (200, b"OK")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def assert_error(response: TestResponse, status: int) -> dict[str, str]:
    """A rejection: the status, and a small JSON body with no internals."""
    assert response.status_code == status, response.data
    assert response.mimetype == JSON
    assert len(response.data) < 300
    assert b"Traceback" not in response.data
    body: dict[str, str] = response.get_json()
    assert set(body) <= {"error", "reason"}
    return body


# --- Acceptance -------------------------------------------------------------------------------------


def test_handshake_with_the_right_secret_is_ok(client: FlaskClient) -> None:
    assert_ok(post(client))


@pytest.mark.parametrize("event", KNOWN_EVENTS, ids=slug)
def test_each_known_event_sample_is_ok(client: FlaskClient, event: str) -> None:
    assert_ok(post(client, envelope(event, sample_data(event))))


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_with_parameters_or_any_case_is_ok(client: FlaskClient, content_type: str) -> None:
    assert_ok(post(client, content_type=content_type))


def test_debug_mode_is_off(app: Flask) -> None:
    assert not app.debug


# --- Secret -----------------------------------------------------------------------------------------

SECRET_VARIANTS = {
    "missing": None,
    "empty": "",
    "wrong-same-length": SECRET[::-1],
    "prefix": SECRET[:-1],
    "extra-char": SECRET + "x",
    "case-changed": SECRET.swapcase(),
    "embedded": f"x{SECRET}x",
    "non-ascii-byte": SECRET[:-1] + "\xe9",
    "8kb": "a" * 8192,
}


@pytest.mark.parametrize("sent", SECRET_VARIANTS.values(), ids=SECRET_VARIANTS.keys())
def test_wrong_secret_is_401_with_one_body(client: FlaskClient, sent: str | None) -> None:
    assert assert_error(post(client, secret=sent), 401) == UNAUTHORIZED


def test_wrong_secret_is_401_before_the_body_is_parsed(client: FlaskClient) -> None:
    assert assert_error(post(client, b"[" * 1000, secret="wrong"), 401) == UNAUTHORIZED


def test_no_secret_configured_accepts_an_empty_header() -> None:
    assert_ok(post(create_app("").test_client(), secret=""))


def test_secret_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    client = create_app().test_client()
    assert_ok(post(client))
    assert_error(post(client, secret=""), 401)


@pytest.mark.parametrize(
    ("name", "value"),
    [("WEBHOOK_MAX_BODY_BYTES", "lots"), ("WEBHOOK_MAX_BODY_BYTES", "0"), ("WEBHOOK_SECRET", " padded")],
)
def test_bad_env_value_raises_naming_it(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        create_app()


# --- Method, media type, size -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405_allowing_post(client: FlaskClient, method: str) -> None:
    response = client.open("/webhook", method=method, data=HANDSHAKE, headers={"X-Webhook-Secret": SECRET})
    assert_error(response, 405)
    assert "POST" in response.headers["Allow"]


def test_other_paths_are_404(client: FlaskClient) -> None:
    assert assert_error(client.post("/webhook/extra", data=HANDSHAKE), 404) == {"error": "not_found"}


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
def test_non_json_content_types_are_415(client: FlaskClient, content_type: str | None) -> None:
    assert_error(post(client, content_type=content_type), 415)


def test_body_over_the_limit_is_413_and_at_the_limit_is_ok() -> None:
    client = create_app(SECRET, max_body_bytes=len(HANDSHAKE) + 10).test_client()
    assert_ok(post(client, HANDSHAKE + b" " * 10))
    assert_error(post(client, HANDSHAKE + b" " * 11), 413)


def test_streamed_body_over_the_limit_is_413() -> None:
    client = create_app(SECRET, max_body_bytes=100).test_client()
    response = client.post(
        "/webhook",
        input_stream=io.BytesIO(b" " * 101),
        headers=HEADERS,
        environ_overrides={"wsgi.input_terminated": True},  # how a server says "chunked, read to the end"
    )
    assert_error(response, 413)


# --- Bad bodies -------------------------------------------------------------------------------------

NESTED = b"[" * 1000 + b"]" * 1000
NAMELESS = {k: v for k, v in sample_data("Site Status Update").items() if k != "name"}
BAD_BODIES = {
    "empty": b"",
    "truncated": b'{"event": ',
    "top-level-array": b"[]",
    "event-not-a-string": b'{"event": 5, "data": {}}',
    "event-empty": b'{"event": "", "data": {}}',
    "data-not-an-object": b'{"event": "Webhook Validate", "data": []}',
    "missing-event": b'{"data": {}}',
    "missing-data": b'{"event": "Webhook Validate"}',
    "invalid-utf-8": b'{"event": "Webhook Validate\xff", "data": {}}',
    "utf-16": HANDSHAKE.decode().encode("utf-16"),
    "nan": b'{"event": "Webhook Validate", "data": {"x": NaN}}',
    "duplicate-key": b'{"event": "Webhook Validate", "event": "Site Plan Change", "data": {}}',
    "nested-1000-arrays": NESTED,
    "nested-1000-in-data": b'{"event": "Unknown", "data": {"x": ' + NESTED + b"}}",
    "site-status-without-name": envelope("Site Status Update", NAMELESS),
    "site-status-name-not-a-string": envelope("Site Status Update", {**sample_data("Site Status Update"), "name": 7}),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_body_is_400(client: FlaskClient, body: bytes) -> None:
    assert assert_error(post(client, body), 400)["error"] == "bad_request"


def test_missing_key_reason_names_the_field(client: FlaskClient) -> None:
    reason = assert_error(post(client, BAD_BODIES["site-status-without-name"]), 400)["reason"]
    assert reason == "data: 'name' is a required property"


# Payloads the Cloud has sent, or plausibly will: the sender's key set and values have changed before,
# and a receiver that rejects them gets the webhook disabled. Accepted, and logged as drift.
DRIFT = {
    "new-site-status": ("Site Status Update", {"status": "Migrating"}),
    "old-ip-as-string": ("Site Status Update", {"ip": "None"}),
    "null-cluster": ("Site Status Update", {"cluster": None}),
    "boolean-check": ("Site Status Update", {"setup_wizard_complete": True}),
    "iso-datetime": ("Site Status Update", {"creation": "2026-06-18T10:02:14.244578"}),
    "new-build-status": ("Bench Deploy Status Update", {"status": "Cancelled"}),
    "new-plan-change-type": ("Site Plan Change", {"type": "Trial"}),
}


@pytest.mark.parametrize(("event", "change"), DRIFT.values(), ids=DRIFT.keys())
def test_payload_drift_is_accepted_and_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, event: str, change: dict[str, object]
) -> None:
    response = post(client, envelope(event, {**sample_data(event), **change}))
    assert response.status_code == 200
    assert response.data == b"OK"
    assert any("payload drift" in r.getMessage() for r in caplog.records)


def test_latin1_secret_matches_the_bytes_the_cloud_sends() -> None:
    secret = "caf\u00e9-secret-0123456789"
    client = create_app(secret=secret).test_client()
    # WSGI hands a header's bytes over decoded as Latin-1, as the Cloud's requests encodes them.
    response = client.post(
        "/webhook", data=HANDSHAKE, content_type="application/json", environ_overrides={"HTTP_X_WEBHOOK_SECRET": secret}
    )
    assert response.status_code == 200


def test_secret_the_cloud_cannot_send_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="must be Latin-1"):
        create_app(secret="\u20acuro-secret")


def test_crash_is_a_json_500_without_internals(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(body: bytes) -> None:
        raise RuntimeError("/srv/internal/path")

    monkeypatch.setattr(receiver_app, "_parse", crash)
    response = post(client)
    assert assert_error(response, 500) == {"error": "internal_server_error"}
    assert b"/srv" not in response.data


# --- Unknown events, handlers, logs -----------------------------------------------------------------


def test_unknown_event_is_acknowledged_and_logged(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    assert_ok(post(client, envelope("Site Renamed", {"name": "x"})))
    assert "'Site Renamed' unknown event" in caplog.text


FORGED = "evil\r\nwebhook status=200 event='forged'\x1b[0m"


@pytest.mark.parametrize(
    "body",
    [
        envelope(FORGED, {}),
        envelope("Site Status Update", {**sample_data("Site Status Update"), "status": FORGED}),
    ],
    ids=["unknown-event", "invalid-data"],
)
def test_log_lines_escape_control_characters(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    post(client, body)
    assert [r.getMessage().count("\n") + r.getMessage().count("\x1b") for r in caplog.records] == [0]


def test_handler_gets_the_data_of_an_accepted_event(client: FlaskClient) -> None:
    seen: list[dict[str, Any]] = []
    on("Site Plan Change")(seen.append)
    data = sample_data("Site Plan Change")
    assert_ok(post(client, envelope("Site Plan Change", data)))
    post(client, envelope("Site Plan Change", data), secret="wrong")
    assert seen == [data]


def test_handler_that_raises_still_gives_200(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    @on("Bench Status Update")
    def broken(data: dict[str, Any]) -> None:
        raise RuntimeError("database down")

    assert_ok(post(client, envelope("Bench Status Update", sample_data("Bench Status Update"))))
    assert "handler" in caplog.text
    assert "database down" in caplog.text


@pytest.mark.parametrize("event", [VALIDATE, "Site Status Updated"])
def test_handlers_only_register_for_document_events(event: str) -> None:
    assert event not in DOCUMENT_EVENTS
    with pytest.raises(ValueError, match="not a document event"):
        on(event)


def test_secret_is_never_in_a_response_or_log(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    on("Site Plan Change")(lambda data: 1 / 0)
    responses = [post(client, body) for body in BAD_BODIES.values()]
    responses += [post(client, secret=sent) for sent in [*SECRET_VARIANTS.values(), SECRET]]
    responses += [post(client, envelope(e, sample_data(e))) for e in KNOWN_EVENTS]
    responses += [post(client, content_type="text/plain"), client.get("/webhook"), client.post("/")]
    assert caplog.records
    for text in [*(r.get_data(as_text=True) for r in responses), caplog.text]:
        assert SECRET not in text
        assert SECRET[:-1] not in text


# --- Served over HTTP -------------------------------------------------------------------------------


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    with start_in_thread(app) as server:
        yield server.url


def test_served_receiver_answers_over_http(served: str) -> None:
    response = requests.post(served, data=HANDSHAKE, headers=HEADERS, timeout=5)
    assert (response.status_code, response.text) == (200, "OK")


def test_served_non_ascii_secret_byte_is_401(served: str) -> None:
    headers: dict[str, str | bytes] = {
        "X-Webhook-Secret": SECRET.encode()[:-1] + b"\xe9",
        "Content-Type": JSON,
    }
    response = requests.post(served, data=HANDSHAKE, headers=headers, timeout=5)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_served_body_over_the_limit_is_413(chunked: bool) -> None:
    body = HANDSHAKE + b" " * 200
    with start_in_thread(create_app(SECRET, max_body_bytes=100)) as server:
        data = iter([body[:100], body[100:]]) if chunked else body
        assert requests.post(server.url, data=data, headers=HEADERS, timeout=5).status_code == 413


def test_stop_frees_the_port(app: Flask) -> None:
    server = start_in_thread(app)
    requests.post(server.url, data=HANDSHAKE, timeout=5)  # leaves a keep-alive connection open
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=1).close()
    with start_in_thread(app, port=server.port) as again:
        assert again.port == server.port


def test_start_and_stop_twenty_times(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    # Repeatable and clean; how fast is a benchmark's business, not a test's.
    for _ in range(20):
        with start_in_thread(app) as server, requests.Session() as session:
            assert session.post(server.url, data=HANDSHAKE, timeout=5).status_code == 401
        server.stop()  # a second stop is a no-op
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_stop_is_bounded_with_a_request_in_flight(app: Flask) -> None:
    entered, release = threading.Event(), threading.Event()

    @on("Site Plan Change")
    def slow(data: dict[str, Any]) -> None:
        entered.set()
        release.wait(5)

    body = envelope("Site Plan Change", sample_data("Site Plan Change"))
    with start_in_thread(app) as server:
        client = threading.Thread(target=lambda: post_ignoring_errors(server.url, body))
        client.start()
        assert entered.wait(5)
        started = time.monotonic()
        server.stop()
        # Functional, not a speed limit: stop() must not wait out the handler, which holds on for 5 s.
        assert time.monotonic() - started < 4
    release.set()
    client.join(5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=1).close()


def post_ignoring_errors(url: str, body: bytes) -> None:
    with contextlib.suppress(requests.RequestException):
        requests.post(url, data=body, headers=HEADERS, timeout=5)


# --- Command line -----------------------------------------------------------------------------------


def test_module_help_exits_0() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reference_receiver", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    assert "--port" in result.stdout


def test_main_with_a_bad_environment_value_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBHOOK_MAX_BODY_BYTES", "lots")
    assert main(["--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "WEBHOOK_MAX_BODY_BYTES" in err
