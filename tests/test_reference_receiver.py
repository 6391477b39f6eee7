"""The reference receiver served over loopback HTTP (on a thread): the bad-input catalogue, bursts, slow
clients, limits, logs, start and stop. Its decisions alone are in test_reference_core.py; the receiver as
its own process (crash, SIGTERM, the whole suite) in test_reference_served.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

import reference_receiver
from conftest import raw_exchange, stored_names
from harness.payloads.schemas import sample_data
from reference_receiver import Config, Event, WebhookApp, start_in_thread
from reference_receiver.__main__ import main
from reference_receiver.processing import Handler
from reference_receiver.serve import JsonFormatter, RunningServer

SECRET = "Zq8vN3kP0wLr5TbX2mYc7HdJ4sFa9G"
OLD_SECRET = "Old0secret0that0is0rotated0out"


def delivery(name: str, event: str = "Site Status Update", **change: object) -> bytes:
    """A delivery of a real event, unique by ``name``: if a bad request were accepted, it would be stored."""
    data = {**sample_data(event), **change}
    data["site" if event == "Site Plan Change" else "name"] = name
    if event == "Site Plan Change":
        data["name"] = name[:10]
    return json.dumps({"event": event, "data": data}).encode()


@dataclass
class Served:
    app: WebhookApp
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    def stored_names(self) -> list[str]:
        """What the inbox file holds (read on its own, so also after the receiver stopped)."""
        return stored_names(self.app.config.inbox)


@contextlib.contextmanager
def serving(tmp_path: Path, handlers: dict[str, list[Handler]] | None = None, **config: Any) -> Iterator[Served]:
    settings = {"secret": SECRET, "inbox": str(tmp_path / "inbox.sqlite3"), "order_window": 0.0, **config}
    app = WebhookApp(Config(**settings), handlers=handlers if handlers is not None else {})
    with start_in_thread(app) as server:
        yield Served(app, server)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path) as s:
        yield s


def post(url: str, body: bytes, secret: str | None = SECRET, **headers: str) -> requests.Response:
    sent = {"Content-Type": "application/json", **headers}
    if secret is not None:
        sent["X-Webhook-Secret"] = secret
    return requests.post(url, data=body, headers=sent, timeout=5, allow_redirects=False)


def raw_request(
    body: bytes, headers: list[tuple[str, str | bytes]], method: str = "POST", target: str = "/webhook"
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    for name, value in headers:
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode("latin-1")))
    lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# --- The bad-input catalogue (receiver-security.md §3, groups B, C, D) ----------------------------------


@dataclass(frozen=True)
class Case:
    """One request of the catalogue and the statuses a safe receiver may answer it with."""

    id: str
    allowed: frozenset[int]
    secret: str | bytes | None = SECRET
    extra: tuple[tuple[str, str | bytes], ...] = ()
    content_type: str | None = "application/json"
    method: str = "POST"
    target: str = "/webhook"
    body: bytes | None = None  # None: a unique, valid event

    @property
    def stores(self) -> bool:
        """Whether an answer in ``allowed`` means the event is stored (positive controls)."""
        return all(200 <= s < 300 for s in self.allowed)


def case(id: str, *allowed: int, **kwargs: Any) -> Case:
    return Case(id, frozenset(allowed), **kwargs)


NESTED = b"[" * 1000 + b"]" * 1000
CATALOGUE = [
    # B: the secret header
    case("B1-no-secret", 401, secret=None),
    case("B2-wrong-same-length", 401, secret=SECRET[::-1]),
    case("B3-wrong-other-length", 401, secret="wrong"),
    case("B4-empty", 401, secret=""),
    case("B5-case-changed", 401, secret=SECRET.swapcase()),
    case("B6-one-more-char", 401, secret=SECRET + "x"),
    case("B6-one-char-less", 401, secret=SECRET[:-1]),
    case("B7-non-ascii-byte", 401, 400, secret=SECRET.encode()[:-1] + b"\xe9"),
    case("B8-8kb", 401, 400, 431, secret="a" * 8192),
    case("B9-wrong-then-right", 401, 400, secret="wrong", extra=(("X-Webhook-Secret", SECRET),)),
    case("B9-right-then-wrong", 401, 400, extra=(("X-Webhook-Secret", "wrong"),)),
    # RFC 9110 strips surrounding whitespace from field values: either answer is right (INFO in §3).
    case("B10-trailing-space", 200, 401, secret=SECRET + " "),
    case("B10-trailing-tab", 200, 401, secret=SECRET + "\t"),
    case("B11-secret-in-query", 401, secret=None, target=f"/webhook?secret={SECRET}"),
    case(
        "B11-secret-in-body", 401, secret=None, body=b'{"event": "Webhook Validate", "secret": "%s"}' % SECRET.encode()
    ),
    case("B12-lower-case-header-name", 200, secret=None, extra=(("x-webhook-secret", SECRET),)),
    # C: method and media type
    case("C1-get", 405, method="GET"),
    case("C2-put", 405, method="PUT"),
    case("C2-patch", 405, method="PATCH"),
    case("C2-delete", 405, method="DELETE"),
    case("C3-options", 405, 200, 204, method="OPTIONS"),
    case("C3-head", 405, 200, 204, method="HEAD"),
    case("C4-text-plain", 415, 400, content_type="text/plain"),
    case("C5-no-content-type", 415, 400, content_type=None),
    case("C6-form", 415, 400, content_type="application/x-www-form-urlencoded"),
    case("C7-json-with-charset", 200, content_type="application/json; charset=utf-8"),
    # D: the body, with the right secret
    case("D1-empty", 400, 415, 422, body=b""),
    case("D2-truncated", 400, 422, body=b'{"event": '),
    case("D3-array", 400, 422, body=b"[]"),
    case("D3-string", 400, 422, body=b'"Site Status Update"'),
    case("D3-number", 400, 422, body=b"5"),
    case("D4-no-event", 400, 422, body=b'{"data": {"doctype": "Site", "name": "x", "status": "Active"}}'),
    case("D5-event-number", 400, 422, body=b'{"event": 5, "data": {}}'),
    case("D5-event-null", 400, 422, body=b'{"event": null, "data": {}}'),
    case("D5-event-object", 400, 422, body=b'{"event": {}, "data": {}}'),
    case("D6-data-array", 400, 422, body=b'{"event": "Site Status Update", "data": []}'),
    case("D6-data-string", 400, 422, body=b'{"event": "Site Status Update", "data": "x"}'),
    case("D7-invalid-utf-8", 400, body=b'{"event": "Site Status Update\xff", "data": {}}'),
    case("D8-nested-1000", 400, 413, body=NESTED),
    case("D9-5000-digits", 400, 413, body=b'{"event": "Unknown", "data": {"x": ' + b"9" * 5000 + b"}}"),
    case("D10-nan", 400, body=b'{"event": "Unknown", "data": {"x": NaN}}'),
    case("D11-duplicate-keys", 400, body=b'{"event": "Unknown", "event": "Other", "data": {}}'),
    case("D12-utf-16", 400, body=delivery("utf16.example.com").decode().encode("utf-16")),
    case("D13-bom", 200, 400, body=b"\xef\xbb\xbf" + delivery("bom.example.com")),
    case("D14-unknown-event", 200, body=b'{"event": "Site Renamed", "data": {"name": "renamed.example.com"}}'),
    case(
        "D15-extra-keys",
        200,
        body=json.dumps(
            {
                "event": "Site Status Update",
                "data": {**sample_data("Site Status Update"), "name": "extra.example.com", "new": 1},
                "api": 2,
            }
        ).encode(),
    ),
    case("D16-20kb", 200, body=delivery("big.example.com", label="x" * 20000)),
]


@pytest.mark.parametrize("bad", CATALOGUE, ids=[c.id for c in CATALOGUE])
def test_catalogue_case_gets_a_safe_answer_and_only_an_accepted_event_is_stored(served: Served, bad: Case) -> None:
    body = delivery(f"{bad.id.lower()}.example.com") if bad.body is None else bad.body
    headers = list(bad.extra)
    if bad.secret is not None:
        headers.insert(0, ("X-Webhook-Secret", bad.secret))
    if bad.content_type is not None:
        headers.append(("Content-Type", bad.content_type))
    status = raw_exchange(served.server.port, raw_request(body, headers, bad.method, bad.target))
    assert status in bad.allowed, status
    stored = len(served.app.inbox.events())  # type: ignore[union-attr]
    accepted_event = 200 <= status < 300 and bad.method == "POST" and b'"Webhook Validate"' not in body
    assert stored == (1 if accepted_event else 0)


def test_the_catalogue_covers_every_group_and_has_positive_controls() -> None:
    assert {c.id.split("-")[0] for c in CATALOGUE} >= {f"B{i}" for i in range(1, 13)} | {f"C{i}" for i in range(1, 8)}
    assert {c.id.split("-")[0] for c in CATALOGUE} >= {f"D{i}" for i in range(1, 17)}
    assert [c.id for c in CATALOGUE if c.stores] == [
        "B12-lower-case-header-name",
        "C7-json-with-charset",
        "D14-unknown-event",
        "D15-extra-keys",
        "D16-20kb",
    ]


# --- Limits -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_body_over_the_limit_is_413_and_not_stored(tmp_path: Path, chunked: bool) -> None:
    body = delivery("big.example.com", label="x" * 200)
    with serving(tmp_path, max_body_bytes=100) as s:
        data = iter([body[:100], body[100:]]) if chunked else body
        assert post(s.url, data).status_code == 413  # type: ignore[arg-type]
        assert s.stored_names() == []


def test_a_stalled_body_is_408_and_not_stored(tmp_path: Path) -> None:
    body = delivery("stalled.example.com")
    with serving(tmp_path, body_timeout=0.3) as s:
        request = raw_request(body, [("X-Webhook-Secret", SECRET), ("Content-Type", "application/json")])
        with socket.create_connection(("127.0.0.1", s.server.port), timeout=5) as sock:
            sock.sendall(request[: len(request) - 10])  # then nothing: a client that stalls mid-body
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408 ")
            assert b"connection: close" in answer.lower()  # the rest of that body is no next request
        assert s.stored_names() == []


# --- Deliveries as the Cloud makes them: duplicates, bursts --------------------------------------------


def test_a_burst_of_500_at_concurrency_50_with_duplicates_stores_every_event_once(served: Served) -> None:
    names = [f"burst-{i}.example.com" for i in range(450)]
    rng = random.Random(5)
    sends = names + rng.sample(names, 50)  # 10% duplicates, some in flight at the same time as the original
    rng.shuffle(sends)
    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(lambda name: post(served.url, delivery(name)).status_code, sends))
    assert statuses == [200] * 500
    stored = served.stored_names()
    assert sorted(stored) == sorted(names)


def test_a_handler_that_fails_never_changes_the_answer(tmp_path: Path) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("database down")

    with serving(tmp_path, {"Site Status Update": [broken]}, max_attempts=1) as s:
        assert post(s.url, delivery("a.example.com")).status_code == 200
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and s.app.inbox.events()[0].state != "failed":  # type: ignore[union-attr]
            time.sleep(0.02)
        stored = s.app.inbox.events()[0]  # type: ignore[union-attr]
        assert (stored.state, stored.last_error) == ("failed", "RuntimeError: database down")


def test_a_store_that_fails_answers_503_so_the_cloud_retries(served: Served) -> None:
    def full(records: object) -> list[bool]:
        raise OSError("disk full")

    served.app.inbox.put_many = full  # type: ignore[method-assign, union-attr]
    response = post(served.url, delivery("lost.example.com"))
    assert (response.status_code, response.headers["Retry-After"]) == (503, "60")
    assert "disk full" not in response.text


def test_a_removed_inbox_file_answers_503_instead_of_acknowledging(served: Served, tmp_path: Path) -> None:
    assert post(served.url, delivery("kept.example.com")).status_code == 200
    for path in tmp_path.glob("inbox.sqlite3*"):
        path.unlink()
    assert post(served.url, delivery("lost.example.com")).status_code == 503


# --- Slow clients -------------------------------------------------------------------------------------


@contextlib.contextmanager
def dribbling(port: int, connections: int = 20) -> Iterator[None]:
    """Clients that send their headers a line at a time, never finishing (slowloris)."""
    stop = threading.Event()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(connections)]

    def dribble() -> None:
        for sock in socks:
            sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while not stop.wait(0.2):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow: 1\r\n")

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)  # every connection has started its headers
        yield
    finally:
        stop.set()
        thread.join(5)
        for sock in socks:
            sock.close()


def answered_within(url: str, seconds: float) -> bool:
    try:
        response = requests.post(
            url, data=delivery("normal.example.com"), headers={"X-Webhook-Secret": SECRET}, timeout=seconds
        )
    except requests.Timeout:
        return False
    return response.status_code < 500


def test_twenty_slow_clients_do_not_hold_up_a_delivery(served: Served) -> None:
    with dribbling(served.server.port):
        assert answered_within(served.url, 1.0)


def test_a_request_head_that_never_ends_is_408_and_closed(tmp_path: Path) -> None:
    with serving(tmp_path, header_timeout=0.3) as s, socket.create_connection(("127.0.0.1", s.server.port), 5) as sock:
        sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 408 ")
        assert sock.recv(4096) == b""  # closed: the connection is not held any longer


def test_a_bare_line_break_after_an_answer_starts_the_head_timer(tmp_path: Path) -> None:
    with serving(tmp_path, header_timeout=0.3) as s, socket.create_connection(("127.0.0.1", s.server.port), 5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"\r\n")  # cancels the keep-alive timer, and starts no message
        assert sock.recv(4096).startswith(b"HTTP/1.1 408 ")


BIG_HEAD = b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"


@pytest.mark.parametrize(
    "sent",
    [
        [b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 200_000],  # never ends
        [BIG_HEAD],  # whole, in one read
        [b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", BIG_HEAD],  # the second on a kept-alive connection
    ],
    ids=["unfinished", "whole", "second-request"],
)
def test_a_request_head_over_64_kib_is_431(served: Served, sent: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", served.server.port), timeout=5) as sock:
        for part in sent[:-1]:
            sock.sendall(part)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        sock.sendall(sent[-1])
        assert sock.recv(4096).startswith(b"HTTP/1.1 431 ")


def test_pipelined_requests_on_one_connection_are_each_answered(served: Served) -> None:
    health = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", served.server.port), timeout=5) as sock:
        sock.sendall(
            raw_request(b"{}", [("X-Webhook-Secret", "wrong")]).replace(b"Connection: close\r\n", b"") + health
        )
        answers = b""
        while answers.count(b"HTTP/1.1 ") < 2 and (chunk := sock.recv(4096)):
            answers += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", answers) == [b"401", b"200"]


def test_websocket_upgrades_are_not_served() -> None:
    from reference_receiver.serve import uvicorn_config

    assert uvicorn_config(WebhookApp(Config(secret=SECRET))).ws == "none"


class _BlockingServer(HTTPServer):
    request_queue_size = 64  # every slow client connects; then they wait their turn


class _OneAtATime(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_slow_client_test_catches_a_server_that_serves_one_connection_at_a_time() -> None:
    # The power of the test above: a blocking server (like a sync worker) is held up by one slow client.
    server = _BlockingServer(("127.0.0.1", 0), _OneAtATime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with dribbling(server.server_address[1]):
            assert not answered_within(f"http://127.0.0.1:{server.server_address[1]}/webhook", 1.0)
    finally:
        server.shutdown()
        server.server_close()


# --- Health, rotation, logs ---------------------------------------------------------------------------


def test_health_says_ok_without_a_secret(served: Served) -> None:
    response = requests.get(served.url.replace("/webhook", "/healthz"), timeout=5)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_a_delivery_with_the_previous_secret_is_stored_and_logged_as_a_rotation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "reference_receiver")  # the default level: the README's rotation steps read it
    with serving(tmp_path, previous_secret=OLD_SECRET) as s:
        assert post(s.url, delivery("old.example.com"), secret=OLD_SECRET).status_code == 200
        assert s.stored_names() == ["old.example.com"]
    assert any(getattr(r, "rotation", None) for r in caplog.records)


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = JsonFormatter()
    return [formatter.format(record) for record in caplog.records]


def test_the_secret_is_never_in_a_response_or_a_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def echo(event: Event) -> None:
        raise RuntimeError(f"cannot handle {event.data}")

    with serving(tmp_path, {"Site Status Update": [echo]}, previous_secret=OLD_SECRET, max_attempts=1) as s:
        texts = [post(s.url, delivery(f"c{i}.example.com"), secret=sent).text for i, sent in enumerate(WRONGS)]
        texts += [post(s.url, b"[" * 1000).text, post(s.url, delivery("x.example.com"), content_type="x").text]
        texts += [requests.get(s.url, headers={"X-Webhook-Secret": SECRET}, timeout=5).text]
        time.sleep(0.3)  # the handler ran and failed
    lines = logged(caplog)
    assert any("cannot handle" in line for line in lines)  # the handler's error is there, the secret is not
    for text in [*texts, *lines]:
        for secret in (SECRET, OLD_SECRET):
            assert secret not in text
            assert secret[:-1] not in text


WRONGS = [SECRET, OLD_SECRET, SECRET[:-1], SECRET + "x", SECRET.swapcase(), "", None]


def test_log_lines_are_one_json_object_each_whatever_the_payload(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "reference_receiver")
    forged = 'evil\r\n{"level": "info", "msg": "forged"}\x1b[0m'
    post(served.url, json.dumps({"event": forged, "data": {}}).encode())
    post(served.url, delivery("forged.example.com", status=7))
    lines = logged(caplog)
    assert lines
    for line in lines:
        assert "\n" not in line
        assert "\x1b" not in line
        json.loads(line)


# --- Start and stop -------------------------------------------------------------------------------------


def test_stop_frees_the_port(tmp_path: Path) -> None:
    with serving(tmp_path) as s:
        requests.post(s.url, data=b"{}", timeout=5)  # leaves a keep-alive connection open
    port = s.server.port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_start_and_stop_ten_times_keeps_what_was_stored(tmp_path: Path) -> None:
    for i in range(10):
        with serving(tmp_path) as s:
            assert post(s.url, delivery(f"s{i}.example.com")).status_code == 200
    with serving(tmp_path) as s:
        assert sorted(s.stored_names()) == sorted(f"s{i}.example.com" for i in range(10))


def test_stop_finishes_a_request_in_flight(tmp_path: Path) -> None:
    body = delivery("in-flight.example.com")
    request = raw_request(body, [("X-Webhook-Secret", SECRET), ("Content-Type", "application/json")])
    with serving(tmp_path) as s, socket.create_connection(("127.0.0.1", s.server.port), timeout=5) as sock:
        sock.sendall(request[:-20])
        time.sleep(0.2)
        stopping = threading.Thread(target=s.server.stop)
        stopping.start()
        time.sleep(0.2)
        sock.sendall(request[-20:])
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        stopping.join(10)
        assert s.stored_names() == ["in-flight.example.com"]


# --- As a template ------------------------------------------------------------------------------------


def test_create_app_with_a_store_of_ones_own_keeps_the_business_handlers() -> None:
    from reference_receiver import HANDLERS, MemoryInbox, create_app

    inbox = MemoryInbox()
    app = create_app(Config(secret=SECRET), inbox=inbox)
    app.start()
    try:
        assert app.inbox is inbox
        assert "Site Plan Change" in HANDLERS  # business.py's example
    finally:
        app.stop()


def test_the_package_runs_under_another_name(tmp_path: Path) -> None:
    shutil.copytree(Path(reference_receiver.__file__).parent, tmp_path / "myhooks")
    result = subprocess.run(
        [sys.executable, "-m", "myhooks", "--help"], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "python -m myhooks" in result.stdout


# --- Command line -----------------------------------------------------------------------------------


def test_module_help_lists_the_environment() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reference_receiver", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    for name in (
        "--port",
        "--dev",
        "WEBHOOK_SECRET",
        "WEBHOOK_SECRET_PREVIOUS",
        "WEBHOOK_INBOX",
        "WEBHOOK_MAX_BODY_BYTES",
    ):
        assert name in result.stdout


@pytest.mark.parametrize(
    ("env", "named"),
    [({}, "WEBHOOK_SECRET"), ({"WEBHOOK_SECRET": SECRET, "WEBHOOK_MAX_BODY_BYTES": "lots"}, "WEBHOOK_MAX_BODY_BYTES")],
    ids=["no-secret", "bad-limit"],
)
def test_main_with_a_bad_environment_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], named: str
) -> None:
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert named in err


def test_dev_mode_listens_on_loopback_only(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    assert main(["--dev", "--host", "0.0.0.0"]) == 2
    assert "loopback only" in capsys.readouterr().err
