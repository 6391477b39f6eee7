"""The transport: the Cloud's bytes on the wire, and the safety the Cloud's sender lacks."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from harness.config.secret import Secret
from harness.payloads.deliveries import HeaderValue, delivery, encode, right_secret
from harness.wire import transport

SECRET = Secret("transport-secret-0123456789")
OPTIONS = transport.Options(timeout=1.0)

Reply = Callable[[bytes, socket.socket], None]


@dataclass
class RawServer:
    """A loopback TCP server that records each raw request and answers with ``reply(request_bytes)``."""

    reply: Callable[[bytes, socket.socket], None]
    requests: list[bytes] = field(default_factory=list)
    sock: socket.socket = field(default_factory=lambda: socket.create_server(("127.0.0.1", 0)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/webhook"

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(
                    next(
                        (
                            line.split(b":")[1]
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        b"0",
                    )
                )
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                self.reply(head + b"\r\n\r\n" + body, conn)
            except OSError:
                pass


StartServer = Callable[[Reply], "RawServer"]


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[bytes, socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Callable[[bytes, socket.socket], None]) -> RawServer:
        server = RawServer(reply)
        threading.Thread(target=server.serve, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.sock.close()


def answer(status: str = "200 OK", body: bytes = b"OK", headers: str = "") -> Callable[[bytes, socket.socket], None]:
    def reply(request: bytes, conn: socket.socket) -> None:
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body)

    return reply


def test_body_is_requests_json_encoding_with_event_first() -> None:
    body = encode("Site Plan Change", {"name": "caf\u00e9", "n": 1})
    assert body == b'{"event": "Site Plan Change", "data": {"name": "caf\\u00e9", "n": 1}}'


def test_delivery_bytes_and_header_order_match_the_sender(raw_server: StartServer) -> None:
    server = raw_server(answer())
    exchange = transport.send(delivery(server.url, "Webhook Validate", right_secret(SECRET)), OPTIONS)
    assert exchange.response is not None
    assert exchange.response.status == 200
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /webhook HTTP/1.1"
    names = [line.split(b":")[0].decode() for line in lines[2:]]  # after the request line and Host
    assert names == [
        "User-Agent",
        "Accept-Encoding",
        "Accept",
        "Connection",
        "X-Webhook-Secret",
        "Content-Length",
        "Content-Type",
    ]
    assert b"X-Webhook-Secret: " + SECRET.reveal().encode() in lines
    assert b"Content-Type: application/json" in lines
    assert body == b'{"event": "Webhook Validate", "data": {}}'


def test_empty_secret_is_sent_as_an_empty_header_and_none_omits_it(raw_server: StartServer) -> None:
    server = raw_server(answer())
    transport.send(delivery(server.url, "Webhook Validate", right_secret(Secret(""))), OPTIONS)
    transport.send(delivery(server.url, "Webhook Validate", HeaderValue(None, "no header", None)), OPTIONS)
    assert b"\r\nX-Webhook-Secret: \r\n" in server.requests[0]
    assert b"X-Webhook-Secret" not in server.requests[1]


@pytest.mark.parametrize(
    "status",
    ["301 Moved Permanently", "302 Found", "303 See Other", "307 Temporary Redirect", "308 Permanent Redirect"],
)
def test_redirect_is_reported_not_followed(raw_server: StartServer, status: str) -> None:
    elsewhere = raw_server(answer())
    server = raw_server(answer(status, b"", f"Location: {elsewhere.url}\r\n"))
    exchange = transport.send(delivery(server.url, "Webhook Validate", right_secret(SECRET)), OPTIONS)
    assert exchange.response is not None
    assert exchange.response.status == int(status[:3])
    assert exchange.response.header("Location") == elsewhere.url
    time.sleep(0.05)
    assert elsewhere.requests == []  # the secret never reached the redirect target


def test_large_response_is_read_only_up_to_the_cap(raw_server: StartServer) -> None:
    big = b"x" * (1024 * 1024)
    server = raw_server(answer(body=big))
    exchange = transport.send(
        delivery(server.url, "Webhook Validate", right_secret(SECRET)),
        transport.Options(timeout=1.0, max_response_bytes=1000),
    )
    assert exchange.response is not None
    assert len(exchange.response.body) == 1000
    assert exchange.response.truncated


def test_gzip_bomb_decodes_only_up_to_the_cap(raw_server: StartServer) -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    server = raw_server(answer(body=bomb, headers="Content-Encoding: gzip\r\n"))
    exchange = transport.send(
        delivery(server.url, "Webhook Validate", right_secret(SECRET)),
        transport.Options(timeout=1.0, max_response_bytes=4096),
    )
    assert exchange.response is not None
    assert len(exchange.response.body) == 4096


def test_gzip_body_is_decoded(raw_server: StartServer) -> None:
    server = raw_server(answer(body=gzip.compress(b"OK"), headers="Content-Encoding: gzip\r\n"))
    exchange = transport.send(delivery(server.url, "Webhook Validate", right_secret(SECRET)), OPTIONS)
    assert exchange.response is not None
    assert exchange.response.body == b"OK"


def drip(interval: float, count: int, head_first: bool) -> Callable[[bytes, socket.socket], None]:
    """Sends a response a byte at a time, each well within the read timeout, so only a deadline stops it."""

    def reply(request: bytes, conn: socket.socket) -> None:
        message = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" if head_first else b""
        if message:
            conn.sendall(message)
            message = b"x"
        else:
            message = b"H"
        for _ in range(count):
            conn.sendall(message)
            time.sleep(interval)

    return reply


@pytest.mark.parametrize("head_first", [True, False], ids=["dripping-body", "dripping-status-line"])
def test_deadline_bounds_a_dripping_response(raw_server: StartServer, head_first: bool) -> None:
    # Each byte arrives within the 0.3 s read timeout; without a deadline this would take 10 s.
    server = raw_server(drip(0.1, 100, head_first))
    started = time.monotonic()
    exchange = transport.send(
        delivery(server.url, "Webhook Validate", right_secret(SECRET)), transport.Options(timeout=0.3)
    )
    elapsed = time.monotonic() - started
    assert elapsed < 3.0
    # A body that never completes fails at the Cloud too: an error, not a truncated success.
    assert exchange.response is None
    assert exchange.error is not None
    assert exchange.error.kind == "deadline"


def test_silent_server_is_a_read_timeout(raw_server: StartServer) -> None:
    server = raw_server(lambda request, conn: time.sleep(1.0))
    exchange = transport.send(
        delivery(server.url, "Webhook Validate", right_secret(SECRET)), transport.Options(timeout=0.2)
    )
    assert exchange.error is not None
    assert exchange.error.kind == "read-timeout"


def test_refused_connection_is_a_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    exchange = transport.send(
        delivery(f"http://127.0.0.1:{port}/webhook", "Webhook Validate", right_secret(SECRET)), OPTIONS
    )
    assert exchange.response is None
    assert exchange.error is not None
    assert exchange.error.kind == "connect"
    assert transport.probe(f"http://127.0.0.1:{port}/webhook", OPTIONS) is not None


def test_environment_proxy_is_ignored_unless_asked(raw_server: StartServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server = raw_server(answer())
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9/")  # a proxy that does not exist
    monkeypatch.setenv("NO_PROXY", "")
    exchange = transport.send(delivery(server.url, "Webhook Validate", right_secret(SECRET)), OPTIONS)
    assert exchange.response is not None
    assert exchange.response.status == 200
    proxied = transport.send(
        delivery(server.url, "Webhook Validate", right_secret(SECRET)),
        transport.Options(timeout=1.0, use_env_proxy=True),
    )
    assert proxied.response is None


def test_error_text_never_quotes_the_header_value() -> None:
    # requests refuses a header value with a leading space, quoting it in its error.
    bad = Secret(" " + SECRET.reveal())
    exchange = transport.send(
        delivery("http://127.0.0.1:9/webhook", "Webhook Validate", HeaderValue(bad, "a bad value", None)), OPTIONS
    )
    assert exchange.error is not None
    assert SECRET.reveal() not in json.dumps(exchange.error.__dict__)


def test_request_repr_masks_the_secret() -> None:
    request = delivery("http://127.0.0.1:9/webhook", "Webhook Validate", right_secret(SECRET))
    assert SECRET.reveal() not in repr(request)
    assert "[Filtered]" in repr(request)


def raw_reply(head: bytes, body: bytes, hold: float = 0.0) -> Reply:
    def reply(request: bytes, conn: socket.socket) -> None:
        conn.sendall(head + body)
        time.sleep(hold)

    return reply


UNREADABLE_BODIES = [
    # (why, reply, the error the Cloud's requests would also hit)
    ("no-length-held-open", raw_reply(b"HTTP/1.1 200 OK\r\n\r\n", b"OK", hold=1.0), "read-timeout"),
    ("shorter-than-content-length", raw_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", b"OK"), "protocol"),
    (
        "broken-chunking",
        raw_reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"zz\r\nOK\r\n"),
        "protocol",
    ),
]


@pytest.mark.parametrize(("reply", "kind"), [c[1:] for c in UNREADABLE_BODIES], ids=[c[0] for c in UNREADABLE_BODIES])
def test_2xx_whose_body_cannot_be_read_is_an_error(raw_server: StartServer, reply: Reply, kind: str) -> None:
    server = raw_server(reply)
    exchange = transport.send(
        delivery(server.url, "Webhook Validate", right_secret(SECRET)), transport.Options(timeout=0.3)
    )
    assert exchange.response is None
    assert exchange.error is not None
    assert exchange.error.kind == kind


def test_body_ending_with_the_connection_is_complete(raw_server: StartServer) -> None:
    # HTTP/1.1 without a length: the body runs to the close, which is a complete answer.
    server = raw_server(raw_reply(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"OK"))
    exchange = transport.send(delivery(server.url, "Webhook Validate", right_secret(SECRET)), OPTIONS)
    assert exchange.response is not None
    assert exchange.response.body == b"OK"
    assert not exchange.response.truncated


# --- redirects and answers, as the Cloud's requests ends them ---------------------------------------------


def redirect_then_ok(status: str, location: str) -> Reply:
    """The first request gets ``status`` to ``location``; any later one gets 200 OK."""

    def reply(request: bytes, conn: socket.socket) -> None:
        if request.startswith(b"POST /webhook "):
            conn.sendall(
                f"HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
        else:
            answer()(request, conn)

    return reply


def test_a_same_origin_307_is_followed_with_the_body_and_the_secret(raw_server: StartServer) -> None:
    server = raw_server(redirect_then_ok("307 Temporary Redirect", "/webhook/v2"))
    request = delivery(server.url, "Webhook Validate", right_secret(SECRET))
    exchange = transport.send(request, OPTIONS)
    assert exchange.response is not None
    assert exchange.response.status == 200
    assert [hop.response.status for hop in exchange.redirects] == [307]
    assert exchange.arrived_as_sent
    followed = server.requests[1]
    assert followed.startswith(b"POST /webhook/v2 ")
    assert followed.endswith(request.body)
    assert SECRET.reveal().encode() in followed


def test_a_302_is_followed_as_a_get_without_the_body_like_requests_does(raw_server: StartServer) -> None:
    server = raw_server(redirect_then_ok("302 Found", "/webhook/v2"))
    exchange = transport.send(delivery(server.url, "Webhook Validate", right_secret(SECRET)), OPTIONS)
    assert exchange.response is not None
    assert exchange.response.status == 200
    assert not exchange.arrived_as_sent
    followed = server.requests[1]
    assert followed.startswith(b"GET /webhook/v2 ")
    assert b"content-type" not in followed.lower()
    assert followed.endswith(b"\r\n\r\n")


def test_a_redirect_to_another_origin_is_not_followed_and_the_secret_stays(raw_server: StartServer) -> None:
    elsewhere = raw_server(answer())
    other_origin = elsewhere.url.replace("127.0.0.1", "localhost")
    server = raw_server(redirect_then_ok("307 Temporary Redirect", other_origin))
    exchange = transport.send(delivery(server.url, "Webhook Validate", right_secret(SECRET)), OPTIONS)
    assert exchange.response is not None
    assert exchange.response.status == 307
    assert exchange.redirect_elsewhere == other_origin
    assert elsewhere.requests == []


def test_more_redirects_than_requests_follows_is_a_failure(raw_server: StartServer) -> None:
    server = raw_server(answer("307 Temporary Redirect", b"", "Location: /webhook\r\nConnection: close\r\n"))
    exchange = transport.send(delivery(server.url, "Webhook Validate", right_secret(SECRET)), OPTIONS)
    assert exchange.error is not None
    assert exchange.error.kind == "redirects"
    assert len(exchange.redirects) == transport.MAX_REDIRECTS + 1


def test_a_content_encoding_that_does_not_decode_is_unreadable(raw_server: StartServer) -> None:
    server = raw_server(answer(body=b"OK", headers="Content-Encoding: gzip\r\n"))
    exchange = transport.send(delivery(server.url, "Webhook Validate", right_secret(SECRET)), OPTIONS)
    assert exchange.response is not None
    assert exchange.response.status == 200
    assert exchange.response.unreadable is not None
    assert exchange.response.unreadable.startswith("ContentDecodingError")


def test_an_unknown_content_encoding_is_left_as_it_is_like_requests_does(raw_server: StartServer) -> None:
    server = raw_server(answer(body=b"OK", headers="Content-Encoding: identity-ish\r\n"))
    exchange = transport.send(delivery(server.url, "Webhook Validate", right_secret(SECRET)), OPTIONS)
    assert exchange.response is not None
    assert (exchange.response.body, exchange.response.unreadable) == (b"OK", None)


def test_environment_proxies_are_read_once_not_per_request(
    raw_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine sends from threads while pytest sets PYTEST_CURRENT_TEST: reading os.environ per request
    # raced with it (KeyError inside requests). The options keep what the environment said when made.
    server = raw_server(answer())
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9/")
    monkeypatch.setenv("NO_PROXY", "127.0.0.2")
    options = transport.Options(timeout=1.0, use_env_proxy=True)

    def environment_read(*args: object) -> dict[str, str]:
        raise AssertionError("the environment was read while sending")

    monkeypatch.setattr(urllib.request, "getproxies_environment", environment_read)
    proxied = transport.send(delivery(server.url, "Webhook Validate", right_secret(SECRET)), options)
    assert proxied.response is None  # sent to the proxy, which does not exist
    assert options.proxies_for("http://127.0.0.2:9/webhook") == {}  # NO_PROXY is honoured from the snapshot
